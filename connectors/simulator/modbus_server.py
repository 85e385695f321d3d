"""The plant over Modbus TCP: one pymodbus simulator device per unit.

Registers are refreshed from the plant model on every request (the device action),
and writes to holding registers and coils are applied to the model, so the wire
always shows the model. `freeze()` makes the device stop answering (requests hang
until `thaw()`), `freeze_after_write()` does so right after answering the next write;
`stop()`/`start()` drop connections and stop accepting new ones.
"""
from __future__ import annotations

import asyncio
import functools
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType as SimType
from pymodbus.simulator import SimData, SimDevice
from pymodbus.simulator.simutils import SimUtils

from connectors.codec import DataType, decode, encode, register_count
from connectors.simulator.maps import MODBUS_POINTS, ModbusPoint
from connectors.simulator.model import POINT_BY_NAME, PlantModel

_BLOCK_OF_FC = {1: "coil", 5: "coil", 15: "coil", 2: "discrete_input", 3: "holding", 6: "holding",
                16: "holding", 22: "holding", 23: "holding", 4: "input"}
_INT_RANGE = {DataType.INT16: (-32768, 32767), DataType.UINT16: (0, 65535), DataType.INT32: (-2**31, 2**31 - 1)}


def _raw(point: ModbusPoint, value: float | bool) -> list[int]:
    engineering = float(value) / point.scale
    if point.data_type is DataType.FLOAT32:
        return encode(engineering, point.data_type, point.word_order)
    low, high = _INT_RANGE[point.data_type]
    return encode(max(low, min(high, round(engineering))), point.data_type, point.word_order)


class ModbusSimulator:
    def __init__(self, model: PlantModel, host: str, port: int) -> None:
        self.model = model
        self.host = host
        self.port = port
        self.server: ModbusTcpServer | None = None
        self._answering = asyncio.Event()
        self._answering.set()
        self.units: dict[int, list[ModbusPoint]] = {}
        for point in MODBUS_POINTS:
            self.units.setdefault(point.unit, []).append(point)
        self.requests = 0
        self._freeze_after_write = False

    def _devices(self) -> list[SimDevice]:
        devices = []
        for unit, points in sorted(self.units.items()):
            blocks: list[list[SimData]] = []
            for kind in ("coil", "discrete_input", "holding", "input"):
                mine = [p for p in points if p.register_type == kind]
                if kind in ("coil", "discrete_input"):
                    bits = max([p.address + 1 for p in mine] + [1])
                    count = ((bits + 15) // 16) * 16
                    blocks.append([SimData(address=0, count=count, values=False, datatype=SimType.BITS)])
                else:
                    size = max([p.address + register_count(p.data_type) for p in mine] + [1])
                    blocks.append([SimData(address=0, count=size, values=0, datatype=SimType.REGISTERS)])
            devices.append(SimDevice(id=unit, simdata=(blocks[0], blocks[1], blocks[2], blocks[3]),
                                     action=functools.partial(self._action, unit)))
        return devices

    async def start(self) -> None:
        if self.server is not None:
            return
        self.server = ModbusTcpServer(self._devices(), address=(self.host, self.port))
        await self.server.serve_forever(background=True)

    async def stop(self) -> None:
        """Drop every connection and stop listening."""
        server, self.server = self.server, None
        if server is not None:
            await server.shutdown()

    def freeze(self) -> None:
        self._answering.clear()

    def thaw(self) -> None:
        self._freeze_after_write = False
        self._answering.set()

    def freeze_after_write(self) -> None:
        """Answer the next write, then stop answering (a device that hangs after taking a value)."""
        self._freeze_after_write = True

    @property
    def running(self) -> bool:
        return self.server is not None

    async def _action(self, unit: int, function_code: int, start_address: int, address: int, count: int,
                      registers: list[int], set_values: Any) -> ExcCodes | None:
        await self._answering.wait()
        self.requests += 1
        kind = _BLOCK_OF_FC.get(function_code)
        points = [p for p in self.units[unit] if p.register_type == kind]
        if set_values is not None:
            result = self._apply_write(kind, points, address, count, registers, list(set_values))
            if result is not None:
                return result
            if self._freeze_after_write:
                self._freeze_after_write = False
                self._answering.clear()
        self._fill(kind, points, registers)
        return None

    def _fill(self, kind: str | None, points: list[ModbusPoint], registers: list[int]) -> None:
        if kind in ("coil", "discrete_input"):
            nregs = max(1, (max([p.address for p in points] + [0]) // 16) + 1)
            bits = SimUtils.registersToBits(registers[:nregs])
            for p in points:
                bits[p.address] = bool(self.model.get(p.point))
            registers[:nregs] = SimUtils.bitsToRegisters(bits)
            return
        for p in points:
            words = _raw(p, self.model.get(p.point))
            registers[p.address:p.address + len(words)] = words

    def _apply_write(self, kind: str | None, points: list[ModbusPoint], address: int, count: int,
                     registers: list[int], values: list[Any]) -> ExcCodes | None:
        if kind == "coil":
            touched = [p for p in points if address <= p.address < address + count]
            if len(touched) != count or any(not POINT_BY_NAME[p.point].writable for p in touched):
                return ExcCodes.ILLEGAL_ADDRESS
            for p in touched:
                self.model.write(p.point, bool(values[p.address - address]))
            return None
        span = range(address, address + len(values))
        touched = [p for p in points if p.address in span or p.address + register_count(p.data_type) - 1 in span]
        partial = any(p.address not in span or p.address + register_count(p.data_type) - 1 not in span for p in touched)
        if not touched or partial or any(not POINT_BY_NAME[p.point].writable for p in touched):
            return ExcCodes.ILLEGAL_ADDRESS
        image = list(registers)
        image[address:address + len(values)] = values
        for p in touched:
            words = image[p.address:p.address + register_count(p.data_type)]
            self.model.write(p.point, float(decode(words, p.data_type, p.word_order)) * p.scale)
        return None
