"""Register encoding and tag definition files."""
from __future__ import annotations

import pytest

from connectors.codec import DataType, WordOrder, decode, encode
from connectors.errors import RegistryError
from connectors.simulator.maps import MODBUS_POINTS, OPCUA_NODES
from connectors.tags import Protocol, load_definition_file, parse_definitions
from tests.connectors.conftest import PLANT_TAGS


@pytest.mark.parametrize("data_type,value", [(DataType.INT16, -1234), (DataType.UINT16, 65000),
                                              (DataType.INT32, -123456789), (DataType.FLOAT32, 65.25)])
@pytest.mark.parametrize("order", [WordOrder.BIG, WordOrder.LITTLE])
def test_encode_decode_round_trip(data_type, value, order):
    assert decode(encode(value, data_type, order), data_type, order) == value


def test_word_order_swaps_the_words_of_32_bit_values():
    assert encode(1.0, DataType.FLOAT32, WordOrder.BIG) == [0x3F80, 0x0000]
    assert encode(1.0, DataType.FLOAT32, WordOrder.LITTLE) == [0x0000, 0x3F80]
    assert encode(0x12345678, DataType.INT32, WordOrder.LITTLE) == [0x5678, 0x1234]


def test_encode_refuses_fractions_for_integer_types():
    with pytest.raises(ValueError, match="not a whole number"):
        encode(1.5, DataType.INT16)


def test_plant_tags_match_the_simulator_map():
    tags, _ = load_definition_file(PLANT_TAGS)
    modbus = {(p.unit, p.register_type, p.address): p for p in MODBUS_POINTS}
    nodes = {f"ns=2;s={identifier}" for identifier in OPCUA_NODES.values()}
    for tag in tags:
        if tag.protocol is Protocol.MODBUS:
            point = modbus[(tag.modbus_unit, tag.register_type, tag.address)]
            assert (point.data_type, point.word_order, point.scale) == (tag.data_type, tag.word_order, tag.scale), tag.name
        else:
            assert tag.node_id in nodes, tag.name


def _doc(**fields):
    tag = {"name": "T1", "equipment_id": "E1", "protocol": "modbus", "endpoint": "m",
           "modbus": {"unit": 1, "register_type": "holding", "address": 0}, "data_type": "float32",
           "unit": "degC", "access": "read"}
    tag.update(fields)
    import yaml
    return yaml.safe_dump({"endpoints": {"m": "modbus://127.0.0.1:5020", "u": "opc.tcp://127.0.0.1:4840/x"},
                           "tags": [tag]}).encode()


@pytest.mark.parametrize("fields,message", [
    ({"access": "read-write"}, "needs 'low' and 'high'"),
    ({"low": 10, "high": 5}, "low limit 10.0 is above high limit 5.0"),
    ({"data_type": "bool"}, "coils and discrete inputs hold bool"),
    ({"modbus": {"unit": 1, "register_type": "input", "address": 0}, "access": "read-write", "low": 0, "high": 1},
     "input registers cannot be written"),
    ({"modbus": {"unit": 300, "register_type": "holding", "address": 0}}, "unit must be an integer 0..255"),
    ({"protocol": "opcua", "endpoint": "u", "node_id": "ns=2;s=X"}, "an OPC UA tag has no 'modbus' address"),
    ({"protocol": "opcua", "endpoint": "u", "modbus": None}, "an OPC UA tag needs 'node_id'"),
    ({"protocol": "opcua", "endpoint": "m"}, "OPC UA endpoint looks like opc.tcp"),
    ({"name": "bad name!"}, "invalid tag name"),
    ({"colour": "red"}, r"unknown field\(s\) \['colour'\]"),
    ({"scale": 0}, "scale must be a non-zero number"),
    ({"protocol": "profinet"}, "protocol must be one of modbus, opcua"),
    ({"low": float("nan")}, "low must be a finite number"),
])
def test_invalid_definitions_are_refused_with_the_reason(fields, message):
    with pytest.raises(RegistryError, match=message):
        parse_definitions(_doc(**fields), "tags.yaml")


def test_duplicate_names_unknown_overrides_and_bad_syntax_are_refused():
    import yaml
    doc = yaml.safe_load(_doc())
    doc["tags"].append(doc["tags"][0])
    with pytest.raises(RegistryError, match="duplicate tag name 'T1'"):
        parse_definitions(yaml.safe_dump(doc).encode(), "tags.yaml")
    with pytest.raises(RegistryError, match="endpoint override for unknown endpoint"):
        parse_definitions(_doc(), "tags.yaml", {"nope": "modbus://x:1"})
    with pytest.raises(RegistryError, match="not valid YAML"):
        parse_definitions(b"tags: [", "tags.yaml")
    with pytest.raises(RegistryError, match="expected a .yaml, .yml or .toml file"):
        parse_definitions(b"{}", "tags.json")
    with pytest.raises(RegistryError, match="non-empty 'tags' list"):
        parse_definitions(b"tags: []", "tags.yaml")


def test_toml_definitions_are_accepted():
    raw = b"""
[endpoints]
u = "opc.tcp://127.0.0.1:4840/gmp/plant"
[[tags]]
name = "FBD-01.ua.inlet_temp_sp"
equipment_id = "FBD-01"
protocol = "opcua"
endpoint = "u"
node_id = "ns=2;s=FBD01.InletTemperatureSetpoint"
data_type = "float64"
unit = "degC"
access = "read-write"
low = 30
high = 80
"""
    (tag,) = parse_definitions(raw, "tags.toml")
    assert tag.endpoint == "opc.tcp://127.0.0.1:4840/gmp/plant" and tag.writable and tag.high == 80.0
