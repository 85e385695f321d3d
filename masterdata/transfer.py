"""Master data in and out as CSV or YAML (`gmp master export|import`).

CSV: one item per line after a header line. Columns are the kind's fields; a nested
object's fields are dotted columns (`storage.min_c`); a list, or an object without dotted
columns, is JSON in its cell. Empty cells are absent fields. Cells are converted to the
type the kind's schema gives the field (integer, number, boolean); a cell that does not
convert is refused with its line number. An optional `_action` column says `retire`
(or `create` / `change`); without it an item is created when it does not exist and
changed when its data differs (an unchanged item is skipped).

YAML: a list of items (mappings), or `{items: [...]}`; an item may carry `_action`.

`read_items` parses and converts without storing anything; `plan_import` decides each
item's action against the items in force; the drafts are then made in one change set
(`changes.draft_set`): a bad row refuses the whole file, naming its line.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import yaml
from sqlalchemy.orm import Session

from masterdata import changes
from masterdata.changes import ChangeKind, Revision
from masterdata.errors import ChangeInvalid

ACTION = "_action"


@dataclass(frozen=True)
class ImportItem:
    line: int
    key: str
    data: dict[str, Any] | None
    action: str | None


def _schema_of(kind: ChangeKind, path: Sequence[str]) -> Mapping[str, Any]:
    schema: Mapping[str, Any] = kind.schema
    for part in path:
        schema = (schema.get("properties") or {}).get(part) or {}
    return schema


def _types(schema: Mapping[str, Any]) -> list[str]:
    value = schema.get("type")
    return [value] if isinstance(value, str) else list(value or [])


def _convert(kind: ChangeKind, path: list[str], text: str, line: int) -> Any:
    schema = _schema_of(kind, path)
    types = _types(schema)
    name = ".".join(path)
    try:
        if "array" in types or ("object" in types and not schema.get("properties")) or \
                (text.startswith(("[", "{")) and ("array" in types or "object" in types)):
            return json.loads(text)
        if "integer" in types and "number" not in types:
            return int(text)
        if "number" in types:
            number = float(text)
            return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number
        if "boolean" in types:
            lowered = text.lower()
            if lowered in ("true", "yes", "1"):
                return True
            if lowered in ("false", "no", "0"):
                return False
            raise ValueError(text)
    except (ValueError, json.JSONDecodeError):
        expected = "JSON" if ("array" in types or "object" in types) else "/".join(t for t in types if t != "null")
        raise ChangeInvalid(f"line {line}: {name}: {text!r} is not {expected}", [(name, f"not {expected}")],
                            row=line) from None
    return text


def _set(data: dict[str, Any], path: list[str], value: Any) -> None:
    for part in path[:-1]:
        data = data.setdefault(part, {})
    data[path[-1]] = value


def read_csv(kind: ChangeKind, raw: bytes) -> list[ImportItem]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ChangeInvalid("the file is not UTF-8 text", [("", "not UTF-8")], row=1) from None
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise ChangeInvalid("the file is empty: expected a header line", [("", "empty")], row=1) from None
    header = [h.strip() for h in header]
    known = set((kind.schema.get("properties") or {})) | {ACTION}
    unknown = [h for h in header if h.split(".")[0] not in known]
    if kind.schema.get("additionalProperties") is False and unknown:
        raise ChangeInvalid(f"line 1: unknown column(s) {', '.join(unknown)}", [(h, "unknown column") for h in unknown],
                            row=1)
    if kind.key_field not in header:
        raise ChangeInvalid(f"line 1: the key column {kind.key_field!r} is missing", [(kind.key_field, "missing")],
                            row=1)
    if len(set(header)) != len(header):
        raise ChangeInvalid("line 1: a column appears twice", [("", "duplicate column")], row=1)
    items = []
    line = reader.line_num
    for cells in reader:
        start, line = line + 1, reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            raise ChangeInvalid(f"line {start}: {len(cells)} cells, the header has {len(header)}",
                                [("", "wrong number of cells")], row=start)
        data: dict[str, Any] = {}
        action = None
        for name, cell in zip(header, cells):
            if name == ACTION:
                action = cell.strip() or None
                continue
            if cell == "":
                continue
            path = name.split(".")
            _set(data, path, _convert(kind, path, cell, start))
        key = str(data.get(kind.key_field, "")).strip()
        items.append(ImportItem(start, key, data, action))
    return items


def read_yaml(kind: ChangeKind, raw: bytes) -> list[ImportItem]:
    try:
        node = yaml.compose(raw.decode("utf-8"))
        document = yaml.safe_load(raw.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise ChangeInvalid(f"line {line}: not valid YAML: {getattr(exc, 'problem', exc)}", [("", "not YAML")],
                            row=line) from None
    seq_node = node
    if isinstance(document, dict) and "items" in document:
        document = document["items"]
        seq_node = next(v for k, v in node.value if k.value == "items")
    if not isinstance(document, list):
        raise ChangeInvalid("line 1: expected a list of items (or a mapping with an 'items' list)",
                            [("", "not a list")], row=1)
    items = []
    for item, item_node in zip(document, seq_node.value):
        line = item_node.start_mark.line + 1
        if not isinstance(item, dict):
            raise ChangeInvalid(f"line {line}: an item is a mapping of fields", [("", "not a mapping")], row=line)
        data = {k: v for k, v in item.items() if k != ACTION}
        items.append(ImportItem(line, str(data.get(kind.key_field, "")).strip(), json.loads(changes.dump_data(data)),
                                item.get(ACTION)))
    return items


def read_items(kind: ChangeKind, raw: bytes, filename: str) -> list[ImportItem]:
    """The items of an import file (CSV or YAML, by its extension), converted, not stored."""
    lower = filename.lower()
    if lower.endswith(".csv"):
        return read_csv(kind, raw)
    if lower.endswith((".yaml", ".yml")):
        return read_yaml(kind, raw)
    raise ChangeInvalid(f"{filename}: expected a .csv, .yaml or .yml file", [("", "unknown format")], row=1)


def plan_import(session: Session, kind: ChangeKind, items: Sequence[ImportItem]
                ) -> tuple[list[tuple[str, dict[str, Any] | None, str]], list[int], list[str]]:
    """(entries for draft_set, their line numbers, keys skipped as unchanged)."""
    entries: list[tuple[str, dict[str, Any] | None, str]] = []
    lines: list[int] = []
    unchanged: list[str] = []
    for item in items:
        if not item.key:
            raise ChangeInvalid(f"line {item.line}: {kind.key_field}: is required", [(kind.key_field, "is required")],
                                row=item.line)
        current = changes.effective(session, kind, item.key)
        action = item.action
        if action is None:
            if current is None:
                action = "create"
            elif current.data == item.data:
                unchanged.append(item.key)
                continue
            else:
                action = "change"
        entries.append((item.key, None if action == "retire" else item.data, action))
        lines.append(item.line)
    return entries, lines, unchanged


# ---------------------------------------------------------------- export
def _columns(kind: ChangeKind, revisions: Sequence[Revision]) -> list[str]:
    names: list[str] = []
    for prop, schema in (kind.schema.get("properties") or {}).items():
        if "object" in _types(schema) and schema.get("properties"):
            names.extend(f"{prop}.{sub}" for sub in schema["properties"])
        else:
            names.append(prop)
    extra = sorted({k for r in revisions for k in r.data} - {n.split(".")[0] for n in names})
    return names + extra


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def export_csv(kind: ChangeKind, revisions: Sequence[Revision]) -> str:
    out = io.StringIO()
    columns = _columns(kind, revisions)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for rev in revisions:
        row = []
        for name in columns:
            value: Any = rev.data
            for part in name.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            row.append(_cell(value))
        writer.writerow(row)
    return out.getvalue()


def export_yaml(kind: ChangeKind, revisions: Sequence[Revision]) -> str:
    return yaml.safe_dump([r.data for r in revisions], allow_unicode=True, sort_keys=False)


def export(kind: ChangeKind, revisions: Sequence[Revision], fmt: str) -> str:
    if fmt == "csv":
        return export_csv(kind, revisions)
    if fmt in ("yaml", "yml"):
        return export_yaml(kind, revisions)
    raise ChangeInvalid(f"unknown format {fmt!r}: csv or yaml", [("format", "csv or yaml")])
