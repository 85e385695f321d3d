"""Form definitions: JSON Schema check first, then every GMP keyword and UI key."""
from __future__ import annotations

import pytest

from forms import FormDefinitionError, load_definition
from forms.errors import ExpressionError
from forms.expressions import parse

pytestmark = pytest.mark.req("URS-FRM-001")


def test_definition_reads_fields_in_ui_order(schema, ui):
    definition = load_definition(schema, ui)
    assert [f.name for f in definition.fields] == ["lot", "gross", "tare", "net", "clean", "status", "note"]
    net = definition.field("net")
    assert net.unit == "kg" and net.limits.min == 9.5 and net.calculated.names == {"gross", "tare"}
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
    ("nested_keyword", lambda s: s["properties"].update({"grp": {"type": "object", "properties": {"a": {"type": "number", "x-gmp-unit": "g"}}}}), None, "only allowed on top-level fields"),  # noqa: E501
    ("empty_unit", lambda s: s["properties"]["tare"].update({"x-gmp-unit": " "}), None, "x-gmp-unit must be a non-empty string"),
    ("limits_on_text", lambda s: s["properties"]["lot"].update({"x-gmp-limits": {"min": 1}}), None, "number and integer fields only"),
    ("limits_shape", lambda s: s["properties"]["tare"].update({"x-gmp-limits": {"low": 1}}), None, "'min' and/or 'max'"),
    ("limits_value", lambda s: s["properties"]["tare"].update({"x-gmp-limits": {"min": "1"}}), None, "x-gmp-limits.min must be a number"),
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
    ("gross.real", "Attribute is not allowed"),
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
