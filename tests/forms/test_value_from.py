"""A field's value and unit from the instance data (x-gmp-value-from, x-gmp-unit-from): a supplier
evaluation started for a supplier and material shows them read-only and refuses a changed one; an
instance started without them lets the person enter them; a calibration's test point carries the
instrument's unit. Every way the form or the instance data can be wrong gets a clear error."""
from __future__ import annotations

from decimal import Decimal as D

import pytest

from forms import (
    FormDefinitionError,
    FormInvalid,
    RowsSourceError,
    bind_rows,
    check_html_submission,
    load_definition,
    parse_html_submission,
    render_form,
    validate_submission,
    with_presets,
)
from forms.validation import Source

pytestmark = pytest.mark.req("URS-FRM-009", "URS-SUP-001")

FORM = {
    "type": "object", "title": "Request", "required": ["supplier", "material", "scope"],
    "properties": {
        "supplier": {"type": "string", "title": "Supplier", "maxLength": 64, "x-gmp-value-from": "evaluation.supplier"},
        "material": {"type": "string", "title": "Material", "maxLength": 64, "x-gmp-value-from": "evaluation.material"},
        "scope": {"type": "string", "title": "Scope", "maxLength": 200},
        "site": {"type": "object", "title": "Site", "properties": {
            "pressure": {"type": "number", "title": "Pressure", "x-gmp-unit-from": "work_order.unit"}}}}}
DATA = {"evaluation": {"supplier": "SUP-INDO", "material": "MAT-LAC"}, "work_order": {"unit": "Pa"}}


def test_values_the_instance_holds_are_preset_read_only_and_the_unit_taken_from_it():
    schema, ui = bind_rows(FORM, None, DATA)
    supplier = schema["properties"]["supplier"]
    assert supplier["default"] == "SUP-INDO" and supplier["readOnly"] is True and "x-gmp-value-from" not in supplier
    assert FORM["properties"]["supplier"].get("readOnly") is None  # the form itself is unchanged
    pressure = schema["properties"]["site"]["properties"]["pressure"]
    assert pressure["x-gmp-unit"] == "Pa" and "x-gmp-unit-from" not in pressure
    html = str(render_form(schema, ui))
    assert 'value="SUP-INDO"' in html and 'name="f:supplier"' not in html and 'name="f:scope"' in html
    assert "Pa" in html
    posted = {"f:scope": "lactose, all grades", "f:site.pressure": "500"}
    submission = parse_html_submission(schema, ui, posted)
    assert not submission.errors
    assert submission.data["supplier"] == "SUP-INDO"  # the preset travels with the submission (gates see it)
    result = check_html_submission(schema, ui, submission)
    assert result.data["supplier"] == "SUP-INDO" and result.data["material"] == "MAT-LAC"
    assert result.fields["supplier"].source == Source.PRESET and result.fields["site.pressure"].unit == "Pa"
    assert with_presets(schema, ui, {"scope": "x"}) == {"scope": "x", "supplier": "SUP-INDO", "material": "MAT-LAC"}


def test_a_changed_preset_is_refused_with_the_forms_words_on_the_page_and_at_the_server():
    schema, ui = bind_rows(FORM, None, DATA)
    submission = parse_html_submission(schema, ui, {"f:supplier": "SUP-OTHER", "f:scope": "x"})
    assert [e.message for e in submission.errors if e.field == "supplier"] == [
        "This value is set by the form and cannot be changed."]
    assert submission.data["supplier"] == "SUP-INDO"  # the server keeps its own value
    with pytest.raises(FormInvalid) as refused:
        validate_submission(schema, ui, {"supplier": "SUP-OTHER", "material": "MAT-LAC", "scope": "x"})
    assert refused.value.codes("supplier") == ["preset_changed"]
    same = parse_html_submission(schema, ui, {"f:supplier": "SUP-INDO", "f:scope": "x"})
    assert not same.errors  # a posted copy equal to the preset is no change


@pytest.mark.parametrize("data", [{}, {"evaluation": {}}, {"evaluation": {"supplier": None, "material": ""}},
                                  {"work_order": {"unit": 5}}])
