"""Corrections of submitted values (CN-4, A11-8).

A correction never overwrites: it is a record of its own (original value, corrected
value, reason, who and when, and the signature with meaning "corrected" that the caller
obtained from signatures/). ``current_view`` lays the corrections over the first entry,
keeps the original readable and flags every field changed since first entry, including
calculated fields whose inputs were corrected, so printouts can show it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Mapping

from jsonschema import Draft202012Validator

from core import clock
from core.clock import isoformat, parse_iso
from forms.errors import CorrectionInvalid, ExpressionError
from forms.keywords import load_definition

CORRECTION_MEANING = "corrected"


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
        return {"field": self.field, "original": self.original, "corrected": self.corrected, "reason": self.reason,
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

    current   the field values as they stand now (``current_view(...)`` values)
    Raises CorrectionInvalid naming the problem; nothing is changed.
    """
    definition = load_definition(schema, ui_schema)
    if field_name not in definition:
        raise CorrectionInvalid(f"{field_name!r} is not a field of this form")
    spec = definition.field(field_name)
    if spec.calculated is not None:
        raise CorrectionInvalid(f"{field_name!r} is calculated: correct the values it is calculated from")
    if not isinstance(reason, str) or not reason.strip():
        raise CorrectionInvalid("a correction needs a reason")
    if signature_meaning != CORRECTION_MEANING:
        raise CorrectionInvalid(f"a correction must be signed with the meaning {CORRECTION_MEANING!r}, not {signature_meaning!r}")
    if not signature_id:
        raise CorrectionInvalid("a correction must be signed")
    if field_name not in current:
        raise CorrectionInvalid(f"{field_name!r} has no submitted value to correct")
    original = current[field_name]
    if new_value == original and type(new_value) is type(original):
        raise CorrectionInvalid(f"the corrected value of {field_name!r} is the same as the current value")
    errors = sorted(Draft202012Validator(dict(spec.schema), format_checker=Draft202012Validator.FORMAT_CHECKER)
                    .iter_errors(new_value), key=lambda e: e.message)
    if new_value is None or errors:
        detail = errors[0].message if errors else "a value is required"
        raise CorrectionInvalid(f"the corrected value of {field_name!r} is not valid: {detail}")
    if spec.limits is not None and not spec.limits.contains(new_value):
        if not exception_comment or not exception_comment.strip():
            raise CorrectionInvalid(f"the corrected value of {field_name!r} is outside its limits {spec.limits.describe()}:"
                                    " an exception comment is needed")
    elif exception_comment:
        raise CorrectionInvalid(f"the corrected value of {field_name!r} is within its limits: no exception comment")
    return Correction(field=field_name, original=original, corrected=new_value, reason=reason.strip(),
                      corrected_by=corrected_by, corrected_by_name=corrected_by_name,
                      corrected_at=corrected_at or clock.now(), signature_id=signature_id,
                      signature_meaning=signature_meaning, exception_comment=exception_comment)


def current_view(schema: dict[str, Any], ui_schema: dict[str, Any] | None, first_entry: Mapping[str, Any],
                 corrections: Iterable[Correction]) -> dict[str, FieldHistory]:
    """The record as it stands: each field's current value, its first entry and its corrections."""
    definition = load_definition(schema, ui_schema)
    values = dict(first_entry)
    by_field: dict[str, list[Correction]] = {}
    for correction in sorted(corrections, key=lambda c: c.corrected_at):
        if correction.field not in definition:
            raise CorrectionInvalid(f"a stored correction names unknown field {correction.field!r}")
        values[correction.field] = correction.corrected
        by_field.setdefault(correction.field, []).append(correction)
    for spec in definition.calculation_order:
        assert spec.calculated is not None
        if any(values.get(n) is None for n in spec.calculated.names):
            continue
        try:
            result = spec.calculated.evaluate(values)
        except ExpressionError:
            continue
        values[spec.name] = int(result) if spec.type == "integer" and result == result.to_integral_value() else float(result)
    view: dict[str, FieldHistory] = {}
    for spec in definition.fields:
        if spec.name not in values and spec.name not in first_entry:
            continue
        original = first_entry.get(spec.name)
        view[spec.name] = FieldHistory(
            name=spec.name, value=values.get(spec.name), original=original,
            corrections=tuple(by_field.get(spec.name, [])),
            recalculated=spec.calculated is not None and values.get(spec.name) != original)
    return view
