"""Server-side validation of a task-form submission.

``validate_submission`` is the one entry point the engine calls before completing a
user task. It checks the form definition, takes equipment-captured values from the
captures the caller read from registered tags, computes calculated fields (per row of a
repeating group), validates everything with JSON Schema (Draft 2020-12, numbers as exact
decimals, every text field with its maximum length), applies the GMP soft limits (a value
outside them needs an exception comment and is flagged), and lists the fields that need a
second-person verification. It changes nothing; it returns a ``FormResult`` or raises
``FormInvalid`` with every problem found, each naming its field by path
(``dispensing.1.net``) and by label (``Dispensing › row 2 › Net weight``).
"""
from __future__ import annotations

import enum
from collections import ChainMap
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Mapping

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaValidationError

from core.clock import isoformat
from forms.errors import FORM_LEVEL, N_, ExpressionError, FieldError, FieldRef, FieldRefs, FormInvalid, Term
from forms.keywords import (
    COMMENT_MAX_LENGTH,
    FieldSpec,
    FormDefinition,
    Limits,
    calculation_order,
    enclosing,
    join_path,
    load_definition,
    split_path,
)
from forms.numbers import decimal_places, format_decimal, quantize, reading_decimal, to_decimal


class Source(str, enum.Enum):
    """Where a value came from (ALCOA+ Original: equipment data is marked as such)."""

    MANUAL = "manual"
    EQUIPMENT = "equipment"
    MANUAL_OVERRIDE = "manual_override"
    CALCULATED = "calculated"
    PRESET = "preset"


@dataclass(frozen=True)
class CapturedValue:
    """A value read from a registered equipment tag, as the connector delivered it."""

    tag: str
    value: Any
    captured_at: datetime
    unit: str | None = None
    stable: bool | None = None
    reading_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        doc = {"tag": self.tag, "value": self.value, "captured_at": isoformat(self.captured_at),
               "unit": self.unit, "stable": self.stable}
        if self.reading_id is not None:
            doc["reading_id"] = self.reading_id
        return doc


