"""Corrections of submitted values (CN-4, A11-8).

A correction never overwrites: it is a record of its own (original value, corrected
value, reason, who and when, and the signature with meaning "corrected" that the caller
obtained from signatures/). ``current_view`` lays the corrections over the first entry,
keeps the original readable and flags every field changed since first entry, including
calculated fields whose inputs were corrected, so printouts can show it.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Iterable, Mapping

from jsonschema import Draft202012Validator

from core import clock
from core.clock import isoformat, parse_iso
from forms.errors import CorrectionInvalid, ExpressionError
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
from forms.numbers import decimal_places, format_decimal, to_decimal
from forms.validation import calculated_value, schema_error, sort_key

CORRECTION_MEANING = "corrected"


def _stored(value: Any) -> Any:
    """A value as a stored correction holds it: exact decimals as their digits."""
    return format_decimal(value) if isinstance(value, Decimal) else value


def typed(spec: FieldSpec | None, value: Any) -> Any:
    """A stored value back in its field's type (a number field's digits as a Decimal)."""
    if spec is not None and spec.type == "number" and isinstance(value, (str, float, int)) and not isinstance(value, bool):
        number = to_decimal(value) if not isinstance(value, str) else _parse(value)
        return number if number is not None else value
    return value


def _parse(text: str) -> Decimal | None:
    from forms.numbers import parse_decimal

    return parse_decimal(text)


@dataclass(frozen=True)
class Correction:
    """One corrected value, as stored beside the first entry."""

    field: str
    original: Any
    corrected: Any
    reason: str
    corrected_by: str
    corrected_by_name: str
    corrected_at: datetime
    signature_id: str
    signature_meaning: str = CORRECTION_MEANING
    exception_comment: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field, "original": _stored(self.original), "corrected": _stored(self.corrected),
                "reason": self.reason,
                "corrected_by": self.corrected_by, "corrected_by_name": self.corrected_by_name,
                "corrected_at": isoformat(self.corrected_at), "signature_id": self.signature_id,
                "signature_meaning": self.signature_meaning, "exception_comment": self.exception_comment}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "Correction":
        return cls(field=doc["field"], original=doc["original"], corrected=doc["corrected"], reason=doc["reason"],
                   corrected_by=doc["corrected_by"], corrected_by_name=doc["corrected_by_name"],
                   corrected_at=parse_iso(doc["corrected_at"]), signature_id=doc["signature_id"],
                   signature_meaning=doc.get("signature_meaning", CORRECTION_MEANING),
                   exception_comment=doc.get("exception_comment"))


@dataclass(frozen=True)
class FieldHistory:
    """A field as displayed or printed: current value, first entry, and every correction."""

    name: str
    value: Any
    original: Any
    corrections: tuple[Correction, ...] = field(default_factory=tuple)
    recalculated: bool = False

    @property
    def changed_since_first_entry(self) -> bool:
        return bool(self.corrections) or self.recalculated


def correct_value(
    schema: dict[str, Any],
    ui_schema: dict[str, Any] | None,
    current: Mapping[str, Any],
    field_name: str,
    new_value: Any,
    *,
    reason: str,
    corrected_by: str,
    corrected_by_name: str,
    signature_id: str,
    signature_meaning: str,
    exception_comment: str | None = None,
    corrected_at: datetime | None = None,
) -> Correction:
    """Check and describe a correction of one submitted value; the caller stores it and audits it.

    current      the field values as they stand now, by path (``current_view(...)`` values)
    field_name   the field's path: ``tare``, or ``dispensing.1.net`` for a value in row 2
    Raises CorrectionInvalid naming the problem; nothing is changed.
    """
    definition = load_definition(schema, ui_schema)
    spec = definition.spec_at(field_name)
    if spec is None or spec.kind != "scalar":
        raise CorrectionInvalid(f"{field_name!r} is not a field of this form")
    label = definition.label_of(field_name)
    if spec.calculated is not None:
        raise CorrectionInvalid(f"{field_name!r} is calculated: correct the values it is calculated from")
    if not isinstance(reason, str) or not reason.strip():
        raise CorrectionInvalid("a correction needs a reason")
    if len(reason) > COMMENT_MAX_LENGTH or len(exception_comment or "") > COMMENT_MAX_LENGTH:
        raise CorrectionInvalid(f"a reason or comment is limited to {COMMENT_MAX_LENGTH} characters")
    if signature_meaning != CORRECTION_MEANING:
        raise CorrectionInvalid(f"a correction must be signed with the meaning {CORRECTION_MEANING!r}, not {signature_meaning!r}")
    if not signature_id:
        raise CorrectionInvalid("a correction must be signed")
    if field_name not in current:
        raise CorrectionInvalid(f"{field_name!r} ({label}) has no submitted value to correct")
    original = typed(spec, current[field_name])
    if spec.type == "number" and new_value is not None and not isinstance(new_value, bool):
        number = to_decimal(new_value) if not isinstance(new_value, str) else _parse(new_value)
        new_value = number if number is not None else new_value
        if isinstance(new_value, Decimal) and spec.decimals is not None:
            if decimal_places(new_value) > spec.decimals:
                raise CorrectionInvalid(f"the corrected value of {field_name!r} has more than {spec.decimals} decimals")
            from forms.numbers import quantize

            new_value = quantize(new_value, spec.decimals)
    if new_value == original and (type(new_value) is type(original) or isinstance(new_value, Decimal)):
        raise CorrectionInvalid(f"the corrected value of {field_name!r} is the same as the current value")
    errors = sorted(_validator(definition, spec).iter_errors(new_value), key=lambda e: e.message)
    if new_value is None or errors:
        problem = schema_error(definition, errors[0]) if errors else None
        detail = problem.message if problem is not None else "a value is required"
        raise CorrectionInvalid(f"the corrected value of {field_name!r} is not valid: {detail}")
    limits = spec.limits
    if limits is not None:
        try:
            limits = Limits(*limits.bounds(FlatScope(current, field_name)))
        except ExpressionError as exc:
            raise CorrectionInvalid(f"the limits of {field_name!r} cannot be worked out: {exc}") from exc
    if limits is not None and not limits.contains(new_value):
        if not exception_comment or not exception_comment.strip():
            raise CorrectionInvalid(f"the corrected value of {field_name!r} is outside its limits {limits.describe()}:"
                                    " an exception comment is needed")
    elif exception_comment:
        raise CorrectionInvalid(f"the corrected value of {field_name!r} is within its limits: no exception comment")
    return Correction(field=field_name, original=original, corrected=new_value, reason=reason.strip(),
                      corrected_by=corrected_by, corrected_by_name=corrected_by_name,
                      corrected_at=corrected_at or clock.now(), signature_id=signature_id,
                      signature_meaning=signature_meaning, exception_comment=exception_comment)


def _validator(definition: FormDefinition, spec: FieldSpec) -> Draft202012Validator:
    """The field's own schema as the server validates it (decimals, maximum length)."""
    node: Any = definition.validation_schema
    for part in split_path(spec.key):
        node = node["properties"][part] if "properties" in node else node["items"]["properties"][part]
    return Draft202012Validator(dict(node), format_checker=Draft202012Validator.FORMAT_CHECKER)


