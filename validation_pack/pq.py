"""Performance qualification: a declared load of a process scenario against the simulated plant.

A scenario is pluggable: the process library registers its scenarios (`register_scenario`,
called from bpmn/glue.py), today the demo processes, the batch record once it lands. A
scenario prepares a fresh PQ instance (users, approved definitions, approved tags: not
measured) and runs one batch (measured). The runner starts the plant simulator on free
local ports, runs the declared number of batches with the declared concurrency, records
throughput, step latencies, errors and, at the end, verifies the whole audit trail.

    result = run_pq(out, settings, scenario="batch_record", quick=True)   # 2 batch records (CI)
    result = run_pq(out, settings, scenario="batch_record")       # the full load (by hand)
"""
from __future__ import annotations

import contextlib
import contextvars
import json
import statistics
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from core import clock
from core.config import Settings, load_settings
from validation_pack.oq import ResultsInvalid, ValidationError, check_oq_database

RESULTS = "pq.json"


@dataclass
class BatchResult:
    batch: str
    path: str = ""
    ok: bool = False
    steps: int = 0
    signatures: int = 0
    equipment_reads: int = 0
    wall_s: float = 0.0
    step_ms: list[float] = field(default_factory=list)
    error: str = ""


@dataclass(frozen=True)
class Load:
    batches: int
    concurrency: int


class Scenario(Protocol):
    name: str
    description: str
    full_load: Load
    quick_load: Load
    acceptance: str
    needs_opcua: bool

    def setup(self, db: Any, settings: Settings, load: Load) -> None: ...

    def run_batch(self, db: Any, settings: Settings, index: int, worker: int) -> BatchResult: ...


_SCENARIOS: dict[str, Callable[[], Scenario]] = {}


def register_scenario(name: str, factory: Callable[[], Scenario]) -> None:
    _SCENARIOS[name] = factory


def scenarios() -> dict[str, Callable[[], Scenario]]:
    return dict(_SCENARIOS)


class _Stopper:
    def __init__(self, plant: Any) -> None:
        self.plant = plant

    def close(self) -> None:
        self.plant.stop()


def _free_port() -> int:
    from core.ports import free_port

    return free_port()