@dataclass(frozen=True)
class FieldRecord:
    """The accepted value of one field (by path) with its provenance and GMP flags."""

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
    """A valid submission: the task data and, per field path, where each value came from."""

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

    data          values entered by the user (equipment and calculated fields left out);
                  a repeating group is a list of row objects; numbers may be Decimal, int or float
                  (a float stands for the digits of its shortest form: 10.1 is 10.1)
    exceptions    field path -> comment accepting a value outside its x-gmp-limits
    captured      field path -> CapturedValue read from the field's x-gmp-equipment-tag
    overrides     field path -> reason for replacing an equipment value by a manual one
    entered_by    user ID of whoever entered the data
    verified_by   user ID of the second person verifying, when one signs with the entry

    Raises FormDefinitionError for a bad form, FormInvalid with all problems otherwise.
    """
    definition = load_definition(schema, ui_schema)
    if not isinstance(data, Mapping):
        raise FormInvalid([FieldError(FORM_LEVEL, "not_an_object", N_("The submission must be a set of named values."))])
    run = _Run(definition, dict(exceptions or {}), dict(captured or {}), dict(overrides or {}))
    values = run.build(definition.fields, data, "", [])
    run.check_side_inputs(values)
    run.check_schema(values)
    run.check_limits(definition.fields, values, "", [])

    if verified_by is not None and entered_by is not None and verified_by == entered_by \
            and any(r.needs_verification for r in run.records.values()):
        run.error(FORM_LEVEL, "same_verifier",
                  N_("The second-person verification must be done by someone other than who entered the data."))
    if run.errors:
        raise FormInvalid(ordered(definition, run.errors))
    return FormResult(data=values, fields=run.records, entered_by=entered_by, verified_by=verified_by)


class _Run:
    """One validation: the values being built, the errors found, the records of accepted values."""

    def __init__(self, definition: FormDefinition, exceptions: dict[str, Any], captured: dict[str, Any],
                 overrides: dict[str, Any]) -> None:
        self.definition = definition
        self.exceptions, self.captured, self.overrides = exceptions, captured, overrides
        self.errors: list[FieldError] = []
        self.sources: dict[str, Source] = {}
        self.records: dict[str, FieldRecord] = {}
        self.paths: set[str] = set()  # every field path the submission holds (rows included)

    def error(self, path: str, code: str, template: str, params: Mapping[str, Any] | None = None) -> None:
        self.errors.append(FieldError(path, code, template, dict(params or {})))

    def ref(self, path: str) -> FieldRef:
        return FieldRef(path, self.definition.label_of(path))

    @property
    def bad(self) -> set[str]:
        return {e.field for e in self.errors}

    # ---- pass 1: the values, with captures, presets and calculations
    def build(self, specs: tuple[FieldSpec, ...], data: Mapping[str, Any], prefix: str,
              chain: list[Mapping[str, Any]], preset: Mapping[str, Any] | None = None) -> dict[str, Any]:
        values: dict[str, Any] = {}
        names = {s.name for s in specs}
        for key in data:
            if key not in names:
                where = prefix or FORM_LEVEL
                self.error(where, "unknown_field", N_("%(field)s is not a field of this form."),
                           {"field": join_path(prefix, str(key))})
        for spec in specs:
            path = join_path(prefix, spec.name)
            if spec.kind != "scalar":
                continue
            self.paths.add(path)
            if spec.calculated is not None:
                if data.get(spec.name) is not None:
                    self.error(path, "calculated_entered", N_("This value is calculated by the system and cannot be entered."))
                continue
            if spec.equipment_tag is not None:
                value, source = self.equipment_value(spec, path, data)
            elif spec.fixed:
                value, source = self.preset_value(spec, path, data, preset), Source.PRESET
            else:
                value, source = self.entered_value(spec, path, data.get(spec.name)), Source.MANUAL
            if value is not None:
                values[spec.name] = value
                self.sources[path] = source
        scope = ChainMap(values, *chain)
        order = calculation_order(specs)
        later = after_rows(order)
        self.calculate([s for s in order if s.name not in later], values, scope, prefix)
        self.containers(specs, data, values, prefix, chain, preset)
        self.calculate([s for s in order if s.name in later], values, scope, prefix)
        return values

    def calculate(self, order: list[FieldSpec], values: dict[str, Any], scope: Mapping[str, Any], prefix: str) -> None:
        for spec in order:
            assert spec.calculated is not None
            path = join_path(prefix, spec.name)
            missing = [self.name_path(prefix, n) for n in sorted(spec.calculated.names) if scope.get(n) is None]
            for group, column in sorted(spec.calculated.columns):
                rows = scope.get(group)
                if isinstance(rows, list) and any(not isinstance(r, Mapping) or r.get(column) is None for r in rows):
                    missing.append(join_path(prefix, group, column))
            if missing:
                if spec.required:
                    self.error(path, "not_calculable", N_("Cannot be calculated until %(fields)s are entered."),
                               {"fields": FieldRefs(self.ref(p) for p in missing)})
                continue
            try:
                result = spec.calculated.evaluate(scope)
            except ExpressionError:
                self.error(path, "calculation_failed", N_("Cannot be calculated from the values entered (%(expression)s)."),
                           {"expression": spec.calculated.source})
                continue
            values[spec.name] = calculated_value(result, spec)
            self.sources[path] = Source.CALCULATED

    def containers(self, specs: tuple[FieldSpec, ...], data: Mapping[str, Any], values: dict[str, Any], prefix: str,
                   chain: list[Mapping[str, Any]], preset: Mapping[str, Any] | None) -> None:
        for spec in specs:
            path = join_path(prefix, spec.name)
            raw = data.get(spec.name)
            if spec.kind == "group":
                if raw is None and not spec.required and not _has_automatic(spec):
                    continue
                if raw is not None and not isinstance(raw, Mapping):
                    self.error(path, "type", N_("Enter %(kind)s."), {"kind": Term(N_("a group of values"))})
                    continue
                inner_preset = (preset or {}).get(spec.name)
                values[spec.name] = self.build(spec.children, raw or {}, path, [values, *chain],
                                               inner_preset if isinstance(inner_preset, Mapping) else None)
            elif spec.kind == "rows":
                values[spec.name] = self.build_rows(spec, path, raw, [values, *chain])

    def build_rows(self, spec: FieldSpec, path: str, raw: Any, chain: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
        if raw is None:
            raw = []
        if not isinstance(raw, list):
            self.error(path, "type", N_("Enter %(kind)s."), {"kind": Term(N_("a list of rows"))})
            return []
        fixed = bool(spec.default_rows) and not spec.addable and not spec.removable
        if fixed and len(raw) != len(spec.default_rows):
            self.error(path, "fixed_rows", N_("This table has %(count)s rows; rows cannot be added or removed."),
                       {"count": len(spec.default_rows)})
        if len(raw) > spec.max_rows:
            self.error(path, "maxItems", N_("Enter at most %(count)s rows."), {"count": spec.max_rows})
            return []
        rows = []
        for index, row in enumerate(raw):
            row_path = join_path(path, index)
            if not isinstance(row, Mapping):
                self.error(row_path, "type", N_("Enter %(kind)s."), {"kind": Term(N_("a group of values"))})
                continue
            preset = spec.default_rows[index] if index < len(spec.default_rows) else None
            rows.append(self.build(spec.children, row, row_path, chain, preset))
        if spec.required and not rows and not any(e.field == path for e in self.errors):
            self.error(path, "rows_required", N_("Add at least one row."))
        return rows

    def name_path(self, prefix: str, name: str) -> str:
        """Path of the field a calculation's name refers to (its own row first, then outwards)."""
        return resolve_name(self.definition, join_path(prefix, name), name)

    def entered_value(self, spec: FieldSpec, path: str, raw: Any) -> Any:
        if raw is None:
            return None
        if spec.type == "number" and not isinstance(raw, (str, bool)):
            number = to_decimal(raw)
            if number is None:
                return raw  # JSON Schema names the type error
            return self.with_decimals(spec, path, number)
        if spec.type == "integer" and not isinstance(raw, bool):
            if isinstance(raw, float) and raw.is_integer():
                return int(raw)
            if isinstance(raw, Decimal) and raw.is_finite() and raw == raw.to_integral_value():
                return int(raw)
        if spec.type == "string" and isinstance(raw, str) and spec.options and not raw:
            return None
        if spec.options and spec.type == "number":
            return to_decimal(raw) if not isinstance(raw, str) else raw
        return raw

    def with_decimals(self, spec: FieldSpec, path: str, number: Decimal) -> Decimal | None:
        if spec.decimals is None:
            return number
        if decimal_places(number) > spec.decimals:
            if spec.decimals == 0:
                self.error(path, "decimals", N_("Enter a number without decimals."))
            else:
                self.error(path, "decimals", N_("Enter at most %(count)s decimal places."), {"count": spec.decimals})
            return None
        return quantize(number, spec.decimals)

    def preset_value(self, spec: FieldSpec, path: str, data: Mapping[str, Any], preset: Mapping[str, Any] | None) -> Any:
        value = (preset or {}).get(spec.name, spec.schema.get("default"))
        sent = data.get(spec.name)
        if sent is not None and not _same(sent, value):
            self.error(path, "preset_changed", N_("This value is set by the form and cannot be changed."))
        if spec.type == "number":
            number = to_decimal(value)
            if number is not None and spec.decimals is not None and decimal_places(number) <= spec.decimals:
                number = quantize(number, spec.decimals)  # 50.0 kg preset on a 3-decimal column is 50.000 kg
            return number if number is not None else value
        return value

    def equipment_value(self, spec: FieldSpec, path: str, data: Mapping[str, Any]) -> tuple[Any, Source]:
        capture = self.captured.get(path)
        valid = capture if isinstance(capture, CapturedValue) and capture.tag == spec.equipment_tag else None
        if path in self.overrides:
            if data.get(spec.name) is None:
                self.error(path, "override_value_missing", N_("A manual override needs the manual value."))
                return None, Source.MANUAL_OVERRIDE
            return self.entered_value(spec, path, data[spec.name]), Source.MANUAL_OVERRIDE
        reading = self.reading(spec, valid) if valid is not None else None
        if data.get(spec.name) is not None:
            if valid is not None and (data[spec.name] == valid.value or to_decimal(data[spec.name]) == reading):
                return reading, Source.EQUIPMENT
            self.error(path, "manual_value_for_equipment_field",
                       N_("This value is captured from equipment (%(tag)s); a manual value needs an override with a reason and a second-person verification."),  # noqa: E501
                       {"tag": spec.equipment_tag})
            return None, Source.EQUIPMENT
        if valid is None:
            if spec.required and capture is None:
                self.error(path, "not_captured", N_("No value has been captured from %(tag)s yet."), {"tag": spec.equipment_tag})
            return None, Source.EQUIPMENT
        if valid.stable is False:
            self.error(path, "capture_unstable", N_("The reading from %(tag)s was not stable: capture it again."),
                       {"tag": spec.equipment_tag})
            return None, Source.EQUIPMENT
        if spec.unit and valid.unit and valid.unit != spec.unit:
            self.error(path, "capture_unit_mismatch",
                       N_("The reading from %(tag)s is in %(found)s, but this field expects %(expected)s."),
                       {"tag": spec.equipment_tag, "found": valid.unit, "expected": spec.unit})
            return None, Source.EQUIPMENT
        return reading, Source.EQUIPMENT

    @staticmethod
    def reading(spec: FieldSpec, capture: CapturedValue) -> Any:
        """The captured value as this field holds it: a number as an exact decimal at the field's resolution."""
        if spec.type == "number":
            number = reading_decimal(capture.value)
            if number is None:
                return capture.value
            return quantize(number, spec.decimals) if spec.decimals is not None else number
        if spec.type == "integer" and isinstance(capture.value, float) and capture.value.is_integer():
            return int(capture.value)
        return capture.value

    # ---- side inputs name fields by path
    def check_side_inputs(self, values: Mapping[str, Any]) -> None:
        definition = self.definition
        for path, comment in self.exceptions.items():
            spec = definition.spec_at(path)
            if spec is None or spec.limits is None or path not in self.paths:
                self.error(FORM_LEVEL, "exception_for_field_without_limits",
                           N_("An exception was given for %(field)s, which has no limits."), {"field": str(path)})
            elif not isinstance(comment, str) or not comment.strip():
                self.error(path, "exception_comment_missing", N_("An exception needs a comment."))
            elif len(comment) > COMMENT_MAX_LENGTH:
                self.error(path, "comment_too_long", N_("Enter at most %(count)s characters (%(length)s entered)."),
                           {"count": COMMENT_MAX_LENGTH, "length": len(comment)})
        for path, capture in self.captured.items():
            spec = definition.spec_at(path)
            if spec is None or spec.equipment_tag is None or path not in self.paths:
                self.error(FORM_LEVEL, "capture_for_manual_field",
                           N_("A captured value was given for %(field)s, which is not captured from equipment."),
                           {"field": str(path)})
            elif not isinstance(capture, CapturedValue) or capture.tag != spec.equipment_tag:
                self.error(path, "capture_from_wrong_tag",
                           N_("The captured value comes from tag %(found)s, but this field is bound to %(expected)s."),
                           {"found": getattr(capture, "tag", repr(capture)), "expected": spec.equipment_tag})
        for path, reason in self.overrides.items():
            spec = definition.spec_at(path)
            if spec is None or spec.equipment_tag is None or path not in self.paths:
                self.error(FORM_LEVEL, "override_for_manual_field",
                           N_("An override was given for %(field)s, which is not captured from equipment."),
                           {"field": str(path)})
            elif not isinstance(reason, str) or not reason.strip():
                self.error(path, "override_reason_missing", N_("A manual override needs a reason."))
            elif len(reason) > COMMENT_MAX_LENGTH:
                self.error(path, "comment_too_long", N_("Enter at most %(count)s characters (%(length)s entered)."),
                           {"count": COMMENT_MAX_LENGTH, "length": len(reason)})

    # ---- pass 2: JSON Schema over the whole document
    def check_schema(self, values: Mapping[str, Any]) -> None:
        already = self.bad
        validator = _validator(self.definition)
        for error in validator.iter_errors(values):
            problem = schema_error(self.definition, error)
            if problem is None:
                continue
            if problem.field in already and problem.code in ("required", "type", "minItems"):
                continue
            self.errors.append(problem)

    # ---- pass 3: limits and the record of every accepted value
    def check_limits(self, specs: tuple[FieldSpec, ...], values: Mapping[str, Any], prefix: str,
                     chain: list[Mapping[str, Any]]) -> None:
        scope = ChainMap(dict(values), *chain)
        bad = self.bad
        for spec in specs:
            path = join_path(prefix, spec.name)
            if spec.kind == "group":
                inner = values.get(spec.name)
                if isinstance(inner, Mapping):
                    self.check_limits(spec.children, inner, path, [values, *chain])
                continue
            if spec.kind == "rows":
                for index, row in enumerate(values.get(spec.name) or []):
                    if isinstance(row, Mapping):
                        self.check_limits(spec.children, row, join_path(path, index), [values, *chain])
                continue
            if spec.name not in values:
                if path in self.exceptions and path not in bad:
                    self.error(path, "exception_without_value", N_("An exception comment was given but there is no value."))
                continue
            value = values[spec.name]
            out = False
            comment = self.exceptions.get(path)
            limits = spec.limits
            if limits is not None and not limits.static:
                try:
                    low, high = limits.bounds(scope)
                    limits = Limits(low, high)
                except ExpressionError:
                    missing = sorted(n for n in spec.limits.names if scope.get(n) is None)
                    if missing and path not in bad:
                        self.error(path, "limits_not_calculable",
                                   N_("The limits cannot be worked out until %(fields)s are entered."),
                                   {"fields": FieldRefs(self.ref(self.name_path(prefix, n)) for n in missing)})
                    limits = None
            if limits is not None and path not in bad and to_decimal(value) is not None:
                out = not limits.contains(value)
                if out and not comment:
                    self.error(path, "out_of_limits",
                               N_("%(value)s is outside the limits %(limits)s: enter an exception comment to accept it."),
                               {"value": show(value, spec.unit), "limits": show_limits(limits, spec.unit)})
                elif comment and not out:
                    self.error(path, "exception_not_needed", N_("The value is within its limits: remove the exception comment."))
            source = self.sources.get(path, Source.MANUAL)
            self.records[path] = FieldRecord(
                name=path, value=value, source=source, unit=spec.unit, limits=limits,
                out_of_limits=out, exception_comment=comment if out else None,
                capture=self.captured.get(path) if spec.equipment_tag else None,
                override_reason=self.overrides.get(path) if source is Source.MANUAL_OVERRIDE else None,
                needs_verification=(source is Source.MANUAL_OVERRIDE) or (spec.critical and source is Source.MANUAL),
                expression=spec.calculated.source if spec.calculated else None,
            )


