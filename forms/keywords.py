"""A form definition: the JSON Schema, the UI schema and the GMP keywords on its fields.

A form is a tree: scalar fields, groups (``"type": "object"``) and repeating groups
(``"type": "array"`` of objects: a dispensing table, a grid of calibration readings, exam
answers). GMP keywords may be written on any scalar field, at any depth (so on each
column of a repeating group, applying to every row), either in the JSON Schema or on the
same field's entry of the UI schema; the same keyword in both places with different
values is an error.

    x-gmp-unit            "kg"                       unit shown beside the value and printed
    x-gmp-limits          {"min": 9.5, "max": 10.5}  soft limits: a value outside is accepted only
                          {"min": "nominal - tol"}   as an exception with a comment (flagged);
                                                     a bound may be a calculation over the row
    x-gmp-equipment-tag   "BAL-01.net_weight"        value captured from this registered tag;
                                                     read-only; manual override needs a reason and
                                                     a second-person verification
    x-gmp-critical        true                       a manual entry needs a second-person verification
    x-gmp-calculated      "gross - tare"             computed by the server from other fields of the
                                                     same row or group, or of an enclosing one
    x-gmp-decimals        2                          decimals a number carries (entries with more are
                                                     refused, captured readings are rounded to it)
    x-gmp-i18n            {"zh": {"title": "净重"}}  labels, help and choice names per language

    x-gmp-value-from      "evaluation.supplier"      the value is preset (read-only) from the instance data
                                                     (forms.bind_rows) when the instance holds it, entered
                                                     as usual when it does not
    x-gmp-unit-from       "work_order.unit"          the unit (x-gmp-unit) is taken from the instance data

On a repeating group:

    x-gmp-rows-from       "bom"                      the rows are preset from a list in the instance
                          {"data": "order.lines",    data (forms.bind_rows); `columns` maps a column
                           "columns": {"target": "qty"}}  to the key of each entry it is taken from

The JSON Schema's own ``minimum``/``maximum`` stay hard limits (a value outside is refused).
Every text field has a maximum length: the schema's ``maxLength`` or a default.
Field paths name a value in the data: ``lot``, ``dispensing.2.net`` (row 3 of the
repeating group ``dispensing``, its column ``net``), ``room.area`` (field of a group).
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any, Mapping

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from forms import expressions
from forms.errors import ExpressionError, FormDefinitionError
from forms.numbers import decimal_schema, to_decimal

ROWS_FROM = "x-gmp-rows-from"
VALUE_FROM = "x-gmp-value-from"
UNIT_FROM = "x-gmp-unit-from"
KEYWORDS = ("x-gmp-unit", "x-gmp-limits", "x-gmp-equipment-tag", "x-gmp-critical", "x-gmp-calculated",
            "x-gmp-decimals", "x-gmp-i18n", ROWS_FROM, VALUE_FROM, UNIT_FROM)
SCALAR_KEYWORDS = ("x-gmp-unit", "x-gmp-limits", "x-gmp-equipment-tag", "x-gmp-critical", "x-gmp-calculated",
                   "x-gmp-decimals", VALUE_FROM, UNIT_FROM)
UI_KEYS = {"ui:title", "ui:help", "ui:description", "ui:widget", "ui:placeholder", "ui:readonly",
           "ui:autofocus", "ui:rows", "ui:enumNames", "ui:options"}
FORM_UI_KEYS = {"ui:order", "ui:title", "ui:description", "ui:submitButtonOptions", "x-gmp-i18n"}
UI_WIDGETS = {"text", "textarea", "select", "radio", "checkbox", "date", "hidden", "updown"}
UI_OPTIONS = {"addable", "removable", "orderable", "addLabel", "rowTitle"}
TRANSLATABLE = {"title", "description", "help", "placeholder", "enumNames", "addLabel", "rowTitle"}
SCALAR_TYPES = {"string", "number", "integer", "boolean"}
NUMERIC = {"number", "integer"}
LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})?")
DATA_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*")

DEFAULT_MAX_LENGTH = 200
"""Longest text a single-line field takes unless its schema says ``maxLength``."""
DEFAULT_TEXTAREA_MAX_LENGTH = 4000
"""Longest text a multi-line field (``ui:widget: textarea``) takes unless its schema says ``maxLength``."""
MAX_LENGTH_CEILING = 100_000
"""No field may declare a ``maxLength`` above this: a record stays printable."""
COMMENT_MAX_LENGTH = 2000
"""Longest exception comment, override reason or correction reason."""
DEFAULT_MAX_ROWS = 200
"""Most rows a repeating group takes unless its schema says ``maxItems``."""
MAX_ROWS_CEILING = 2000
MAX_DECIMALS = 12


@dataclass(frozen=True)
class Option:
    """One choice of an enumerated field: its stored value and its label per language."""

    value: Any
    title: str
    titles: Mapping[str, str] = field(default_factory=dict)

    def label(self, language: str | None = None) -> str:
        return self.titles.get(language or "", self.title) if language else self.title


@dataclass(frozen=True)
class Limits:
    """Soft limits of a numeric field; either bound may be open, a number or a calculation."""

    min: Decimal | expressions.Expression | None = None
    max: Decimal | expressions.Expression | None = None

    @property
    def static(self) -> bool:
        return not isinstance(self.min, expressions.Expression) and not isinstance(self.max, expressions.Expression)

    @property
    def names(self) -> frozenset[str]:
        found: set[str] = set()
        for bound in (self.min, self.max):
            if isinstance(bound, expressions.Expression):
                found |= bound.names
        return frozenset(found)

    def bounds(self, values: Mapping[str, Any] | None = None) -> tuple[Decimal | None, Decimal | None]:
        """The bounds as numbers; calculated bounds are evaluated with ``values`` (raises ExpressionError)."""
        result = []
        for bound in (self.min, self.max):
            if isinstance(bound, expressions.Expression):
                result.append(_tidy(bound.evaluate(values if values is not None else {})))
            else:
                result.append(bound)
        return result[0], result[1]

    def contains(self, value: Any, values: Mapping[str, Any] | None = None) -> bool:
        number = to_decimal(value)
        low, high = self.bounds(values)
        return number is not None and (low is None or number >= low) and (high is None or number <= high)

    def describe(self, values: Mapping[str, Any] | None = None) -> str:
        try:
            low, high = self.bounds(values)
        except ExpressionError:
            low, high = (_source(self.min), _source(self.max))
        if low is not None and high is not None:
            return f"{_fmt(low)} – {_fmt(high)}"
        if low is not None:
            return f"≥ {_fmt(low)}"
        return f"≤ {_fmt(high)}"

    def to_json(self, values: Mapping[str, Any] | None = None) -> dict[str, Any]:
        try:
            low, high = self.bounds(values)
        except ExpressionError:
            low, high = None, None
        return {"min": low, "max": high}


def _tidy(number: Decimal) -> Decimal:
    """A calculated bound without the trailing zeros multiplication leaves (2.487500 -> 2.4875), same value."""
    tidy = number.normalize()
    exponent = tidy.as_tuple().exponent
    return tidy.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else tidy


def _source(bound: Any) -> Any:
    return bound.source if isinstance(bound, expressions.Expression) else bound


def _fmt(number: Any) -> str:
    from forms.numbers import format_decimal

    return format_decimal(number) if isinstance(number, (Decimal, float)) else str(number)


@dataclass(frozen=True)
class RowsSource:
    """Where a repeating group's rows come from (``x-gmp-rows-from``): the list at ``data`` in the
    instance data, one row per entry; ``columns`` maps each preset column to the key of the entry
    it is taken from (a column not named takes the entry's key of its own name, when it has one)."""

    data: str
    columns: Mapping[str, str] = field(default_factory=dict)

    def key_of(self, column: str) -> str:
        return self.columns.get(column, column)


@dataclass(frozen=True, eq=False)
class FieldSpec:
    """One field of a form: a scalar, a group of fields, or a repeating group of rows."""

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
    key: str = ""
    kind: str = "scalar"
    decimals: int | None = None
    max_length: int | None = None
    translations: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    options: tuple[Option, ...] = ()
    children: tuple["FieldSpec", ...] = ()
    min_rows: int = 0
    max_rows: int = DEFAULT_MAX_ROWS
    addable: bool = True
    removable: bool = True
    default_rows: tuple[Mapping[str, Any], ...] = ()
    titled: bool = True
    rows_from: RowsSource | None = None
    value_from: str | None = None  # x-gmp-value-from: the instance data path the value is preset from
    unit_from: str | None = None  # x-gmp-unit-from: the instance data path the unit is taken from

    # ---- what a person reads
    def label(self, language: str | None = None) -> str:
        """The field's label in ``language`` (its x-gmp-i18n title), else its title."""
        if language:
            text = self.translations.get(language, {}).get("title")
            if text:
                return str(text)
        return self.title

    def text(self, what: str, language: str | None = None) -> str | None:
        """help / description / placeholder / addLabel / rowTitle in ``language``, else the English one."""
        if language:
            text = self.translations.get(language, {}).get(what)
            if text:
                return str(text)
        if what == "help":
            return self.ui.get("ui:help") or self.schema.get("description") or self.ui.get("ui:description")
        if what == "description":
            return self.ui.get("ui:description") or self.schema.get("description")
        if what == "placeholder":
            return self.ui.get("ui:placeholder")
        if what in ("addLabel", "rowTitle"):
            return (self.ui.get("ui:options") or {}).get(what)
        return None

    @property
    def help(self) -> str | None:
        return self.text("help")

    @property
    def widget(self) -> str:
        widget = self.ui.get("ui:widget")
        if widget:
            return str(widget)
        if self.type == "boolean":
            return "checkbox"
        if self.options:
            return "select"
        if self.type == "string" and self.schema.get("format") == "date":
            return "date"
        return "text"

    @property
    def readonly(self) -> bool:
        return self.fixed or self.calculated is not None or self.equipment_tag is not None

    @property
    def fixed(self) -> bool:
        """Shown, never entered: the value is the schema's ``default`` (or the default row's)."""
        return bool(self.ui.get("ui:readonly")) or self.schema.get("readOnly") is True

    @property
    def is_numeric(self) -> bool:
        return self.type in NUMERIC

    @property
    def is_scalar(self) -> bool:
        return self.kind == "scalar"

    def child(self, name: str) -> "FieldSpec":
        for spec in self.children:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def option_label(self, value: Any, language: str | None = None) -> str | None:
        for option in self.options:
            if option.value == value and type(option.value) is type(value):
                return option.label(language)
        return None

    def leaves(self) -> Iterator["FieldSpec"]:
        if self.kind == "scalar":
            yield self
        for spec in self.children:
            yield from spec.leaves()


@dataclass(frozen=True)
class FormDefinition:
    schema: Mapping[str, Any]
    ui_schema: Mapping[str, Any]
    fields: tuple[FieldSpec, ...]
    title: str | None = None
    description: str | None = None
    _by_name: Mapping[str, FieldSpec] = field(default_factory=dict, repr=False)
    translations: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    validation_schema: Mapping[str, Any] = field(default_factory=dict, repr=False)
    warnings: tuple[str, ...] = ()

    def field(self, name: str) -> FieldSpec:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def label(self, language: str | None = None) -> str | None:
        if language and self.translations.get(language, {}).get("title"):
            return str(self.translations[language]["title"])
        return self.title

    def text(self, what: str, language: str | None = None) -> str | None:
        if language and self.translations.get(language, {}).get(what):
            return str(self.translations[language][what])
        return self.description if what == "description" else None

    def leaves(self) -> Iterator[FieldSpec]:
        for spec in self.fields:
            yield from spec.leaves()

    @property
    def calculation_order(self) -> list[FieldSpec]:
        """Top-level calculated fields, each after the calculated fields it depends on."""
        return calculation_order(self.fields)

    def spec_at(self, path: str | tuple[Any, ...]) -> FieldSpec | None:
        """The field a data path names (``dispensing.2.net``, ``lot``), or None if it names none."""
        parts = split_path(path) if isinstance(path, str) else list(path)
        specs: tuple[FieldSpec, ...] = self.fields
        spec: FieldSpec | None = None
        index = 0
        while index < len(parts):
            name = parts[index]
            spec = next((s for s in specs if s.name == name), None)
            if spec is None:
                return None
            index += 1
            if spec.kind == "rows":
                if index == len(parts):
                    return spec
                if not _is_index(parts[index]):
                    return None
                index += 1
            specs = spec.children
        return spec

    def label_of(self, path: str, language: str | None = None, row_word: Any = None) -> str:
        """``Dispensing › row 2 › Net weight`` for ``dispensing.1.net``, in ``language``."""
        parts = split_path(path)
        specs: tuple[FieldSpec, ...] = self.fields
        pieces: list[str] = []
        index = 0
        while index < len(parts):
            spec = next((s for s in specs if s.name == parts[index]), None)
            if spec is None:
                pieces.append(".".join(str(p) for p in parts[index:]))
                break
            pieces.append(spec.label(language))
            index += 1
            if spec.kind == "rows" and index < len(parts) and _is_index(parts[index]):
                number = int(parts[index]) + 1
                pieces.append(row_word(number) if row_word else f"row {number}")
                index += 1
            specs = spec.children
        return " › ".join(pieces)


ROW_PLACEHOLDER = "__INDEX__"
"""Stands for a row number in the paths of a repeating group's row template (the browser fills it in)."""


def enclosing(path: str) -> list[str]:
    """Paths of the objects around the field ``path``, innermost first: its row or group, then each
    enclosing one, then the form (``materials.1.net`` -> ``["materials.1", ""]``). A calculation at
    ``path`` finds the names it uses in these, in this order."""
    parts = split_path(path)[:-1]
    result = []
    while True:
        result.append(join_path(*parts))
        if not parts:
            return result
        parts = parts[:-2] if len(parts) >= 2 and _is_index(parts[-1]) else parts[:-1]


def split_path(path: str) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in str(path).split(".")] if path else []


