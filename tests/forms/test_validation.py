"""Server-side validation of submissions: every error path, limits, equipment, verification."""
from __future__ import annotations

from decimal import Decimal as D

import pytest

from forms import FORM_LEVEL, CapturedValue, FormInvalid, Source, validate_submission
from tests.forms.conftest import AT, capture

GOOD = {"lot": "L-001", "tare": 2.0}


def invalid(schema, ui, data, **kw) -> FormInvalid:
    with pytest.raises(FormInvalid) as info:
        validate_submission(schema, ui, data, **kw)
    return info.value


@pytest.mark.req("URS-FRM-002", "URS-FRM-004", "URS-FRM-006")
def test_valid_submission_records_provenance(schema, ui):
    result = validate_submission(schema, ui, GOOD, captured=capture(12.1), entered_by="u1")
    assert result.data == {"lot": "L-001", "gross": D("12.1"), "tare": D("2.0"), "net": D("10.1")}
    assert all(type(result.data[k]) is D for k in ("gross", "tare", "net"))
    assert result.fields["gross"].source is Source.EQUIPMENT
    assert result.fields["gross"].capture.tag == "BAL-01.gross"
    assert result.fields["net"].source is Source.CALCULATED and result.fields["net"].expression == "gross - tare"
    assert result.fields["lot"].source is Source.MANUAL
    record = result.to_record()
    assert record["fields"]["gross"]["capture"]["captured_at"] == "2026-01-05T08:00:00.000000Z"
    assert record["fields"]["net"]["unit"] == "kg" and record["exceptions"] == []


@pytest.mark.req("URS-FRM-005", "A11-6", "CN-3")
def test_critical_manual_entry_needs_a_second_person(schema, ui):
    result = validate_submission(schema, ui, GOOD, captured=capture(), entered_by="u1", verified_by="u2")
    assert result.verification_fields == ("tare",) and result.needs_verification
    assert result.to_record()["verified_by"] == "u2"
    error = invalid(schema, ui, GOOD, captured=capture(), entered_by="u1", verified_by="u1")
    assert error.codes(FORM_LEVEL) == ["same_verifier"]
    assert "someone other than who entered" in error.errors[FORM_LEVEL][0]


@pytest.mark.req("URS-FRM-003", "A11-6")
def test_value_outside_limits_needs_an_exception_comment(schema, ui):
    error = invalid(schema, ui, GOOD, captured=capture(13.0))
    assert error.codes("net") == ["out_of_limits"]
    assert error.errors["net"] == ["11.0 kg is outside the limits 9.5 – 10.5 kg: enter an exception comment to accept it."]
    result = validate_submission(schema, ui, GOOD, captured=capture(13.0), exceptions={"net": "scale drift, deviation DEV-7"})
    assert [r.name for r in result.exceptions] == ["net"]
    assert result.fields["net"].out_of_limits and result.fields["net"].exception_comment.startswith("scale drift")
    assert result.to_record()["exceptions"] == ["net"]


@pytest.mark.req("URS-FRM-003")
@pytest.mark.parametrize("exceptions,field,code", [
    ({"net": "x"}, "net", "exception_not_needed"),
    ({"net": "  "}, "net", "exception_comment_missing"),
    ({"lot": "x"}, FORM_LEVEL, "exception_for_field_without_limits"),
    ({"ghost": "x"}, FORM_LEVEL, "exception_for_field_without_limits"),
])
def test_exception_errors(schema, ui, exceptions, field, code):
    error = invalid(schema, ui, GOOD, captured=capture(12.1), exceptions=exceptions)
    assert code in error.codes(field)


def test_exception_without_value(schema, ui):
    schema["required"].remove("net")
    schema["required"].remove("gross")
    error = invalid(schema, ui, GOOD, exceptions={"net": "x"})
    assert error.codes("net") == ["exception_without_value"]


@pytest.mark.req("URS-FRM-004", "P11-10h")
def test_equipment_field_takes_only_its_tag(schema, ui):
    error = invalid(schema, ui, GOOD, captured=capture(tag="BAL-99.gross"))
    assert error.codes("gross") == ["capture_from_wrong_tag"]
    assert "comes from tag BAL-99.gross, but this field is bound to BAL-01.gross" in error.errors["gross"][0]
    error = invalid(schema, ui, GOOD, captured={"lot": CapturedValue("BAL-01.gross", 1, AT)})
    assert error.codes(FORM_LEVEL) == ["capture_for_manual_field"]
    error = invalid(schema, ui, GOOD, captured={"gross": 12.0})
    assert error.codes("gross") == ["capture_from_wrong_tag"]


@pytest.mark.req("URS-FRM-004")
@pytest.mark.parametrize("kw,code,text", [
    ({}, "not_captured", "No value has been captured from BAL-01.gross yet."),
    ({"captured": capture(stable=False)}, "capture_unstable", "was not stable"),
    ({"captured": capture(unit="g")}, "capture_unit_mismatch", "is in g, but this field expects kg"),
])
def test_equipment_capture_errors(schema, ui, kw, code, text):
    error = invalid(schema, ui, GOOD, **kw)
    assert error.codes("gross") == [code]
    assert text in error.errors["gross"][0]


