"""Benchmark: whole batches through the service layer against the plant simulator, 1 and 8 at once,
on SQLite and PostgreSQL; and the executed-record PDF against WeasyPrint rendering a plain table.

What is measured
- A batch is one instance of the batch process, run to its end by one operating-system process
  (its own people, each signing in a continuous signing session: TOTP on the first signature,
  password after; real argon2id parameters): every user task completed through
  `engine.tasks.complete_task` with the completer's Part 11 signature (form checked, signed,
  audited, engine stepped), every long-running operator (the signed set-point written over
  Modbus TCP and read back, the drying phase sampled) run by `engine.scheduler.Scheduler`,
  short operators (a scale reading) inside the step. A *step* is one of these units of work
  (the start, each task completion, each scheduler operation).
- `steps_per_s` with 1 batch and with 8 batches at once (8 processes started together), per
  backend; `concurrency_ratio` = aggregate time per step (wall time from the first start to the
  last end over all steps of all batches) at 8 batches divided by the same at 1 batch
  (goal <= 1.5 on PostgreSQL). On a machine with fewer cores than batches, a ratio of 1.0
  means the batches cost what they would one after the other; below 1 they overlap.
- `retried`: steps that met a lock or serialisation conflict and were tried again (up to 8
  times with a growing pause); `refused`: steps that failed for good (a lost batch). After
  the runs: the audit trail verifies and every batch ended `completed` (`nothing_lost`).
- `record_pdf_ratio`: pages per second of the executed-record PDF (GET /records/<id>.pdf in
  process, as a QA reader: the record built, laid out and written as PDF/A-3b with its JSON
  attached) divided by pages per second of WeasyPrint rendering a plain HTML table of the same
  values (task, field, value, unit, source, who, when), for one batch of 2,000 recorded
  values (500 dispensing rows of 4 values), in the same run; `record_pdf_s` is our time.

The batch process is `--process batch_lite` (bench/processes/batch_lite: dispensing rows, a
scale reading, a signed set-point with read-back, a sampled drying phase, an in-process control,
production and QA review). The simulator runs in this process (Modbus TCP on 127.0.0.1).

    python -m bench.batch_record [--quick] [--backends sqlite,postgresql] [--batches 8]

The last line printed is one JSON object.
"""
from __future__ import annotations

import argparse
import dataclasses
import html
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SECRET = "bench-secret-key-0123456789abcdef0123456789"
PASSPHRASE = "bench server key passphrase"
PROCESSES = Path(__file__).resolve().parent / "processes"
PLANT_TAGS = ROOT / "connectors" / "plant_tags.yaml"
LANES = {"operator": "op", "supervisor": "sup", "qa": "qa"}
ROLE_OF = {"op": "operator", "sup": "supervisor", "qa": "qa"}
SET_POINT = 60.0  # every batch writes the same inlet set-point: the read-back holds with batches at once


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def settings_for(url: str, instance: str) -> Any:
    from core.config import load_settings

    return load_settings({"instance_path": instance, "database_url": url, "secret_key": SECRET,
                          "server_key_passphrase": PASSPHRASE}, environ={})


# ------------------------------------------------------------------ the plant
def prepare(url: str, instance: Path, modbus_port: int, workers: int, process: str, kdf_profile: str) -> dict[str, Any]:
    """Migrate, enrol the people of every worker, register the simulator's tags, approve the process."""
    from signatures import kdf

    if kdf_profile == "fast":
        with kdf.unsafe_fast_kdf():
            return _prepare(url, instance, modbus_port, workers, process)
    return _prepare(url, instance, modbus_port, workers, process)


