"""Rendering a form to accessible HTML on the server, and reading the HTML form back.

No Flask here: plain Jinja2. Every input has a visible label; help text, unit, limits
and errors are tied to the input with ``aria-describedby``; an input in error carries
``aria-invalid`` and its message sits next to it. Browser-side checks are only a
convenience: ``validate_submission`` decides.

Input names:  ``f:NAME`` value · ``exc:NAME`` exception comment (values outside limits)
              ``ovr:NAME`` override reason · ``ovv:NAME`` override value (equipment fields)
Equipment and calculated fields are displayed, never submitted: the server takes them
from the captures and the calculation.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Mapping

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from forms.errors import FORM_LEVEL, N_, ExpressionError, FieldError, FormInvalid
from forms.keywords import FieldSpec, FormDefinition, load_definition
from forms.validation import CapturedValue

Gettext = Callable[[str], str]


def _identity(text: str) -> str:
    return text


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(loader=PackageLoader("forms", "templates"), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.do"])
    env.filters["num"] = lambda v: format(v, "g") if isinstance(v, float) else v
    return env


@dataclass(frozen=True)
class Submission:
    """What an HTML form post means, ready for ``validate_submission``."""

    data: dict[str, Any] = field(default_factory=dict)
    exceptions: dict[str, str] = field(default_factory=dict)
    overrides: dict[str, str] = field(default_factory=dict)


def parse_html_submission(schema: dict[str, Any], ui_schema: dict[str, Any] | None,
                          form: Mapping[str, str]) -> Submission:
    """Turn posted strings into typed values; raise FormInvalid for text that is not of the field's type."""
    definition = load_definition(schema, ui_schema)
    errors: list[FieldError] = []
    result = Submission()
    for key, raw in form.items():
        prefix, _, name = key.partition(":")
        if prefix not in ("f", "exc", "ovr", "ovv"):
            continue  # other inputs of the page (CSRF token, signature dialog) are not form data
        if name not in definition:
            errors.append(FieldError(FORM_LEVEL, "unknown_field", N_("%(field)s is not a field of this form."), {"field": name}))
            continue
        text = raw.strip() if isinstance(raw, str) else raw
        if text in ("", None):
            continue
        spec = definition.field(name)
        if prefix == "exc":
            result.exceptions[name] = text
        elif prefix == "ovr":
            result.overrides[name] = text
        else:
            if prefix == "f" and spec.equipment_tag is not None:
                continue  # a display-only copy of the captured value
            value = _coerce(spec, text, errors)
            if value is not None:
                result.data[name] = value
    for spec in definition.fields:
        if spec.type == "boolean" and spec.equipment_tag is None and spec.calculated is None \
                and spec.name not in result.data and not spec.readonly:
            result.data[spec.name] = False  # an unticked checkbox is not posted
    for name in list(result.data):
        if definition.field(name).calculated is not None:
            del result.data[name]
    if errors:
        raise FormInvalid(errors)
    return result


def _coerce(spec: FieldSpec, text: str, errors: list[FieldError]) -> Any:
    if spec.type == "boolean":
        if text.lower() in ("on", "true", "1", "yes"):
            return True
        if text.lower() in ("off", "false", "0", "no"):
            return False
        errors.append(FieldError(spec.name, "type", N_("Enter %(kind)s."), {"kind": N_("yes or no")}))
        return None
    if spec.type == "integer":
        try:
            return int(text)
        except ValueError:
            errors.append(FieldError(spec.name, "type", N_("Enter %(kind)s."), {"kind": N_("a whole number")}))
            return None
    if spec.type == "number":
        try:
            number = float(text)
        except ValueError:
            errors.append(FieldError(spec.name, "type", N_("Enter %(kind)s."), {"kind": N_("a number")}))
            return None
        if number != number or number in (float("inf"), float("-inf")):
            errors.append(FieldError(spec.name, "type", N_("Enter %(kind)s."), {"kind": N_("a number")}))
            return None
        return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number
    return text


def render_form(
    schema: dict[str, Any],
    ui_schema: dict[str, Any] | None = None,
    *,
    values: Mapping[str, Any] | None = None,
    errors: FormInvalid | list[FieldError] | None = None,
    captured: Mapping[str, CapturedValue] | None = None,
    exceptions: Mapping[str, str] | None = None,
    overrides: Mapping[str, str] | None = None,
    calculated: Mapping[str, Any] | None = None,
    readonly: bool = False,
    gettext: Gettext | None = None,
    id_prefix: str = "",
) -> Markup:
    """Render the form's fields (not the <form> element or buttons) as accessible HTML."""
    definition = load_definition(schema, ui_schema)
    _ = gettext or _identity
    field_errors = list(errors.field_errors if isinstance(errors, FormInvalid) else errors or [])
    by_field: dict[str, list[str]] = {}
    for error in field_errors:
        by_field.setdefault(error.field, []).append(error.translated(_))
    values = values or {}
    captured = captured or {}
    if calculated is None:
        calculated = preview_calculations(definition, values, captured)
    views = []
    for spec in definition.fields:
        capture = captured.get(spec.name)
        view = {
            "spec": spec, "id": f"{id_prefix}f-{spec.name}", "value": values.get(spec.name),
            "errors": by_field.get(spec.name, []), "capture": capture,
            "calculated_value": calculated.get(spec.name) if spec.calculated else None,
            "exception": (exceptions or {}).get(spec.name, ""), "override": (overrides or {}).get(spec.name, ""),
            "limits": (spec.limits.describe() + (f" {spec.unit}" if spec.unit else "")) if spec.limits else None,
            "options": list(spec.schema.get("enum") or []),
            "out_of_limits": "out_of_limits" in [e.code for e in field_errors if e.field == spec.name]
                             or bool((exceptions or {}).get(spec.name)),
        }
        views.append(view)
    template = environment().get_template("form.html")
    return Markup(template.render(fields=views, form_errors=by_field.get(FORM_LEVEL, []), readonly=readonly,
                                  title=definition.title, description=definition.description, _=_,
                                  id_prefix=id_prefix))


def preview_calculations(definition: FormDefinition, values: Mapping[str, Any],
                         captured: Mapping[str, CapturedValue]) -> dict[str, Any]:
    """Calculated values for display from whatever has been entered or captured so far."""
    known: dict[str, Any] = {k: v for k, v in values.items() if v is not None}
    for name, capture in captured.items():
        known.setdefault(name, capture.value)
    result: dict[str, Any] = {}
    for spec in definition.calculation_order:
        assert spec.calculated is not None
        try:
            value = spec.calculated.evaluate(known)
        except ExpressionError:
            continue
        known[spec.name] = result[spec.name] = float(value) if spec.type == "number" else int(value)
    return result
