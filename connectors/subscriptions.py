"""OPC UA data-change subscriptions behind the registry gate (P11-10h).

Only registered sources count: each notification is checked against the registry
snapshot the subscription holds. A notification for a node that no tag names, or for
a node whose tag lives on another endpoint, is dropped, logged at once, and queued as
a rejection that the owner records as a security event (`connectors.service`).
"""
from __future__ import annotations

import collections
import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from asyncua import ua

from connectors.client import EquipmentClient, reading_from_datavalue
from connectors.errors import ConnectorError
from connectors.models import SecurityEventKind
from connectors.tags import Protocol, Reading, TagDefinition

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rejection:
    kind: SecurityEventKind
    endpoint: str
    source: str
    value: Any
    detail: str
    tag_name: str | None = None


class SourceGate:
    """Maps (endpoint, node id) to the registered tag, or says why not."""

    def __init__(self, tags: Iterable[TagDefinition], revision: int | None) -> None:
        self.revision = revision
        self.by_source: dict[tuple[str, str], TagDefinition] = {}
        self.by_node: dict[str, list[TagDefinition]] = {}
        for tag in tags:
            if tag.protocol is Protocol.OPCUA and tag.node_id:
                self.by_source[(tag.endpoint, tag.node_id)] = tag
                self.by_node.setdefault(tag.node_id, []).append(tag)

    def admit(self, endpoint: str, node_id: str, value: Any) -> TagDefinition | Rejection:
        tag = self.by_source.get((endpoint, node_id))
        if tag is not None:
            return tag
        others = self.by_node.get(node_id)
        if others:
            names = ", ".join(t.name for t in others)
            return Rejection(SecurityEventKind.ENDPOINT_MISMATCH, endpoint, node_id, value,
                             f"value for node {node_id} arrived from {endpoint}, but tag(s) {names} are registered "
                             f"at {', '.join(sorted({t.endpoint for t in others}))}", others[0].name)
        return Rejection(SecurityEventKind.UNREGISTERED_NODE, endpoint, node_id, value,
                         f"notification for node {node_id} from {endpoint}: no registered tag "
                         f"(registry revision {self.revision})")


class TagSubscription:
    """Data-change notifications of registered OPC UA tags.

    Accepted notifications become `Reading`s: passed to `on_reading` in the connector
    loop thread (keep it short) or, without a callback, queued for `drain()`.
    """

    def __init__(self, client: EquipmentClient, tags: list[TagDefinition], gate: SourceGate, *,
                 period_ms: int = 100, on_reading: Callable[[Reading], None] | None = None,
                 max_queue: int = 100_000) -> None:
        if not tags:
            raise ConnectorError("a subscription needs at least one tag")
        not_opcua = [t.name for t in tags if t.protocol is not Protocol.OPCUA]
        if not_opcua:
            raise ConnectorError(f"only OPC UA tags can be subscribed: {', '.join(not_opcua)}")
        self.client = client
        self.tags = tags
        self.gate = gate
        self.on_reading = on_reading
        self.period_ms = period_ms
        self._readings: collections.deque[Reading] = collections.deque(maxlen=max_queue)
        self._rejections: collections.deque[Rejection] = collections.deque(maxlen=max_queue)
        self._lock = threading.Lock()
        self.accepted = 0
        self.rejected = 0
        self._specs: list[tuple[Any, Any]] = []

    def open(self, extra_nodes: Iterable[tuple[str, str]] = ()) -> "TagSubscription":
        """Subscribe every tag (grouped by endpoint). `extra_nodes` (endpoint, node id) lets
        tests and diagnostics watch nodes outside the registry: their notifications are rejected."""
        by_endpoint: dict[str, list[str]] = {}
        for tag in self.tags:
            by_endpoint.setdefault(tag.endpoint, []).append(tag.node_id or "")
        for endpoint, node_id in extra_nodes:
            by_endpoint.setdefault(endpoint, []).append(node_id)
        for endpoint, nodes in by_endpoint.items():
            connection = self.client.opcua_connection(endpoint)
            spec = self.client._run(connection.subscribe(nodes, self._handle, self.period_ms,
                                                         f"subscription to {len(nodes)} node(s)"), self.tags[0])
            self._specs.append((connection, spec))
        return self

    def _handle(self, endpoint: str, node_id: str, dv: ua.DataValue) -> None:
        value = dv.Value.Value if dv.Value is not None else None
        verdict = self.gate.admit(endpoint, node_id, value)
        if isinstance(verdict, Rejection):
            self.rejected += 1
            log.warning("equipment data dropped (%s): %s", verdict.kind.value, verdict.detail)
            self._rejections.append(verdict)
            return
        self.accepted += 1
        reading = reading_from_datavalue(verdict, dv, self.gate.revision)
        if self.on_reading is not None:
            self.on_reading(reading)
        else:
            self._readings.append(reading)

    def replace_gate(self, gate: SourceGate) -> None:
        """Use a new registry snapshot (a revision took effect) for the next notifications."""
        self.gate = gate

    def ensure(self) -> None:
        """Reconnect and re-create the subscription if the connection was lost."""
        for connection, _spec in self._specs:
            self.client._run(connection.ensure("subscription"), self.tags[0])

    def drain(self) -> list[Reading]:
        out = []
        while self._readings:
            out.append(self._readings.popleft())
        return out

    def drain_rejections(self) -> list[Rejection]:
        out = []
        while self._rejections:
            out.append(self._rejections.popleft())
        return out

    def close(self) -> None:
        specs, self._specs = self._specs, []
        for connection, spec in specs:
            self.client._run(connection.unsubscribe(spec), self.tags[0])

    def __enter__(self) -> "TagSubscription":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
