"""Rows preset from instance data (x-gmp-rows-from): a dispensing table whose rows are the lines of the
order's bill of materials, preset columns shown and never entered, the operator's columns entered; every
way the form or the instance data can be wrong gets a clear error."""
from __future__ import annotations

import copy
from decimal import Decimal as D

import pytest

from forms import (
    FormDefinitionError,
    FormInvalid,
    RowsSourceError,
    bind_rows,
    check_html_submission,
    has_rows_from,
    load_definition,
    parse_html_submission,
    render_form,
    validate_submission,
)
from forms.validation import Source

pytestmark = pytest.mark.req("URS-FRM-009", "URS-EBR-003")

FORM = {
    "type": "object", "title": "Dispensing", "required": ["dispensing"],
    "properties": {
        "dispensing": {
            "type": "array", "title": "Materials dispensed", "minItems": 1, "x-gmp-rows-from": "order.bom",
            "items": {"type": "object", "required": ["material", "lot", "net"], "properties": {
                "material": {"type": "string", "title": "Material"},
                "oeb": {"type": "integer", "title": "OEB"},
                "ppe": {"type": "string", "title": "Protective equipment"},
                "target": {"type": "number", "title": "Target", "x-gmp-unit": "kg", "x-gmp-decimals": 3},
                "lot": {"type": "string", "title": "Lot"},
                "net": {"type": "number", "title": "Net weight", "x-gmp-unit": "kg", "x-gmp-decimals": 3,
                        "x-gmp-limits": {"min": "target - 0.1", "max": "target + 0.1"}}}}}}}
UI = {"dispensing": {"ui:options": {"addable": False, "removable": False},
                     "items": {"material": {"ui:readonly": True}, "oeb": {"ui:readonly": True},
                               "ppe": {"ui:readonly": True}, "target": {"ui:readonly": True}}}}
BOM = [{"material": "MAT-PARA", "name": "Paracetamol", "target": 50.0, "tolerance": 0.25, "oeb": 2,
        "ppe": ["FFP2 mask", "nitrile gloves"]},
       {"material": "MAT-LAC", "name": "Lactose", "target": D("44.75"), "tolerance": 0.448, "oeb": 1, "ppe": []}]
DATA = {"order": {"bom": BOM}, "batch_number": "B-2026-0001"}


def bound(data=None, schema=None, ui=None):  # type: ignore[no-untyped-def]
    return bind_rows(schema or FORM, UI if ui is None else ui, DATA if data is None else data)


def test_the_rows_come_from_the_instance_data_with_their_preset_columns():
    schema, ui = bound()
    assert schema is not FORM and "x-gmp-rows-from" not in schema["properties"]["dispensing"]
    assert FORM["properties"]["dispensing"]["x-gmp-rows-from"] == "order.bom"  # the form itself is unchanged
    assert schema["properties"]["dispensing"]["default"] == [
        {"material": "MAT-PARA", "oeb": 2, "ppe": "FFP2 mask, nitrile gloves", "target": 50.0},
        {"material": "MAT-LAC", "oeb": 1, "ppe": "", "target": 44.75}]  # keys that are no column are left out
    assert has_rows_from(FORM, UI) and not has_rows_from(schema, ui)
    plain = {"type": "object", "properties": {"lot": {"type": "string", "title": "Lot"}}}
    assert bind_rows(plain, None, DATA) == (plain, None)  # a form without the keyword: the same objects
    result = validate_submission(schema, ui, {"dispensing": [{"lot": "L-1", "net": 50.05},
                                                             {"lot": "L-2", "net": 44.7}]})
    assert result.data["dispensing"][0] == {"material": "MAT-PARA", "oeb": 2, "ppe": "FFP2 mask, nitrile gloves",
                                            "target": D("50.000"), "lot": "L-1", "net": D("50.050")}
    assert result.fields["dispensing.1.target"].source == Source.PRESET
    limits = result.fields["dispensing.1.net"].limits
    assert (limits.min, limits.max) == (D("44.65"), D("44.85"))  # the row's calculated limits from its preset target


@pytest.mark.parametrize("change, path, code", [
    (lambda d: d["dispensing"][0].update(target=60), "dispensing.0.target", "preset_changed"),
    (lambda d: d["dispensing"][1].update(ppe="none"), "dispensing.1.ppe", "preset_changed"),
    (lambda d: d["dispensing"][0].update(material="MAT-IBU"), "dispensing.0.material", "preset_changed"),
    (lambda d: d["dispensing"].append({"lot": "L-3", "net": 1}), "dispensing", "fixed_rows"),
    (lambda d: d["dispensing"].pop(), "dispensing", "fixed_rows"),
])
def test_a_submission_that_changes_a_preset_value_or_the_rows_is_refused(change, path, code):
    schema, ui = bound()
    data = {"dispensing": [{"material": "MAT-PARA", "target": 50, "lot": "L-1", "net": 50},
                           {"lot": "L-2", "net": 44.75}]}
    validate_submission(schema, ui, copy.deepcopy(data))  # the same values sent again are accepted
    change(data)
    with pytest.raises(FormInvalid) as refused:
        validate_submission(schema, ui, data)
    assert code in refused.value.codes(path)


