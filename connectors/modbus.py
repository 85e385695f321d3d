"""Modbus TCP client side: one pymodbus async client per endpoint, on the connector loop.

Connections are opened on first use and after a failure: pymodbus's own reconnect
loop is switched off (reconnect_delay=0) so that a dead device costs one bounded
connect attempt per request and leaves no background task or socket behind.
Requests are bounded by pymodbus's own request timeout (retries=0), which raises
ModbusIOException when a device stays silent: no extra wait_for task per request.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException, ModbusIOException

from connectors.codec import DataType, WordOrder, decode, encode, register_count
from connectors.errors import ConnectorError, DeviceError, DeviceUnavailable

# pymodbus logs every refused connect and late answer as a warning; our errors name tag and endpoint
logging.getLogger("pymodbus").setLevel(logging.ERROR)


@dataclass(frozen=True)
class ModbusAddress:
    unit: int
    register_type: str  # holding | input | coil | discrete_input
    address: int
    data_type: DataType
    word_order: WordOrder = WordOrder.BIG


def parse_endpoint(endpoint: str) -> tuple[str, int]:
    parts = urlsplit(endpoint)
    if parts.scheme != "modbus" or not parts.hostname:
        raise ConnectorError(f"not a Modbus endpoint: {endpoint!r} (expected modbus://HOST:PORT)")
    return parts.hostname, parts.port or 502


class ModbusConnection:
    """Lives on the connector loop; every method is a coroutine run there."""

    def __init__(self, endpoint: str, timeout: float) -> None:
        self.endpoint = endpoint
        self.host, self.port = parse_endpoint(endpoint)
        self.timeout = timeout
        self._client: AsyncModbusTcpClient | None = None
        self._connecting = asyncio.Lock()

    async def _connected(self, what: str) -> AsyncModbusTcpClient:
        client = self._client
        if client is not None and client.connected:  # the hot path: no lock
            return client
        async with self._connecting:
            if self._client is not None and self._client.connected:
                return self._client
            await self.close()
            client = AsyncModbusTcpClient(self.host, port=self.port, timeout=self.timeout, retries=0,
                                          reconnect_delay=0, reconnect_delay_max=0)
            try:
                ok = await asyncio.wait_for(client.connect(), self.timeout)
            except (asyncio.TimeoutError, OSError):
                ok = False
            if not ok:
                client.close()
                raise DeviceUnavailable(f"{what}: cannot connect to {self.endpoint}", endpoint=self.endpoint)
            self._client = client
            return client

    async def read(self, address: ModbusAddress, what: str) -> float | int | bool:
        """Read one value. `what` names the tag in error messages."""
        client = await self._connected(what)
        kind = address.register_type
        try:
            if kind in ("coil", "discrete_input"):
                call = client.read_coils if kind == "coil" else client.read_discrete_inputs
                response = await call(address.address, count=1, device_id=address.unit)
            else:
                count = register_count(address.data_type)
                call = client.read_holding_registers if kind == "holding" else client.read_input_registers
                response = await call(address.address, count=count, device_id=address.unit)
        except (asyncio.TimeoutError, ModbusException, OSError) as exc:
            await self.close()
            raise DeviceUnavailable(f"{what}: {_failure(exc, self.endpoint, self.timeout)}",
                                    endpoint=self.endpoint) from None
        if response.isError():
            raise DeviceError(f"{what}: {self.endpoint} unit {address.unit} answered with Modbus exception "
                              f"{getattr(response, 'exception_code', '?')} for {kind} {address.address}",
                              endpoint=self.endpoint)
        if kind in ("coil", "discrete_input"):
            return bool(response.bits[0])
        return decode(response.registers, address.data_type, address.word_order)

    async def write(self, address: ModbusAddress, raw: float | int | bool, what: str) -> None:
        client = await self._connected(what)
        try:
            if address.register_type == "coil":
                call = client.write_coil(address.address, bool(raw), device_id=address.unit)
            elif address.register_type == "holding":
                words = encode(raw, address.data_type, address.word_order)  # type: ignore[arg-type]
                call = client.write_registers(address.address, words, device_id=address.unit)
            else:
                raise ConnectorError(f"{what}: {address.register_type} registers cannot be written")
            response = await call
        except (asyncio.TimeoutError, ModbusException, OSError) as exc:
            await self.close()
            raise DeviceUnavailable(f"{what}: write not acknowledged: {_failure(exc, self.endpoint, self.timeout)}",
                                    endpoint=self.endpoint) from None
        if response.isError():
            raise DeviceError(f"{what}: {self.endpoint} unit {address.unit} refused the write with Modbus "
                              f"exception {getattr(response, 'exception_code', '?')}", endpoint=self.endpoint)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()


def _failure(exc: BaseException, endpoint: str, timeout: float) -> str:
    if isinstance(exc, (asyncio.TimeoutError, ModbusIOException)):
        return f"no answer from {endpoint} within {timeout:g} s"
    return f"connection to {endpoint} lost ({type(exc).__name__})"
