"""Registry-checked reads for the rest of the product (synchronous).

    reading = read_tag(uow, "SCALE-01.net_weight", client=client_for(settings),
                       instance_id="42", task_id="weigh")
reads only registered tags (UnregisteredTag otherwise, logged as a security event) and
stores each value as original equipment data (`equipment_reading`, origin "equipment").
"""
from __future__ import annotations

import json
import threading
from typing import Any, Iterable

from connectors.client import ClientOptions, EquipmentClient
from connectors.models import EquipmentReading
from connectors.registry import RegisteredTag, effective_revision, effective_tags, lookup, record_security_event
from connectors.subscriptions import Rejection, SourceGate, TagSubscription
from connectors.tags import Reading
from core import clock
from store.uow import UnitOfWork

_clients: dict[ClientOptions, EquipmentClient] = {}
_clients_lock = threading.Lock()


def client_for(settings: Any) -> EquipmentClient:
    """The process's client for these settings (connections are shared and reused)."""
    options = ClientOptions.from_settings(settings)
    with _clients_lock:
        client = _clients.get(options)
        if client is None or client.runtime.thread is None or not client.runtime.thread.is_alive():
            client = _clients[options] = EquipmentClient(options)
        return client


def read_tag(uow: UnitOfWork, name: str, *, client: EquipmentClient, purpose: str = "read",
             instance_id: str | None = None, task_id: str | None = None,
             sampling_id: str | None = None) -> Reading:
    """Read a registered tag and store the value as equipment-originated (ALCOA original)."""
    registered = lookup(uow, name, action="read")
    reading = client.read(registered.definition, registered.revision)
    store_reading(uow, registered, reading, purpose=purpose, instance_id=instance_id, task_id=task_id,
                  sampling_id=sampling_id)
    return reading


def store_reading(uow: UnitOfWork, registered: RegisteredTag, reading: Reading, *, purpose: str,
                  instance_id: str | None = None, task_id: str | None = None,
                  sampling_id: str | None = None) -> EquipmentReading:
    row = EquipmentReading(
        tag_id=registered.tag_id, tag_name=registered.name, value_json=json.dumps(reading.value),
        unit=reading.unit, quality=reading.quality.value,
        source_timestamp=clock.isoformat(reading.source_timestamp), timestamp_origin=reading.timestamp_origin,
        received_at=clock.isoformat(reading.received_at), origin=reading.origin.value, purpose=purpose,
        within_limits=int(reading.within_limits), instance_id=instance_id, task_id=task_id,
        sampling_id=sampling_id, captured_by=uow.actor.user_id)
    uow.session.add(row)
    return row


def subscribe(uow: UnitOfWork, names: Iterable[str], *, client: EquipmentClient, period_ms: int = 100,
              on_reading: Any = None) -> TagSubscription:
    """Subscribe to registered OPC UA tags; the gate is the effective registry at this moment."""
    registered = [lookup(uow, name, action="subscribe") for name in names]
    return TagSubscription(client, [r.definition for r in registered], registry_gate(uow),
                           period_ms=period_ms, on_reading=on_reading).open()


def registry_gate(uow: UnitOfWork) -> SourceGate:
    revision = effective_revision(uow.session)
    tags = [r.definition for r in effective_tags(uow.session).values()]
    return SourceGate(tags, revision.number if revision else None)


def record_rejections(uow: UnitOfWork, rejections: Iterable[Rejection]) -> int:
    """Record dropped notifications as security events (P11-10h)."""
    count = 0
    for rejection in rejections:
        record_security_event(uow, rejection.kind, detail=rejection.detail, tag_name=rejection.tag_name,
                              endpoint=rejection.endpoint, source=rejection.source, value=rejection.value)
        count += 1
    return count
