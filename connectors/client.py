"""The synchronous equipment client: reads and writes a registered tag definition.

`EquipmentClient` knows nothing of the database; `connectors.service` looks tags up in
the registry and stores what is read. Connections belong to the process's connector
runtime (one loop thread) and are shared by every client in the process.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Mapping

from connectors.codec import DataType
from connectors.errors import ConnectorError, DeviceUnavailable
from connectors.modbus import ModbusAddress, ModbusConnection
from connectors.opcua import OpcUaConnection, OpcUaIdentity, quality_of
from connectors.runtime import ConnectorRuntime, runtime
from connectors.tags import Protocol, Quality, Reading, TagDefinition
from core import clock

# extra seconds the calling thread waits beyond the protocol timeout before giving up
_BACKSTOP_SECONDS = 2.0


@dataclass(frozen=True)
class ClientOptions:
    timeout: float = 3.0
    opcua_identity: OpcUaIdentity = OpcUaIdentity()

    @classmethod
    def from_settings(cls, settings: Any) -> "ClientOptions":
        return cls(timeout=float(settings.connector_timeout_seconds),
                   opcua_identity=OpcUaIdentity(settings.opcua_username, settings.opcua_password,
                                                settings.opcua_security))


class _Pool:
    """Connections of one runtime, keyed by endpoint, timeout and identity."""

    def __init__(self, rt: ConnectorRuntime) -> None:
        self.connections: dict[tuple[Any, ...], Any] = {}
        rt.on_close(self.close_all)

    def modbus(self, endpoint: str, timeout: float) -> ModbusConnection:
        key = ("modbus", endpoint, timeout)
        if key not in self.connections:
            self.connections[key] = ModbusConnection(endpoint, timeout)
        return self.connections[key]  # type: ignore[no-any-return]

    def opcua(self, endpoint: str, timeout: float, identity: OpcUaIdentity) -> OpcUaConnection:
        key = ("opcua", endpoint, timeout, identity)
        if key not in self.connections:
            self.connections[key] = OpcUaConnection(endpoint, timeout, identity)
        return self.connections[key]  # type: ignore[no-any-return]

    async def close_all(self) -> None:
        connections, self.connections = list(self.connections.values()), {}
        for connection in connections:
            await connection.close()


def _pool(rt: ConnectorRuntime) -> _Pool:
    """The runtime's connection pool (created with it, closed with it)."""
    pool = getattr(rt, "connection_pool", None)
    if pool is None:
        pool = rt.connection_pool = _Pool(rt)  # type: ignore[attr-defined]
    return pool


