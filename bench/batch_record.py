"""Benchmark: whole batches of the batch record (bpmn/batch_record, the process the product ships)
through the service layer against the plant simulator, 1 and N at once, on SQLite and PostgreSQL;
and the executed-record PDF against WeasyPrint rendering a plain table of the same values.

What is measured
- A batch is the PQ's batch (bpmn.pq_batch, the validation pack's PQ scenario): ordered from the
  effective master recipe RCP-PARA-500 onto its production line, line clearance verified,
  dispensing of the bill of materials (manual entries with the verifier's signature), signed
  set-points written to the dryer over OPC UA and read back, critical parameters sampled by the
  scheduler, in-process control, yield, production review, QA review by exception, QP release;
  the line's equipment cleaned and released in the logbook. Every user task is completed through
  `engine.tasks.complete_task` with the completer's Part 11 signature (each person signed in once:
  all components for the first signature, the password after). A *step* is one unit of work
  (the order, each task completion, each logbook entry, each scheduler operation).
- Each batch runs in its own operating-system process on its own production line with its own
  crew (bpmn.pq_batch lines: line k has SCALE-0k, GR-0k, FBD-0k; the simulated dryer's tags
  serve every line). The processes sign their crews in, then start together.
- `steps_per_s` with 1 batch and with N batches at once, per backend; `concurrency_ratio` =
  aggregate time per step (wall time from the first start to the last end over all steps of all
  batches) at N batches divided by the same at 1 batch (goal <= 1.5 on PostgreSQL). With fewer
  cores than batches, 1.0 means the batches cost what they would one after the other; below 1
  they overlap (sampling and equipment waits of one batch are another's working time).
- `retried`: steps that met a lock or serialisation conflict and were tried again; `refused`:
  steps that failed for good; `lost`: batches not released. After the runs the audit trail of
  each database verifies (`audit_verify_ok`).
- `record_pdf_ratio`: pages per second of the executed-record PDF (GET /records/<id>.pdf in
  process, as a QA reader: the record built, laid out and written as PDF/A-3b with its JSON
  attached) divided by pages per second of WeasyPrint rendering a plain HTML table of the same
  values (form values and sampled values: task or phase, field or tag, value, unit, source, who,
  when), for one batch with `recorded_values` values (2,000: its critical parameters sampled
  about 1,000 times a phase), in the same run; `record_pdf_s` is our time.

Not measured: the set-up (the demo plant's master data, the lines, the people, the approved
process, as the PQ sets it up) is done once per backend and copied for each run (SQLite: the
backup API; PostgreSQL: CREATE DATABASE ... TEMPLATE). PostgreSQL is a throw-away server from
Debian's binaries (tests.support.pgserver: fsync off). `--quick` keeps what is measured and makes
the rest cheap: fast password hashing (`kdf`), short sampling, a smaller record batch; see the
JSON's `quick`, `kdf`, `batches`, `sampling`, `recorded_values`.

    python bench/batch_record.py [--quick] [--backends sqlite,postgresql] [--batches 8]

The last line printed is one JSON object.
"""
from __future__ import annotations

import argparse
import contextlib
import html
import json
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SECRET = "bench-secret-key-0123456789abcdef0123456789"
PASSPHRASE = "bench server key passphrase"
# imported once by the process that forks the batch processes
PRELOAD = ["bench.batch_record", "bpmn.glue", "bpmn.pq_batch", "bpmn.batch_record.plan", "engine.tasks",
           "engine.scheduler", "engine.instances", "signatures.service", "connectors.service", "store.db",
           "sqlalchemy.dialects.postgresql.psycopg"]
FULL_SAMPLING = {"duration_s": 1, "interval_s": 0.5}
QUICK_SAMPLING = {"duration_s": 0.2, "interval_s": 0.1}
RECORD_INTERVAL_S = 0.01


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def settings_for(url: str, instance: str, plant: dict[str, int]) -> Any:
    from core.config import load_settings

    return load_settings({"instance_path": instance, "database_url": url, "secret_key": SECRET,
                          "server_key_passphrase": PASSPHRASE, "modbus_host": "127.0.0.1",
                          "modbus_port": plant["modbus"], "opcua_port": plant["opcua"]}, environ={})


@contextlib.contextmanager
def kdf_profile(name: str) -> Iterator[None]:
    from signatures import kdf

    if name == "fast":
        with kdf.unsafe_fast_kdf():
            yield
    else:
        yield