def test_the_page_shows_the_preset_rows_and_the_submission_carries_them():
    schema, ui = bound()
    html = str(render_form(schema, ui, capture_buttons=True))
    assert 'value="MAT-PARA"' in html and 'value="FFP2 mask, nitrile gloves"' in html and 'value="44.750"' in html  # padded to its decimals
    assert 'name="f:dispensing.0.target"' not in html and 'name="f:dispensing.0.lot"' in html
    assert "<template" not in html and "gmp-row-remove" not in html  # the rows are the order's: none added
    posted = {"r:dispensing.0": "", "f:dispensing.0.lot": "L-1", "f:dispensing.0.net": "50.01",
              "r:dispensing.1": "", "f:dispensing.1.lot": "L-2", "f:dispensing.1.net": "44.74"}
    submission = parse_html_submission(schema, ui, posted)
    assert not submission.errors
    assert submission.data["dispensing"][1] == {"lot": "L-2", "net": D("44.74"), "material": "MAT-LAC", "oeb": 1,
                                                "ppe": "", "target": D("44.75")}  # preset as sent
    result = check_html_submission(schema, ui, submission)
    assert str(result.data["dispensing"][1]["target"]) == "44.750"
    same = parse_html_submission(schema, ui, {**posted, "f:dispensing.0.target": "50.000"})
    assert not same.errors  # a posted copy equal to the preset is not a change


@pytest.mark.parametrize("field, text", [("f:dispensing.0.target", "60"), ("f:dispensing.1.material", "MAT-IBU"),
                                         ("f:dispensing.0.oeb", "1"), ("f:dispensing.0.target", "fifty")])
def test_a_tampered_post_of_a_preset_value_is_refused_with_a_clear_message(field, text):
    schema, ui = bound()
    posted = {"r:dispensing.0": "", "f:dispensing.0.lot": "L-1", "f:dispensing.0.net": "50",
              "r:dispensing.1": "", "f:dispensing.1.lot": "L-2", "f:dispensing.1.net": "44.75", field: text}
    submission = parse_html_submission(schema, ui, posted)
    path = field[2:]
    assert [e.message for e in submission.errors if e.field == path] == [
        "This value is set by the form and cannot be changed."]
    assert submission.data["dispensing"][0]["target"] == D("50")  # the server keeps its own value
    with pytest.raises(FormInvalid) as refused:
        check_html_submission(schema, ui, submission)
    assert "preset_changed" in refused.value.codes(path)
    added = parse_html_submission(schema, ui, {k: v for k, v in posted.items() if k != field} | {
        "r:dispensing.2": "", "f:dispensing.2.lot": "L-9"})
    with pytest.raises(FormInvalid) as refused:
        check_html_submission(schema, ui, added)
    assert "fixed_rows" in refused.value.codes("dispensing")


def test_columns_map_entry_keys_and_the_keyword_may_sit_in_the_ui_schema_or_inside_a_group():
    schema = copy.deepcopy(FORM)
    del schema["properties"]["dispensing"]["x-gmp-rows-from"]
    ui = copy.deepcopy(UI)
    ui["dispensing"]["x-gmp-rows-from"] = {"data": "lines", "columns": {"material": "code", "target": "qty"}}
    bound_schema, bound_ui = bind_rows(schema, ui, {"lines": [{"code": "MAT-X", "qty": 2, "oeb": 3, "material": "no"}]})
    assert bound_schema["properties"]["dispensing"]["default"] == [{"material": "MAT-X", "oeb": 3, "target": 2}]
    assert "x-gmp-rows-from" not in bound_ui["dispensing"] and "x-gmp-rows-from" in ui["dispensing"]
    nested = {"type": "object", "properties": {"room": {"type": "object", "title": "Room", "properties": {
        "area": {"type": "string", "title": "Area"},
        "checks": {"type": "array", "title": "Checks", "x-gmp-rows-from": "room_checks", "items": {
            "type": "object", "properties": {"check": {"type": "string", "title": "Check", "readOnly": True},
                                             "done": {"type": "boolean", "title": "Done"}}}}}}}}
    bound_nested, _ = bind_rows(nested, None, {"room_checks": [{"check": "floor"}, {"check": "bins", "done": True}]})
    assert bound_nested["properties"]["room"]["properties"]["checks"]["default"] == [
        {"check": "floor"}, {"check": "bins", "done": True}]
    with pytest.raises(RowsSourceError, match="entry 1 has no 'qty' for the column 'Target'"):
        bind_rows(schema, ui, {"lines": [{"code": "MAT-X"}]})


