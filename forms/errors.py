"""Errors of the forms package: one root, specific subclasses.

Messages are English text built from a message template and parameters; the
template is also kept (``FieldError.template``/``params``) so the web layer can
translate it with gettext and format the same parameters. A parameter that is itself
interface text is a ``Term`` (translated with the template, so a Chinese message never
carries an English word such as "a number"); a parameter naming another field is a
``FieldRef`` (shown with that field's label in the reader's language).
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


class Term(str):
    """A parameter of a message that is interface text: translated with the message."""

    __slots__ = ()


class FieldRef(str):
    """A parameter of a message naming a field by its path; ``str()`` is its English label."""

    path: str

    def __new__(cls, path: str, label: str) -> "FieldRef":
        ref = super().__new__(cls, label)
        ref.path = path
        return ref


class FieldRefs(tuple):
    """Several fields named in one parameter (``gross, tare``)."""

    def __str__(self) -> str:
        return ", ".join(str(ref) for ref in self)


@dataclass(frozen=True)
class FieldError:
    """One problem with one field: a code, a translatable template and its parameters.

    ``field`` is the field's path (``lot``, ``dispensing.1.net``) or ``FORM_LEVEL``;
    ``label`` is its English label naming the row (``Dispensing › row 2 › Net weight``).
    """

    field: str
    code: str
    template: str
    params: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""

    @property
    def message(self) -> str:
        return self.template % {k: str(v) for k, v in self.params.items()} if self.params else self.template

    def translated(self, gettext: Callable[[str], str], label: Callable[[str], str] | None = None) -> str:
        """The message in the reader's language: the template and every Term through ``gettext``,
        every FieldRef through ``label(path)`` when given."""
        text = gettext(self.template)
        if not self.params:
            return text
        values = {}
        for key, value in self.params.items():
            if isinstance(value, Term):
                values[key] = gettext(value)
            elif isinstance(value, FieldRef):
                values[key] = label(value.path) if label else str(value)
            elif isinstance(value, FieldRefs):
                values[key] = ", ".join(label(ref.path) if label else str(ref) for ref in value)
            else:
                values[key] = value
        return text % values


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
        self.submission: Any = None  # the parsed submission, when the web layer redisplays it
        summary = "; ".join(e.message if e.field == FORM_LEVEL else f"{_named(e)}: {e.message}" for e in errors)
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


def _named(error: FieldError) -> str:
    """``Materials dispensed › row 2 › Net weight (materials.1.net)``: the label a person reads and the path."""
    return f"{error.label} ({error.field})" if error.label and error.label != error.field else error.field


class CorrectionInvalid(FormError, ValidationError):
    """A correction of a submitted value is refused (no reason, wrong signature meaning, ...)."""

    http_status = 422
