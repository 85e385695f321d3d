"""Repeating groups and groups: rows validated one by one, per-row limits, calculations per row and
over rows, fixed rows with preset columns, equipment per row, corrections of a row value."""
from __future__ import annotations

import copy
from decimal import Decimal as D

import pytest

from forms import (
    CORRECTION_MEANING,
    FormInvalid,
    check_html_submission,
    current_view,
    load_definition,
    parse_html_submission,
    render_form,
    validate_submission,
)
from forms.validation import Source
from tests.forms.conftest import AT

pytestmark = pytest.mark.req("URS-FRM-002", "URS-FRM-003", "URS-FRM-006", "URS-FRM-009", "URS-FRM-010")

TABLE = {
    "type": "object", "title": "Calibration", "required": ["points", "room"],
    "properties": {
        "factor": {"type": "number", "title": "Factor"},
        "room": {"type": "object", "title": "Room", "required": ["area"], "properties": {
            "area": {"type": "string", "title": "Area", "maxLength": 10},
            "temperature": {"type": "number", "title": "Temperature", "x-gmp-unit": "°C", "x-gmp-limits": {"min": 15, "max": 25}}}},
        "points": {
            "type": "array", "title": "Test points", "minItems": 1,
            "default": [{"point": "P1", "nominal": 10.0}, {"point": "P2", "nominal": 50.0}],
            "items": {"type": "object", "required": ["reading"], "properties": {
                "point": {"type": "string", "title": "Point", "readOnly": True},
                "nominal": {"type": "number", "title": "Nominal", "readOnly": True, "x-gmp-unit": "g"},
                "reading": {"type": "number", "title": "Reading", "x-gmp-unit": "g", "x-gmp-decimals": 3,
                            "x-gmp-critical": True,
                            "x-gmp-limits": {"min": "nominal - 0.005", "max": "nominal + 0.005"}},
                "error": {"type": "number", "title": "Error", "x-gmp-unit": "g", "x-gmp-calculated": "reading - nominal"},
                "scaled": {"type": "number", "title": "Scaled", "x-gmp-calculated": "reading * factor"},
                "probe": {"type": "number", "title": "Probe", "x-gmp-unit": "g", "x-gmp-equipment-tag": "BAL-01.net"}}}},
        "total_error": {"type": "number", "title": "Total error", "x-gmp-calculated": "sum(points.error)"},
        "count": {"type": "integer", "title": "Points", "x-gmp-calculated": "count(points)"},
    },
}
UI = {"points": {"ui:options": {"addable": False, "removable": False}}}
ROWS = [{"reading": 10.002}, {"reading": D("50.000")}]


@pytest.fixture
def table() -> dict:
    return copy.deepcopy(TABLE)


def data(**extra):  # type: ignore[no-untyped-def]
    return {"factor": 2, "room": {"area": "R-1", "temperature": 20}, "points": copy.deepcopy(ROWS), **extra}


def invalid(schema, ui, values, **kw) -> FormInvalid:  # type: ignore[no-untyped-def]
    with pytest.raises(FormInvalid) as info:
        validate_submission(schema, ui, values, **kw)
    return info.value


def test_rows_presets_and_calculations_per_row_and_over_rows(table):
    result = validate_submission(table, UI, data(), entered_by="u1", verified_by="u2")
    first, second = result.data["points"]
    assert first == {"point": "P1", "nominal": D("10.0"), "reading": D("10.002"), "error": D("0.002"),
                     "scaled": D("20.004")}
    assert second["reading"] == D("50.000") and str(second["reading"]) == "50.000"
    assert result.data["total_error"] == D("0.002") and result.data["count"] == 2
    assert result.fields["points.0.point"].source is Source.PRESET
    assert result.fields["points.1.error"].source is Source.CALCULATED
    assert result.fields["points.0.reading"].limits.to_json() == {"min": D("9.995"), "max": D("10.005")}
    assert result.verification_fields == ("points.0.reading", "points.1.reading")
    assert result.data["room"] == {"area": "R-1", "temperature": D("20")}