def _same(one: Any, other: Any) -> bool:
    a, b = to_decimal(one), to_decimal(other)
    return a == b if a is not None and b is not None else (one == other and type(one) is type(other))


def _has_automatic(spec: FieldSpec) -> bool:
    return any(leaf.calculated is not None or leaf.equipment_tag is not None or leaf.fixed for leaf in spec.leaves())


def calculated_value(result: Decimal, spec: FieldSpec) -> Any:
    """A calculation's result as its field holds it: a whole number for an integer field, rounded
    (half up) to the field's x-gmp-decimals for a number field."""
    if spec.type == "integer" and result == result.to_integral_value():
        return int(result)
    return quantize(result, spec.decimals) if spec.decimals is not None else result


def after_rows(order: list[FieldSpec]) -> set[str]:
    """Names of the calculations (in dependency order) that need the rows of a repeating group
    (``sum``/``count``), directly or through another calculation: computed after the rows."""
    later: set[str] = set()
    for spec in order:
        assert spec.calculated is not None
        if spec.calculated.aggregates or spec.calculated.names & later:
            later.add(spec.name)
    return later


def resolve_name(definition: FormDefinition, path: str, name: str) -> str:
    """Path of the field that ``name``, used by a calculation or limit at ``path``, stands for."""
    for prefix in enclosing(path):
        candidate = join_path(prefix, name)
        if definition.spec_at(candidate) is not None:
            return candidate
    return name


