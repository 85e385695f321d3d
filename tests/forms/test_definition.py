"""Form definitions: JSON Schema check first, then every GMP keyword and UI key."""
from __future__ import annotations

from decimal import Decimal

import pytest

from forms import FormDefinitionError, load_definition
from forms.errors import ExpressionError
from forms.expressions import parse

pytestmark = pytest.mark.req("URS-FRM-001")


def test_definition_reads_fields_in_ui_order(schema, ui):
    definition = load_definition(schema, ui)
    assert [f.name for f in definition.fields] == ["lot", "gross", "tare", "net", "clean", "status", "note"]
    net = definition.field("net")
    assert net.unit == "kg" and net.limits.min == Decimal("9.5") and net.calculated.names == {"gross", "tare"}
    assert definition.field("gross").readonly and definition.field("tare").critical
    assert definition.field("note").widget == "textarea" and definition.field("status").widget == "select"
    assert definition.title == "Dispense"


def test_keywords_may_sit_in_the_ui_schema(schema):
    del schema["properties"]["tare"]["x-gmp-critical"]
    definition = load_definition(schema, {"tare": {"x-gmp-critical": True, "x-gmp-unit": "kg"}})
    assert definition.field("tare").critical


def bad(schema_patch=None, ui=None, base=None):
    import copy

    from tests.forms.conftest import DISPENSE

    schema = copy.deepcopy(base or DISPENSE)
    if schema_patch:
        schema_patch(schema)
    return schema, ui


