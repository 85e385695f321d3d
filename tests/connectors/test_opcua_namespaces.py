"""OPC UA node ids in namespace-URI form, and the simulator's timestamps after a client write."""
from __future__ import annotations

import threading
from typing import Iterator

import pytest

from connectors.client import ClientOptions, EquipmentClient
from connectors.errors import DeviceError, RegistryError
from connectors.simulator.maps import OPCUA_NAMESPACE
from connectors.simulator.plant import PlantSimulator, free_port
from connectors.tags import Quality, parse_definitions

TAGS = """
endpoints:
  ua: {endpoint}
tags:
- name: FBD-01.ua.inlet_temp_sp
  equipment_id: FBD-01
  protocol: opcua
  endpoint: ua
  node_id: "{node}"
  data_type: float64
  unit: degC
  access: read-write
  low: 20
  high: 90
"""


@pytest.fixture(scope="module")
def moved_plant() -> Iterator[PlantSimulator]:
    """A simulator whose plant namespace is NOT at index 2: two other namespaces are registered first."""
    sim = PlantSimulator(modbus_port=free_port(), opcua_port=free_port(), noise=False,
                         opcua_extra_namespaces=("urn:example:vendor-a", "urn:example:vendor-b")).start()
    try:
        yield sim
    finally:
        sim.stop()


def _tag(sim: PlantSimulator, node: str):  # type: ignore[no-untyped-def]
    return parse_definitions(TAGS.format(endpoint=sim.opcua_endpoint, node=node).encode(), "t.yaml")[0]


@pytest.mark.req("URS-CON-002", "URS-CON-001")
def test_namespace_uri_node_ids_resolve_to_the_servers_index(moved_plant):
    assert moved_plant.opcua is not None and moved_plant.opcua.namespace_index == 4
    client = EquipmentClient(ClientOptions(timeout=5.0))
    try:
        tag = _tag(moved_plant, f"nsu={OPCUA_NAMESPACE};s=FBD01.InletTemperatureSetpoint")
        moved_plant.set("dryer.inlet_temp_sp", 61.5)
        reading = client.read(tag)
        assert reading.value == 61.5 and reading.quality is Quality.GOOD
        client.write(tag, 63.25)
        assert moved_plant.value("dryer.inlet_temp_sp") == 63.25
        # the index form names whatever the server keeps at that index: here not the plant
        wrong = _tag(moved_plant, "ns=2;s=FBD01.InletTemperatureSetpoint")
        with pytest.raises(DeviceError, match="refused the read of ns=2;s=FBD01.InletTemperatureSetpoint"):
            client.read(wrong)
        unknown = _tag(moved_plant, "nsu=urn:example:nowhere;s=FBD01.InletTemperatureSetpoint")
        with pytest.raises(DeviceError, match="has no namespace 'urn:example:nowhere' \\(its namespaces: "
                                              "http://opcfoundation.org/UA/, .*urn:gmp:plant-simulator"):
            client.read(unknown)
    finally:
        client.close()


@pytest.mark.req("URS-CON-002")
def test_subscriptions_report_the_node_id_as_registered(moved_plant):
    """A subscription on an "nsu=" node delivers notifications under that node id (the registry gate
    matches notifications to tags by the registered id), not under the server's "ns=4;s=..."."""
    from connectors.opcua import OpcUaConnection

    client = EquipmentClient(ClientOptions(timeout=5.0))
    node = f"nsu={OPCUA_NAMESPACE};s=FBD01.InletTemperatureSetpoint"
    seen: list[tuple[str, str, float]] = []
    arrived = threading.Event()

    def handler(endpoint: str, node_id: str, dv) -> None:  # type: ignore[no-untyped-def]
        seen.append((endpoint, node_id, dv.Value.Value))
        if dv.Value.Value == 70.0:
            arrived.set()

    connection: OpcUaConnection = client.opcua_connection(moved_plant.opcua_endpoint)
    spec = client.runtime.run(connection.subscribe([node], handler, 50, "test"), timeout=10)
    try:
        moved_plant.set("dryer.inlet_temp_sp", 70.0)
        assert arrived.wait(10), seen
        assert (moved_plant.opcua_endpoint, node, 70.0) in seen
    finally:
        client.runtime.run(connection.unsubscribe(spec), timeout=10)
        client.close()


@pytest.mark.req("URS-CON-002", "ALCOA-CONTEMPORANEOUS")
def test_a_client_write_leaves_a_source_timestamp_for_every_other_client(moved_plant):
    from asyncua import ua

    writer = EquipmentClient(ClientOptions(timeout=5.0))
    tag = _tag(moved_plant, f"nsu={OPCUA_NAMESPACE};s=FBD01.InletTemperatureSetpoint")
    try:
        writer.write(tag, 58.0)
    finally:
        writer.close()
    reader = EquipmentClient(ClientOptions(timeout=5.0))
    try:
        reading = reader.read(tag)
        assert reading.value == 58.0 and reading.timestamp_origin == "device"
        connection = reader.opcua_connection(moved_plant.opcua_endpoint)
        node = connection.resolve(tag.node_id, "test")
        assert isinstance(node, ua.NodeId) and node.NamespaceIndex == 4
    finally:
        reader.close()


@pytest.mark.req("URS-CON-001")
@pytest.mark.parametrize("node, message", [
    ("FBD01.InletTemperature", "is not an OPC UA node id"),
    ("ns=x;s=FBD01", "is not an OPC UA node id"),
    ("ns=2;i=abc", "is not an OPC UA node id"),
    ("nsu=;s=FBD01", "has an empty namespace URI"),
    ("svr=1;nsu=urn:x;s=FBD01", "names a node on another server"),
])
def test_malformed_node_ids_are_refused_at_registration(node, message):
    with pytest.raises(RegistryError, match=f"t.yaml: tag #1 \\(FBD-01.ua.inlet_temp_sp\\): .*{message}"):
        parse_definitions(TAGS.format(endpoint="opc.tcp://127.0.0.1:4840/gmp/plant", node=node).encode(), "t.yaml")