def test_each_row_is_checked_and_named(table):
    values = data()
    values["points"][1]["reading"] = 50.006
    error = invalid(table, UI, values)
    assert error.codes("points.1.reading") == ["out_of_limits"]
    assert error.field_errors[0].label == "Test points › row 2 › Reading"
    assert "Test points › row 2 › Reading (points.1.reading): 50.006 g is outside the limits 49.995 – 50.005 g" in str(error)
    result = validate_submission(table, UI, values, exceptions={"points.1.reading": "weights recalibrated, DEV-8"},
                                 entered_by="u1", verified_by="u2")
    assert [r.name for r in result.exceptions] == ["points.1.reading"]


@pytest.mark.parametrize("change,field,code", [
    (lambda d: d["points"][0].update(reading=10.0021), "points.0.reading", "decimals"),
    (lambda d: d["points"][0].update(point="P9"), "points.0.point", "preset_changed"),
    (lambda d: d["points"][0].update(ghost=1), "points.0", "unknown_field"),
    (lambda d: d["points"].append({"reading": 1}), "points", "fixed_rows"),
    (lambda d: d.update(points=[]), "points", "fixed_rows"),
    (lambda d: d.update(points={"a": 1}), "points", "type"),
    (lambda d: d["points"].__setitem__(0, 5), "points.0", "type"),
    (lambda d: d["points"][0].update(error=1), "points.0.error", "calculated_entered"),
    (lambda d: d["points"][0].pop("reading"), "points.0.reading", "required"),
    (lambda d: d["room"].update(area="x" * 11), "room.area", "maxLength"),
    (lambda d: d.update(room="R-1"), "room", "type"),
    (lambda d: d["room"].pop("area"), "room.area", "required"),
    (lambda d: d["room"].update(temperature=30), "room.temperature", "out_of_limits"),
    (lambda d: d["points"][0].update(reading="ten"), "points.0.reading", "type"),
])
def test_row_and_group_errors(table, change, field, code):
    values = data()
    change(values)
    error = invalid(table, UI, values, entered_by="u1", verified_by="u2")
    assert code in error.codes(field), error.field_errors


def test_totals_wait_for_every_row_and_a_required_table_needs_a_row(table):
    table["required"].append("total_error")
    values = data()
    values["points"][1].pop("reading")
    error = invalid(table, UI, values)
    assert error.codes("total_error") == ["not_calculable"]
    assert "Cannot be calculated until Test points › Error are entered." in error.errors["total_error"]
    table["properties"]["points"].pop("default")
    table["properties"]["points"]["minItems"] = 0
    error = invalid(table, None, {**data(), "points": []})
    assert error.codes("points") == ["rows_required"]


def test_side_inputs_name_row_paths(table):
    with pytest.raises(FormInvalid) as info:
        validate_submission(table, UI, data(), exceptions={"points.7.reading": "x", "points.0.point": "y"},
                            overrides={"points.0.reading": "r"}, captured={"points.0.reading": object()})
    codes = info.value.codes("__form__")
    assert codes.count("exception_for_field_without_limits") == 2
    assert "override_for_manual_field" in codes and "capture_for_manual_field" in codes


def test_a_row_takes_its_own_capture(table):
    from forms import CapturedValue

    capture = CapturedValue(tag="BAL-01.net", value=10.100000381469727, captured_at=AT, unit="g", stable=True,
                            reading_id=7)
    result = validate_submission(table, UI, data(), captured={"points.1.probe": capture}, entered_by="u1",
                                 verified_by="u2")
    assert result.data["points"][1]["probe"] == D("10.1") and "probe" not in result.data["points"][0]
    assert result.fields["points.1.probe"].source is Source.EQUIPMENT
    assert result.fields["points.1.probe"].to_json()["capture"]["reading_id"] == 7