@pytest.mark.req("URS-FRM-004", "A11-6")
def test_manual_value_for_equipment_field_needs_an_override(schema, ui):
    error = invalid(schema, ui, {**GOOD, "gross": 12.0}, captured=capture(12.1))
    assert error.codes("gross") == ["manual_value_for_equipment_field"]
    assert "needs an override with a reason and a second-person verification" in error.errors["gross"][0]
    same = validate_submission(schema, ui, {**GOOD, "gross": 12.1}, captured=capture(12.1))
    assert same.fields["gross"].source is Source.EQUIPMENT
    result = validate_submission(schema, ui, {**GOOD, "gross": 12.0}, captured=capture(12.1),
                                 overrides={"gross": "balance offline"}, entered_by="u1", verified_by="u2")
    gross = result.fields["gross"]
    assert gross.source is Source.MANUAL_OVERRIDE and gross.override_reason == "balance offline"
    assert gross.capture.value == 12.1 and gross.needs_verification
    assert set(result.verification_fields) == {"gross", "tare"}


@pytest.mark.req("URS-FRM-004")
@pytest.mark.parametrize("data,overrides,field,code", [
    (GOOD, {"gross": "reason"}, "gross", "override_value_missing"),
    ({**GOOD, "gross": 12.0}, {"gross": " "}, "gross", "override_reason_missing"),
    (GOOD, {"lot": "reason"}, FORM_LEVEL, "override_for_manual_field"),
])
def test_override_errors(schema, ui, data, overrides, field, code):
    error = invalid(schema, ui, data, captured=capture(), overrides=overrides)
    assert code in error.codes(field)


@pytest.mark.req("URS-FRM-002")
@pytest.mark.parametrize("data,field,code,text", [
    ({"tare": 2.0}, "lot", "required", "This field is required."),
    ({"lot": "L1", "tare": 2.0}, "lot", "minLength", "Enter at least 3 characters."),
    ({"lot": 5, "tare": 2.0}, "lot", "type", "Enter text."),
    ({"lot": "L-001", "tare": "two"}, "tare", "type", "Enter a number."),
    ({"lot": "L-001", "tare": -1}, "tare", "minimum", "Must be at least 0 kg."),
    ({**GOOD, "status": "lost"}, "status", "enum", "Choose one of: ok, hold."),
    ({**GOOD, "note": "x" * 21}, "note", "maxLength", "Enter at most 20 characters (21 entered)."),
    ({**GOOD, "net": 10}, "net", "calculated_entered", "calculated by the system"),
    ({**GOOD, "ghost": 1}, FORM_LEVEL, "unknown_field", "ghost is not a field of this form."),
])
def test_field_errors(schema, ui, data, field, code, text):
    error = invalid(schema, ui, data, captured=capture())
    assert code in error.codes(field)
    assert any(text in m for m in error.errors[field])


@pytest.mark.req("URS-FRM-002")
def test_all_errors_are_reported_together_in_form_order(schema, ui):
    error = invalid(schema, ui, {"lot": "L", "tare": -1, "ghost": 1})
    assert list(error.errors) == [FORM_LEVEL, "lot", "gross", "tare", "net"]
    assert error.codes("net") == ["not_calculable"]
    assert "Cannot be calculated until Gross weight are entered." in error.errors["net"]
    assert str(error).startswith("form has ")


def test_calculation_failure_is_a_field_error(schema, ui):
    schema["properties"]["ratio"] = {"type": "number", "x-gmp-calculated": "gross / tare"}
    error = invalid(schema, ui, {"lot": "L-001", "tare": 0}, captured=capture(10.0))
    assert error.codes("ratio") == ["calculation_failed"]


def test_other_schema_rules_and_formats(schema, ui):
    schema["properties"]["count"] = {"type": "integer", "multipleOf": 5, "exclusiveMaximum": 100}
    schema["properties"]["code"] = {"type": "string", "pattern": "^[A-Z]+$"}
    schema["properties"]["day"] = {"type": "string", "format": "date"}
    schema["properties"]["qty"] = {"type": "number", "exclusiveMinimum": 0, "maximum": 5}
    error = invalid(schema, ui, {**GOOD, "count": 101, "code": "ab", "day": "2026-13-01", "qty": 6},
                    captured=capture())
    assert set(error.codes("count")) == {"multipleOf", "exclusiveMaximum"}
    assert error.codes("code") == ["pattern"] and error.codes("day") == ["format"]
    assert error.codes("qty") == ["maximum"]
    assert "Must be less than 100." in error.errors["count"]
    error = invalid(schema, ui, {**GOOD, "qty": 0}, captured=capture())
    assert error.errors["qty"] == ["Must be more than 0."]
    schema["additionalProperties"] = False
    assert validate_submission(schema, ui, GOOD, captured=capture()).data["net"] == D("10.1")


def test_integer_calculation_stays_integer(schema, ui):
    schema["properties"]["n"] = {"type": "integer"}
    schema["properties"]["twice"] = {"type": "integer", "x-gmp-calculated": "n * 2"}
    result = validate_submission(schema, ui, {**GOOD, "n": 4}, captured=capture())
    assert result.data["twice"] == 8 and isinstance(result.data["twice"], int)


def test_submission_must_be_a_mapping(schema, ui):
    with pytest.raises(FormInvalid, match="must be a set of named values"):
        validate_submission(schema, ui, ["lot"])  # type: ignore[arg-type]


def test_field_error_translation_hook(schema, ui):
    error = invalid(schema, ui, {"lot": "L1", "tare": 2.0}, captured=capture())
    [lot] = [e for e in error.field_errors if e.field == "lot"]
    assert lot.translated(lambda s: s.replace("Enter at least", "至少输入")) == "至少输入 3 characters."
    with pytest.raises(ValueError, match="at least one error"):
        FormInvalid([])
