"""OPC UA data-change subscriptions behind the registry gate (P11-10h)."""
from __future__ import annotations

import time

import pytest
import yaml
from sqlalchemy import select

from audit.canonical import Actor
from connectors import registry, service
from connectors.models import ConnectorSecurityEvent, SecurityEventKind
from connectors.subscriptions import SourceGate, TagSubscription
from store.uow import UnitOfWork
from tests.connectors.conftest import OPERATOR_LABEL, PLANT_TAGS, import_and_approve

OPERATOR = Actor(*OPERATOR_LABEL)  # an actor label: these tests need no operator account


def wait_for(predicate, what, limit=15.0):
    """Poll until `predicate()` is truthy (a bound on waiting, not a timing assertion)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


@pytest.mark.req("URS-CON-002", "URS-CON-004", "P11-10h")
def test_notifications_of_registered_tags_arrive_as_readings(registered, people, plant, client):
    with UnitOfWork(registered, OPERATOR) as uow:
        sub = service.subscribe(uow, ["FBD-01.ua.product_temp", "GAS-01.ua.lel"], client=client, period_ms=50)
    try:
        plant.force("gas.lel", 4.5)
        seen = []
        wait_for(lambda: seen.extend(sub.drain()) or any(r.tag.name == "GAS-01.ua.lel" and r.value == 4.5 for r in seen),
                 "the forced LEL value")
    finally:
        plant.release()
        sub.close()
    reading = next(r for r in seen if r.value == 4.5)
    assert reading.unit == "%LEL" and reading.timestamp_origin == "device" and reading.revision == 1
    assert sub.rejected == 0


@pytest.mark.req("URS-CON-004", "P11-10h", "CN-2")
def test_notifications_from_unregistered_nodes_or_other_endpoints_are_dropped_and_logged(
        registered, settings, people, plant, client, frozen_clock):
    with UnitOfWork(registered, OPERATOR) as uow:
        gate = service.registry_gate(uow)
        lel = registry.effective_tags(uow.session)["GAS-01.ua.lel"].definition
    other_endpoint = lel.endpoint.replace("127.0.0.1", "localhost")  # same device, not the registered source
    sub = TagSubscription(client, [lel], gate, period_ms=50).open(
        extra_nodes=[(lel.endpoint, "ns=0;i=2258"),          # the server clock: no tag names it
                     (other_endpoint, lel.node_id or "")])   # a registered node, from another endpoint
    try:
        kinds: set[SecurityEventKind] = set()
        wait_for(lambda: kinds.update(r.kind for r in sub.drain_rejections()) or kinds >= {
            SecurityEventKind.UNREGISTERED_NODE, SecurityEventKind.ENDPOINT_MISMATCH}, "both kinds of rejection")
        # a revision that drops the tag: its notifications are refused from then on
        doc = yaml.safe_load(PLANT_TAGS.read_text())
        doc = {"endpoints": doc["endpoints"], "retire": ["GAS-01.ua.lel"]}
        frozen_clock.advance(seconds=31)
        import_and_approve(registered, settings, people, plant, yaml.safe_dump(doc).encode())
        with UnitOfWork(registered, OPERATOR) as uow:
            sub.replace_gate(service.registry_gate(uow))
        sub.drain()
        sub.drain_rejections()
        plant.force("gas.lel", 7.0)
        dropped = wait_for(lambda: [r for r in sub.drain_rejections() if r.source == lel.node_id
                                    and r.endpoint == lel.endpoint], "the retired tag's notification")
        assert all(r.value != 7.0 for r in sub.drain())  # nothing accepted for the retired tag
    finally:
        plant.release()
        sub.close()
    with UnitOfWork(registered, OPERATOR) as uow:
        assert service.record_rejections(uow, dropped[:1]) == 1
        uow.commit()
    with registered.session() as session:
        event = session.scalars(select(ConnectorSecurityEvent)).one()
    assert event.kind == "unregistered_node" and event.source == "ns=2;s=GAS01.LEL"
    assert "no registered tag (registry revision 2)" in event.detail


def test_the_gate_names_the_registered_endpoint_on_a_mismatch():
    from connectors.tags import load_definition_file
    tags, _ = load_definition_file(PLANT_TAGS)
    gate = SourceGate(tags, 3)
    verdict = gate.admit("opc.tcp://10.0.0.9:4840/gmp/plant", "ns=2;s=FBD01.InletTemperature", 61.0)
    assert verdict.kind is SecurityEventKind.ENDPOINT_MISMATCH and verdict.tag_name == "FBD-01.ua.inlet_temp"
    assert "registered at opc.tcp://127.0.0.1:4840/gmp/plant" in verdict.detail
    assert gate.admit("opc.tcp://127.0.0.1:4840/gmp/plant", "ns=2;s=FBD01.InletTemperature", 61.0).name == \
        "FBD-01.ua.inlet_temp"


@pytest.mark.req("URS-CON-003")
def test_a_subscription_comes_back_after_the_server_drops_every_connection(registered, people, plant, client):
    with UnitOfWork(registered, OPERATOR) as uow:
        sub = service.subscribe(uow, ["GAS-01.ua.o2"], client=client, period_ms=50)
    try:
        plant.disconnect("opcua")
        plant.reconnect("opcua")
        wait_for(lambda: _ensured(sub), "the subscription to be re-created")
        sub.drain()
        plant.force("gas.o2", 19.0)
        wait_for(lambda: any(r.value == 19.0 for r in sub.drain()), "a notification after the reconnect")
    finally:
        plant.release()
        sub.close()


def _ensured(sub: TagSubscription) -> bool:
    from connectors.errors import DeviceUnavailable
    try:
        sub.ensure()
    except DeviceUnavailable:
        return False
    return True


def test_subscriptions_take_opcua_tags_only(client):
    from connectors.errors import ConnectorError
    from connectors.tags import load_definition_file
    tags = {t.name: t for t in load_definition_file(PLANT_TAGS)[0]}
    with pytest.raises(ConnectorError, match="only OPC UA tags can be subscribed: GAS-01.o2"):
        TagSubscription(client, [tags["GAS-01.o2"]], SourceGate(tags.values(), 1))
    with pytest.raises(ConnectorError, match="a subscription needs at least one tag"):
        TagSubscription(client, [], SourceGate(tags.values(), 1))
