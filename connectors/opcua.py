"""OPC UA client side: one asyncua client per endpoint (and identity), on the connector loop.

Reads return the server's DataValue (value, status, source timestamp); writes send an
explicitly typed Variant; subscriptions deliver data-change notifications to a
handler with the endpoint and node id, so the registry gate can check the source.
asyncua's own supervisor is off: the connection is re-established on the next use
after a failure, and live subscriptions are re-created then.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from asyncua import Client, ua

from connectors.codec import DataType
from connectors.errors import ConnectorError, DeviceError, DeviceUnavailable

log = logging.getLogger(__name__)
# asyncua logs connection loss in its publish loop as errors; our errors name tag and endpoint
for _name in ("asyncua", "asyncua.client.client", "asyncua.client.ua_client"):
    logging.getLogger(_name).setLevel(logging.ERROR)
logging.getLogger("asyncua.client.ua_session").setLevel(logging.CRITICAL)

VARIANT_TYPES = {
    DataType.BOOL: ua.VariantType.Boolean,
    DataType.INT16: ua.VariantType.Int16,
    DataType.UINT16: ua.VariantType.UInt16,
    DataType.INT32: ua.VariantType.Int32,
    DataType.FLOAT32: ua.VariantType.Float,
    DataType.FLOAT64: ua.VariantType.Double,
}
_FAILURES = (asyncio.TimeoutError, ConnectionError, OSError, ua.UaError)


@dataclass(frozen=True)
class OpcUaIdentity:
    """How to log in: anonymous (no username), or username and password; optional security.

    `security` is asyncua's security string, e.g.
    "Basic256Sha256,SignAndEncrypt,client_cert.der,client_key.pem[,server_cert.der]".
    """

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    security: str | None = None


NotificationHandler = Callable[[str, str, ua.DataValue], None]  # (endpoint, node_id, data value)


def parse_node_id(node_id: str) -> ua.NodeId:
    """A node id in OPC UA string form ("ns=2;s=X", "i=85", "nsu=urn:...;s=X"); ValueError names what is wrong.

    The namespace-URI form ("nsu=") is resolved to the server's namespace index at connection
    (`OpcUaConnection`); a node on another server ("svr=") is refused.
    """
    if any(part.strip().startswith("svr=") for part in node_id.split(";")[:-1]):
        raise ValueError(f"{node_id!r} names a node on another server (svr=): register the tag on that server's "
                         "endpoint")
    try:
        parsed = ua.NodeId.from_string(node_id)
    except (ua.UaStringParsingError, ValueError, TypeError) as exc:
        raise ValueError(f"{node_id!r} is not an OPC UA node id (e.g. ns=2;s=FBD01.InletTemperature or "
                         f"nsu=urn:example:plant;s=FBD01.InletTemperature)") from exc
    if isinstance(parsed, ua.ExpandedNodeId) and parsed.NamespaceUri is not None and not parsed.NamespaceUri:
        raise ValueError(f"{node_id!r} has an empty namespace URI (nsu=)")
    return parsed


class _Relay:
    """asyncua subscription handler: passes each notification on with its source, under the node id
    as registered (a node registered as "nsu=...;s=X" is reported so, not as the server's "ns=N;s=X")."""

    def __init__(self, endpoint: str, handler: NotificationHandler, names: dict[str, str]) -> None:
        self.endpoint = endpoint
        self.handler = handler
        self.names = names

    def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
        resolved = node.nodeid.to_string()
        self.handler(self.endpoint, self.names.get(resolved, resolved), data.monitored_item.Value)

    def status_change_notification(self, status: Any) -> None:
        log.warning("OPC UA subscription on %s changed status: %s", self.endpoint, status)


@dataclass
class _SubscriptionSpec:
    node_ids: list[str]
    handler: NotificationHandler
    period_ms: int
    live: Any = None  # asyncua Subscription while connected


class OpcUaConnection:
    def __init__(self, endpoint: str, timeout: float, identity: OpcUaIdentity | None = None) -> None:
        if not endpoint.startswith("opc.tcp://"):
            raise ConnectorError(f"not an OPC UA endpoint: {endpoint!r} (expected opc.tcp://HOST:PORT/PATH)")
        self.endpoint = endpoint
        self.timeout = timeout
        self.identity = identity or OpcUaIdentity()
        self._client: Client | None = None
        self._namespaces: list[str] = []  # the server's namespace array, read at each connection
        self._connecting = asyncio.Lock()
        self._subscriptions: list[_SubscriptionSpec] = []

    async def _connected(self, what: str) -> Client:
        async with self._connecting:
            if self._client is not None:
                return self._client
            client = Client(self.endpoint, timeout=self.timeout, watchdog_intervall=max(1.0, self.timeout))
            client.session_timeout = 60_000
            if self.identity.username is not None:
                client.set_user(self.identity.username)
                client.set_password(self.identity.password or "")
            try:
                if self.identity.security:
                    await client.set_security_string(self.identity.security)
                await asyncio.wait_for(client.connect(), self.timeout)
                # namespace indexes are the server's to choose (and may change when it restarts): "nsu=" node
                # ids are resolved against the array of this connection
                self._namespaces = list(await asyncio.wait_for(client.get_namespace_array(), self.timeout))
            except _FAILURES as exc:
                await self._dispose(client)
                if isinstance(exc, ua.UaStatusCodeError) and any(
                        key in type(exc).__name__ for key in ("UserAccessDenied", "IdentityToken")):
                    raise DeviceError(f"{what}: {self.endpoint} refused the session: {exc}",
                                      endpoint=self.endpoint) from None
                raise DeviceUnavailable(f"{what}: cannot connect to {self.endpoint} within {self.timeout:g} s "
                                        f"({type(exc).__name__})", endpoint=self.endpoint) from None
            self._client = client
            try:
                for spec in self._subscriptions:
                    await self._start_subscription(client, spec)
            except _FAILURES as exc:
                await self.close()
                raise DeviceUnavailable(f"{what}: re-creating subscriptions on {self.endpoint} failed "
                                        f"({type(exc).__name__})", endpoint=self.endpoint) from None
            return client

    def resolve(self, node_id: str, what: str) -> ua.NodeId:
        """The node id as this server knows it: a namespace URI ("nsu=") becomes the server's index."""
        try:
            parsed = parse_node_id(node_id)
        except ValueError as exc:
            raise DeviceError(f"{what}: {exc}", endpoint=self.endpoint) from None
        uri = getattr(parsed, "NamespaceUri", None)
        if not uri:
            return ua.NodeId(parsed.Identifier, parsed.NamespaceIndex, parsed.NodeIdType)
        try:
            index = self._namespaces.index(uri)
        except ValueError:
            raise DeviceError(f"{what}: {self.endpoint} has no namespace {uri!r} (its namespaces: "
                              f"{', '.join(self._namespaces) or 'none read'})", endpoint=self.endpoint) from None
        return ua.NodeId(parsed.Identifier, index, parsed.NodeIdType)

    async def _failed(self, what: str, exc: BaseException, verb: str) -> DeviceUnavailable:
        await self.close()
        return DeviceUnavailable(f"{what}: {verb} {self.endpoint} failed within {self.timeout:g} s "
                                 f"({type(exc).__name__})", endpoint=self.endpoint)

    async def read(self, node_id: str, what: str) -> ua.DataValue:
        reused = self._client is not None
        try:
            return await self._read(node_id, what)
        except DeviceUnavailable:
            if not reused:
                raise
            return await self._read(node_id, what)  # the kept session had gone stale: once more, on a new one

    async def _read(self, node_id: str, what: str) -> ua.DataValue:
        client = await self._connected(what)
        node = client.get_node(self.resolve(node_id, what))
        try:
            dv = await asyncio.wait_for(node.read_data_value(), self.timeout)
        except ua.UaStatusCodeError as exc:
            if _is_connection_status(exc):
                raise await self._failed(what, exc, "reading from") from None
            raise DeviceError(f"{what}: {self.endpoint} refused the read of {node_id}: {exc}",
                              endpoint=self.endpoint) from None
        except _FAILURES as exc:
            raise await self._failed(what, exc, "reading from") from None
        return dv

    async def write(self, node_id: str, value: float | int | bool, data_type: DataType, what: str) -> None:
        """Write a value. If a session kept from earlier calls has gone stale (the server
        restarted, the network dropped it), the write is tried once more on a new session:
        a set-point is an absolute value, so writing it twice is harmless, and the caller
        confirms it by read-back."""
        reused = self._client is not None
        try:
            await self._write(node_id, value, data_type, what)
        except DeviceUnavailable:
            if not reused:
                raise
            await self._write(node_id, value, data_type, what)

    async def _write(self, node_id: str, value: float | int | bool, data_type: DataType, what: str) -> None:
        client = await self._connected(what)
        variant = ua.Variant(_python_value(value, data_type), VARIANT_TYPES[data_type])
        node = client.get_node(self.resolve(node_id, what))
        try:
            await asyncio.wait_for(node.write_value(ua.DataValue(variant)), self.timeout)
        except ua.UaStatusCodeError as exc:
            if _is_connection_status(exc):
                raise await self._failed(what, exc, "writing to") from None
            raise DeviceError(f"{what}: {self.endpoint} refused the write of {node_id}: {exc}",
                              endpoint=self.endpoint) from None
        except _FAILURES as exc:
            raise await self._failed(what, exc, "writing to") from None

    async def subscribe(self, node_ids: list[str], handler: NotificationHandler, period_ms: int,
                        what: str) -> _SubscriptionSpec:
        spec = _SubscriptionSpec(list(node_ids), handler, period_ms)
        client = await self._connected(what)
        try:
            await self._start_subscription(client, spec)
        except _FAILURES as exc:
            raise await self._failed(what, exc, "subscribing on") from None
        self._subscriptions.append(spec)
        return spec

    async def _start_subscription(self, client: Client, spec: _SubscriptionSpec) -> None:
        what = f"subscription on {self.endpoint}"
        resolved = {node_id: self.resolve(node_id, what) for node_id in spec.node_ids}
        names = {nid.to_string(): node_id for node_id, nid in resolved.items()}
        sub = await asyncio.wait_for(client.create_subscription(spec.period_ms, _Relay(self.endpoint, spec.handler,
                                                                                        names)), self.timeout)
        spec.live = sub
        nodes = [client.get_node(nid) for nid in resolved.values()]
        await asyncio.wait_for(sub.subscribe_data_change(nodes), self.timeout)

    async def unsubscribe(self, spec: _SubscriptionSpec) -> None:
        if spec in self._subscriptions:
            self._subscriptions.remove(spec)
        sub, spec.live = spec.live, None
        if sub is not None and self._client is not None:
            with contextlib.suppress(*_FAILURES, asyncio.CancelledError):
                await asyncio.wait_for(sub.delete(), self.timeout)

    async def ensure(self, what: str) -> None:
        """Reconnect (and re-create subscriptions) if the connection was lost."""
        client = self._client
        if client is not None:
            try:
                await asyncio.wait_for(client.check_connection(), self.timeout)
                return
            except _FAILURES:
                await self.close()
        await self._connected(what)

    async def close(self) -> None:
        client, self._client = self._client, None
        for spec in self._subscriptions:
            spec.live = None
        if client is not None:
            await self._dispose(client)

    async def _dispose(self, client: Client) -> None:
        try:
            await asyncio.wait_for(client.disconnect(), self.timeout)
        except (*_FAILURES, asyncio.CancelledError, RuntimeError):
            pass
        finally:
            client.disconnect_socket()


def _is_connection_status(exc: ua.UaStatusCodeError) -> bool:
    name = type(exc).__name__
    return any(key in name for key in ("SessionClosed", "SessionIdInvalid", "ConnectionClosed",
                                       "SecureChannel", "NotConnected", "Timeout", "Shutdown"))


def _python_value(value: float | int | bool, data_type: DataType) -> float | int | bool:
    if data_type is DataType.BOOL:
        return bool(value)
    if data_type in (DataType.FLOAT32, DataType.FLOAT64):
        return float(value)
    return int(value)


def quality_of(status: ua.StatusCode | None) -> str:
    if status is None or status.is_good():
        return "good"
    if status.is_uncertain():
        return "uncertain"
    return "bad"
