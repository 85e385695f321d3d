"""Client of the simulator's control channel (JSON lines over TCP on 127.0.0.1).

    with SimulatorControl(port) as control:
        control.command("force", point="gas.lel", value=25.0)
        control.command("disconnect", protocol="modbus")
"""
from __future__ import annotations

import json
import socket
from typing import Any

from connectors.errors import SimulatorError


class SimulatorControl:
    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> None:
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._file = self._sock.makefile("rwb")

    def command(self, command: str, **args: Any) -> Any:
        self._file.write((json.dumps({"command": command, "args": args}) + "\n").encode())
        self._file.flush()
        line = self._file.readline()
        if not line:
            raise SimulatorError("the simulator closed its control channel")
        reply = json.loads(line)
        if not reply["ok"]:
            raise SimulatorError(f"simulator refused {command}: {reply['error']}")
        return reply["result"]

    def close(self) -> None:
        self._file.close()
        self._sock.close()

    def __enter__(self) -> "SimulatorControl":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