def _prepare(url: str, instance: Path, modbus_port: int, workers: int, process: str) -> dict[str, Any]:
    from connectors import registry
    from engine import definitions
    from engine.ports import SignatureInput, default_services
    from signatures import testing
    from store.db import Database
    from store.migrate import upgrade
    from store.uow import UnitOfWork

    t0 = time.perf_counter()
    upgrade(url)
    settings = settings_for(url, str(instance))
    db = Database(url)
    admin = testing.bootstrap_admin(db, settings)
    engineer = testing.enrolled_user(db, settings, admin, "eng", "Bench Engineer", ["validation"])
    author = testing.enrolled_user(db, settings, admin, "quinn", "Quinn QA", ["qa"])
    approver = testing.enrolled_user(db, settings, admin, "rita", "Rita Reviewer 审核", ["qa"])
    people: dict[str, dict[str, Any]] = {}
    for n in range(workers):
        for prefix, role in ROLE_OF.items():
            person = testing.enrolled_user(db, settings, admin, f"{prefix}{n}", f"{role.title()} {n}", [role])
            people[person.user_id] = {"user_id": person.user_id, "password": person.password,
                                      "totp_secret": person.totp_secret, "name": person.printed_name}
    with UnitOfWork(db, engineer.actor) as uow:
        number = registry.import_revision(uow, PLANT_TAGS.read_bytes(), "plant_tags.yaml", reason="bench plant",
                                          endpoint_overrides={"plant-modbus": f"modbus://127.0.0.1:{modbus_port}",
                                                              "plant-opcua": "opc.tcp://127.0.0.1:1/none"}).number
        uow.commit()
    with UnitOfWork(db, author.actor) as uow:
        registry.approve_revision(uow, number, credentials=testing.credentials(db, author), settings=settings,
                                  reason="bench plant")
        uow.commit()
    folder = PROCESSES / process
    files = {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    from bpmn.glue import install
    from engine.runtime import using

    with using(install(db, settings)):
        services = default_services(settings)
        with UnitOfWork(db, author.actor) as uow:
            version = definitions.upload(uow, files, reason="bench", services=services)
            uow.commit()
        with UnitOfWork(db, approver.actor) as uow:
            definitions.approve(uow, version.id, SignatureInput("approved", approver.user_id, {
                "password": approver.password, "totp": testing.next_totp(db, approver)}), services=services)
            uow.commit()
    db.dispose()
    log(f"plant ready in {time.perf_counter() - t0:.1f} s ({url.split(':')[0]})")
    return people


# ------------------------------------------------------------------ one batch, in its own process
TASK_DATA = {
    "set_temp": lambda rows, n: {"inlet_temp": SET_POINT},
    "ipc": lambda rows, n: {"lod": 1.2},
    "review": lambda rows, n: {"comment": "Production record reviewed, no remarks."},
    "qa_review": lambda rows, n: {"comment": "Reviewed by exception: none."},
}
MEANINGS = {"dispense": "performed", "set_temp": "performed", "ipc": "performed", "review": "reviewed",
            "qa_review": "approved"}


def dispense_data(rows: int, n: int) -> dict[str, Any]:
    from decimal import Decimal

    return {"materials": [{"material": f"MAT-{i % 17:03d}", "lot": f"L{n:02d}-{i:04d}",
                           "target": Decimal("10.000") + i % 5, "net": Decimal("10.001") + i % 5}
                          for i in range(rows)]}


TASK_DATA["dispense"] = dispense_data


class Step:
    """Runs one unit of work, again on a lock or serialisation conflict."""

    def __init__(self) -> None:
        self.retried = 0
        self.refused = 0
        self.steps = 0

    def run(self, fn: Any) -> Any:
        from sqlalchemy.exc import DBAPIError

        from engine.errors import EngineError

        for attempt in range(8):
            try:
                result = fn()
                self.steps += 1
                return result
            except (DBAPIError, EngineError) as exc:
                text = str(exc).lower()
                conflict = any(word in text for word in ("locked", "could not serialize", "deadlock", "busy",
                                                          "lock", "concurrent"))
                if not conflict or attempt == 7:
                    self.refused += 1
                    raise
                self.retried += 1
                time.sleep(0.02 * (attempt + 1))
        raise AssertionError("unreachable")


def run_batch(url: str, instance: str, index: int, people: dict[str, dict[str, Any]], process: str, rows: int,
              sampling_s: float, ready: Any = None, go: Any = None, results: Any = None) -> dict[str, Any]:
    """Start one batch and drive it to its end; returns its figures (also put on `results`)."""
    from sqlalchemy import select

    from bpmn.glue import install
    from engine import instances
    from engine.models import InstanceTask, ProcessInstance
    from engine.ports import SignatureInput, default_services
    from engine.runtime import using
    from engine.scheduler import Scheduler
    from engine.spiff.workflow import READY
    from engine.tasks import complete_task
    from signatures import testing, totp
    from signatures.models import UserAccount
    from signatures.sessions import create_session
    from store.db import Database
    from store.uow import UnitOfWork

    settings = settings_for(url, instance)
    db = Database(url)
    runtime = install(db, settings)
    mine = {prefix: testing.Person(f"{prefix}{index}", people[f"{prefix}{index}"]["name"],
                                   people[f"{prefix}{index}"]["password"], people[f"{prefix}{index}"]["totp_secret"])
            for prefix in ROLE_OF}
    sessions: dict[str, str] = {}
    with UnitOfWork(db, mine["op"].actor) as uow:
        for person in mine.values():
            sessions[person.user_id] = create_session(uow.session, uow.session.get(UserAccount, person.user_id)).id
        uow.commit()
    signed_once: set[str] = set()
    step = Step()
    if ready is not None:
        ready.put(index)
        go.wait()
    started = time.time()
    error = None
    instance_id = None
    try:
        with using(runtime):
            def start() -> int:
                with UnitOfWork(db, mine["op"].actor) as uow:
                    made = instances.start(uow, process, title=f"Bench batch {index}",
                                           business_key=f"B-BENCH-{index:02d}-{os.getpid()}",
                                           data={"sampling_s": sampling_s}, settings=settings)
                    uow.commit()
                    return made.id

            instance_id = step.run(start)
            while True:
                with db.session() as session:
                    status = session.get(ProcessInstance, instance_id).status
                    ready_tasks = [(r.id, r.bpmn_id, r.lane) for r in session.scalars(select(InstanceTask).where(
                        InstanceTask.instance_id == instance_id, InstanceTask.state == READY,
                        InstanceTask.manual.is_(True), InstanceTask.dropped.is_(False)))]
                if status != "running":
                    break
                if not ready_tasks:
                    report = step.run(lambda: Scheduler(db, settings, name=f"bench-{index}", runtime=runtime).run_once())
                    step.steps += report.operations - 1  # a step per operation the scheduler ran
                    if not report.operations:
                        time.sleep(0.01)  # another batch's worker holds the job: poll again
                    continue
                task_id, bpmn_id, lane = ready_tasks[0]
                person = mine[LANES[lane]]
                creds = {"password": person.password}
                if person.user_id not in signed_once:
                    with db.session() as session:
                        last = session.get(UserAccount, person.user_id).totp_last_step or 0
                    creds["totp"] = totp.code_at_step(person.totp_secret, max(
                        last + 1, totp.current_step(person.totp_secret, time_now())))

                def complete(task_id: str = task_id, bpmn_id: str = bpmn_id, person: Any = person,
                             creds: dict[str, str] = creds) -> None:
                    services = dataclasses.replace(default_services(settings, auth_session=sessions[person.user_id]),
                                                   validate_form=with_provenance(person.user_id))
                    with UnitOfWork(db, person.actor) as uow:
                        complete_task(uow, task_id, TASK_DATA[bpmn_id](rows, index),
                                      [SignatureInput(MEANINGS[bpmn_id], person.user_id, creds)],
                                      services=services, settings=settings)
                        uow.commit()

                step.run(complete)
                signed_once.add(person.user_id)
        with db.session() as session:
            status = session.get(ProcessInstance, instance_id).status
    except Exception as exc:  # noqa: BLE001 - reported as a lost batch with its reason
        error = f"{type(exc).__name__}: {exc}"
        status = "failed"
    ended = time.time()
    db.dispose()
    figures = {"index": index, "instance_id": instance_id, "status": status, "steps": step.steps,
               "retried": step.retried, "refused": step.refused, "started": started, "ended": ended, "error": error}
    if results is not None:
        results.put(figures)
    return figures


def with_provenance(entered_by: str) -> Any:
    """The form check the web and the API use: the checked data plus the form's record of each value
    (source, unit, limits, who entered it) under "_form", which the executed record shows."""
    from forms import validate_submission

    def validate(schema: Any, ui_schema: Any, data: Any) -> dict[str, Any]:
        checked = validate_submission(schema, ui_schema, data, entered_by=entered_by)
        record = checked.to_record()
        record.pop("data")
        return {**checked.data, "_form": record}
    return validate


def time_now() -> Any:
    from core import clock

    return clock.now()


def concurrent(url: str, instance: Path, people: dict[str, dict[str, Any]], process: str, batches: int,
               rows: int, sampling_s: float) -> dict[str, Any]:
    """`batches` batches in as many processes, released together once all have started."""
    ctx = multiprocessing.get_context("spawn")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    workers = [ctx.Process(target=run_batch, args=(url, str(instance), n, people, process, rows, sampling_s,
                                                   ready, go, results)) for n in range(batches)]
    for worker in workers:
        worker.start()
    for _ in workers:
        ready.get(timeout=300)
    go.set()
    figures = [results.get(timeout=600) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    steps = sum(f["steps"] for f in figures)
    elapsed = max(f["ended"] for f in figures) - min(f["started"] for f in figures)
    return {"batches": batches, "steps": steps, "elapsed_s": round(elapsed, 3),
            "steps_per_s": round(steps / elapsed, 2) if elapsed else None,
            "s_per_step": elapsed / steps if steps else None,
            "retried": sum(f["retried"] for f in figures), "refused": sum(f["refused"] for f in figures),
            "completed": sum(1 for f in figures if f["status"] == "completed"),
            "errors": [f["error"] for f in figures if f["error"]][:3]}


def check_trail(url: str, instance: Path) -> bool:
    from audit.verify import verify_trail
    from store.db import Database

    db = Database(url)
    try:
        verify_trail(db, settings_for(url, str(instance)))
        return True
    except Exception as exc:  # noqa: BLE001
        log(f"audit verify failed: {exc}")
        return False
    finally:
        db.dispose()


# ------------------------------------------------------------------ the record PDF
def record_pdf(url: str, instance: Path, people: dict[str, dict[str, Any]], process: str, rows: int,
               sampling_s: float) -> dict[str, Any]:
    """One batch with `rows` dispensing rows; its record PDF (ours) against a plain WeasyPrint table."""
    from weasyprint import HTML

    from app import create_app
    from bpmn.glue import install
    from signatures.models import UserAccount
    from signatures.sessions import create_session
    from store.db import Database
    from store.uow import UnitOfWork
    from web.current_user import SESSION_KEY

    figures = run_batch(url, str(instance), 0, people, process, rows, sampling_s)
    assert figures["status"] == "completed", figures
    instance_id = figures["instance_id"]
    settings = settings_for(url, str(instance))
    db = Database(url)
    app = create_app({"instance_path": str(instance), "database_url": url, "secret_key": SECRET,
                      "server_key_passphrase": PASSPHRASE}, runtime=install(db, settings))
    from audit.canonical import Actor

    with UnitOfWork(db, Actor("qa0", people["qa0"]["name"])) as uow:
        sid = create_session(uow.session, uow.session.get(UserAccount, "qa0")).id
        uow.commit()
    client = app.test_client()
    with client.session_transaction() as cookie:
        cookie[SESSION_KEY] = sid
    record = json.loads(client.get(f"/records/{instance_id}.json").get_data())
    values = [(t["name"], v["field"], v["value"], v.get("unit") or "", v.get("source") or "", v.get("entered_by") or "",
               v.get("entered_at") or "") for t in record["tasks"] for v in t["values"]]
    client.get(f"/records/{instance_id}.pdf")  # warm: templates compiled, fonts loaded
    started = time.perf_counter()
    response = client.get(f"/records/{instance_id}.pdf")
    ours_s = time.perf_counter() - started
    assert response.status_code == 200, response.status_code
    ours_pages = _pages(response.data)
    started = time.perf_counter()
    cells = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in values)
    plain = HTML(string=f"<html><body><table>{cells}</table></body></html>").write_pdf()
    plain_s = time.perf_counter() - started
    plain_pages = _pages(plain)
    app.extensions["gmp.db"].dispose()
    db.dispose()
    ours_rate, plain_rate = ours_pages / ours_s, plain_pages / plain_s
    return {"recorded_values": len(values), "record_pdf_s": round(ours_s, 2), "record_pdf_pages": ours_pages,
            "record_pdf_bytes": len(response.data), "plain_table_s": round(plain_s, 2), "plain_table_pages": plain_pages,
            "record_pdf_ratio": round(ours_rate / plain_rate, 2)}


def _pages(pdf: bytes) -> int:
    from io import BytesIO

    from pyhanko.pdf_utils.reader import PdfFileReader

    return int(PdfFileReader(BytesIO(pdf), strict=False).root["/Pages"]["/Count"])


# ------------------------------------------------------------------ main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="within a minute: small batches, short sampling")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--batches", type=int, default=8, help="batches at once (default 8)")
    parser.add_argument("--process", default="batch_lite")
    parser.add_argument("--rows", type=int, default=None, help="dispensing rows per batch")
    parser.add_argument("--values", type=int, default=None,
                        help="recorded values of the record-PDF batch (default 2,000; 400 with --quick)")
    parser.add_argument("--kdf", choices=("production", "fast"), default=None,
                        help="password hashing of the people (default: production; fast with --quick, so that a "
                             "step costs the engine and the database, not argon2id on a small machine)")
    args = parser.parse_args()
    args.kdf = args.kdf or ("fast" if args.quick else "production")
    args.values = args.values or (400 if args.quick else 2000)
    rows = args.rows or (4 if args.quick else 20)
    sampling_s = 0.1 if args.quick else 1.0
    started = time.perf_counter()
    from connectors.simulator.plant import PlantSimulator, free_port

    sim = PlantSimulator(modbus_port=free_port(), opcua_port=None, noise=True).start()
    out: dict[str, Any] = {"benchmark": "batch_record", "quick": args.quick, "process": args.process,
                           "rows_per_batch": rows, "sampling_s": sampling_s, "batches": args.batches, "kdf": args.kdf,
                           "cpus": os.cpu_count(), "goals": {"concurrency_ratio_postgresql_max": 1.5,
                                                             "record_pdf_ratio_min": 0.5, "lost": 0}}
    pg = None
    try:
        with tempfile.TemporaryDirectory(prefix="gmp-batch-bench-") as folder:
            root = Path(folder)
            for backend in [b for b in args.backends.split(",") if b]:
                if backend == "sqlite":
                    url = f"sqlite:///{root / 'gmp.sqlite3'}"
                else:
                    from tests.support.pgserver import PgServer

                    pg = PgServer().start()
                    pg.admin_execute("CREATE DATABASE gmp_batch_bench")
                    url = pg.url("gmp_batch_bench")
                instance = root / f"instance-{backend}"
                people = prepare(url, instance, sim.modbus_port, args.batches, args.process, args.kdf)
                one = concurrent(url, instance, people, args.process, 1, rows, sampling_s)
                log(f"{backend} 1 batch: {json.dumps(one)}")
                many = concurrent(url, instance, people, args.process, args.batches, rows, sampling_s)
                log(f"{backend} {args.batches} batches: {json.dumps(many)}")
                out[backend] = {
                    "steps_per_s_1": one["steps_per_s"], f"steps_per_s_{args.batches}": many["steps_per_s"],
                    "concurrency_ratio": round(many["s_per_step"] / one["s_per_step"], 2)
                    if one["s_per_step"] and many["s_per_step"] else None,
                    "steps_1": one["steps"], f"steps_{args.batches}": many["steps"],
                    "retried": one["retried"] + many["retried"], "refused": one["refused"] + many["refused"],
                    "lost": (1 - one["completed"]) + (args.batches - many["completed"]),
                    "audit_verify_ok": check_trail(url, instance), "errors": one["errors"] + many["errors"]}
                if backend == "sqlite":
                    out["record"] = record_pdf(url, instance, people, args.process, args.values // 4, sampling_s)
                    log(f"record: {json.dumps(out['record'])}")
                if pg is not None:
                    pg.stop()
                    pg = None
    finally:
        if pg is not None:
            pg.stop()
        sim.stop()
    if "record" in out:
        out["record_pdf_ratio"] = out["record"]["record_pdf_ratio"]
        out["record_pdf_s"] = out["record"]["record_pdf_s"]
    if "postgresql" in out:
        out["concurrency_ratio"] = out["postgresql"]["concurrency_ratio"]
    out["nothing_lost"] = all(out[b]["lost"] == 0 and out[b]["refused"] == 0 and out[b]["audit_verify_ok"]
                              for b in ("sqlite", "postgresql") if b in out)
    out["elapsed_seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