CASES = [
    ("not_object", lambda s: s.clear() or s.update({"type": "string"}), None, "type 'object' with at least one property"),
    ("bad_meta", lambda s: s.update({"required": "lot"}), None, "not a valid Draft 2020-12 JSON Schema"),
    ("unknown_required", lambda s: s["required"].append("ghost"), None, "'required' names fields that do not exist"),
    ("no_type", lambda s: s["properties"]["lot"].pop("type"), None, "every field needs a 'type'"),
    ("unknown_keyword", lambda s: s["properties"]["lot"].update({"x-gmp-colour": "red"}), None, "unknown GMP keyword 'x-gmp-colour'"),
    ("group_keyword", lambda s: s["properties"].update({"grp": {"type": "object", "x-gmp-unit": "g", "properties": {"a": {"type": "number"}}}}), None, "apply to scalar fields only"),  # noqa: E501
    ("nested_unknown", lambda s: s["properties"].update({"grp": {"type": "object", "properties": {"a": {"type": "number", "x-gmp-colour": "g"}}}}), None, "unknown GMP keyword 'x-gmp-colour'"),  # noqa: E501
    ("scalar_list", lambda s: s["properties"].update({"tags": {"type": "array", "items": {"type": "string"}}}), None, "lists of plain values are not supported"),  # noqa: E501
    ("dotted_name", lambda s: s["properties"].update({"a.b": {"type": "string"}}), None, "cannot be empty or contain"),
    ("form_keyword", lambda s: s.update({"x-gmp-unit": "kg"}), None, "belongs on a field, not on the form"),
    ("empty_unit", lambda s: s["properties"]["tare"].update({"x-gmp-unit": " "}), None, "x-gmp-unit must be a non-empty string"),
    ("limits_on_text", lambda s: s["properties"]["lot"].update({"x-gmp-limits": {"min": 1}}), None, "number and integer fields only"),
    ("limits_shape", lambda s: s["properties"]["tare"].update({"x-gmp-limits": {"low": 1}}), None, "'min' and/or 'max'"),
    ("limits_value", lambda s: s["properties"]["tare"].update({"x-gmp-limits": {"min": True}}), None, "x-gmp-limits.min must be a number or a calculation"),  # noqa: E501
    ("limits_expression", lambda s: s["properties"]["tare"].update({"x-gmp-limits": {"min": "gross -"}}), None, "x-gmp-limits.min: calculation"),  # noqa: E501
    ("limits_unknown", lambda s: s["properties"]["tare"].update({"x-gmp-limits": {"min": "ghost"}}), None, "limit uses unknown field 'ghost'"),  # noqa: E501
    ("limits_self", lambda s: s["properties"]["tare"].update({"x-gmp-limits": {"min": "tare - 1"}}), None, "cannot use its own field"),  # noqa: E501
    ("decimals_type", lambda s: s["properties"]["lot"].update({"x-gmp-decimals": 2}), None, "x-gmp-decimals applies to number fields only"),  # noqa: E501
    ("decimals_value", lambda s: s["properties"]["tare"].update({"x-gmp-decimals": 13}), None, "whole number from 0 to 12"),
    ("max_length_ceiling", lambda s: s["properties"]["lot"].update({"maxLength": 200001}), None, "maxLength is limited to"),
    ("i18n_shape", lambda s: s["properties"]["lot"].update({"x-gmp-i18n": ["zh"]}), None, "must map a language"),
    ("i18n_language", lambda s: s["properties"]["lot"].update({"x-gmp-i18n": {"Chinese": {"title": "批"}}}), None, "is not a language code"),  # noqa: E501
    ("i18n_key", lambda s: s["properties"]["lot"].update({"x-gmp-i18n": {"zh": {"colour": "红"}}}), None, "takes"),
    ("i18n_empty", lambda s: s["properties"]["lot"].update({"x-gmp-i18n": {"zh": {"title": " "}}}), None, "must be a non-empty text"),
    ("i18n_enum", lambda s: s["properties"]["status"].update({"x-gmp-i18n": {"zh": {"enumNames": ["好"]}}}), None, "must name each of the 2 choices"),  # noqa: E501
    ("i18n_enum_plain", lambda s: s["properties"]["lot"].update({"x-gmp-i18n": {"zh": {"enumNames": ["好"]}}}), None, "is for fields with a list of choices"),  # noqa: E501
    ("rows_items", lambda s: s["properties"].update({"rows": {"type": "array"}}), None, "needs 'items' of type 'object'"),
    ("rows_max", lambda s: s["properties"].update({"rows": {"type": "array", "maxItems": 5000, "items": {"type": "object", "properties": {"a": {"type": "string"}}}}}), None, "maxItems is limited"),  # noqa: E501
    ("rows_min_max", lambda s: s["properties"].update({"rows": {"type": "array", "minItems": 3, "maxItems": 2, "items": {"type": "object", "properties": {"a": {"type": "string"}}}}}), None, "minItems is greater than maxItems"),  # noqa: E501
    ("rows_default", lambda s: s["properties"].update({"rows": {"type": "array", "default": [1], "items": {"type": "object", "properties": {"a": {"type": "string"}}}}}), None, "must be a list of rows"),  # noqa: E501
    ("rows_default_key", lambda s: s["properties"].update({"rows": {"type": "array", "default": [{"b": 1}], "items": {"type": "object", "properties": {"a": {"type": "string"}}}}}), None, "names fields that are not columns"),  # noqa: E501
    ("sum_not_rows", lambda s: s["properties"].update({"t": {"type": "number", "x-gmp-calculated": "sum(lot.x)"}}), None, "'lot' is not a repeating group"),  # noqa: E501
    ("sum_column", lambda s: s["properties"].update({"rows": {"type": "array", "items": {"type": "object", "properties": {"a": {"type": "string"}}}}, "t": {"type": "number", "x-gmp-calculated": "sum(rows.a)"}}), None, "'a' is not a numeric column"),  # noqa: E501
    ("count_not_rows", lambda s: s["properties"].update({"t": {"type": "number", "x-gmp-calculated": "count(tare)"}}), None, "'tare' is not a repeating group"),  # noqa: E501
    ("group_empty", lambda s: s["properties"].update({"grp": {"type": "object", "properties": {}}}), None, "a group needs 'properties'"),
    ("limits_order", lambda s: s["properties"]["tare"].update({"x-gmp-limits": {"min": 2, "max": 1}}), None, "min is greater than"),
    ("tag_empty", lambda s: s["properties"]["tare"].update({"x-gmp-equipment-tag": ""}), None, "non-empty tag name"),
    ("tag_on_object", lambda s: s["properties"].update({"grp": {"type": "object", "x-gmp-equipment-tag": "T"}}), None, "scalar fields only"),  # noqa: E501
    ("critical_type", lambda s: s["properties"]["tare"].update({"x-gmp-critical": "yes"}), None, "x-gmp-critical must be true or false"),
    ("calc_on_text", lambda s: s["properties"]["lot"].update({"x-gmp-calculated": "1"}), None, "x-gmp-calculated applies to number"),
    ("calc_and_tag", lambda s: s["properties"]["gross"].update({"x-gmp-calculated": "tare"}), None, "both calculated and captured"),
    ("calc_syntax", lambda s: s["properties"]["net"].update({"x-gmp-calculated": "gross -"}), None, "is not valid"),
    ("calc_self", lambda s: s["properties"]["net"].update({"x-gmp-calculated": "net + 1"}), None, "cannot use its own field"),
    ("calc_unknown", lambda s: s["properties"]["net"].update({"x-gmp-calculated": "gross - ghost"}), None, "unknown field 'ghost'"),
    ("calc_text_input", lambda s: s["properties"]["net"].update({"x-gmp-calculated": "gross - lot"}), None, "non-numeric field 'lot'"),
    ("calc_cycle", lambda s: s["properties"].update({"a": {"type": "number", "x-gmp-calculated": "b"}, "b": {"type": "number", "x-gmp-calculated": "a"}}), None, "cycle"),  # noqa: E501
    ("property_not_object", lambda s: s["properties"].update({"x": True}), None, "a property must be an object"),
]


