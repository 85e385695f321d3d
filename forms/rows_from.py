"""Rows preset from instance data: a repeating group with ``x-gmp-rows-from``.

A dispensing table has one row per line of the order's bill of materials; a form cannot
know those lines, the instance does. ``x-gmp-rows-from`` on a repeating group (in the JSON
Schema or on its UI schema entry) names the list in the instance data the rows come from:

    "dispensing": {"type": "array", "x-gmp-rows-from": "bom", "items": {...}}
    "dispensing": {"type": "array", "x-gmp-rows-from": {"data": "order.lines",
                                                        "columns": {"target": "quantity"}}, ...}

``bind_rows(schema, ui_schema, data)`` returns the form for that instance: each such group's
``default`` is its rows, one per entry of the list, each column taken from the entry's key of
the same name (or the key ``columns`` maps it to); entries' other keys are left out. The
result is an ordinary form with default rows: columns marked ``readOnly`` (or ``ui:readonly``)
are shown and never entered (a submission that changes one is refused), the other columns
start with the entry's value and are entered as usual; ``ui:options`` ``addable``/``removable``
false keeps the rows exactly the list's.

A field outside a repeating group may likewise take its value from the instance data,
``"x-gmp-value-from": "evaluation.supplier"``: when the instance holds a value there, the bound
form sets it as the field's ``default`` and makes the field read-only (fixed: shown, never
entered, a submission that changes it refused); when it does not (an instance started without
it), the field is entered as usual. ``"x-gmp-unit-from":
"work_order.unit"`` takes the field's unit (``x-gmp-unit``) from the instance data the same way
(no unit when the instance has none).

A column takes a value of its type: text for a string column (a list of texts is shown
joined by ", "), a number for a number column, a whole number for an integer one, true or
false for a boolean one. ``RowsSourceError`` (a FormDefinitionError: the form and the
instance's data do not fit) names the group, the data path and the entry when the path is
missing, is not a list, holds entries that are not objects, too many entries, or a value of
the wrong type.
"""
from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any, Mapping

from forms.errors import FormDefinitionError
from forms.keywords import ROWS_FROM, UNIT_FROM, VALUE_FROM, FieldSpec, load_definition


class RowsSourceError(FormDefinitionError):
    """The instance data does not hold the rows a repeating group's x-gmp-rows-from names."""

    def __init__(self, message: str, *, path: str = "", data_path: str = "") -> None:
        super().__init__(message, path=path)
        self.data_path = data_path


def has_rows_from(schema: Any, ui_schema: Any = None) -> bool:
    """Whether any repeating group of the form takes its rows from the instance data."""
    if not isinstance(schema, Mapping):
        return False
    return any(spec.rows_from is not None for spec in _groups(load_definition(schema, ui_schema).fields))


def bind_rows(schema: Any, ui_schema: Any, data: Mapping[str, Any] | None) -> tuple[Any, Any]:
    """The form (schema, UI schema) with every x-gmp-rows-from group's rows preset from ``data``,
    and every x-gmp-value-from / x-gmp-unit-from field's value and unit.

    A form without these keywords is returned as it is (the same objects). Raises RowsSourceError
    when the data does not hold the rows (or holds a preset value of the wrong type),
    FormDefinitionError when the form itself is wrong.
    """
    if not isinstance(schema, Mapping):
        return schema, ui_schema
    definition = load_definition(schema, ui_schema)
    groups = [spec for spec in _groups(definition.fields) if spec.rows_from is not None]
    fields = [spec for spec in _scalars(definition.fields) if spec.value_from or spec.unit_from]
    if not groups and not fields:
        return schema, ui_schema
    bound_schema = copy.deepcopy(dict(schema))
    bound_ui = copy.deepcopy(dict(ui_schema or {}))
    for spec in groups:
        rows = _rows(spec, data or {})
        prop, ui = _locate(bound_schema, bound_ui, spec.key)
        prop.pop(ROWS_FROM, None)
        if ui is not None:
            ui.pop(ROWS_FROM, None)
        prop["default"] = rows
    for spec in fields:
        prop, ui = _locate(bound_schema, bound_ui, spec.key)
        for keyword in (VALUE_FROM, UNIT_FROM):
            prop.pop(keyword, None)
            if ui is not None:
                ui.pop(keyword, None)
        if spec.value_from:
            found, value = _lookup(data or {}, spec.value_from)
            if found and value is not None and value != "":  # the record fixes it: shown, never entered
                prop["default"] = _value(spec, value, f"the value of '{spec.title}' ({spec.key}) comes from the "
                                         f"instance data '{spec.value_from}', which", spec.key, spec.value_from, "field")
                prop["readOnly"] = True
        if spec.unit_from:
            found, unit = _lookup(data or {}, spec.unit_from)
            if found and isinstance(unit, str) and unit.strip():
                prop["x-gmp-unit"] = unit.strip()
    return bound_schema, bound_ui