def run_pq(out: Path, settings: Settings, *, scenario: str = "batch_record", quick: bool = False, batches: int | None = None,
           concurrency: int | None = None, database_url: str | None = None,
           progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Run the PQ into `out` (a fresh instance folder inside it); returns and writes pq.json."""
    from audit.verify import verify_trail
    from connectors.simulator.plant import PlantSimulator
    from store.db import Database
    from store.migrate import upgrade

    if scenario not in _SCENARIOS:
        raise ValidationError(f"unknown PQ scenario {scenario!r}: registered are {sorted(_SCENARIOS) or 'none'} "
                              "(the process library registers them; is bpmn/ installed?)")
    chosen = _SCENARIOS[scenario]()
    declared = chosen.quick_load if quick else chosen.full_load
    load = Load(batches or declared.batches, concurrency or declared.concurrency)
    if load.batches < 1 or load.concurrency < 1:
        raise ValidationError("a PQ load needs at least one batch and a concurrency of at least one")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise ValidationError(f"the PQ output folder {out} is not empty: give a new folder")
    instance = out / "instance"
    instance.mkdir()
    url = database_url or f"sqlite:///{instance / 'pq.sqlite3'}"
    if database_url:
        check_oq_database(database_url, settings)
    modbus_port = _free_port()
    opcua_port = _free_port() if getattr(chosen, "needs_opcua", True) else None
    pq_settings = load_settings({"instance_path": str(instance), "database_url": url,
                                 "site_timezone": settings.site_timezone, "modbus_port": modbus_port,
                                 "opcua_port": opcua_port or settings.opcua_port, "modbus_host": "127.0.0.1"},
                                environ={})
    upgrade(url)
    db = Database(url)
    result: dict[str, Any] = {"scenario": scenario, "scenario_description": chosen.description, "quick": quick,
                              "batches": load.batches, "concurrency": load.concurrency,
                              "database": url.split("@")[-1] if url.startswith("postgresql") else "SQLite (fresh file)",
                              "plant": f"plant simulator: Modbus TCP 127.0.0.1:{modbus_port}"
                                       + (f", OPC UA opc.tcp://127.0.0.1:{opcua_port}" if opcua_port else ""),
                              "acceptance": chosen.acceptance}
    plant = PlantSimulator(host="127.0.0.1", modbus_port=modbus_port, opcua_port=opcua_port)
    try:
        plant.start()
    except (TimeoutError, OSError) as exc:
        db.dispose()
        raise ValidationError(f"the plant simulator did not start on 127.0.0.1:{modbus_port} "
                              f"({type(exc).__name__}: {exc}): the PQ needs it; is the machine overloaded?") from exc
    try:
        with contextlib.closing(_Stopper(plant)):
            chosen.setup(db, pq_settings, load)
            result["started_at"] = clock.isoformat(clock.now())
            done = [0]
            lock = threading.Lock()

            def one(index: int, worker: int) -> BatchResult:
                started = time.perf_counter()
                try:
                    batch = chosen.run_batch(db, pq_settings, index, worker)
                except Exception as exc:  # a failing batch is a PQ result, recorded with its cause
                    batch = BatchResult(f"B{index + 1:03d}", error=f"{type(exc).__name__}: {exc}",
                                        path="".join(traceback.format_exception_only(exc)).strip()[:200])
                batch.wall_s = time.perf_counter() - started
                with lock:
                    done[0] += 1
                    if progress:
                        progress(done[0], load.batches)
                return batch

            def worker_run(worker: int) -> list[BatchResult]:
                # a worker is one terminal crew: it runs its batches one after the other
                return [one(index, worker) for index in range(worker, load.batches, load.concurrency)]

            wall = time.perf_counter()
            with ThreadPoolExecutor(max_workers=load.concurrency) as pool:
                # each crew's thread runs in a copy of this context: the engine runtime the caller
                # installed (engine.runtime.using) reaches the batches
                caller = contextvars.copy_context()
                per_worker = list(pool.map(lambda w: caller.copy().run(worker_run, w), range(load.concurrency)))
            batch_results = sorted((b for results in per_worker for b in results), key=lambda b: b.batch)
            wall_s = time.perf_counter() - wall
            result["finished_at"] = clock.isoformat(clock.now())
        try:
            report = verify_trail(db, pq_settings)
            audit = {"ok": True, "detail": report.summary() if hasattr(report, "summary") else str(report)}
        except Exception as exc:  # the verification's failure is the finding
            audit = {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}
    finally:
        db.dispose()
    latencies = [ms for b in batch_results for ms in b.step_ms]
    steps = sum(b.steps for b in batch_results)
    completed = sum(1 for b in batch_results if b.ok)
    errors = [f"{b.batch}: {b.error}" for b in batch_results if b.error]
    result["result"] = {
        "wall_s": wall_s, "completed": completed, "steps": steps,
        "signatures": sum(b.signatures for b in batch_results),
        "equipment_reads": sum(b.equipment_reads for b in batch_results),
        "batches_per_minute": completed / wall_s * 60 if wall_s else 0.0,
        "steps_per_second": steps / wall_s if wall_s else 0.0,
        "step_ms_p50": statistics.median(latencies) if latencies else 0.0,
        "step_ms_p95": (statistics.quantiles(latencies, n=20)[-1] if len(latencies) >= 2 else
                        (latencies[0] if latencies else 0.0)),
        "errors": errors,
    }
    result["batch_results"] = [{k: v for k, v in vars(b).items() if k != "step_ms"} for b in batch_results]
    result["audit_verification"] = audit
    result["passed"] = completed == load.batches and not errors and audit["ok"]
    (out / RESULTS).write_text(json.dumps(result, indent=1, sort_keys=True, ensure_ascii=False), encoding="utf-8")
    return result


def load_pq(folder: Path) -> dict[str, Any]:
    path = Path(folder) / RESULTS
    if not path.exists():
        raise ResultsInvalid(f"{folder} holds no PQ run ({RESULTS} missing): run `gmp validation-pack pq` first")
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except ValueError as exc:
        raise ResultsInvalid(f"{path}: damaged: {exc}") from exc