def join_path(*parts: Any) -> str:
    return ".".join(str(p) for p in parts if p != "")


def _is_index(part: Any) -> bool:
    return isinstance(part, int) or (isinstance(part, str) and (part.isdigit() or part == ROW_PLACEHOLDER))


def calculation_order(specs: tuple[FieldSpec, ...]) -> list[FieldSpec]:
    """Calculated fields among ``specs`` (one object), each after those of ``specs`` it depends on."""
    by_name = {s.name: s for s in specs}
    order: list[FieldSpec] = []
    seen: set[str] = set()

    def visit(spec: FieldSpec) -> None:
        if spec.name in seen:
            return
        seen.add(spec.name)
        assert spec.calculated is not None
        for dep in sorted(spec.calculated.names):
            dep_spec = by_name.get(dep)
            if dep_spec is not None and dep_spec.calculated is not None:
                visit(dep_spec)
        order.append(spec)

    for spec in specs:
        if spec.calculated is not None:
            visit(spec)
    return order


def load_definition(schema: Any, ui_schema: Any = None) -> FormDefinition:
    """Check a form's JSON Schema (Draft 2020-12) and UI schema; return its definition.

    Raises FormDefinitionError naming the first problem and where it is.
    """
    try:
        key = (json.dumps(schema), json.dumps(ui_schema))  # property order matters: no sort_keys
    except (TypeError, ValueError) as exc:
        raise FormDefinitionError(f"schema and UI schema must be JSON documents: {exc}") from exc
    return _load_cached(*key)


