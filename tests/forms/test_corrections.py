"""Corrections keep the original, need a reason and a 'corrected' signature; records flag changes."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal as D

import pytest

from forms import CORRECTION_MEANING, Correction, CorrectionInvalid, correct_value, current_view, validate_submission
from tests.forms.conftest import capture

pytestmark = pytest.mark.req("URS-FRM-007", "CN-4", "A11-8")
FIRST = {"lot": "L-001", "gross": D("12.1"), "tare": D("2.0"), "net": D("10.1")}


def correct(schema, ui, field="tare", value=D("2.2"), **kw):
    args = dict(reason="typo in tare", corrected_by="u1", corrected_by_name="Ann Operator", signature_id="sig-1",
                signature_meaning=CORRECTION_MEANING)
    args.update(kw)
    return correct_value(schema, ui, FIRST, field, value, **args)


def test_correction_keeps_the_original_and_flags_the_record(schema, ui, frozen_clock):
    first = validate_submission(schema, ui, {"lot": "L-001", "tare": 2.0}, captured=capture()).data
    assert first == FIRST
    correction = correct(schema, ui)
    assert correction.original == D("2.0") and correction.corrected == D("2.2") and correction.corrected_at == frozen_clock.value
    stored = Correction.from_json(correction.to_json())
    assert correction.to_json()["corrected"] == "2.2"  # stored as its exact digits
    view = current_view(schema, ui, first, [stored])
    assert view["tare"].value == D("2.2") and view["tare"].original == D("2.0") and view["tare"].changed_since_first_entry
    assert type(view["tare"].value) is D and view["tare"].corrections[0].reason == "typo in tare"
    assert str(view["net"].value) == "9.9" and view["net"].original == D("10.1")
    assert view["net"].recalculated and view["net"].changed_since_first_entry
    assert not view["lot"].changed_since_first_entry and not view["gross"].changed_since_first_entry


def test_corrections_apply_in_time_order(schema, ui):
    t0 = datetime(2026, 1, 5, tzinfo=timezone.utc)
    one = correct(schema, ui, value=D("2.2"), corrected_at=t0)
    two = correct_value(schema, ui, {**FIRST, "tare": D("2.2")}, "tare", 2.1, reason="second look", corrected_by="u2",
                        corrected_by_name="Bo", signature_id="sig-2", signature_meaning="corrected",
                        corrected_at=t0 + timedelta(hours=1))
    view = current_view(schema, ui, FIRST, [two, one])
    assert view["tare"].value == D("2.1") and [c.signature_id for c in view["tare"].corrections] == ["sig-1", "sig-2"]


def test_correction_outside_limits_needs_an_exception(schema, ui):
    schema["properties"]["tare"]["x-gmp-limits"] = {"max": 3}
    with pytest.raises(CorrectionInvalid, match="outside its limits ≤ 3: an exception comment is needed"):
        correct(schema, ui, value=4.0)
    assert correct(schema, ui, value=4.0, exception_comment="DEV-1").exception_comment == "DEV-1"
    with pytest.raises(CorrectionInvalid, match="within its limits: no exception comment"):
        correct(schema, ui, value=2.5, exception_comment="DEV-1")


@pytest.mark.parametrize("kw,message", [
    ({"field": "ghost"}, "'ghost' is not a field of this form"),
    ({"field": "net"}, "is calculated: correct the values it is calculated from"),
    ({"reason": " "}, "a correction needs a reason"),
    ({"signature_meaning": "approved"}, "must be signed with the meaning 'corrected', not 'approved'"),
    ({"signature_id": ""}, "a correction must be signed"),
    ({"field": "note", "value": "x"}, "'note' \\(Note\\) has no submitted value to correct"),
    ({"value": 2.0}, "the same as the current value"),
    ({"value": "2.00"}, "the same as the current value"),
    ({"value": -1.0}, "is not valid: Must be at least 0."),
    ({"field": "lot", "value": "x" * 201}, "is not valid: Enter at most 200 characters \\(201 entered\\)"),
    ({"reason": "r" * 2001}, "limited to 2000 characters"),
    ({"value": None}, "is not valid"),
])
def test_correction_errors(schema, ui, kw, message):
    with pytest.raises(CorrectionInvalid, match=message):
        correct(schema, ui, **kw)


def test_stored_correction_for_unknown_field_is_refused(schema, ui):
    bad = Correction.from_json({**correct(schema, ui).to_json(), "field": "ghost"})
    with pytest.raises(CorrectionInvalid, match="names unknown field 'ghost'"):
        current_view(schema, ui, FIRST, [bad])