# ------------------------------------------------------------------ the plant, set up once per backend
def seed(url: str, instance: Path, plant: dict[str, int], lines: int, sampling: dict[str, float]) -> dict[str, Any]:
    """Migrate and set the plant up as the PQ does, with `lines` production lines; the people."""
    from bpmn.glue import install
    from bpmn.pq_batch import BatchRecordScenario
    from engine.runtime import using
    from store.db import Database
    from store.migrate import upgrade
    from validation_pack.pq import Load

    upgrade(url)
    settings = settings_for(url, str(instance), plant)
    db = Database(url)
    try:
        scenario = BatchRecordScenario(lines, sampling)
        with using(install(db, settings)):
            scenario.setup(db, settings, Load(batches=lines, concurrency=lines))
        return scenario.people
    finally:
        db.dispose()


class Backend:
    """One database server: the seeded database and its copies, one per run."""

    def __init__(self, name: str, root: Path) -> None:
        self.name, self.root, self.pg, self.copies = name, root, None, 0
        root.mkdir(parents=True, exist_ok=True)
        self.instance = root / "instance"
        if name == "postgresql":
            from tests.support.pgserver import PgServer

            self.pg = PgServer().start()
            self.pg.admin_execute("CREATE DATABASE bench_seed")
            self.seed_url = self.pg.url("bench_seed")
        else:
            self.seed_url = f"sqlite:///{root / 'seed.sqlite3'}"

    def copy(self) -> str:
        """A copy of the seeded database (no connection to the seed may be open)."""
        self.copies += 1
        if self.pg is not None:
            name = f"bench_run{self.copies}"
            self.pg.admin_execute(f"CREATE DATABASE {name} TEMPLATE bench_seed")
            return str(self.pg.url(name))
        import sqlite3

        target = self.root / f"run{self.copies}.sqlite3"
        source = sqlite3.connect(str(self.root / "seed.sqlite3"))
        copy = sqlite3.connect(str(target))
        with copy:
            source.backup(copy)
        source.close()
        copy.close()
        return f"sqlite:///{target}"

    def stop(self) -> None:
        if self.pg is not None:
            self.pg.stop()
            self.pg = None


# ------------------------------------------------------------------ one batch, in its own process
def batch_process(url: str, instance: str, plant: dict[str, int], people: dict[str, Any], lines: int,
                  sampling: dict[str, float], kdf: str, index: int, ready: Any, go: Any, results: Any) -> None:
    """Sign the crew of batch `index` in, wait for the start, drive the batch; its figures on `results`."""
    with kdf_profile(kdf):
        _batch_process(url, instance, plant, people, lines, sampling, index, ready, go, results)


def _batch_process(url: str, instance: str, plant: dict[str, int], people: dict[str, Any], lines: int,
                   sampling: dict[str, float], index: int, ready: Any, go: Any, results: Any) -> None:
    from bpmn.glue import install
    from bpmn.pq_batch import BatchRecordScenario
    from engine.runtime import using
    from store.db import Database

    settings = settings_for(url, instance, plant)
    db = Database(url)
    scenario = BatchRecordScenario.for_process(people, lines, sampling)
    error, ok, steps = None, False, 0
    started = ended = time.time()
    try:
        runtime = install(db, settings)
        crew = scenario.crew(index)
        for key in (crew.operator, crew.supervisor, crew.qa, crew.qp):
            scenario.sign_in(db, settings, people[key].user_id)
    except Exception as exc:  # noqa: BLE001 - reported as a lost batch with its reason
        error = f"sign-in: {type(exc).__name__}: {exc}"
    ready.put(index)
    go.wait()
    if error is None:
        started = time.time()
        try:
            with using(runtime):
                result = scenario.run_batch(db, settings, index, index, batch=f"B-BENCH-{index + 1:04d}")
            ok, steps, error = result.ok, result.steps, result.error or None
        except Exception as exc:  # noqa: BLE001
            error = f"{type(exc).__name__}: {exc}"
        ended = time.time()
    db.dispose()
    made = next(iter(scenario.instance_ids.values()), None)
    results.put({"index": index, "ok": ok, "instance_id": made, "steps": steps, "retried": scenario.retried,
                 "refused": scenario.refused, "started": started, "ended": ended, "error": error})