def with_presets(schema: Any, ui_schema: Any, data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with the fixed columns of each preset row filled in where the submission left them out
    (the page shows them and never posts them), so whatever reads the submission before it is
    validated (the engine's gates) sees whole rows. Values sent are kept: validation refuses a change."""
    result = dict(data)
    if isinstance(schema, Mapping):
        fill_presets(load_definition(schema, ui_schema).fields, result)
    return result


def fill_presets(specs: tuple[FieldSpec, ...], data: dict[str, Any]) -> None:
    """In place: each row of a group with default rows gets its fixed columns' preset values, and
    each fixed field outside the rows its preset value (a bound x-gmp-value-from)."""
    for spec in specs:
        if spec.kind == "scalar" and spec.fixed and spec.value_from is None and spec.schema.get("default") is not None:
            data.setdefault(spec.name, spec.schema["default"])
            continue
        inner = data.get(spec.name)
        if spec.kind == "group" and isinstance(inner, Mapping):
            data[spec.name] = inner = dict(inner)
            fill_presets(spec.children, inner)
        if spec.kind != "rows" or not isinstance(inner, list) or not spec.default_rows:
            continue
        data[spec.name] = rows = [dict(row) if isinstance(row, Mapping) else row for row in inner]
        for index, row in enumerate(rows[:len(spec.default_rows)]):
            if not isinstance(row, dict):
                continue
            preset = spec.default_rows[index]
            for child in spec.children:
                if child.kind == "scalar" and child.fixed and preset.get(child.name) is not None:
                    row.setdefault(child.name, preset[child.name])


def _outside_rows(specs: tuple[FieldSpec, ...], kind: str) -> list[FieldSpec]:
    """Fields of ``kind`` ("scalar" or "rows") outside repeating groups (at the top or inside groups)."""
    found: list[FieldSpec] = []
    for spec in specs:
        if spec.kind == kind:
            found.append(spec)
        elif spec.kind == "group":
            found.extend(_outside_rows(spec.children, kind))
    return found


def _scalars(specs: tuple[FieldSpec, ...]) -> list[FieldSpec]:
    return _outside_rows(specs, "scalar")


def _groups(specs: tuple[FieldSpec, ...]) -> list[FieldSpec]:
    """Repeating groups outside other repeating groups."""
    return _outside_rows(specs, "rows")


def _locate(schema: dict[str, Any], ui: dict[str, Any], key: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The schema property and UI entry of the field ``key`` (``room.materials``) in the copies."""
    prop: Any = schema
    entry: Any = ui
    for name in key.split("."):
        prop = prop["properties"][name]
        entry = entry.get(name) if isinstance(entry, dict) else None
    return prop, entry if isinstance(entry, dict) else None


def _lookup(data: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float, Decimal)):
        return "a number"
    if isinstance(value, str):
        return "a text"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    return type(value).__name__


def _rows(spec: FieldSpec, data: Mapping[str, Any]) -> list[dict[str, Any]]:
    source = spec.rows_from
    assert source is not None
    where = f"the rows of '{spec.title}' ({spec.key}) come from the instance data '{source.data}'"
    found, entries = _lookup(data, source.data)
    if not found:
        raise RowsSourceError(f"{where}, which this instance does not have", path=spec.key, data_path=source.data)
    if not isinstance(entries, (list, tuple)):
        raise RowsSourceError(f"{where}, which is {_kind(entries)}, not a list", path=spec.key,
                              data_path=source.data)
    if len(entries) > spec.max_rows:
        raise RowsSourceError(f"{where}, which has {len(entries)} entries; the table takes at most {spec.max_rows}",
                              path=spec.key, data_path=source.data)
    columns = [c for c in spec.children if c.kind == "scalar"]
    rows = []
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, Mapping):
            raise RowsSourceError(f"{where}; its entry {number} is {_kind(entry)}, not an object", path=spec.key,
                                  data_path=source.data)
        row: dict[str, Any] = {}
        for column in columns:
            key = source.key_of(column.name)
            if key not in entry or entry[key] is None:
                if column.name in source.columns:
                    raise RowsSourceError(f"{where}; its entry {number} has no '{key}' for the column "
                                          f"'{column.title}'", path=spec.key, data_path=source.data)
                continue
            row[column.name] = _value(column, entry[key], f"{where}; its entry {number}: '{key}'", spec.key,
                                      source.data)
        rows.append(row)
    return rows


def _value(column: FieldSpec, value: Any, where: str, path: str, data_path: str, noun: str = "column") -> Any:
    """The entry's value as the column holds it (JSON: numbers as text-exact floats/ints or strings)."""
    wanted = column.type

    def refuse(kind: str) -> RowsSourceError:
        return RowsSourceError(f"{where} is {_kind(value)}; the {noun} '{column.title}' takes {kind}", path=path,
                               data_path=data_path)

    if wanted == "string":
        if isinstance(value, str):
            return value
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return ", ".join(value)
        raise refuse("a text")
    if wanted == "boolean":
        if isinstance(value, bool):
            return value
        raise refuse("true or false")
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise refuse("a whole number" if wanted == "integer" else "a number")
    if isinstance(value, Decimal) and not value.is_finite():
        raise refuse("a number")
    if wanted == "integer":
        if isinstance(value, int):
            return value
        if value == int(value):
            return int(value)
        raise refuse("a whole number")
    if isinstance(value, Decimal):
        if value != Decimal(repr(float(value))):  # the bound form is JSON: its numbers are floats
            raise refuse("a number of at most 15 significant digits")
        return float(value)
    return value