_VALIDATORS: dict[int, Draft202012Validator] = {}


def _validator(definition: FormDefinition) -> Draft202012Validator:
    key = id(definition)
    found = _VALIDATORS.get(key)
    if found is None or found.schema is not definition.validation_schema:
        found = Draft202012Validator(definition.validation_schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
        if len(_VALIDATORS) > 512:
            _VALIDATORS.clear()
        _VALIDATORS[key] = found
    return found


def show(value: Any, unit: str | None) -> str:
    text = format_decimal(value) if isinstance(value, (Decimal, float)) else str(value)
    return f"{text} {unit}" if unit else text


def show_limits(limits: Limits, unit: str | None) -> str:
    text = limits.describe()
    return f"{text} {unit}" if unit else text


TYPE_NAMES = {"number": N_("a number"), "integer": N_("a whole number"), "string": N_("text"),
              "boolean": N_("yes or no"), "object": N_("a group of values"), "array": N_("a list of rows")}


def schema_error(definition: FormDefinition, error: SchemaValidationError) -> FieldError | None:
    """A JSON Schema error as a FieldError on the field it is about, worded for the person entering."""
    path = join_path(*error.absolute_path)
    spec = definition.spec_at(path) if path else None
    v, expected = error.validator, error.validator_value
    if v == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        field_path = join_path(path, missing) if missing else (path or FORM_LEVEL)
        if definition.spec_at(field_path) is not None:
            target = definition.spec_at(field_path)
            if target is not None and target.kind == "rows":
                return FieldError(field_path, "rows_required", N_("Add at least one row."))
            return FieldError(field_path, "required", N_("This field is required."))
        return FieldError(FORM_LEVEL, "required", N_("%(field)s is required."), {"field": missing or path})
    name = path or FORM_LEVEL
    unit = spec.unit if spec is not None else None
    if v == "type":
        kind = expected if isinstance(expected, str) else next((t for t in expected if t != "null"), "value")
        return FieldError(name, "type", N_("Enter %(kind)s."), {"kind": Term(TYPE_NAMES.get(kind, kind))})
    if v in ("minimum", "exclusiveMinimum"):
        template = N_("Must be at least %(limit)s.") if v == "minimum" else N_("Must be more than %(limit)s.")
        return FieldError(name, v, template, {"limit": show(expected, unit)})
    if v in ("maximum", "exclusiveMaximum"):
        template = N_("Must be at most %(limit)s.") if v == "maximum" else N_("Must be less than %(limit)s.")
        return FieldError(name, v, template, {"limit": show(expected, unit)})
    if v in ("enum", "oneOf", "anyOf", "const") and spec is not None and spec.options:
        return FieldError(name, "enum", N_("Choose one of: %(choices)s."),
                          {"choices": ", ".join(o.title for o in spec.options)})
    if v == "enum":
        return FieldError(name, "enum", N_("Choose one of: %(choices)s."), {"choices": ", ".join(map(str, expected))})
    if v == "minLength":
        return FieldError(name, "minLength", N_("Enter at least %(count)s characters."), {"count": expected})
    if v == "maxLength":
        return FieldError(name, "maxLength", N_("Enter at most %(count)s characters (%(length)s entered)."),
                          {"count": expected, "length": len(error.instance) if isinstance(error.instance, str) else "?"})
    if v == "minItems":
        return FieldError(name, "minItems", N_("Enter at least %(count)s rows."), {"count": expected})
    if v == "maxItems":
        return FieldError(name, "maxItems", N_("Enter at most %(count)s rows."), {"count": expected})
    if v == "pattern":
        return FieldError(name, "pattern", N_("The value does not have the expected form."))
    if v == "format":
        if expected == "date":
            return FieldError(name, "format", N_("Enter a date (year-month-day)."))
        if expected == "date-time":
            return FieldError(name, "format", N_("Enter a date and time (year-month-day hours:minutes)."))
        if expected == "time":
            return FieldError(name, "format", N_("Enter a time (hours:minutes:seconds)."))
        if expected in ("email", "idn-email"):
            return FieldError(name, "format", N_("Enter an e-mail address."))
        return FieldError(name, "format", N_("The value does not have the expected form."))
    if v == "multipleOf":
        return FieldError(name, "multipleOf", N_("Must be a multiple of %(step)s."), {"step": show(expected, None)})
    if v == "additionalProperties":
        return FieldError(FORM_LEVEL, "additionalProperties", N_("The submission holds values that are not fields of this form."))
    return FieldError(name, str(v), N_("The value is not accepted by this form (rule %(rule)s)."), {"rule": str(v)})


def sort_key(definition: FormDefinition, path: str) -> tuple[Any, ...]:
    """Errors in the order of the form: field by field, row by row."""
    if path == FORM_LEVEL:
        return (-1,)
    key: list[Any] = []
    specs = definition.fields
    for part in split_path(path):
        if isinstance(part, int):
            key.append(part)
            continue
        index = next((i for i, s in enumerate(specs) if s.name == part), len(specs))
        key.append(index)
        spec = specs[index] if index < len(specs) else None
        specs = spec.children if spec is not None else ()
    return (0, *key)


def ordered(definition: FormDefinition, errors: list[FieldError]) -> list[FieldError]:
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for e in errors:
        key = (e.field, e.code, e.message)
        if key not in seen:
            seen.add(key)
            unique.append(e if e.label or e.field == FORM_LEVEL else replace(e, label=definition.label_of(e.field)))
    return sorted(unique, key=lambda e: sort_key(definition, e.field))
