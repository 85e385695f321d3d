"""`PlantSimulator`: the model, its Modbus and OPC UA servers and a control channel,
running on their own asyncio loop in a background thread.

In-process control (tests):
    sim = PlantSimulator(modbus_port=free_port(), opcua_port=free_port()).start()
    sim.force("gas.o2", 17.0); sim.release("gas.o2")
    sim.excursion("dryer.inlet_temp", 95.0, seconds=30)
    sim.disconnect("modbus"); sim.reconnect("modbus")   # drop connections, come back
    sim.freeze("modbus"); sim.thaw("modbus")            # stop answering, answer again
    sim.stop()
Another process scripts it through the JSON-lines control channel (`control.py`).
"""
from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Awaitable, Callable, TypeVar

from connectors.errors import SimulatorError
from connectors.simulator.modbus_server import ModbusSimulator
from connectors.simulator.model import PlantModel
from connectors.simulator.opcua_server import OpcUaSimulator

T = TypeVar("T")
TICK_SECONDS = 0.1
PROTOCOLS = ("modbus", "opcua")
START_TIMEOUT_SECONDS = 180


def free_port(host: str = "127.0.0.1") -> int:
    """A free port for a simulator's server (core.ports)."""
    from core.ports import free_port as pick

    return pick(host)


class PlantSimulator:
    def __init__(self, *, host: str = "127.0.0.1", modbus_port: int = 5020, opcua_port: int | None = 4840,
                 control_port: int | None = None, seed: int = 1, noise: bool = True,
                 opcua_users: dict[str, str] | None = None, allow_anonymous: bool = True,
                 certificate: Path | None = None, private_key: Path | None = None,
                 opcua_extra_namespaces: tuple[str, ...] = ()) -> None:
        self.host = host
        self.model = PlantModel(seed=seed, noise=noise)
        self.modbus = ModbusSimulator(self.model, host, modbus_port)
        self.opcua = None if opcua_port is None else OpcUaSimulator(
            self.model, host, opcua_port, users=opcua_users, allow_anonymous=allow_anonymous,
            certificate=certificate, private_key=private_key, extra_namespaces=opcua_extra_namespaces)
        self.control_port = control_port
        self._control_server: asyncio.AbstractServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ticker: asyncio.Task[None] | None = None

    # ------------------------------------------------------------ lifecycle
    @property
    def modbus_port(self) -> int:
        return self.modbus.port

    @property
    def opcua_endpoint(self) -> str:
        if self.opcua is None:
            raise SimulatorError("this simulator runs without OPC UA")
        return self.opcua.endpoint

    def start(self) -> "PlantSimulator":
        if self._thread is not None:
            return self
        ready: Future[None] = Future()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="plant-simulator", daemon=True)
        self._thread.start()
        try:
            # the OPC UA address space takes about 1.3 s to build on an idle machine, minutes on a
            # saturated one: wait generously rather than fail a whole test session or `gmp simulate`
            ready.result(timeout=START_TIMEOUT_SECONDS)
        except BaseException:
            self._thread.join(timeout=5)
            self._thread = None
            raise
        return self

    def _run(self, ready: Future[None]) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._start())
        except BaseException as exc:  # report start failures to the caller
            ready.set_exception(exc)
            loop.close()
            return
        ready.set_result(None)
        loop.run_forever()
        loop.run_until_complete(self._shutdown())
        loop.close()

    async def _start(self) -> None:
        await self.modbus.start()
        if self.opcua is not None:
            await self.opcua.start()
        if self.control_port is not None:
            self._control_server = await asyncio.start_server(self._serve_control, self.host, self.control_port)
        self._ticker = asyncio.create_task(self._tick())

    async def _shutdown(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        if self._control_server is not None:
            self._control_server.close()
            await self._control_server.wait_closed()
        self.modbus.thaw()
        await self.modbus.stop()
        if self.opcua is not None:
            await self.opcua.stop()
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=15)
        self._thread = None

    def __enter__(self) -> "PlantSimulator":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(TICK_SECONDS)
            now = loop.time()
            self.model.step(now - last)
            last = now
            if self.opcua is not None:
                await self.opcua.push()

    # ------------------------------------------------------------ in-process control
    def _call(self, fn: Callable[[], Awaitable[T]]) -> T:
        if self._loop is None or self._thread is None:
            raise SimulatorError("the simulator is not running")
        return asyncio.run_coroutine_threadsafe(fn(), self._loop).result(timeout=30)  # type: ignore[arg-type]

    def _sync(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the simulator loop, then publish the model to OPC UA at once
        (so a forced value is on both protocols when this returns)."""
        async def wrapper() -> T:
            result = fn()
            if self.opcua is not None:
                await self.opcua.push()
            return result
        return self._call(wrapper)

    def value(self, point: str) -> float | bool:
        return self._sync(lambda: self.model.get(point))

    def set(self, point: str, value: float | bool) -> None:
        """Change the plant (a set-point, the load on the scale, a breaker state, a reference)."""
        self._sync(lambda: self.model.set(point, value))

    def force(self, point: str, value: float | bool) -> None:
        self._sync(lambda: self.model.force(point, value))

    def excursion(self, point: str, value: float | bool, seconds: float) -> None:
        self._sync(lambda: self.model.force(point, value, seconds))

    def release(self, point: str | None = None) -> None:
        self._sync(lambda: self.model.release(point))

    def lock_writes(self, point: str, locked: bool = True) -> None:
        self._sync(lambda: self.model.lock_writes(point, locked))

    def disconnect(self, protocol: str) -> None:
        """Drop every connection of `protocol` and refuse new ones."""
        self._check_protocol(protocol)
        if protocol == "modbus":
            self._call(self.modbus.stop)
        else:
            assert self.opcua is not None
            self._call(self.opcua.stop_listening)

    def reconnect(self, protocol: str) -> None:
        """Accept connections again after `disconnect`."""
        self._check_protocol(protocol)
        if protocol == "modbus":
            self._call(self.modbus.start)
        else:
            assert self.opcua is not None
            self._call(self.opcua.listen)

    def freeze(self, protocol: str = "modbus") -> None:
        """Keep connections open but stop answering requests (Modbus)."""
        if protocol != "modbus":
            raise SimulatorError("freeze is available for modbus only")
        self._sync(self.modbus.freeze)

    def thaw(self, protocol: str = "modbus") -> None:
        if protocol != "modbus":
            raise SimulatorError("thaw is available for modbus only")
        self._sync(self.modbus.thaw)

    def freeze_after_write(self, protocol: str = "modbus") -> None:
        """Answer the next write, then stop answering until `thaw()` (Modbus): a read-back times out."""
        if protocol != "modbus":
            raise SimulatorError("freeze_after_write is available for modbus only")
        self._sync(self.modbus.freeze_after_write)

    def _check_protocol(self, protocol: str) -> None:
        if protocol not in PROTOCOLS or (protocol == "opcua" and self.opcua is None):
            raise SimulatorError(f"unknown protocol {protocol!r}: expected one of {', '.join(PROTOCOLS)}")

    # ------------------------------------------------------------ control channel
    COMMANDS = ("value", "snapshot", "set", "force", "excursion", "release", "lock_writes",
                "disconnect", "reconnect", "freeze", "thaw", "freeze_after_write")

    async def _serve_control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    result = await self._control(json.loads(line))
                    if self.opcua is not None:
                        await self.opcua.push()
                    reply = {"ok": True, "result": result}
                except (SimulatorError, ValueError, TypeError, KeyError) as exc:
                    reply = {"ok": False, "error": str(exc)}
                writer.write((json.dumps(reply) + "\n").encode())
                await writer.drain()
        finally:
            writer.close()

    async def _control(self, request: dict[str, Any]) -> Any:
        command = request.get("command")
        args = request.get("args", {})
        if command not in self.COMMANDS:
            raise SimulatorError(f"unknown control command {command!r}")
        m = self.model
        if command == "value":
            return m.get(args["point"])
        if command == "snapshot":
            return m.snapshot()
        if command == "set":
            return m.set(args["point"], args["value"])
        if command == "force":
            return m.force(args["point"], args["value"])
        if command == "excursion":
            return m.force(args["point"], args["value"], float(args["seconds"]))
        if command == "release":
            return m.release(args.get("point"))
        if command == "lock_writes":
            return m.lock_writes(args["point"], bool(args.get("locked", True)))
        protocol = args.get("protocol", "modbus")
        self._check_protocol(protocol)
        if command == "freeze":
            return self.modbus.freeze()
        if command == "thaw":
            return self.modbus.thaw()
        if command == "freeze_after_write":
            return self.modbus.freeze_after_write()
        if protocol == "modbus":
            return await (self.modbus.stop() if command == "disconnect" else self.modbus.start())
        assert self.opcua is not None
        return await (self.opcua.stop_listening() if command == "disconnect" else self.opcua.listen())