@lru_cache(maxsize=256)
def _load_cached(schema_text: str, ui_text: str) -> FormDefinition:
    return _Loader().load(json.loads(schema_text), json.loads(ui_text))


class _Loader:
    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.rows_depth = 0

    def load(self, schema: Any, ui_schema: Any) -> FormDefinition:
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
        for key in ui_schema:
            if key.startswith("ui:") and key not in FORM_UI_KEYS:
                raise FormDefinitionError(f"unknown form-level UI key {key!r}", path=key)
        translations = _translations(schema.get("x-gmp-i18n"), "x-gmp-i18n", {"title", "description"})
        if "x-gmp-i18n" in ui_schema:
            translations = _merge_translations(translations, _translations(ui_schema["x-gmp-i18n"], "x-gmp-i18n",
                                                                            {"title", "description"}))
        for key in schema:
            if key.startswith("x-gmp-") and key != "x-gmp-i18n":
                raise FormDefinitionError(f"GMP keyword {key!r} belongs on a field, not on the form", path=key)

        fields = self.object_fields(schema, ui_schema, "", "properties", scopes=[])
        validation = _validation_schema(schema, fields)
        return FormDefinition(schema=schema, ui_schema=ui_schema, fields=fields,
                              title=ui_schema.get("ui:title") or schema.get("title"),
                              description=ui_schema.get("ui:description") or schema.get("description"),
                              _by_name={s.name: s for s in fields}, translations=translations,
                              validation_schema=validation, warnings=tuple(self.warnings))

    # ---- one object: the form itself, a group, or the item of a repeating group
    def object_fields(self, node: Mapping[str, Any], ui: Mapping[str, Any], prefix: str, where: str,
                      scopes: list[dict[str, FieldSpec]]) -> tuple[FieldSpec, ...]:
        properties = node.get("properties")
        if not isinstance(properties, dict) or not properties:
            raise FormDefinitionError("a group needs 'properties' with at least one field", path=where)
        required = set(node.get("required") or [])
        unknown_required = required - set(properties)
        if unknown_required:
            raise FormDefinitionError(f"'required' names fields that do not exist: {sorted(unknown_required)}",
                                      path=f"{where.rsplit('/', 1)[0]}/required" if "/" in where else "required")
        for key in ui:
            if not key.startswith("ui:") and key not in ("x-gmp-i18n", "items") and key not in properties:
                raise FormDefinitionError(f"the UI schema describes a field that is not in the schema: {key!r}",
                                          path=_join(prefix, key))
        for name, prop in properties.items():
            if not isinstance(prop, dict):
                raise FormDefinitionError("a property must be an object", path=f"{where}/{name}")
            if "." in name or ":" in name or not name.strip():
                raise FormDefinitionError(f"a field name cannot be empty or contain '.' or ':' ({name!r})",
                                          path=f"{where}/{name}")
        names = list(properties)
        order = _order(names, ui.get("ui:order"), _join(prefix, "ui:order"))
        specs: dict[str, FieldSpec] = {}
        scope: dict[str, FieldSpec] = {}
        # scalars first, so calculations of nested rows can see the fields of this object
        for name in names:
            prop = properties[name]
            if _kind_of(prop) == "scalar":
                specs[name] = self.field(name, prop, ui.get(name, {}), name in required, prefix, f"{where}/{name}")
                scope[name] = specs[name]
        chain = [scope] + scopes
        for name in names:
            prop = properties[name]
            if name not in specs:
                specs[name] = self.container(name, prop, ui.get(name, {}), name in required, prefix,
                                             f"{where}/{name}", chain)
        self.check_calculations(scope, chain, where, specs)
        return tuple(specs[name] for name in order)

    def container(self, name: str, prop: Mapping[str, Any], ui: Any, required: bool, prefix: str, where: str,
                  scopes: list[dict[str, FieldSpec]]) -> FieldSpec:
        key = _join(prefix, name)
        if not isinstance(ui, dict):
            raise FormDefinitionError("a field's UI schema entry must be an object", path=key)
        for keyword in SCALAR_KEYWORDS:
            if keyword in prop or keyword in ui:
                raise FormDefinitionError("GMP keywords apply to scalar fields only (write them on the fields inside)",
                                          path=where)
        if _kind_of(prop) == "group" and (ROWS_FROM in prop or ROWS_FROM in ui):
            raise FormDefinitionError(f"{ROWS_FROM} applies to a repeating group (a list of rows), not to a group",
                                      path=where)
        _check_unknown_keywords(prop, where)
        translations = self.translations_of(key, prop, ui, where)
        title, titled = _title(name, prop, ui)
        if not titled:
            self.warnings.append(f"{key}: no title (the label shows {title!r})")
        if _kind_of(prop) == "group":
            ui_children = {k: v for k, v in ui.items() if not k.startswith("ui:") and k != "x-gmp-i18n"}
            for k in ui:
                if k.startswith("ui:") and k not in UI_KEYS and k != "ui:order":
                    raise FormDefinitionError(f"unknown UI key {k!r}", path=key)
            children = self.object_fields(prop, {**ui_children, **({"ui:order": ui["ui:order"]} if "ui:order" in ui else {})},
                                          key, f"{where}/properties", scopes)
            return FieldSpec(name=name, schema=prop, ui=ui, title=title, type="object", required=required, key=key,
                             kind="group", translations=translations, children=children, titled=titled)
        # a repeating group
        items = prop.get("items")
        if not isinstance(items, dict) or _kind_of(items) != "group":
            raise FormDefinitionError("a list field needs 'items' of type 'object' with properties (a repeating group "
                                      "of rows); lists of plain values are not supported", path=where)
        for k in ui:
            if k.startswith("ui:") and k not in ("ui:title", "ui:help", "ui:description", "ui:options"):
                raise FormDefinitionError(f"unknown UI key {k!r} for a repeating group", path=key)
            if not k.startswith("ui:") and k not in ("items", "x-gmp-i18n", ROWS_FROM):
                raise FormDefinitionError(f"the UI schema of a repeating group describes its columns under 'items', "
                                          f"not {k!r}", path=key)
        options = ui.get("ui:options") or {}
        if not isinstance(options, dict) or not set(options) <= UI_OPTIONS:
            raise FormDefinitionError(f"ui:options of a repeating group takes {sorted(UI_OPTIONS)}", path=key)
        item_ui = ui.get("items") or {}
        if not isinstance(item_ui, dict):
            raise FormDefinitionError("'items' of a repeating group's UI schema must be an object", path=key)
        self.rows_depth += 1
        try:
            children = self.object_fields(items, item_ui, key, f"{where}/items/properties", scopes)
        finally:
            self.rows_depth -= 1
        rows_from = self.rows_source(key, prop, ui, where, children)
        min_rows = prop.get("minItems", 0)
        max_rows = prop.get("maxItems", DEFAULT_MAX_ROWS)
        if max_rows > MAX_ROWS_CEILING:
            raise FormDefinitionError(f"maxItems is limited to {MAX_ROWS_CEILING} rows", path=where)
        if min_rows > max_rows:
            raise FormDefinitionError("minItems is greater than maxItems", path=where)
        defaults = prop.get("default", [])
        if not isinstance(defaults, list) or not all(isinstance(r, dict) for r in defaults) or len(defaults) > max_rows:
            raise FormDefinitionError("the default of a repeating group must be a list of rows (objects), at most "
                                      "maxItems long", path=where)
        columns = {c.name for c in children}
        for number, row in enumerate(defaults, start=1):
            unknown = set(row) - columns
            if unknown:
                raise FormDefinitionError(f"default row {number} names fields that are not columns: {sorted(unknown)}",
                                          path=where)
        return FieldSpec(name=name, schema=prop, ui=ui, title=title, type="array", required=required, key=key,
                         kind="rows", translations=translations, children=children, min_rows=int(min_rows),
                         max_rows=int(max_rows), addable=options.get("addable", True) is not False,
                         removable=options.get("removable", True) is not False,
                         default_rows=tuple(decimal_schema(defaults)), titled=titled, rows_from=rows_from)

    def rows_source(self, key: str, prop: Mapping[str, Any], ui: Mapping[str, Any], where: str,
                    children: tuple[FieldSpec, ...]) -> RowsSource | None:
        """The repeating group's ``x-gmp-rows-from``: a data path, or {"data": path, "columns": {column: key}}."""
        value = _keyword(key, ROWS_FROM, prop, ui)
        if value is None:
            return None
        if self.rows_depth:
            raise FormDefinitionError(f"{ROWS_FROM} applies to a repeating group that is not inside another one",
                                      path=where)
        if "default" in prop:
            raise FormDefinitionError(f"a repeating group takes its rows from {ROWS_FROM} or from 'default', "
                                      "not both", path=where)
        if isinstance(value, str):
            value = {"data": value}
        if not isinstance(value, dict) or not set(value) <= {"data", "columns"} or "data" not in value:
            raise FormDefinitionError(f"{ROWS_FROM} must be a data path (\"bom\", \"order.lines\") or an object "
                                      "with 'data' and optionally 'columns'", path=where)
        path = value["data"]
        if not isinstance(path, str) or not DATA_PATH.fullmatch(path):
            raise FormDefinitionError(f"{ROWS_FROM}: {path!r} is not a data path (names joined by '.', "
                                      "e.g. \"order.lines\")", path=where)
        columns = value.get("columns") or {}
        if not isinstance(columns, dict) or not all(isinstance(k, str) and isinstance(v, str) and v.strip()
                                                    for k, v in columns.items()):
            raise FormDefinitionError(f"{ROWS_FROM}.columns must map column names to the keys of the entries",
                                      path=where)
        scalar = {c.name for c in children if c.kind == "scalar"}
        unknown = sorted(set(columns) - scalar)
        if unknown:
            raise FormDefinitionError(f"{ROWS_FROM}.columns names fields that are not columns of the rows: {unknown}",
                                      path=where)
        return RowsSource(path, dict(columns))

    def translations_of(self, key: str, prop: Mapping[str, Any], ui: Mapping[str, Any], where: str) -> dict[str, Any]:
        result = _translations(prop.get("x-gmp-i18n"), f"{where}/x-gmp-i18n", TRANSLATABLE)
        if "x-gmp-i18n" in ui:
            result = _merge_translations(result, _translations(ui["x-gmp-i18n"], f"{key}/x-gmp-i18n", TRANSLATABLE))
        return result

    # ---- one scalar field
    def field(self, name: str, prop: Mapping[str, Any], ui: Any, required: bool, prefix: str, where: str) -> FieldSpec:
        key = _join(prefix, name)
        path = where
        if not isinstance(ui, dict):
            raise FormDefinitionError("a field's UI schema entry must be an object", path=key)
        for k in ui:
            if k.startswith("x-gmp-"):
                if k not in KEYWORDS:
                    raise FormDefinitionError(f"unknown GMP keyword {k!r} (known: {', '.join(KEYWORDS)})", path=key)
            elif k not in UI_KEYS:
                raise FormDefinitionError(f"unknown UI key {k!r}", path=key)
        _check_unknown_keywords(prop, where)
        if ROWS_FROM in prop or ROWS_FROM in ui:
            raise FormDefinitionError(f"{ROWS_FROM} applies to a repeating group (a list of rows), not to one field",
                                      path=path)
        widget = ui.get("ui:widget")
        if widget is not None and widget not in UI_WIDGETS:
            raise FormDefinitionError(f"unknown widget {widget!r} (known: {', '.join(sorted(UI_WIDGETS))})", path=key)

        ftype = prop.get("type")
        if isinstance(ftype, list):
            non_null = [t for t in ftype if t != "null"]
            ftype = non_null[0] if len(non_null) == 1 else None
        options = _options(prop, ui, where)
        if ftype is None and options:
            kinds = {type(o.value) for o in options}
            ftype = "string" if kinds == {str} else ("integer" if kinds == {int} else None)
        if ftype not in SCALAR_TYPES and not options:
            raise FormDefinitionError("every field needs a 'type' (string, number, integer, boolean, object or array)",
                                      path=path)
        title, titled = _title(name, prop, ui)
        if not titled:
            self.warnings.append(f"{key}: no title (the label shows {title!r})")
        translations = self.translations_of(key, prop, ui, where)
        if "enumNames" in {k for t in translations.values() for k in t} and not options:
            raise FormDefinitionError("x-gmp-i18n enumNames is for fields with a list of choices", path=path)
        for language, texts in translations.items():
            names = texts.get("enumNames")
            if names is not None:
                if not isinstance(names, list) or len(names) != len(options) or not all(isinstance(n, str) for n in names):
                    raise FormDefinitionError(f"x-gmp-i18n.{language}.enumNames must name each of the "
                                              f"{len(options)} choices in order", path=path)
        if translations and options:
            options = tuple(Option(o.value, o.title, {**o.titles, **{lang: t["enumNames"][i] for lang, t in translations.items()
                                                                      if "enumNames" in t}})
                            for i, o in enumerate(options))

        unit = _keyword(key, "x-gmp-unit", prop, ui)
        if unit is not None and (not isinstance(unit, str) or not unit.strip()):
            raise FormDefinitionError("x-gmp-unit must be a non-empty string", path=path)

        decimals = _keyword(key, "x-gmp-decimals", prop, ui)
        if decimals is not None:
            if ftype != "number":
                raise FormDefinitionError("x-gmp-decimals applies to number fields only", path=path)
            if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= MAX_DECIMALS:
                raise FormDefinitionError(f"x-gmp-decimals must be a whole number from 0 to {MAX_DECIMALS}", path=path)

        limits = None
        raw_limits = _keyword(key, "x-gmp-limits", prop, ui)
        if raw_limits is not None:
            if ftype not in NUMERIC:
                raise FormDefinitionError("x-gmp-limits applies to number and integer fields only", path=path)
            if not isinstance(raw_limits, dict) or not set(raw_limits) <= {"min", "max"} or not raw_limits:
                raise FormDefinitionError("x-gmp-limits must be an object with 'min' and/or 'max'", path=path)
            bounds: dict[str, Any] = {}
            for bound_name, value in raw_limits.items():
                if isinstance(value, str):
                    try:
                        bounds[bound_name] = expressions.parse(value)
                    except ExpressionError as exc:
                        raise FormDefinitionError(f"x-gmp-limits.{bound_name}: {exc}", path=path) from exc
                    if name in bounds[bound_name].names:
                        raise FormDefinitionError(f"x-gmp-limits.{bound_name} cannot use its own field", path=path)
                    continue
                number = to_decimal(value)
                if number is None:
                    raise FormDefinitionError(f"x-gmp-limits.{bound_name} must be a number or a calculation", path=path)
                bounds[bound_name] = number
            low, high = bounds.get("min"), bounds.get("max")
            if isinstance(low, Decimal) and isinstance(high, Decimal) and low > high:
                raise FormDefinitionError("x-gmp-limits.min is greater than x-gmp-limits.max", path=path)
            limits = Limits(low, high)

        tag = _keyword(key, "x-gmp-equipment-tag", prop, ui)
        if tag is not None:
            if not isinstance(tag, str) or not tag.strip():
                raise FormDefinitionError("x-gmp-equipment-tag must be a non-empty tag name", path=path)

        critical = _keyword(key, "x-gmp-critical", prop, ui)
        if critical is not None and not isinstance(critical, bool):
            raise FormDefinitionError("x-gmp-critical must be true or false", path=path)

        calculated = None
        source = _keyword(key, "x-gmp-calculated", prop, ui)
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

        value_from, unit_from = self.instance_sources(key, prop, ui, path, tag, calculated, unit)

        max_length = None
        if ftype == "string":
            declared = prop.get("maxLength")
            if declared is not None and declared > MAX_LENGTH_CEILING:
                raise FormDefinitionError(f"maxLength is limited to {MAX_LENGTH_CEILING} characters", path=path)
            max_length = declared if declared is not None else (
                DEFAULT_TEXTAREA_MAX_LENGTH if widget == "textarea" else DEFAULT_MAX_LENGTH)
        return FieldSpec(name=name, schema=prop, ui=ui, title=title, type=ftype, required=required, key=key,
                         unit=unit, limits=limits, equipment_tag=tag, critical=bool(critical), calculated=calculated,
                         decimals=decimals, max_length=max_length, translations=translations, options=options,
                         titled=titled, value_from=value_from, unit_from=unit_from)

    def instance_sources(self, key: str, prop: Mapping[str, Any], ui: Mapping[str, Any], path: str, tag: Any,
                         calculated: Any, unit: Any) -> tuple[str | None, str | None]:
        """A field's ``x-gmp-value-from`` and ``x-gmp-unit-from`` (data paths into the instance data), checked."""
        found: list[str | None] = []
        for keyword in (VALUE_FROM, UNIT_FROM):
            value = _keyword(key, keyword, prop, ui)
            if value is not None:
                if not isinstance(value, str) or not DATA_PATH.fullmatch(value):
                    raise FormDefinitionError(f"{keyword}: {value!r} is not a data path (names joined by '.', "
                                              "e.g. \"work_order.unit\")", path=path)
                if self.rows_depth:
                    raise FormDefinitionError(f"{keyword} applies to fields outside repeating groups (a row's "
                                              f"columns come from {ROWS_FROM})", path=path)
            found.append(value)
        value_from, unit_from = found
        if value_from is not None:
            if tag is not None or calculated is not None:
                raise FormDefinitionError(f"{VALUE_FROM}: a captured or calculated value is not preset", path=path)
            if "default" in prop:
                raise FormDefinitionError(f"a field takes its value from {VALUE_FROM} or from 'default', not both",
                                          path=path)
        if unit_from is not None and unit is not None:
            raise FormDefinitionError(f"a field takes its unit from x-gmp-unit or from {UNIT_FROM}, not both",
                                      path=path)
        return value_from, unit_from

    def check_calculations(self, scope: dict[str, FieldSpec], chain: list[dict[str, FieldSpec]], where: str,
                           specs: Mapping[str, FieldSpec]) -> None:
        for spec in scope.values():
            for expression in (spec.calculated, spec.limits.min if spec.limits else None,
                               spec.limits.max if spec.limits else None):
                if not isinstance(expression, expressions.Expression):
                    continue
                for group, column in sorted(expression.columns) + [(g, None) for g in sorted(expression.counted)]:
                    rows = specs.get(group)
                    if rows is None or rows.kind != "rows":
                        raise FormDefinitionError(f"{group!r} is not a repeating group of this form or group "
                                                  f"(sum() and count() take one)", path=f"{where}/{spec.name}")
                    if column is None:
                        continue
                    cell = next((c for c in rows.children if c.name == column), None)
                    if cell is None or not cell.is_numeric:
                        raise FormDefinitionError(f"sum() of {group}.{column}: {column!r} is not a numeric column of "
                                                  f"{group!r}", path=f"{where}/{spec.name}")
            for what, names in (("calculation", spec.calculated.names if spec.calculated else frozenset()),
                                ("limit", spec.limits.names if spec.limits else frozenset())):
                for dep in sorted(names):
                    found = next((s[dep] for s in chain if dep in s), None)
                    if found is None:
                        raise FormDefinitionError(f"{what} uses unknown field {dep!r}", path=f"{where}/{spec.name}")
                    if not found.is_numeric:
                        raise FormDefinitionError(f"{what} uses non-numeric field {dep!r}", path=f"{where}/{spec.name}")
        state: dict[str, int] = {}

        def visit(name: str, trail: list[str]) -> None:
            spec = scope[name]
            if spec.calculated is None:
                return
            if state.get(name) == 1:
                raise FormDefinitionError(f"calculations form a cycle: {' -> '.join(trail + [name])}",
                                          path=f"{where}/{name}")
            if state.get(name) == 2:
                return
            state[name] = 1
            for dep in sorted(spec.calculated.names):
                if dep in scope:
                    visit(dep, trail + [name])
            state[name] = 2

        for name in scope:
            visit(name, [])