class FlatScope(Mapping[str, Any]):
    """The values a calculation at ``path`` sees, read from a map of field paths: its own row or
    group first, then each enclosing one."""

    def __init__(self, values: Mapping[str, Any], path: str) -> None:
        self.values = values
        self.prefixes = enclosing(path)

    def __getitem__(self, name: str) -> Any:
        for prefix in self.prefixes:
            key = join_path(prefix, name)
            if key in self.values:
                return self.values[key]
            rows = self._rows(key)
            if rows is not None:
                return rows
        raise KeyError(name)

    def _rows(self, group: str) -> list[dict[str, Any]] | None:
        """The rows of the repeating group at path ``group`` as objects of their own values (for sum, count)."""
        found: dict[int, dict[str, Any]] = {}
        start = group + "."
        for key, value in self.values.items():
            if key.startswith(start):
                index, _, column = key[len(start):].partition(".")
                if index.isdigit() and column and "." not in column:
                    found.setdefault(int(index), {})[column] = value
        return [found[i] for i in sorted(found)] if found else None

    def __iter__(self) -> Iterator[str]:
        seen = set()
        for prefix in self.prefixes:
            for key in self.values:
                rest = key[len(prefix) + 1:] if prefix else key
                if (not prefix or key.startswith(prefix + ".")) and rest and "." not in rest and rest not in seen:
                    seen.add(rest)
                    yield rest

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, name: object) -> bool:
        try:
            self[str(name)]
        except KeyError:
            return False
        return True