@pytest.mark.parametrize("data, message", [
    ({}, "come from the instance data 'order.bom', which this instance does not have"),
    ({"order": {"lines": []}}, "which this instance does not have"),
    ({"order": "B-1"}, "which this instance does not have"),
    ({"order": {"bom": {"material": "MAT-PARA"}}}, "which is an object, not a list"),
    ({"order": {"bom": "MAT-PARA"}}, "which is a text, not a list"),
    ({"order": {"bom": ["MAT-PARA"]}}, "its entry 1 is a text, not an object"),
    ({"order": {"bom": [{"material": {"code": "MAT-PARA"}}]}}, "'material' is an object; the column 'Material' takes a text"),
    ({"order": {"bom": [{"material": "M", "ppe": ["mask", 3]}]}}, "'ppe' is a list; the column 'Protective equipment' takes a text"),
    ({"order": {"bom": [{"material": "M", "target": "50"}]}}, "'target' is a text; the column 'Target' takes a number"),
    ({"order": {"bom": [{"material": "M", "target": True}]}}, "'target' is true/false; the column 'Target' takes a number"),
    ({"order": {"bom": [{"material": "M", "oeb": 2.5}]}}, "'oeb' is a number; the column 'OEB' takes a whole number"),
    ({"order": {"bom": [{"material": "M"}] * 3}}, "which has 3 entries; the table takes at most 2"),
])
def test_instance_data_that_does_not_hold_the_rows_gets_a_clear_error(data, message):
    schema = copy.deepcopy(FORM)
    schema["properties"]["dispensing"]["maxItems"] = 2
    with pytest.raises(RowsSourceError) as refused:
        bind_rows(schema, UI, data)
    assert message in str(refused.value)
    assert "the rows of 'Materials dispensed' (dispensing)" in str(refused.value)
    assert refused.value.path == "dispensing" and refused.value.data_path == "order.bom"
    assert isinstance(refused.value, FormDefinitionError) and refused.value.http_status == 500


def _with(where, value, schema=None):  # type: ignore[no-untyped-def]
    schema = copy.deepcopy(schema or FORM)
    node = schema["properties"]["dispensing"]
    for part in where:
        node = node[part]
    node.update(value)
    return schema


@pytest.mark.parametrize("schema, message", [
    (_with((), {"x-gmp-rows-from": 3}), "must be a data path"),
    (_with((), {"x-gmp-rows-from": {"columns": {}}}), "must be a data path"),
    (_with((), {"x-gmp-rows-from": {"data": "bom", "from": "x"}}), "must be a data path"),
    (_with((), {"x-gmp-rows-from": "order..bom"}), "'order..bom' is not a data path"),
    (_with((), {"x-gmp-rows-from": "bom[0]"}), "is not a data path"),
    (_with((), {"x-gmp-rows-from": {"data": "bom", "columns": ["material"]}}), "columns must map column names"),
    (_with((), {"x-gmp-rows-from": {"data": "bom", "columns": {"weight": "qty"}}}),
     "names fields that are not columns of the rows: ['weight']"),
    (_with((), {"default": [{"material": "M"}]}), "from x-gmp-rows-from or from 'default', not both"),
    (_with(("items", "properties", "lot"), {"x-gmp-rows-from": "bom"}), "applies to a repeating group (a list of rows), not to one field"),
    ({"type": "object", "properties": {"room": {"type": "object", "title": "Room", "x-gmp-rows-from": "bom",
                                                "properties": {"a": {"type": "string", "title": "A"}}}}},
     "applies to a repeating group (a list of rows), not to a group"),
    ({"type": "object", "properties": {"outer": {"type": "array", "title": "Outer", "items": {
        "type": "object", "properties": {"inner": {"type": "array", "title": "Inner", "x-gmp-rows-from": "bom",
                                                   "items": {"type": "object", "properties": {
                                                       "a": {"type": "string", "title": "A"}}}}}}}}},
     "applies to a repeating group that is not inside another one"),
])
def test_a_wrong_x_gmp_rows_from_is_a_form_definition_error(schema, message):
    with pytest.raises(FormDefinitionError) as refused:
        load_definition(schema, UI if "dispensing" in schema["properties"] else None)
    assert message in str(refused.value) and not isinstance(refused.value, RowsSourceError)
    with pytest.raises(FormDefinitionError):
        bind_rows(schema, UI if "dispensing" in schema["properties"] else None, DATA)


def test_the_same_keyword_declared_differently_in_schema_and_ui_is_refused():
    ui = copy.deepcopy(UI)
    ui["dispensing"]["x-gmp-rows-from"] = "other"
    with pytest.raises(FormDefinitionError, match="declared differently in the schema and the UI schema"):
        load_definition(FORM, ui)