def concurrent(ctx: Any, url: str, instance: Path, plant: dict[str, int], people: dict[str, Any], lines: int,
               batches: int, sampling: dict[str, float], kdf: str) -> dict[str, Any]:
    """`batches` batches in as many processes, started together once every crew has signed in."""
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    workers = [ctx.Process(target=batch_process, args=(url, str(instance), plant, people, lines, sampling, kdf, n,
                                                      ready, go, results)) for n in range(batches)]
    for worker in workers:
        worker.start()
    for _ in workers:
        ready.get(timeout=600)
    go.set()
    figures = [results.get(timeout=1200) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    steps = sum(f["steps"] for f in figures)
    elapsed = max(f["ended"] for f in figures) - min(f["started"] for f in figures)
    return {"batches": batches, "steps": steps, "elapsed_s": round(elapsed, 3),
            "steps_per_s": round(steps / elapsed, 2) if elapsed > 0 and steps else None,
            "s_per_step": elapsed / steps if steps else None,
            "retried": sum(f["retried"] for f in figures), "refused": sum(f["refused"] for f in figures),
            "released": sum(1 for f in figures if f["ok"]), "instance_ids": [f["instance_id"] for f in figures],
            "errors": [f"{f['index']}: {f['error']}" for f in figures if f["error"]][:3]}


def check_trail(url: str, instance: Path, plant: dict[str, int]) -> bool:
    from audit.verify import verify_trail
    from store.db import Database

    db = Database(url)
    try:
        verify_trail(db, settings_for(url, str(instance), plant))
        return True
    except Exception as exc:  # noqa: BLE001
        log(f"audit verify failed: {exc}")
        return False
    finally:
        db.dispose()


# ------------------------------------------------------------------ the record PDF
def record_values(record: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The recorded values of a record, one row each: the forms' values, then every sampled value."""
    rows = [(t["name"], v["field"], v["value"], v.get("unit") or "", v.get("source") or "", v.get("entered_by") or "",
             v.get("entered_at") or "") for t in record["tasks"] for v in t["values"]]
    return rows + [(phase["name"], p["tag"], s["value"], p.get("unit") or "", "equipment", "", s["t"])
                   for phase in record["phases"] for p in phase["parameters"] for s in p["samples"]]


def record_pdf(url: str, instance: Path, plant: dict[str, int], people: dict[str, Any], lines: int,
               values: int, kdf: str, shape_id: int) -> dict[str, Any]:
    """One batch (on line 2, by its crew) whose critical parameters are sampled until it holds about
    `values` recorded values (the forms' values and sampled parameters counted on the record of
    instance `shape_id`, a batch like it); its record PDF (ours) against WeasyPrint rendering a plain
    table of the same values, both after a one-page PDF/A with Chinese text (fonts loaded)."""
    from weasyprint import HTML

    from app import create_app
    from audit.pdf import html_document, render_pdf
    from bpmn.glue import install
    from bpmn.pq_batch import BatchRecordScenario
    from engine.runtime import using
    from store.db import Database
    from web.current_user import SESSION_KEY

    settings = settings_for(url, str(instance), plant)
    db = Database(url)
    runtime = install(db, settings)
    app = create_app({"instance_path": str(instance), "database_url": url, "secret_key": SECRET,
                      "server_key_passphrase": PASSPHRASE, "modbus_port": plant["modbus"],
                      "opcua_port": plant["opcua"]}, runtime=runtime)
    scenario = BatchRecordScenario.for_process(people, lines)
    client = app.test_client()
    with client.session_transaction() as cookie:  # the QA reviewer of line 2 reads the records
        cookie[SESSION_KEY] = scenario.sign_in(db, settings, people[scenario.crew(1).qa].user_id).id
    shape = json.loads(client.get(f"/records/{shape_id}.json").get_data())
    form_values = len(record_values(shape)) - sum(p["count"] for phase in shape["phases"] for p in phase["parameters"])
    per_round = sum(len(phase["parameters"]) for phase in shape["phases"]) or 1
    rounds = max(2, -(-(values - form_values) // per_round))
    scenario.sampling = {"duration_s": round((rounds - 1) * RECORD_INTERVAL_S, 3), "interval_s": RECORD_INTERVAL_S}
    started = time.perf_counter()
    with using(runtime), kdf_profile(kdf):
        result = scenario.run_batch(db, settings, 1, 1, batch="B-BENCH-RECORD")
    batch_s = time.perf_counter() - started
    assert result.ok, (result.error, result.path)
    instance_id = scenario.instance_ids["B-BENCH-RECORD"]
    record = json.loads(client.get(f"/records/{instance_id}.json").get_data())
    rows = record_values(record)
    started = time.perf_counter()
    render_pdf(html_document("warm", "<p>预热 warm-up</p>", lang="zh-CN"))  # fonts loaded, WeasyPrint imported
    warm_s = time.perf_counter() - started
    started = time.perf_counter()
    response = client.get(f"/records/{instance_id}.pdf")
    ours_s = time.perf_counter() - started
    assert response.status_code == 200, response.status_code
    ours_pages = _pages(response.data)
    started = time.perf_counter()
    cells = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    plain = HTML(string=f"<html><body><table>{cells}</table></body></html>").write_pdf()
    plain_s = time.perf_counter() - started
    plain_pages = _pages(plain)
    app.extensions["gmp.db"].dispose()
    db.dispose()
    ours_rate, plain_rate = ours_pages / ours_s, plain_pages / plain_s
    return {"recorded_values": len(rows), "form_values": form_values, "sampled_rounds": rounds,
            "record_pdf_s": round(ours_s, 2), "record_pdf_pages": ours_pages, "record_pdf_bytes": len(response.data),
            "plain_table_s": round(plain_s, 2), "plain_table_pages": plain_pages,
            "record_pdf_ratio": round(ours_rate / plain_rate, 2), "batch_s": round(batch_s, 1),
            "warm_pdf_s": round(warm_s, 1)}


def _pages(pdf: bytes) -> int:
    from io import BytesIO

    from pyhanko.pdf_utils.reader import PdfFileReader

    return int(PdfFileReader(BytesIO(pdf), strict=False).root["/Pages"]["/Count"])


# ------------------------------------------------------------------ main
def seed_process(name: str, url: str, instance: str, plant: dict[str, int], lines: int, sampling: dict[str, float],
                 kdf: str, results: Any) -> None:
    """`seed` in its own process (the backends are set up side by side): (name, people, seconds) or the error."""
    started = time.perf_counter()
    try:
        with kdf_profile(kdf):
            people = seed(url, Path(instance), plant, lines, sampling)
        results.put((name, people, round(time.perf_counter() - started, 1)))
    except Exception as exc:  # noqa: BLE001 - reported by the parent
        import traceback

        results.put((name, None, "".join(traceback.format_exception(exc))[-3000:]))


def run_backend(backend: Backend, ctx: Any, plant: dict[str, int], people: dict[str, Any], args: Any,
                sampling: dict[str, float], with_record: bool) -> dict[str, Any]:
    """1 batch, then N at once, each on a copy of the seeded database; the record PDF after the 1 batch."""
    name, instance = backend.name, backend.instance
    runs, urls = {}, {}
    for batches in (1, args.batches):
        urls[batches] = backend.copy()
        runs[batches] = concurrent(ctx, urls[batches], instance, plant, people, args.batches, batches, sampling,
                                   args.kdf)
        runs[batches]["audit_verify_ok"] = check_trail(urls[batches], instance, plant)
        log(f"{name} {batches} batch(es): {json.dumps(runs[batches])}")
    one, many = runs[1], runs[args.batches]
    out: dict[str, Any] = {
        "steps_per_s_1": one["steps_per_s"], f"steps_per_s_{args.batches}": many["steps_per_s"],
        "concurrency_ratio": round(many["s_per_step"] / one["s_per_step"], 2)
        if one["s_per_step"] and many["s_per_step"] else None,
        "steps_1": one["steps"], f"steps_{args.batches}": many["steps"],
        "elapsed_s_1": one["elapsed_s"], f"elapsed_s_{args.batches}": many["elapsed_s"],
        "retried": one["retried"] + many["retried"], "refused": one["refused"] + many["refused"],
        "lost": (1 - one["released"]) + (args.batches - many["released"]),
        "audit_verify_ok": one["audit_verify_ok"] and many["audit_verify_ok"], "errors": one["errors"] + many["errors"]}
    if with_record and one["instance_ids"][0] is not None:
        started = time.perf_counter()
        out["record"] = record_pdf(urls[1], instance, plant, people, args.batches, args.values, args.kdf,
                                   one["instance_ids"][0])
        log(f"{name} record ({time.perf_counter() - started:.1f} s): {json.dumps(out['record'])}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="within a minute: fast password hashing, short sampling, a smaller record batch")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--batches", type=int, default=None, help="batches at once (default 8; 4 with --quick)")
    parser.add_argument("--values", type=int, default=None,
                        help="recorded values of the record-PDF batch (default 2,000; 300 with --quick)")
    parser.add_argument("--kdf", choices=("production", "fast"), default=None,
                        help="password hashing of the people (default: production; fast with --quick, so that a "
                             "step costs the engine and the database, not argon2id on a small machine)")
    args = parser.parse_args()
    args.kdf = args.kdf or ("fast" if args.quick else "production")
    args.values = args.values or (300 if args.quick else 2000)
    args.batches = args.batches or (4 if args.quick else 8)
    if args.batches < 2:
        parser.error("--batches: at least 2 (the concurrency is compared with 1 batch)")
    sampling = QUICK_SAMPLING if args.quick else FULL_SAMPLING
    backends = [b for b in args.backends.split(",") if b]
    if not backends or set(backends) - {"sqlite", "postgresql"}:
        parser.error("--backends: sqlite, postgresql or both, comma-separated")
    started = time.perf_counter()
    load_start = os.getloadavg()
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    from multiprocessing import forkserver

    forkserver.ensure_running()  # the batch processes' imports, while the plant and the servers start
    from connectors.simulator.plant import PlantSimulator, free_port

    plant = {"modbus": free_port(), "opcua": free_port()}
    sim = None
    out: dict[str, Any] = {"benchmark": "batch_record", "process": "batch_record", "quick": args.quick,
                           "batches": args.batches, "sampling": sampling, "kdf": args.kdf, "cpus": os.cpu_count(),
                           "load_avg_start": [round(x, 2) for x in load_start],
                           "goals": {"concurrency_ratio_postgresql_max": 1.5, "record_pdf_ratio_min": 0.5, "lost": 0}}
    servers: list[Backend] = []
    try:
        with tempfile.TemporaryDirectory(prefix="gmp-batch-bench-") as folder:
            with ThreadPoolExecutor() as pool:
                starting = [pool.submit(Backend, name, Path(folder) / name) for name in backends]
                sim = PlantSimulator(host="127.0.0.1", modbus_port=plant["modbus"], opcua_port=plant["opcua"]).start()
                failed = None
                for future in starting:
                    try:
                        servers.append(future.result())
                    except Exception as exc:  # noqa: BLE001 - raised once every started server is kept to stop
                        failed = exc
                if failed is not None:
                    raise failed
            seeded = ctx.Queue()
            seeders = [ctx.Process(target=seed_process, args=(b.name, b.seed_url, str(b.instance), plant,
                                                              args.batches, sampling, args.kdf, seeded))
                       for b in servers]
            for seeder in seeders:
                seeder.start()
            people, setup_s = {}, {}
            for _ in seeders:
                name, found, seconds = seeded.get(timeout=900)
                if found is None:
                    raise RuntimeError(f"the plant set-up on {name} failed:\n{seconds}")
                people[name], setup_s[name] = found, seconds
            for seeder in seeders:
                seeder.join(timeout=60)
            log(f"plants set up side by side: {setup_s} s ({time.perf_counter() - started:.1f} s since the start)")
            for number, backend in enumerate(servers):
                out[backend.name] = run_backend(backend, ctx, plant, people[backend.name], args, sampling,
                                                with_record=number == 0)
                out[backend.name]["setup_s"] = setup_s[backend.name]
    finally:
        for backend in servers:
            backend.stop()
        if sim is not None:
            sim.stop()
    first = backends[0] if backends else None
    if first and "record" in out[first]:
        record = out[first].pop("record")
        out["record"] = {"backend": first, **record}
        out["record_pdf_ratio"] = record["record_pdf_ratio"]
        out["record_pdf_s"] = record["record_pdf_s"]
        out["recorded_values"] = record["recorded_values"]
    out["steps_per_s"] = {b: {"1": out[b]["steps_per_s_1"], str(args.batches): out[b][f"steps_per_s_{args.batches}"]}
                          for b in backends}
    if "postgresql" in out:
        out["concurrency_ratio"] = out["postgresql"]["concurrency_ratio"]
    out["retried"] = sum(out[b]["retried"] for b in backends)
    out["refused"] = sum(out[b]["refused"] for b in backends)
    out["lost"] = sum(out[b]["lost"] for b in backends)
    out["nothing_lost"] = all(out[b]["lost"] == 0 and out[b]["refused"] == 0 and out[b]["audit_verify_ok"]
                              for b in backends)
    out["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    out["elapsed_seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