def _kind_of(prop: Mapping[str, Any]) -> str:
    ftype = prop.get("type")
    if ftype == "object" or (ftype is None and isinstance(prop.get("properties"), dict)):
        return "group"
    if ftype == "array":
        return "rows"
    return "scalar"


def _check_unknown_keywords(prop: Mapping[str, Any], where: str) -> None:
    for key in prop:
        if key.startswith("x-gmp-") and key not in KEYWORDS:
            raise FormDefinitionError(f"unknown GMP keyword {key!r} (known: {', '.join(KEYWORDS)})", path=where)


def _title(name: str, prop: Mapping[str, Any], ui: Mapping[str, Any]) -> tuple[str, bool]:
    title = ui.get("ui:title") or prop.get("title")
    if title:
        return str(title), True
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name).replace("_", " ").replace("-", " ").split()
    text = " ".join(words).lower()
    return (text[:1].upper() + text[1:]) if text else name, False


def _options(prop: Mapping[str, Any], ui: Mapping[str, Any], where: str) -> tuple[Option, ...]:
    if "enum" in prop:
        values = list(prop["enum"])
        names = ui.get("ui:enumNames")
        if names is not None and (not isinstance(names, list) or len(names) != len(values)):
            raise FormDefinitionError("ui:enumNames must name each choice of 'enum' in order", path=where)
        return tuple(Option(decimal_schema(v), str(names[i]) if names else _choice_title(v)) for i, v in enumerate(values))
    for keyword in ("oneOf", "anyOf"):
        alternatives = prop.get(keyword)
        if isinstance(alternatives, list) and alternatives and all(isinstance(a, dict) and "const" in a for a in alternatives):
            result = []
            for alternative in alternatives:
                titles = {lang: str(t["title"]) for lang, t in
                          _translations(alternative.get("x-gmp-i18n"), f"{where}/{keyword}", {"title"}).items() if "title" in t}
                result.append(Option(decimal_schema(alternative["const"]),
                                     str(alternative.get("title") or _choice_title(alternative["const"])), titles))
            return tuple(result)
    return ()