def scopes(definition: FormDefinition, paths: Iterable[str]) -> list[tuple[str, tuple[FieldSpec, ...]]]:
    """Every object (the form, each group, each row present in ``paths``) with its fields, outer first."""
    present = set(paths)
    result: list[tuple[str, tuple[FieldSpec, ...]]] = []

    def walk(prefix: str, specs: tuple[FieldSpec, ...]) -> None:
        result.append((prefix, specs))
        for spec in specs:
            path = join_path(prefix, spec.name)
            if spec.kind == "group":
                walk(path, spec.children)
            elif spec.kind == "rows":
                indices = sorted({int(p[len(path) + 1:].split(".")[0]) for p in present
                                  if p.startswith(path + ".") and p[len(path) + 1:].split(".")[0].isdigit()})
                for index in indices:
                    walk(join_path(path, index), spec.children)

    walk("", definition.fields)
    return result


def current_view(schema: dict[str, Any], ui_schema: dict[str, Any] | None, first_entry: Mapping[str, Any],
                 corrections: Iterable[Correction]) -> dict[str, FieldHistory]:
    """The record as it stands: each field's current value, its first entry and its corrections.

    ``first_entry`` maps field paths to values (``lot``, ``dispensing.1.net``); calculated fields
    of the same row (or of enclosing ones) are recalculated from corrected inputs and flagged."""
    definition = load_definition(schema, ui_schema)
    values = {path: typed(definition.spec_at(path), value) for path, value in first_entry.items()}
    first = dict(values)
    by_field: dict[str, list[Correction]] = {}
    for correction in sorted(corrections, key=lambda c: c.corrected_at):
        spec = definition.spec_at(correction.field)
        if spec is None or spec.kind != "scalar":
            raise CorrectionInvalid(f"a stored correction names unknown field {correction.field!r}")
        values[correction.field] = typed(spec, correction.corrected)
        by_field.setdefault(correction.field, []).append(correction)
    for prefix, specs in scopes(definition, values) * 2:  # twice: totals over rows after the rows
        for spec in calculation_order(specs):
            assert spec.calculated is not None
            path = join_path(prefix, spec.name)
            scope = FlatScope(values, path)
            if any(n not in scope or scope[n] is None for n in spec.calculated.names):
                continue
            try:
                values[path] = calculated_value(spec.calculated.evaluate(scope), spec)
            except ExpressionError:
                continue
    view: dict[str, FieldHistory] = {}
    for path in _ordered_paths(definition, values):
        spec = definition.spec_at(path)
        original = first.get(path)
        view[path] = FieldHistory(
            name=path, value=values.get(path), original=original,
            corrections=tuple(by_field.get(path, [])),
            recalculated=spec is not None and spec.calculated is not None and values.get(path) != original)
    return view


def _ordered_paths(definition: FormDefinition, values: Mapping[str, Any]) -> list[str]:
    return sorted(values, key=lambda p: sort_key(definition, p))
