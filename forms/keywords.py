"""A form definition: the JSON Schema, the UI schema and the GMP keywords on its fields.

GMP keywords (see docs/forms.md) may be written on a top-level property of the JSON
Schema or on the same field's entry in the UI schema; writing the same keyword in
both places with different values is an error.

    x-gmp-unit            "kg"                       unit shown beside the value and printed
    x-gmp-limits          {"min": 9.5, "max": 10.5}  soft limits: a value outside is accepted only
                                                     as an exception with a comment (flagged)
    x-gmp-equipment-tag   "BAL-01.net_weight"        value captured from this registered tag;
                                                     read-only; manual override needs a reason and
                                                     a second-person verification
    x-gmp-critical        true                       a manual entry needs a second-person verification
    x-gmp-calculated      "gross - tare"             computed by the server from other fields

The JSON Schema's own ``minimum``/``maximum`` stay hard limits (a value outside is refused).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Mapping

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from forms import expressions
from forms.errors import ExpressionError, FormDefinitionError

KEYWORDS = ("x-gmp-unit", "x-gmp-limits", "x-gmp-equipment-tag", "x-gmp-critical", "x-gmp-calculated")
UI_KEYS = {"ui:title", "ui:help", "ui:description", "ui:widget", "ui:placeholder", "ui:readonly",
           "ui:autofocus", "ui:rows"}
UI_WIDGETS = {"text", "textarea", "select", "radio", "checkbox", "date", "hidden", "updown"}
SCALAR_TYPES = {"string", "number", "integer", "boolean"}
NUMERIC = {"number", "integer"}


@dataclass(frozen=True)
class Limits:
    """Soft limits of a numeric field; either bound may be open."""

    min: float | None = None
    max: float | None = None

    def contains(self, value: float) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)

    def describe(self) -> str:
        if self.min is not None and self.max is not None:
            return f"{_fmt(self.min)} – {_fmt(self.max)}"
        if self.min is not None:
            return f"≥ {_fmt(self.min)}"
        return f"≤ {_fmt(self.max)}"

    def to_json(self) -> dict[str, float | None]:
        return {"min": self.min, "max": self.max}


def _fmt(number: float | None) -> str:
    return format(number, "g") if isinstance(number, float) else str(number)


@dataclass(frozen=True)
class FieldSpec:
    """One top-level field of a form with its GMP behaviour."""

    name: str
    schema: Mapping[str, Any]
    ui: Mapping[str, Any]
    title: str
    type: str | None
    required: bool
    unit: str | None = None
    limits: Limits | None = None
    equipment_tag: str | None = None
    critical: bool = False
    calculated: expressions.Expression | None = None

    @property
    def help(self) -> str | None:
        return self.ui.get("ui:help") or self.schema.get("description") or self.ui.get("ui:description")

    @property
    def widget(self) -> str:
        widget = self.ui.get("ui:widget")
        if widget:
            return str(widget)
        if self.type == "boolean":
            return "checkbox"
        if "enum" in self.schema:
            return "select"
        if self.type == "string" and self.schema.get("format") == "date":
            return "date"
        return "text"

    @property
    def readonly(self) -> bool:
        return bool(self.ui.get("ui:readonly")) or self.calculated is not None or self.equipment_tag is not None

    @property
    def is_numeric(self) -> bool:
        return self.type in NUMERIC


@dataclass(frozen=True)
class FormDefinition:
    schema: Mapping[str, Any]
    ui_schema: Mapping[str, Any]
    fields: tuple[FieldSpec, ...]
    title: str | None = None
    description: str | None = None
    _by_name: Mapping[str, FieldSpec] = field(default_factory=dict, repr=False)

    def field(self, name: str) -> FieldSpec:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    @property
    def calculation_order(self) -> list[FieldSpec]:
        """Calculated fields, each after the calculated fields it depends on."""
        order: list[FieldSpec] = []
        seen: set[str] = set()

        def visit(spec: FieldSpec) -> None:
            if spec.name in seen:
                return
            seen.add(spec.name)
            assert spec.calculated is not None
            for dep in sorted(spec.calculated.names):
                dep_spec = self._by_name[dep]
                if dep_spec.calculated is not None:
                    visit(dep_spec)
            order.append(spec)

        for spec in self.fields:
            if spec.calculated is not None:
                visit(spec)
        return order


def load_definition(schema: Any, ui_schema: Any = None) -> FormDefinition:
    """Check a form's JSON Schema (Draft 2020-12) and UI schema; return its definition.

    Raises FormDefinitionError naming the first problem and where it is.
    """
    import json

    try:
        key = (json.dumps(schema), json.dumps(ui_schema))  # property order matters: no sort_keys
    except (TypeError, ValueError) as exc:
        raise FormDefinitionError(f"schema and UI schema must be JSON documents: {exc}") from exc
    return _load_cached(*key)


@lru_cache(maxsize=256)
def _load_cached(schema_text: str, ui_text: str) -> FormDefinition:
    import json

    return _load(json.loads(schema_text), json.loads(ui_text))


def _load(schema: Any, ui_schema: Any) -> FormDefinition:
    if not isinstance(schema, dict):
        raise FormDefinitionError("the JSON Schema must be an object")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        raise FormDefinitionError(f"not a valid Draft 2020-12 JSON Schema: {exc.message}", path=where) from exc
    if schema.get("type") != "object" or not isinstance(schema.get("properties"), dict) or not schema["properties"]:
        raise FormDefinitionError("a form schema must be of type 'object' with at least one property")
    if ui_schema is None:
        ui_schema = {}
    if not isinstance(ui_schema, dict):
        raise FormDefinitionError("the UI schema must be an object")

    properties: dict[str, Any] = schema["properties"]
    required = set(schema.get("required") or [])
    unknown_required = required - set(properties)
    if unknown_required:
        raise FormDefinitionError(f"'required' names fields that do not exist: {sorted(unknown_required)}", path="required")

    for key in ui_schema:
        if key.startswith("ui:"):
            if key not in ("ui:order", "ui:title", "ui:description", "ui:submitButtonOptions"):
                raise FormDefinitionError(f"unknown form-level UI key {key!r}", path=key)
        elif key not in properties:
            raise FormDefinitionError(f"the UI schema describes a field that is not in the schema: {key!r}", path=key)
    for name, prop in properties.items():
        if not isinstance(prop, dict):
            raise FormDefinitionError("a property must be an object", path=f"properties/{name}")
        _reject_nested_keywords(prop, f"properties/{name}", top=True)

    specs: dict[str, FieldSpec] = {}
    for name, prop in properties.items():
        specs[name] = _field(name, prop, ui_schema.get(name) or {}, name in required)

    for spec in specs.values():
        if spec.calculated is None:
            continue
        for dep in sorted(spec.calculated.names):
            if dep not in specs:
                raise FormDefinitionError(f"calculation uses unknown field {dep!r}", path=f"properties/{spec.name}")
            if not specs[dep].is_numeric:
                raise FormDefinitionError(f"calculation uses non-numeric field {dep!r}", path=f"properties/{spec.name}")
    _check_cycles(specs)

    order = _order(list(properties), ui_schema.get("ui:order"))
    fields = tuple(specs[name] for name in order)
    return FormDefinition(schema=schema, ui_schema=ui_schema, fields=fields,
                          title=ui_schema.get("ui:title") or schema.get("title"),
                          description=ui_schema.get("ui:description") or schema.get("description"),
                          _by_name=specs)


def _reject_nested_keywords(node: Any, path: str, top: bool) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key.startswith("x-gmp-"):
                if not top:
                    raise FormDefinitionError(f"GMP keyword {key!r} is only allowed on top-level fields", path=path)
                if key not in KEYWORDS:
                    raise FormDefinitionError(f"unknown GMP keyword {key!r} (known: {', '.join(KEYWORDS)})", path=path)
            _reject_nested_keywords(value, f"{path}/{key}", top=False)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _reject_nested_keywords(value, f"{path}/{index}", top=False)


def _keyword(name: str, key: str, prop: Mapping[str, Any], ui: Mapping[str, Any]) -> Any:
    in_schema, in_ui = prop.get(key), ui.get(key)
    if in_schema is not None and in_ui is not None and in_schema != in_ui:
        raise FormDefinitionError(f"{key} is declared differently in the schema and the UI schema", path=f"properties/{name}")
    return in_schema if in_schema is not None else in_ui


def _field(name: str, prop: Mapping[str, Any], ui: Any, required: bool) -> FieldSpec:
    path = f"properties/{name}"
    if not isinstance(ui, dict):
        raise FormDefinitionError("a field's UI schema entry must be an object", path=name)
    for key in ui:
        if key.startswith("x-gmp-"):
            if key not in KEYWORDS:
                raise FormDefinitionError(f"unknown GMP keyword {key!r} (known: {', '.join(KEYWORDS)})", path=name)
        elif key not in UI_KEYS:
            raise FormDefinitionError(f"unknown UI key {key!r}", path=name)
    widget = ui.get("ui:widget")
    if widget is not None and widget not in UI_WIDGETS:
        raise FormDefinitionError(f"unknown widget {widget!r} (known: {', '.join(sorted(UI_WIDGETS))})", path=name)

    ftype = prop.get("type")
    if isinstance(ftype, list):
        non_null = [t for t in ftype if t != "null"]
        ftype = non_null[0] if len(non_null) == 1 else None
    if ftype not in SCALAR_TYPES and ftype not in ("object", "array") and "enum" not in prop:
        raise FormDefinitionError("every field needs a 'type' (string, number, integer, boolean, object or array)", path=path)
    title = str(ui.get("ui:title") or prop.get("title") or name)

    unit = _keyword(name, "x-gmp-unit", prop, ui)
    if unit is not None and (not isinstance(unit, str) or not unit.strip()):
        raise FormDefinitionError("x-gmp-unit must be a non-empty string", path=path)

    limits = None
    raw_limits = _keyword(name, "x-gmp-limits", prop, ui)
    if raw_limits is not None:
        if ftype not in NUMERIC:
            raise FormDefinitionError("x-gmp-limits applies to number and integer fields only", path=path)
        if not isinstance(raw_limits, dict) or not set(raw_limits) <= {"min", "max"} or not raw_limits:
            raise FormDefinitionError("x-gmp-limits must be an object with 'min' and/or 'max'", path=path)
        bounds = {}
        for key, value in raw_limits.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise FormDefinitionError(f"x-gmp-limits.{key} must be a number", path=path)
            bounds[key] = value
        if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
            raise FormDefinitionError("x-gmp-limits.min is greater than x-gmp-limits.max", path=path)
        limits = Limits(bounds.get("min"), bounds.get("max"))

    tag = _keyword(name, "x-gmp-equipment-tag", prop, ui)
    if tag is not None:
        if not isinstance(tag, str) or not tag.strip():
            raise FormDefinitionError("x-gmp-equipment-tag must be a non-empty tag name", path=path)
        if ftype not in SCALAR_TYPES:
            raise FormDefinitionError("x-gmp-equipment-tag applies to scalar fields only", path=path)

    critical = _keyword(name, "x-gmp-critical", prop, ui)
    if critical is not None and not isinstance(critical, bool):
        raise FormDefinitionError("x-gmp-critical must be true or false", path=path)

    calculated = None
    source = _keyword(name, "x-gmp-calculated", prop, ui)
    if source is not None:
        if ftype not in NUMERIC:
            raise FormDefinitionError("x-gmp-calculated applies to number and integer fields only", path=path)
        if tag is not None:
            raise FormDefinitionError("a field cannot be both calculated and captured from equipment", path=path)
        try:
            calculated = expressions.parse(source)
        except ExpressionError as exc:
            raise FormDefinitionError(str(exc), path=path) from exc
        if name in calculated.names:
            raise FormDefinitionError("a calculation cannot use its own field", path=path)

    if ftype in ("object", "array") and any(_keyword(name, k, prop, ui) is not None for k in KEYWORDS):
        raise FormDefinitionError("GMP keywords apply to scalar fields only", path=path)

    return FieldSpec(name=name, schema=prop, ui=ui, title=title, type=ftype, required=required,
                     unit=unit, limits=limits, equipment_tag=tag, critical=bool(critical), calculated=calculated)


def _check_cycles(specs: Mapping[str, FieldSpec]) -> None:
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        spec = specs[name]
        if spec.calculated is None:
            return
        if state.get(name) == 1:
            raise FormDefinitionError(f"calculations form a cycle: {' -> '.join(trail + [name])}", path=f"properties/{name}")
        if state.get(name) == 2:
            return
        state[name] = 1
        for dep in sorted(spec.calculated.names):
            visit(dep, trail + [name])
        state[name] = 2

    for name in specs:
        visit(name, [])


def _order(names: list[str], order: Any) -> list[str]:
    if order is None:
        return names
    if not isinstance(order, list) or not all(isinstance(n, str) for n in order):
        raise FormDefinitionError("ui:order must be a list of field names", path="ui:order")
    if len(set(order)) != len(order):
        raise FormDefinitionError("ui:order names a field twice", path="ui:order")
    unknown = [n for n in order if n != "*" and n not in names]
    if unknown:
        raise FormDefinitionError(f"ui:order names unknown fields: {unknown}", path="ui:order")
    listed = [n for n in order if n != "*"]
    rest = [n for n in names if n not in listed]
    if "*" in order:
        index = order.index("*")
        return listed[:index] + rest + listed[index:]
    if rest:
        raise FormDefinitionError(f"ui:order leaves out fields {rest} (add '*' to place the rest)", path="ui:order")
    return listed
