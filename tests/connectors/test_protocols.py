"""Modbus TCP and OPC UA against the plant simulator over real sockets on 127.0.0.1."""
from __future__ import annotations

import gc
import os
import threading

import pytest

from connectors.client import ClientOptions, EquipmentClient
from connectors.errors import DeviceError, DeviceUnavailable
from connectors.opcua import OpcUaIdentity
from connectors.tags import Quality, load_definition_file
from tests.connectors.conftest import PLANT_TAGS, endpoint_overrides


@pytest.fixture(scope="module")
def tags(plant):  # type: ignore[no-untyped-def]
    definitions, _ = load_definition_file(PLANT_TAGS, endpoint_overrides(plant))
    return {t.name: t for t in definitions}


@pytest.mark.req("URS-CON-002", "ALCOA-ORIGINAL")
def test_every_modbus_data_type_reads_with_unit_timestamp_and_quality(plant, client, tags):
    plant.force("dryer.inlet_temp", 71.5)        # float32, CDAB word order, input register
    plant.force("scale.net_weight", 12.345)      # float32 ABCD and int32 grams
    plant.force("gas.lel", -0.3)                 # int16 scaled 0.1 (a drifting sensor below zero)
    plant.force("gas.o2", 20.95)                 # uint16 scaled 0.01
    plant.force("isolation.breaker_closed", False)  # coil
    try:
        temp = client.read(tags["FBD-01.inlet_temp"])
        assert temp.value == 71.5 and temp.unit == "degC" and temp.quality is Quality.GOOD
        assert temp.tag.name == "FBD-01.inlet_temp" and temp.origin.value == "equipment"
        assert temp.source_timestamp.tzinfo is not None and temp.timestamp_origin == "connector"
        assert client.read(tags["SCALE-01.net_weight"]).value == pytest.approx(12.345, abs=1e-5)
        assert client.read(tags["SCALE-01.net_weight_g"]).value == pytest.approx(12.345)
        assert client.read(tags["GAS-01.lel"]).value == pytest.approx(-0.3)
        assert client.read(tags["GAS-01.o2"]).value == pytest.approx(20.95)
        assert client.read(tags["ISO-BRK-01.closed"]).value is False
        assert client.read(tags["SCALE-01.stable"]).value in (True, False)  # discrete input
        assert client.read(tags["FBD-01.impeller_speed_sp"]).value == 300  # uint16 holding register
    finally:
        plant.release()


@pytest.mark.req("URS-CON-002", "ALCOA-ORIGINAL")
def test_opcua_read_carries_the_device_source_timestamp(plant, client, tags):
    plant.force("gas.o2", 18.2)
    try:
        reading = client.read(tags["GAS-01.ua.o2"])
    finally:
        plant.release("gas.o2")
    assert reading.value == pytest.approx(18.2) and reading.unit == "%" and reading.quality is Quality.GOOD
    assert reading.timestamp_origin == "device" and not reading.within_limits


@pytest.mark.req("URS-CON-002")
def test_writes_reach_the_device_in_both_protocols_and_word_orders(plant, client, tags):
    client.write(tags["FBD-01.inlet_temp_sp"], 65.5)           # float32 CDAB holding registers
    client.write(tags["TP-01.offset"], -1.25)                  # int16 scaled 0.01
    client.write(tags["PG-01.offset"], 0.125)                  # float32 ABCD
    client.write(tags["ISO-VLV-01.open"], False)               # coil
    client.write(tags["FBD-01.ua.impeller_speed_sp"], 350)     # OPC UA Double from an int
    assert plant.value("dryer.inlet_temp_sp") == 65.5
    assert plant.value("cal.temp_probe_offset") == pytest.approx(-1.25)
    assert client.read(tags["TP-01.temperature"]).value == pytest.approx(25.0 - 1.25)
    assert client.read(tags["PG-01.pressure"]).value == pytest.approx(2.125)
    assert plant.value("isolation.valve_open") is False
    assert plant.value("dryer.impeller_speed_sp") == 350.0
    for point, value in (("dryer.inlet_temp_sp", 60.0), ("cal.temp_probe_offset", 0.0),
                         ("cal.pressure_gauge_offset", 0.0), ("isolation.valve_open", True),
                         ("dryer.impeller_speed_sp", 300.0)):
        plant.set(point, value)