class EquipmentClient:
    def __init__(self, options: ClientOptions | None = None, identities: Mapping[str, OpcUaIdentity] | None = None
                 ) -> None:
        self.options = options or ClientOptions()
        self.identities = dict(identities or {})  # per-endpoint OPC UA identity overrides
        self.runtime = runtime()
        self.pool = _pool(self.runtime)

    # ------------------------------------------------------------ connections
    def modbus_connection(self, tag: TagDefinition) -> ModbusConnection:
        return self.pool.modbus(tag.endpoint, self.options.timeout)

    def opcua_connection(self, endpoint: str) -> OpcUaConnection:
        identity = self.identities.get(endpoint, self.options.opcua_identity)
        return self.pool.opcua(endpoint, self.options.timeout, identity)

    def _run(self, coro: Any, tag: TagDefinition, attempts: int = 1) -> Any:
        wait = self.options.timeout * (attempts + 1) + _BACKSTOP_SECONDS
        try:
            return self.runtime.run(coro, timeout=wait)
        except TimeoutError:
            raise DeviceUnavailable(f"tag {tag.name}: no answer from {tag.endpoint} within {wait:g} s",
                                    tag=tag.name, endpoint=tag.endpoint) from None

    # ------------------------------------------------------------ reads
    def read(self, tag: TagDefinition, revision: int | None = None) -> Reading:
        """Read one tag now. Raises DeviceUnavailable (naming tag and endpoint) within the timeout."""
        return self._run(self.read_async(tag, revision), tag)  # type: ignore[no-any-return]

    async def read_async(self, tag: TagDefinition, revision: int | None = None) -> Reading:
        what = f"tag {tag.name}"
        if tag.protocol is Protocol.MODBUS:
            raw = await self.modbus_connection(tag).read(_modbus_address(tag), what)
            received = clock.now()
            return Reading(tag=tag, value=tag.to_engineering(raw), unit=tag.unit, source_timestamp=received,
                           quality=Quality.GOOD, received_at=received, timestamp_origin="connector",
                           revision=revision)
        dv = await self.opcua_connection(tag.endpoint).read(_node_id(tag), what)
        return reading_from_datavalue(tag, dv, revision)

    # ------------------------------------------------------------ writes
    def write(self, tag: TagDefinition, value: float | int | bool) -> None:
        """Send `value` (engineering units) to the device. No range or signature check here:
        callers go through `connectors.setpoints`, which does both."""
        self._run(self.write_async(tag, value), tag)

    async def write_async(self, tag: TagDefinition, value: float | int | bool) -> None:
        what = f"tag {tag.name}"
        if tag.protocol is Protocol.MODBUS:
            await self.modbus_connection(tag).write(_modbus_address(tag), tag.to_raw(value), what)
        else:
            await self.opcua_connection(tag.endpoint).write(_node_id(tag), tag.to_raw(value), tag.data_type, what)

    def close(self) -> None:
        """Close this process's connections (they reopen on the next use)."""
        self.runtime.run(self.pool.close_all(), timeout=self.options.timeout * 4 + _BACKSTOP_SECONDS)


def reading_from_datavalue(tag: TagDefinition, dv: Any, revision: int | None) -> Reading:
    received = clock.now()
    if dv.SourceTimestamp is not None:
        stamp, origin = dv.SourceTimestamp, "device"
    elif dv.ServerTimestamp is not None:
        stamp, origin = dv.ServerTimestamp, "server"
    else:
        stamp, origin = received, "connector"
    if stamp.tzinfo is None:
        from datetime import timezone
        stamp = stamp.replace(tzinfo=timezone.utc)
    value = dv.Value.Value if dv.Value is not None else None
    quality = Quality(quality_of(dv.StatusCode))
    if value is not None and quality is not Quality.BAD:
        value = tag.to_engineering(value)
    return Reading(tag=tag, value=value, unit=tag.unit, source_timestamp=stamp, quality=quality,
                   received_at=received, timestamp_origin=origin, revision=revision,
                   status=dv.StatusCode.name if dv.StatusCode is not None else "Good")


@functools.lru_cache(maxsize=4096)
def _modbus_address(tag: TagDefinition) -> ModbusAddress:
    if tag.modbus_unit is None or tag.register_type is None or tag.address is None:
        raise ConnectorError(f"tag {tag.name}: incomplete Modbus address")
    return ModbusAddress(tag.modbus_unit, tag.register_type, tag.address, tag.data_type, tag.word_order)


def _node_id(tag: TagDefinition) -> str:
    if not tag.node_id:
        raise ConnectorError(f"tag {tag.name}: no OPC UA node id")
    return tag.node_id


def values_match(tag: TagDefinition, written: float | int | bool, read_back: Any) -> bool:
    """Does the read-back equal the written value as the device stores it?"""
    from connectors.codec import roundtrip

    if tag.data_type is DataType.BOOL:
        return bool(read_back) == bool(written)
    if read_back is None:
        return False
    expected = tag.to_engineering(roundtrip(tag.to_raw(written), tag.data_type))
    tolerance = abs(tag.scale) * 1e-6 + 1e-9 * max(1.0, abs(float(expected)))
    return abs(float(read_back) - float(expected)) <= tolerance


__all__ = ["ClientOptions", "EquipmentClient", "reading_from_datavalue", "values_match"]