def test_html_rows_are_renumbered_and_empty_rows_left_out():
    schema = copy.deepcopy(TABLE)
    schema["properties"]["points"].pop("default")
    schema["properties"]["points"]["items"]["properties"]["point"].pop("readOnly")
    schema["properties"]["points"]["items"]["properties"]["nominal"].pop("readOnly")
    posted = {"f:room.area": "R-2", "r:points.2": "1", "f:points.2.point": "A", "f:points.2.nominal": "10",
              "f:points.2.reading": "10.001", "exc:points.9.reading": "drift", "r:points.9": "1",
              "f:points.9.point": "B", "f:points.9.nominal": "5", "f:points.9.reading": "5.1",
              "r:points.11": "1", "f:points.11.reading": ""}
    submission = parse_html_submission(schema, None, posted)
    assert [r["point"] for r in submission.data["points"]] == ["A", "B"]
    assert submission.exceptions == {"points.1.reading": "drift"}
    assert submission.raw["points.1.reading"] == "5.1" and submission.data["room"] == {"area": "R-2"}
    result = check_html_submission(schema, None, submission)
    assert result.data["points"][1]["reading"] == D("5.100") and result.fields["points.1.reading"].out_of_limits
    for bad in ({"f:points.x.reading": "1"}, {"f:points.0": "1"}, {"r:points": "1"}, {"f:points.__INDEX__.point": "1"}):
        assert parse_html_submission(schema, None, bad).errors[0].code == "unknown_field"


def test_render_rows_with_a_template_and_fixed_rows(table):
    html = str(render_form(table, UI))
    assert '<fieldset class="gmp-rows" id="f-points"' in html and 'name="r:points.1"' in html
    assert "<template" not in html and "gmp-row-remove" not in html  # fixed rows: no adding, no removing
    assert 'value="P2"' in html and "49.995 – 50.005 g" in html
    assert '<fieldset class="gmp-group" id="f-room"' in html and 'name="f:room.area"' in html
    table["properties"]["points"].pop("default")
    html = str(render_form(table, None, language="zh", gettext=lambda s: {"Row %(number)s": "第 %(number)s 行"}.get(s, s)))
    assert '<template class="gmp-row-template">' in html and 'name="f:points.__INDEX__.reading"' in html
    assert "第 1 行" in html and 'data-msg-row="第 %(number)s 行"' in html


def test_a_row_correction_recalculates_its_row_and_the_totals(table):
    from forms import correct_value

    first = {"factor": D("2"), "points.0.point": "P1", "points.0.nominal": D("10.0"), "points.0.reading": D("10.002"),
             "points.0.error": D("0.002"), "points.1.point": "P2", "points.1.nominal": D("50.0"),
             "points.1.reading": D("50.000"), "points.1.error": D("0.000"), "total_error": D("0.002"), "count": 2}
    correction = correct_value(table, UI, first, "points.1.reading", "50.004", reason="misread", corrected_by="u1",
                               corrected_by_name="U One", signature_id="s1", signature_meaning=CORRECTION_MEANING,
                               corrected_at=AT)
    assert correction.corrected == D("50.004") and correction.to_json()["corrected"] == "50.004"
    view = current_view(table, UI, first, [correction])
    assert view["points.1.error"].value == D("0.004") and view["points.1.error"].recalculated
    assert view["total_error"].value == D("0.006") and view["total_error"].recalculated
    assert not view["points.0.error"].recalculated
    from forms import CorrectionInvalid

    with pytest.raises(CorrectionInvalid, match="outside its limits 49.995 – 50.005: an exception comment is needed"):
        correct_value(table, UI, first, "points.1.reading", "50.006", reason="x", corrected_by="u1",
                      corrected_by_name="U", signature_id="s", signature_meaning=CORRECTION_MEANING)
    with pytest.raises(CorrectionInvalid, match="'points.1.point' is not a field|has more than 3 decimals|is calculated"):
        correct_value(table, UI, first, "points.1.error", "1", reason="x", corrected_by="u1",
                      corrected_by_name="U", signature_id="s", signature_meaning=CORRECTION_MEANING)
    assert load_definition(table, UI).label_of("points.1.reading") == "Test points › row 2 › Reading"