def _choice_title(value: Any) -> str:
    return "" if value is None else str(value)


def _translations(raw: Any, where: str, allowed: set[str]) -> dict[str, dict[str, Any]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise FormDefinitionError("x-gmp-i18n must map a language (e.g. 'zh') to its texts", path=where)
    result: dict[str, dict[str, Any]] = {}
    for language, texts in raw.items():
        if not isinstance(language, str) or not LANGUAGE.fullmatch(language):
            raise FormDefinitionError(f"x-gmp-i18n: {language!r} is not a language code such as 'zh'", path=where)
        if not isinstance(texts, dict) or not texts:
            raise FormDefinitionError(f"x-gmp-i18n.{language} must be an object of texts", path=where)
        unknown = set(texts) - allowed
        if unknown:
            raise FormDefinitionError(f"x-gmp-i18n.{language} takes {sorted(allowed)}, not {sorted(unknown)}", path=where)
        for what, text in texts.items():
            if what != "enumNames" and (not isinstance(text, str) or not text.strip()):
                raise FormDefinitionError(f"x-gmp-i18n.{language}.{what} must be a non-empty text", path=where)
        result[language] = dict(texts)
    return result


def _merge_translations(first: dict[str, dict[str, Any]], second: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    merged = {lang: dict(texts) for lang, texts in first.items()}
    for lang, texts in second.items():
        merged.setdefault(lang, {}).update(texts)
    return merged


def _keyword(key: str, keyword: str, prop: Mapping[str, Any], ui: Mapping[str, Any]) -> Any:
    in_schema, in_ui = prop.get(keyword), ui.get(keyword)
    if in_schema is not None and in_ui is not None and in_schema != in_ui:
        raise FormDefinitionError(f"{keyword} is declared differently in the schema and the UI schema", path=key)
    return in_schema if in_schema is not None else in_ui


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _order(names: list[str], order: Any, where: str) -> list[str]:
    if order is None:
        return names
    if not isinstance(order, list) or not all(isinstance(n, str) for n in order):
        raise FormDefinitionError("ui:order must be a list of field names", path=where)
    if len(set(order)) != len(order):
        raise FormDefinitionError("ui:order names a field twice", path=where)
    unknown = [n for n in order if n != "*" and n not in names]
    if unknown:
        raise FormDefinitionError(f"ui:order names unknown fields: {unknown}", path=where)
    listed = [n for n in order if n != "*"]
    rest = [n for n in names if n not in listed]
    if "*" in order:
        index = order.index("*")
        return listed[:index] + rest + listed[index:]
    if rest:
        raise FormDefinitionError(f"ui:order leaves out fields {rest} (add '*' to place the rest)", path=where)
    return listed


def _validation_schema(schema: Mapping[str, Any], fields: tuple[FieldSpec, ...]) -> dict[str, Any]:
    """The schema the server validates with: numbers as the decimals written, and every text field's
    maximum length and every repeating group's maximum rows made explicit."""
    result = decimal_schema(dict(schema))

    def apply(node: dict[str, Any], specs: tuple[FieldSpec, ...]) -> None:
        properties = node.get("properties") or {}
        for spec in specs:
            prop = properties.get(spec.name)
            if not isinstance(prop, dict):
                continue
            if spec.kind == "scalar" and spec.max_length is not None and "enum" not in prop:
                prop.setdefault("maxLength", spec.max_length)
            elif spec.kind == "group":
                apply(prop, spec.children)
            elif spec.kind == "rows":
                prop.setdefault("maxItems", spec.max_rows)
                if isinstance(prop.get("items"), dict):
                    apply(prop["items"], spec.children)

    apply(result, fields)
    return result