def test_a_device_refusing_a_write_is_a_device_error(client, tags):
    from dataclasses import replace

    from connectors.tags import Access
    breaker = replace(tags["ISO-BRK-01.closed"], access=Access.READ_WRITE)  # the device itself refuses
    with pytest.raises(DeviceError, match=r"tag ISO-BRK-01.closed: .* refused the write with Modbus exception 2"):
        client.write(breaker, False)


def _open_fds() -> int:
    """Open file descriptors of this process (after a collection, so dead objects do not count)."""
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.req("URS-CON-003")
@pytest.mark.parametrize("tag_name,protocol", [("GAS-01.o2", "modbus"), ("GAS-01.ua.o2", "opcua")])
def test_dead_device_fails_in_time_naming_tag_and_endpoint_then_reconnects_without_leaks(
        plant, client, tags, tag_name, protocol):
    tag = tags[tag_name]
    client.read(tag)  # connection open, runtime started
    threads, tasks, fds = threading.active_count(), client.runtime.task_count(), _open_fds()
    plant.disconnect(protocol)
    try:
        for _ in range(5):
            with pytest.raises(DeviceUnavailable, match=rf"tag {tag_name}: .*{tag.endpoint}"):
                client.read(tag)
    finally:
        plant.reconnect(protocol)
    assert client.read(tag).quality is Quality.GOOD  # reconnected on the next use
    assert threading.active_count() == threads
    assert client.runtime.task_count() == tasks
    assert _open_fds() <= fds  # nothing leaked (other tests' objects may have been collected meanwhile)


@pytest.mark.req("URS-CON-003")
def test_unresponsive_modbus_device_times_out_within_the_configured_timeout(plant, client, tags):
    tag = tags["GAS-01.lel"]
    client.read(tag)
    threads, fds = threading.active_count(), _open_fds()
    plant.freeze("modbus")
    try:
        with pytest.raises(DeviceUnavailable, match=r"tag GAS-01.lel: no answer from modbus://127.0.0.1:\d+ within 1 s"):
            client.read(tag)
    finally:
        plant.thaw("modbus")
    assert client.read(tag).quality is Quality.GOOD
    assert threading.active_count() == threads and _open_fds() <= fds


@pytest.mark.req("URS-CON-007", "P11-10d")
def test_opcua_username_and_password_sessions(plant, tags):
    from tests.connectors.conftest import OPCUA_USER
    tag = tags["GAS-01.ua.lel"]
    user = EquipmentClient(ClientOptions(timeout=2.0, opcua_identity=OpcUaIdentity(*OPCUA_USER)))
    assert user.read(tag).quality is Quality.GOOD
    wrong = EquipmentClient(ClientOptions(timeout=2.0, opcua_identity=OpcUaIdentity(OPCUA_USER[0], "guess")))
    with pytest.raises(DeviceError, match=r"tag GAS-01.ua.lel: opc.tcp://127.0.0.1:\d+/gmp/plant refused the session"):
        wrong.read(tag)


@pytest.mark.req("URS-CON-007", "P11-30")
def test_opcua_basic256sha256_sign_and_encrypt_endpoint(plant, tags, pki):
    from tests.connectors.conftest import OPCUA_USER
    security = f"Basic256Sha256,SignAndEncrypt,{pki / 'client.der'},{pki / 'client.pem'},{pki / 'server.der'}"
    secure = EquipmentClient(ClientOptions(timeout=3.0, opcua_identity=OpcUaIdentity(*OPCUA_USER, security=security)))
    tag = tags["FBD-01.ua.inlet_temp_sp"]
    assert secure.read(tag).value == plant.value("dryer.inlet_temp_sp")
    connection = secure.opcua_connection(tag.endpoint)
    policy = connection._client.security_policy  # the live session's policy
    assert policy.URI.endswith("#Basic256Sha256") and policy.Mode == 3  # SignAndEncrypt


def test_the_runtime_backstop_cancels_a_call_that_outlives_its_timeout(client):
    import asyncio
    rt = client.runtime
    tasks = rt.task_count()

    async def stuck() -> None:
        await asyncio.sleep(30)

    with pytest.raises(TimeoutError, match="no result within 0.2 s"):
        rt.run(stuck(), timeout=0.2)
    assert rt.task_count() == tasks  # the stuck call was cancelled, not left behind

    async def nested() -> None:
        rt.run(stuck(), timeout=1)

    with pytest.raises(RuntimeError, match="connector runtime called from its own loop thread"):
        rt.run(nested(), timeout=5)
