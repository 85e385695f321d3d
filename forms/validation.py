"""Server-side validation of a task-form submission.

``validate_submission`` is the one entry point the engine calls before completing a
user task. It checks the form definition, takes equipment-captured values from the
captures the caller read from registered tags, computes calculated fields, validates
everything with JSON Schema (Draft 2020-12), applies the GMP soft limits (a value
outside them needs an exception comment and is flagged), and lists the fields that
need a second-person verification. It changes nothing; it returns a ``FormResult``
or raises ``FormInvalid`` with every problem found, per field.
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Mapping

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaValidationError

from core.clock import isoformat
from forms.errors import FORM_LEVEL, N_, ExpressionError, FieldError, FormInvalid
from forms.keywords import FieldSpec, FormDefinition, Limits, load_definition


class Source(str, enum.Enum):
    """Where a value came from (ALCOA+ Original: equipment data is marked as such)."""

    MANUAL = "manual"
    EQUIPMENT = "equipment"
    MANUAL_OVERRIDE = "manual_override"
    CALCULATED = "calculated"


@dataclass(frozen=True)
class CapturedValue:
    """A value read from a registered equipment tag, as the connector delivered it."""

    tag: str
    value: Any
    captured_at: datetime
    unit: str | None = None
    stable: bool | None = None

    def to_json(self) -> dict[str, Any]:
        return {"tag": self.tag, "value": self.value, "captured_at": isoformat(self.captured_at),
                "unit": self.unit, "stable": self.stable}


@dataclass(frozen=True)
class FieldRecord:
    """The accepted value of one field with its provenance and GMP flags."""

    name: str
    value: Any
    source: Source
    unit: str | None = None
    limits: Limits | None = None
    out_of_limits: bool = False
    exception_comment: str | None = None
    capture: CapturedValue | None = None
    override_reason: str | None = None
    needs_verification: bool = False
    expression: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value, "source": self.source.value, "unit": self.unit,
            "limits": self.limits.to_json() if self.limits else None,
            "out_of_limits": self.out_of_limits, "exception_comment": self.exception_comment,
            "capture": self.capture.to_json() if self.capture else None,
            "override_reason": self.override_reason, "needs_verification": self.needs_verification,
            "expression": self.expression,
        }


@dataclass(frozen=True)
class FormResult:
    """A valid submission: the task data and, per field, where each value came from."""

    data: dict[str, Any]
    fields: dict[str, FieldRecord]
    entered_by: str | None = None
    verified_by: str | None = None

    @property
    def exceptions(self) -> list[FieldRecord]:
        """Fields accepted outside their limits (each carries its comment)."""
        return [r for r in self.fields.values() if r.out_of_limits]

    @property
    def verification_fields(self) -> tuple[str, ...]:
        """Fields whose value needs a second-person verification (critical manual entries, overrides)."""
        return tuple(name for name, r in self.fields.items() if r.needs_verification)

    @property
    def needs_verification(self) -> bool:
        return bool(self.verification_fields)

    def to_record(self) -> dict[str, Any]:
        """JSON document to store with the task: data plus provenance, for records and printouts."""
        return {"data": self.data, "fields": {n: r.to_json() for n, r in self.fields.items()},
                "entered_by": self.entered_by, "verified_by": self.verified_by,
                "exceptions": [r.name for r in self.exceptions],
                "verification_fields": list(self.verification_fields)}


def validate_submission(
    schema: dict[str, Any],
    ui_schema: dict[str, Any] | None,
    data: Mapping[str, Any],
    *,
    exceptions: Mapping[str, str] | None = None,
    captured: Mapping[str, CapturedValue] | None = None,
    overrides: Mapping[str, str] | None = None,
    entered_by: str | None = None,
    verified_by: str | None = None,
) -> FormResult:
    """Validate a submission against its form.

    data          values entered by the user (equipment and calculated fields left out)
    exceptions    field -> comment accepting a value outside its x-gmp-limits
    captured      field -> CapturedValue read from the field's x-gmp-equipment-tag
    overrides     field -> reason for replacing an equipment value by a manual one
    entered_by    user ID of whoever entered the data
    verified_by   user ID of the second person verifying, when one signs with the entry

    Raises FormDefinitionError for a bad form, FormInvalid with all problems otherwise.
    """
    definition = load_definition(schema, ui_schema)
    errors: list[FieldError] = []
    exceptions = dict(exceptions or {})
    captured = dict(captured or {})
    overrides = dict(overrides or {})

    if not isinstance(data, Mapping):
        raise FormInvalid([FieldError(FORM_LEVEL, "not_an_object", N_("The submission must be a set of named values."))])
    _check_side_inputs(definition, data, exceptions, captured, overrides, errors)

    values: dict[str, Any] = {}
    sources: dict[str, Source] = {}
    for spec in definition.fields:
        if spec.calculated is not None:
            continue
        if spec.equipment_tag is not None:
            value, source = _equipment_value(spec, data, captured, overrides, errors)
        else:
            value, source = data.get(spec.name), Source.MANUAL
        if value is not None:
            values[spec.name] = value
            sources[spec.name] = source

    for spec in definition.calculation_order:
        assert spec.calculated is not None
        missing = sorted(n for n in spec.calculated.names if values.get(n) is None)
        if missing:
            if spec.required:
                errors.append(FieldError(spec.name, "not_calculable",
                                         N_("Cannot be calculated until %(fields)s are entered."),
                                         {"fields": ", ".join(missing)}))
            continue
        try:
            result = spec.calculated.evaluate(values)
        except ExpressionError:
            errors.append(FieldError(spec.name, "calculation_failed",
                                     N_("Cannot be calculated from the values entered (%(expression)s)."),
                                     {"expression": spec.calculated.source}))
            continue
        values[spec.name] = _decimal_to_json(result, spec)
        sources[spec.name] = Source.CALCULATED

    already = {e.field for e in errors}
    for error in Draft202012Validator(definition.schema, format_checker=Draft202012Validator.FORMAT_CHECKER).iter_errors(values):
        problem = _schema_error(definition, error)
        if not (problem.code == "required" and problem.field in already):
            errors.append(problem)
    bad = {e.field for e in errors}

    records: dict[str, FieldRecord] = {}
    for spec in definition.fields:
        if spec.name not in values:
            if spec.name in exceptions and spec.name not in bad:
                errors.append(FieldError(spec.name, "exception_without_value",
                                         N_("An exception comment was given but there is no value.")))
            continue
        value = values[spec.name]
        out = False
        comment = exceptions.get(spec.name)
        if spec.limits is not None and spec.name not in bad and _is_number(value):
            out = not spec.limits.contains(value)
            if out and not comment:
                errors.append(FieldError(spec.name, "out_of_limits",
                                         N_("%(value)s is outside the limits %(limits)s: enter an exception comment to accept it."),
                                         {"value": _show(value, spec.unit), "limits": _show_limits(spec)}))
            elif comment and not out:
                errors.append(FieldError(spec.name, "exception_not_needed",
                                         N_("The value is within its limits: remove the exception comment.")))
        source = sources[spec.name]
        records[spec.name] = FieldRecord(
            name=spec.name, value=value, source=source, unit=spec.unit, limits=spec.limits,
            out_of_limits=out, exception_comment=comment if out else None,
            capture=captured.get(spec.name) if spec.equipment_tag else None,
            override_reason=overrides.get(spec.name) if source is Source.MANUAL_OVERRIDE else None,
            needs_verification=(source is Source.MANUAL_OVERRIDE) or (spec.critical and source is Source.MANUAL),
            expression=spec.calculated.source if spec.calculated else None,
        )

    if verified_by is not None and entered_by is not None and verified_by == entered_by \
            and any(r.needs_verification for r in records.values()):
        errors.append(FieldError(FORM_LEVEL, "same_verifier",
                                 N_("The second-person verification must be done by someone other than who entered the data.")))
    if errors:
        raise FormInvalid(_ordered(definition, errors))
    return FormResult(data=values, fields=records, entered_by=entered_by, verified_by=verified_by)


def _check_side_inputs(definition: FormDefinition, data: Mapping[str, Any], exceptions: dict[str, str],
                       captured: dict[str, CapturedValue], overrides: dict[str, str], errors: list[FieldError]) -> None:
    for name in data:
        if name not in definition:
            errors.append(FieldError(FORM_LEVEL, "unknown_field", N_("%(field)s is not a field of this form."),
                                     {"field": str(name)}))
        elif definition.field(name).calculated is not None:
            errors.append(FieldError(name, "calculated_entered",
                                     N_("This value is calculated by the system and cannot be entered.")))
    for name, comment in exceptions.items():
        if name not in definition or definition.field(name).limits is None:
            errors.append(FieldError(FORM_LEVEL, "exception_for_field_without_limits",
                                     N_("An exception was given for %(field)s, which has no limits."), {"field": str(name)}))
        elif not isinstance(comment, str) or not comment.strip():
            errors.append(FieldError(name, "exception_comment_missing", N_("An exception needs a comment.")))
    for name, capture in captured.items():
        if name not in definition or definition.field(name).equipment_tag is None:
            errors.append(FieldError(FORM_LEVEL, "capture_for_manual_field",
                                     N_("A captured value was given for %(field)s, which is not captured from equipment."),
                                     {"field": str(name)}))
        elif not isinstance(capture, CapturedValue) or capture.tag != definition.field(name).equipment_tag:
            errors.append(FieldError(name, "capture_from_wrong_tag",
                                     N_("The captured value comes from tag %(found)s, but this field is bound to %(expected)s."),
                                     {"found": getattr(capture, "tag", repr(capture)), "expected": definition.field(name).equipment_tag}))
    for name, reason in overrides.items():
        if name not in definition or definition.field(name).equipment_tag is None:
            errors.append(FieldError(FORM_LEVEL, "override_for_manual_field",
                                     N_("An override was given for %(field)s, which is not captured from equipment."),
                                     {"field": str(name)}))
        elif not isinstance(reason, str) or not reason.strip():
            errors.append(FieldError(name, "override_reason_missing", N_("A manual override needs a reason.")))


def _equipment_value(spec: FieldSpec, data: Mapping[str, Any], captured: Mapping[str, CapturedValue],
                     overrides: Mapping[str, str], errors: list[FieldError]) -> tuple[Any, Source]:
    capture = captured.get(spec.name)
    valid_capture = capture if isinstance(capture, CapturedValue) and capture.tag == spec.equipment_tag else None
    if spec.name in overrides:
        if data.get(spec.name) is None:
            errors.append(FieldError(spec.name, "override_value_missing", N_("A manual override needs the manual value.")))
            return None, Source.MANUAL_OVERRIDE
        return data[spec.name], Source.MANUAL_OVERRIDE
    if data.get(spec.name) is not None:
        if valid_capture is not None and data[spec.name] == valid_capture.value:
            return valid_capture.value, Source.EQUIPMENT
        errors.append(FieldError(spec.name, "manual_value_for_equipment_field",
                                 N_("This value is captured from equipment (%(tag)s); a manual value needs an override with a reason and a second-person verification."),  # noqa: E501
                                 {"tag": spec.equipment_tag}))
        return None, Source.EQUIPMENT
    if valid_capture is None:
        if spec.required and capture is None:
            errors.append(FieldError(spec.name, "not_captured", N_("No value has been captured from %(tag)s yet."),
                                     {"tag": spec.equipment_tag}))
        return None, Source.EQUIPMENT
    if valid_capture.stable is False:
        errors.append(FieldError(spec.name, "capture_unstable",
                                 N_("The reading from %(tag)s was not stable: capture it again."), {"tag": spec.equipment_tag}))
        return None, Source.EQUIPMENT
    if spec.unit and valid_capture.unit and valid_capture.unit != spec.unit:
        errors.append(FieldError(spec.name, "capture_unit_mismatch",
                                 N_("The reading from %(tag)s is in %(found)s, but this field expects %(expected)s."),
                                 {"tag": spec.equipment_tag, "found": valid_capture.unit, "expected": spec.unit}))
        return None, Source.EQUIPMENT
    return valid_capture.value, Source.EQUIPMENT


def _decimal_to_json(value: Decimal, spec: FieldSpec) -> int | float:
    if spec.type == "integer" and value == value.to_integral_value():
        return int(value)
    as_float = float(value)
    return int(as_float) if spec.type == "integer" and as_float.is_integer() else as_float


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _show(value: Any, unit: str | None) -> str:
    text = format(value, "g") if isinstance(value, float) else str(value)
    return f"{text} {unit}" if unit else text


def _show_limits(spec: FieldSpec) -> str:
    assert spec.limits is not None
    text = spec.limits.describe()
    return f"{text} {spec.unit}" if spec.unit else text


_TYPE_NAMES = {"number": N_("a number"), "integer": N_("a whole number"), "string": N_("text"),
               "boolean": N_("yes or no"), "object": N_("a group of values"), "array": N_("a list")}


def _schema_error(definition: FormDefinition, error: SchemaValidationError) -> FieldError:
    path = list(error.absolute_path)
    name = str(path[0]) if path else FORM_LEVEL
    v, expected = error.validator, error.validator_value
    if v == "required" and not path:
        missing = error.message.split("'")[1] if "'" in error.message else FORM_LEVEL
        if missing in definition:
            return FieldError(missing, "required", N_("This field is required."))
        return FieldError(FORM_LEVEL, "required", N_("%(field)s is required."), {"field": missing})
    unit = definition.field(name).unit if name in definition else None
    if v == "type":
        kind = expected if isinstance(expected, str) else next((t for t in expected if t != "null"), "value")
        return FieldError(name, "type", N_("Enter %(kind)s."), {"kind": _TYPE_NAMES.get(kind, kind)})
    if v in ("minimum", "exclusiveMinimum"):
        template = N_("Must be at least %(limit)s.") if v == "minimum" else N_("Must be more than %(limit)s.")
        return FieldError(name, v, template, {"limit": _show(expected, unit)})
    if v in ("maximum", "exclusiveMaximum"):
        template = N_("Must be at most %(limit)s.") if v == "maximum" else N_("Must be less than %(limit)s.")
        return FieldError(name, v, template, {"limit": _show(expected, unit)})
    if v == "enum":
        return FieldError(name, "enum", N_("Choose one of: %(choices)s."), {"choices": ", ".join(map(str, expected))})
    if v == "minLength":
        return FieldError(name, "minLength", N_("Enter at least %(count)s characters."), {"count": expected})
    if v == "maxLength":
        return FieldError(name, "maxLength", N_("Enter at most %(count)s characters."), {"count": expected})
    if v == "pattern":
        return FieldError(name, "pattern", N_("The value does not have the expected form."))
    if v == "format":
        return FieldError(name, "format", N_("Enter a valid %(format)s."), {"format": str(expected)})
    if v == "multipleOf":
        return FieldError(name, "multipleOf", N_("Must be a multiple of %(step)s."), {"step": expected})
    if v == "additionalProperties":
        return FieldError(FORM_LEVEL, "additionalProperties", N_("The submission holds values that are not fields of this form."))
    return FieldError(name, str(v), N_("Invalid value: %(detail)s"), {"detail": error.message})


def _ordered(definition: FormDefinition, errors: list[FieldError]) -> list[FieldError]:
    rank = {spec.name: i for i, spec in enumerate(definition.fields)}
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for e in errors:
        key = (e.field, e.code, e.message)
        if key not in seen:
            seen.add(key)
            unique.append(e)
    return sorted(unique, key=lambda e: (-1 if e.field == FORM_LEVEL else rank.get(e.field, len(rank))))
