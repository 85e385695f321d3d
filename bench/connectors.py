"""Benchmark: equipment reads and notifications through our connector vs bare clients.

The plant simulator runs as a separate process (`gmp simulate`). In the same run:
- Modbus: sequential reads of one float32 tag through `EquipmentClient.read` (sync
  facade, connector loop thread, registry definition, Reading) vs a bare pymodbus
  `AsyncModbusTcpClient.read_input_registers` loop on its own event loop.
- OPC UA: data-change notifications handled per second through our subscription
  layer (`TagSubscription`: registry gate, Reading) vs a bare asyncua subscription
  handler that only counts; both watch the same node at the same time (separate
  sessions and loop threads) while a writer changes the set-point as fast as it can.

    python bench/connectors.py [--quick]

Last line: one JSON object with `modbus_ratio` (goal >= 0.7), `opcua_notifications_per_s`
and `opcua_ratio` (goal >= 0.5).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from asyncua import Client, ua  # noqa: E402
from pymodbus.client import AsyncModbusTcpClient  # noqa: E402

from connectors.client import ClientOptions, EquipmentClient  # noqa: E402
from connectors.runtime import shutdown_runtime  # noqa: E402
from connectors.simulator.plant import free_port  # noqa: E402
from connectors.subscriptions import SourceGate, TagSubscription  # noqa: E402
from connectors.tags import load_definition_file  # noqa: E402

SETPOINT_NODE = "ns=2;s=FBD01.InletTemperatureSetpoint"


def start_simulator() -> tuple[subprocess.Popen[str], int, str]:
    modbus, opcua = free_port(), free_port()
    process = subprocess.Popen([sys.executable, "-m", "cli", "simulate", "--modbus-port", str(modbus),
                                "--opcua-port", str(opcua)], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    ready = json.loads(process.stdout.readline())
    return process, modbus, ready["opcua"]


# ---------------------------------------------------------------- Modbus
class BareModbus:
    """A bare pymodbus client on an event loop in the calling thread (no facade, no registry)."""

    def __init__(self, port: int) -> None:
        self.loop = asyncio.new_event_loop()

        async def connect() -> AsyncModbusTcpClient:
            client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=3, retries=0, reconnect_delay=0)
            await client.connect()
            return client
        self.client = self.loop.run_until_complete(connect())

    def run(self, seconds: float) -> tuple[int, float]:
        async def run() -> tuple[int, float]:
            client = self.client
            count, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                response = await client.read_input_registers(0, count=2, device_id=2)
                client.convert_from_registers(response.registers, client.DATATYPE.FLOAT32, word_order="little")
                count += 1
            return count, time.perf_counter() - start
        return self.loop.run_until_complete(run())

    def close(self) -> None:
        self.client.close()
        self.loop.close()


def our_modbus(client: EquipmentClient, tag: object, seconds: float) -> tuple[int, float]:
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        client.read(tag)  # type: ignore[arg-type]
        count += 1
    return count, time.perf_counter() - start


def modbus_rates(port: int, client: EquipmentClient, tag: object, seconds: float) -> tuple[float, float, float]:
    """Alternate short phases of both sides so that background load hits them alike.

    Returns the two overall rates and the median of the per-pair ratios (robust to load
    bursts on a shared machine).
    """
    import statistics

    bare = BareModbus(port)
    client.read(tag)  # type: ignore[arg-type]  # connect
    totals = {"bare": [0, 0.0], "ours": [0, 0.0]}
    ratios = []
    phase = 0.1
    for index in range(max(1, int(seconds / phase / 2))):
        pair = {}
        order = ("bare", "ours") if index % 2 == 0 else ("ours", "bare")
        for name in order:
            count, elapsed = bare.run(phase) if name == "bare" else our_modbus(client, tag, phase)
            totals[name][0] += count
            totals[name][1] += elapsed
            pair[name] = count / elapsed
        if pair["bare"]:
            ratios.append(pair["ours"] / pair["bare"])
    bare.close()
    return (totals["bare"][0] / totals["bare"][1], totals["ours"][0] / totals["ours"][1],
            statistics.median(ratios))


# ---------------------------------------------------------------- OPC UA
class Writer:
    """Changes the set-point as fast as the server takes it, on its own loop thread."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.stop = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        async with Client(self.endpoint, timeout=5) as client:
            node = client.get_node(SETPOINT_NODE)
            value = 40.0
            while not self.stop.is_set():
                value = 40.0 if value >= 79.0 else value + 0.01
                await node.write_value(ua.DataValue(ua.Variant(value, ua.VariantType.Double)))

    def __enter__(self) -> "Writer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