@pytest.mark.parametrize("patch,ui,message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_schemas_are_refused(patch, ui, message):
    schema, ui = bad(patch, ui)
    with pytest.raises(FormDefinitionError, match=message):
        load_definition(schema, ui)


@pytest.mark.parametrize("ui,message", [
    ([1], "the UI schema must be an object"),
    ({"ghost": {}}, "describes a field that is not in the schema: 'ghost'"),
    ({"ui:colour": 1}, "unknown form-level UI key"),
    ({"lot": 3}, "must be an object"),
    ({"lot": {"ui:colour": 1}}, "unknown UI key 'ui:colour'"),
    ({"lot": {"ui:widget": "slider"}}, "unknown widget 'slider'"),
    ({"lot": {"x-gmp-foo": 1}}, "unknown GMP keyword 'x-gmp-foo'"),
    ({"tare": {"x-gmp-unit": "g"}}, "declared differently in the schema and the UI schema"),
    ({"ui:order": "lot"}, "ui:order must be a list"),
    ({"ui:order": ["lot", "lot", "*"]}, "names a field twice"),
    ({"ui:order": ["ghost", "*"]}, "unknown fields"),
    ({"ui:order": ["lot"]}, "leaves out fields"),
], ids=lambda v: str(v)[:30])
def test_bad_ui_schemas_are_refused(schema, ui, message):
    with pytest.raises(FormDefinitionError, match=message):
        load_definition(schema, ui)


def test_schema_must_be_an_object_and_json():
    with pytest.raises(FormDefinitionError, match="the JSON Schema must be an object"):
        load_definition([], None)
    with pytest.raises(FormDefinitionError, match="must be JSON documents"):
        load_definition({"type": "object", "properties": {"a": {"type": "number", "default": object()}}}, None)


@pytest.mark.req("URS-FRM-006")
@pytest.mark.parametrize("source,message", [
    ("__import__('os')", "only the functions"),
    ("gross.real", r"a column \(rows.column\) is only allowed inside sum\(\)"),
    ("gross[0]", "Subscript is not allowed"),
    ("gross ** 99", "operator Pow is not allowed"),
    ("gross > 1", "Compare is not allowed"),
    ("'a'", "only numeric constants"),
    ("True", "only numeric constants"),
    ("not gross", "operator Not is not allowed"),
    ("max(a=1)", "positional arguments only"),
    ("abs(1, 2)", r"abs\(\) takes one argument"),
    ("round(1, 2, 3)", r"round\(\) takes one or two"),
    ("", "non-empty string"),
    ("1+" * 300 + "1", "limited to 500 characters"),
    ("(" * 10 + "a" + ")" * 10 + "+a" * 120, "too complex"),
    ("lambda: 1", "Lambda is not allowed"),
    ("sum(rows)", r"sum\(\) takes one column of a repeating group"),
    ("sum(rows.a.b)", r"sum\(\) takes one column"),
    ("count(rows.a)", r"count\(\) takes one repeating group"),
    ("rows.a + 1", r"a column \(rows.column\) is only allowed inside sum\(\)"),
])
def test_expressions_refuse_everything_but_arithmetic(source, message):
    with pytest.raises(ExpressionError, match=message):
        parse(source)


@pytest.mark.req("URS-FRM-006")
def test_expressions_compute_in_decimal():
    assert str(parse("a + b").evaluate({"a": 0.1, "b": 0.2})) == "0.3"
    assert parse("round(a / b * 100, 1)").evaluate({"a": 9.87, "b": 10}) == parse("98.7").evaluate({})
    assert parse("round(2.25, 1)").evaluate({}) == parse("2.3").evaluate({})
    assert parse("max(a, 2) - min(a, 2) + abs(-a) + -a + +a").evaluate({"a": 5}) == 8
    with pytest.raises(ExpressionError, match="division by zero"):
        parse("a / b").evaluate({"a": 1, "b": 0})
    with pytest.raises(ExpressionError, match="has no value yet"):
        parse("a + b").evaluate({"a": 1})
    with pytest.raises(ExpressionError, match="has no number"):
        parse("a + 1").evaluate({"a": "x"})
