"""Errors of the forms package: one root, specific subclasses.

Messages are English text built from a message template and parameters; the
template is also kept (``FieldError.template``/``params``) so the web layer can
translate it with gettext and format the same parameters.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from core.errors import GmpError, ValidationError

FORM_LEVEL = "__form__"
"""Key of errors that belong to the whole form rather than one field."""


def N_(message: str) -> str:
    """Mark a message for translation (extracted by pybabel) without translating it here."""
    return message


@dataclass(frozen=True)
class FieldError:
    """One problem with one field: a code, a translatable template and its parameters."""

    field: str
    code: str
    template: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str:
        return self.template % dict(self.params) if self.params else self.template

    def translated(self, gettext: Callable[[str], str]) -> str:
        text = gettext(self.template)
        return text % dict(self.params) if self.params else text


class FormError(GmpError):
    """Root of errors raised by forms/."""


class FormDefinitionError(FormError):
    """The JSON Schema or UI schema of a form is not valid (a design error, not the user's)."""

    http_status = 500

    def __init__(self, message: str, *, path: str = "") -> None:
        super().__init__(f"form definition invalid{' at ' + path if path else ''}: {message}", path=path)
        self.path = path


class ExpressionError(FormError):
    """A calculated-field expression is not allowed or cannot be evaluated."""


class FormInvalid(FormError, ValidationError):
    """A submission does not satisfy its form; ``errors`` maps each field to its problems."""

    http_status = 422

    def __init__(self, errors: list[FieldError]) -> None:
        if not errors:
            raise ValueError("FormInvalid needs at least one error")
        self.field_errors: tuple[FieldError, ...] = tuple(errors)
        summary = "; ".join(f"{e.field}: {e.message}" for e in errors)
        super().__init__(f"form has {len(errors)} error(s): {summary}")

    @property
    def errors(self) -> dict[str, list[str]]:
        """Per-field English messages, in order."""
        result: dict[str, list[str]] = {}
        for error in self.field_errors:
            result.setdefault(error.field, []).append(error.message)
        return result

    def codes(self, name: str) -> list[str]:
        return [e.code for e in self.field_errors if e.field == name]


class CorrectionInvalid(FormError, ValidationError):
    """A correction of a submitted value is refused (no reason, wrong signature meaning, ...)."""

    http_status = 422