class BareSubscription:
    """A bare asyncua subscription whose handler only counts, on its own loop thread."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.count = 0
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def datachange_notification(self, node: object, val: object, data: object) -> None:
        self.count += 1

    async def _run(self) -> None:
        async with Client(self.endpoint, timeout=5) as client:
            sub = await client.create_subscription(10, self)
            await sub.subscribe_data_change([client.get_node(SETPOINT_NODE)], queuesize=1000)
            self.ready.set()
            while not self.stop.is_set():
                await asyncio.sleep(0.05)
            await sub.delete()

    def __enter__(self) -> "BareSubscription":
        self.thread.start()
        self.ready.wait(timeout=30)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


def opcua_rates(client: EquipmentClient, tag: object, tags: list[object], seconds: float) -> tuple[float, float]:
    """Both subscriptions watch the same node at the same time while the writer changes it."""
    handled = [0]

    def on_reading(reading: object) -> None:
        handled[0] += 1

    endpoint = tag.endpoint  # type: ignore[attr-defined]
    sub = TagSubscription(client, [tag], SourceGate(tags, 1), period_ms=10, on_reading=on_reading).open()  # type: ignore[list-item]
    with BareSubscription(endpoint) as bare:
        with Writer(endpoint):
            time.sleep(0.5)
            ours0, bare0, start = handled[0], bare.count, time.perf_counter()
            time.sleep(seconds)
            elapsed = time.perf_counter() - start
            ours_n, bare_n = handled[0] - ours0, bare.count - bare0
    sub.close()
    return bare_n / elapsed, ours_n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short phases (the whole run within a minute)")
    args = parser.parse_args()
    seconds = 3.0 if args.quick else 10.0
    process, modbus_port, opcua_endpoint = start_simulator()
    try:
        definitions, _ = load_definition_file(ROOT / "connectors" / "plant_tags.yaml", {
            "plant-modbus": f"modbus://127.0.0.1:{modbus_port}", "plant-opcua": opcua_endpoint})
        tags = {t.name: t for t in definitions}
        client = EquipmentClient(ClientOptions(timeout=3.0))
        bare_modbus_rate, our_modbus_rate, modbus_ratio = modbus_rates(modbus_port, client,
                                                                       tags["FBD-01.inlet_temp"], seconds * 2)
        bare_o, ours_o = opcua_rates(client, tags["FBD-01.ua.inlet_temp_sp"], definitions, seconds)
        shutdown_runtime()
    finally:
        process.terminate()
        process.wait(timeout=20)
    result = {
        "modbus_reads_per_s_bare": round(bare_modbus_rate, 1),
        "modbus_reads_per_s": round(our_modbus_rate, 1),
        "modbus_ratio": round(modbus_ratio, 3),  # median of alternating 0.1 s phase pairs
        "modbus_ratio_overall": round(our_modbus_rate / bare_modbus_rate, 3),
        "opcua_notifications_per_s_bare": round(bare_o, 1),
        "opcua_notifications_per_s": round(ours_o, 1),
        "opcua_ratio": round(ours_o / bare_o, 3) if bare_o else None,
        "quick": args.quick,
    }
    print(f"Modbus reads/s: bare {bare_modbus_rate:.0f}, ours {our_modbus_rate:.0f}; "
          f"OPC UA notifications/s: bare {bare_o:.0f}, ours {ours_o:.0f}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