def test_an_instance_started_without_the_values_lets_the_person_enter_them(data):
    schema, ui = bind_rows(FORM, None, data)
    assert "readOnly" not in schema["properties"]["supplier"] and "default" not in schema["properties"]["supplier"]
    assert "x-gmp-unit" not in schema["properties"]["site"]["properties"]["pressure"]
    html = str(render_form(schema, ui))
    assert 'name="f:supplier"' in html and 'name="f:material"' in html
    result = validate_submission(schema, ui, {"supplier": "SUP-C", "material": "MAT-LAC", "scope": "x"})
    assert result.data["supplier"] == "SUP-C" and result.fields["supplier"].source == Source.MANUAL


def test_a_preset_value_of_the_wrong_type_is_a_clear_error():
    with pytest.raises(RowsSourceError, match=r"the value of 'Supplier' \(supplier\) comes from the instance data "
                                              r"'evaluation.supplier', which is a number; the field 'Supplier' takes "
                                              "a text") as error:
        bind_rows(FORM, None, {"evaluation": {"supplier": 7}})
    assert error.value.path == "supplier" and error.value.data_path == "evaluation.supplier"
    numeric = {"type": "object", "properties": {"n": {"type": "number", "title": "N", "x-gmp-value-from": "a.n"}}}
    assert bind_rows(numeric, None, {"a": {"n": D("2.5")}})[0]["properties"]["n"]["default"] == 2.5
    with pytest.raises(RowsSourceError, match="is a text; the field 'N' takes a number"):
        bind_rows(numeric, None, {"a": {"n": "two"}})


@pytest.mark.parametrize("prop, message", [
    ({"type": "string", "title": "S", "x-gmp-value-from": "a b"}, "x-gmp-value-from: 'a b' is not a data path"),
    ({"type": "string", "title": "S", "x-gmp-value-from": 3}, "x-gmp-value-from: 3 is not a data path"),
    ({"type": "string", "title": "S", "x-gmp-value-from": "a", "default": "x"},
     "a field takes its value from x-gmp-value-from or from 'default', not both"),
    ({"type": "number", "title": "S", "x-gmp-value-from": "a", "x-gmp-calculated": "1 + 1"},
     "a captured or calculated value is not preset"),
    ({"type": "number", "title": "S", "x-gmp-value-from": "a", "x-gmp-equipment-tag": "BAL-01.net"},
     "a captured or calculated value is not preset"),
    ({"type": "number", "title": "S", "x-gmp-unit-from": "a.unit", "x-gmp-unit": "kg"},
     "a field takes its unit from x-gmp-unit or from x-gmp-unit-from, not both"),
    ({"type": "number", "title": "S", "x-gmp-unit-from": ""}, "x-gmp-unit-from: '' is not a data path"),
    ({"type": "object", "title": "G", "x-gmp-value-from": "a", "properties": {"x": {"type": "string", "title": "X"}}},
     "GMP keywords apply to scalar fields only"),
    ({"type": "array", "title": "R", "items": {"type": "object", "properties": {
        "x": {"type": "string", "title": "X", "x-gmp-value-from": "a"}}}},
     "x-gmp-value-from applies to fields outside repeating groups"),
])
def test_a_wrong_keyword_is_a_form_definition_error(prop, message):
    with pytest.raises(FormDefinitionError, match=message):
        load_definition({"type": "object", "properties": {"s": prop}})


def test_the_keyword_may_sit_in_the_ui_schema():
    schema = {"type": "object", "properties": {"supplier": {"type": "string", "title": "Supplier"}}}
    ui = {"supplier": {"x-gmp-value-from": "evaluation.supplier"}}
    bound_schema, bound_ui = bind_rows(schema, ui, DATA)
    assert bound_schema["properties"]["supplier"]["default"] == "SUP-INDO" and "x-gmp-value-from" not in bound_ui["supplier"]
    with pytest.raises(FormDefinitionError, match="declared differently in the schema and the UI schema"):
        load_definition({"type": "object", "properties": {"s": {"type": "string", "x-gmp-value-from": "a"}}},
                        {"s": {"x-gmp-value-from": "b"}})
