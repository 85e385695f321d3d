"""Load test: simulated operators sign in and complete signed tasks over HTTP against the
production server (`gmp serve`: gunicorn), on SQLite and PostgreSQL, 127.0.0.1 only.

What is measured
- the central act: an operator opens a ready task (GET /tasks/<id>) and completes it
  (POST /tasks/<id>: form data checked, the task signed by the completer with the password
  in a continuous signing session, countersigned, audited, the engine stepped), as the
  browser does it; real argon2id parameters (production profile) for every signature;
- each operator signs in once (user ID, password, TOTP) and signs its first task with the
  TOTP code too; later tasks in the session with the password only;
- per configuration (backend, web worker processes, concurrent clients): completions per
  second over the window, p50/p95/max latency of the completion POST, errors;
- worker scaling on PostgreSQL: 1, 2 and 4 worker processes (1 thread each) with 4
  clients; `scale_ratio` = completions/s with 2 workers over 1 (goal >= 1.5);
- client scaling on both backends with 2 workers: 1 and 4 clients; `clients_ratio` =
  completions/s at 4 clients over 1 (goal >= 1.6), `p95_over_p50` at 4 clients (goal <= 2);
- afterwards (nothing lost): `gmp audit verify` holds on each database, and every
  completion a client saw answered 200 is in the trail as task.completed with its
  signature (signature.created) — and nothing else completed;
- the inbox page (paginated, 50 a page) with the remaining ready tasks: latency and size.

Windows are bounded in time (--seconds) and count (the ready tasks prepared). The server
runs with `GMP_WEB_THREADS=1` (sync workers) so that a worker is one request at a time.
PostgreSQL is a throw-away server from Debian's binaries (fsync on).

Last line: one JSON object.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pyotp  # noqa: E402

SECRET = "bench-secret-key-0123456789abcdef0123456789"
PASSPHRASE = "bench server key passphrase"
PROCESS = Path(__file__).resolve().parent / "processes" / "one_task"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


# ------------------------------------------------------------------ the plant
@dataclass
class Plant:
    backend: str
    settings: Any
    db: Any
    operators: list[Any]
    tasks: list[str]
    sessions: dict[str, "Operator"] = field(default_factory=dict)
    completed: list[str] = field(default_factory=list)  # every completion answered 200, warm-ups included


def prepare(backend: str, url: str, instance: Path, operators: int, tasks: int, *, cheap_kdf: bool = False) -> Plant:
    """Migrate, enrol people (production argon2id), approve the one-task process, start `tasks` instances.

    `cheap_kdf`: enrol with the unsafe test profile (the suite's correctness check; never for figures)."""
    from signatures import kdf

    if cheap_kdf:
        with kdf.unsafe_fast_kdf():
            return _clocked(backend, url, instance, operators, tasks)
    assert kdf.current() == kdf.PRODUCTION  # the figures need the production parameters
    return _clocked(backend, url, instance, operators, tasks)


def _clocked(backend: str, url: str, instance: Path, operators: int, tasks: int) -> Plant:
    from core import clock

    # The plant is set up "half an hour ago": enrolment uses TOTP steps of the past, so each operator
    # signs in with the current step's code and signs its first task with the next one (no waiting).
    real = clock.get_clock()
    clock.set_clock(lambda: real() - timedelta(minutes=30))
    try:
        return _prepare(backend, url, instance, operators, tasks)
    finally:
        clock.set_clock(real)


def _prepare(backend: str, url: str, instance: Path, operators: int, tasks: int) -> Plant:
    from core.config import load_settings
    from signatures import testing
    from store.db import Database
    from store.migrate import upgrade

    t0 = time.perf_counter()
    upgrade(url)
    settings = load_settings({"instance_path": str(instance), "database_url": url, "secret_key": SECRET,
                              "server_key_passphrase": PASSPHRASE}, environ={})
    db = Database(url)
    admin = testing.bootstrap_admin(db, settings)
    author = testing.enrolled_user(db, settings, admin, "quinn", "Quinn QA", ["qa"])
    approver = testing.enrolled_user(db, settings, admin, "rita", "Rita Reviewer", ["qa"])
    people = [testing.enrolled_user(db, settings, admin, f"op{n}", f"Operator {n}", ["operator"])
              for n in range(1, operators + 1)]
    files = {str(p.relative_to(PROCESS)): p.read_bytes() for p in sorted(PROCESS.rglob("*")) if p.is_file()}
    from bpmn.glue import install
    from engine.errors import RuntimeNotInstalled
    from engine.runtime import current_runtime, using

    try:
        runtime = current_runtime()  # a test's runtime
    except RuntimeNotInstalled:
        runtime = install(db, settings)  # as `gmp` commands do
    with using(runtime):
        _definition_and_instances(db, settings, files, author, approver, tasks)
    log(f"{backend}: plant ready in {time.perf_counter() - t0:.1f} s ({tasks} ready tasks)")
    return Plant(backend, settings, db, people, ready_tasks(db))


def _definition_and_instances(db: Any, settings: Any, files: dict[str, bytes], author: Any, approver: Any,
                              tasks: int) -> None:
    from engine import definitions, instances
    from engine.ports import SignatureInput, default_services
    from signatures import testing
    from store.uow import UnitOfWork

    services = default_services(settings)
    with UnitOfWork(db, author.actor) as uow:
        version = definitions.upload(uow, files, reason="load test process", services=services)
        uow.commit()
    with UnitOfWork(db, approver.actor) as uow:
        definitions.approve(uow, version.id, SignatureInput("approved", approver.user_id, {
            "password": approver.password, "totp": testing.next_totp(db, approver)}), services=services)
        uow.commit()
    for start in range(0, tasks, 50):
        with UnitOfWork(db, author.actor) as uow:
            for number in range(start, min(tasks, start + 50)):
                instances.start(uow, "one_task", title=f"Lot L-{number:05d}", settings=settings)
            uow.commit()


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def ready_tasks(db: Any) -> list[str]:
    from SpiffWorkflow.util.task import TaskState
    from sqlalchemy import select

    from engine.models import InstanceTask

    with db.read_session() as session:
        return list(session.execute(select(InstanceTask.id).where(
            InstanceTask.state == int(TaskState.READY), InstanceTask.manual.is_(True),
            InstanceTask.dropped.is_(False)).order_by(InstanceTask.instance_id)).scalars())


# ------------------------------------------------------------------ the server
class Server:
    def __init__(self, plant: Plant, workers: int, port: int) -> None:
        self.plant, self.workers, self.port = plant, workers, port
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("GMP_")}
        self.env.update(GMP_INSTANCE_PATH=plant.settings.instance_path, GMP_DATABASE_URL=plant.settings.database_url,
                        GMP_SECRET_KEY=SECRET, GMP_SERVER_KEY_PASSPHRASE=PASSPHRASE, GMP_WEB_HOST="127.0.0.1",
                        GMP_WEB_PORT=str(port), GMP_WEB_WORKERS=str(workers), GMP_WEB_THREADS="1",
                        GMP_CHECKPOINT_INTERVAL_ENTRIES="1000")
        self.log = Path(plant.settings.instance_path) / f"serve-{workers}.log"

    def __enter__(self) -> "Server":
        with self.log.open("wb") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "cli", "serve"], cwd=ROOT, env=self.env,
                                            stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(self.log.read_text())
            if booted(self.log) >= self.workers and answers(self.port):
                return self
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start:\n" + self.log.read_text())
            time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def booted(log: Path) -> int:
    return log.read_text(errors="replace").count("Booting worker")


def answers(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", "/healthz")
        ok = connection.getresponse().status == 200
        connection.close()
        return ok
    except OSError:
        return False


# ------------------------------------------------------------------ a simulated operator
class Operator:
    """One person at a terminal: a cookie jar and the CSRF token of the session."""

    def __init__(self, person: Any) -> None:
        self.person = person
        self.cookies: dict[str, str] = {}
        self.csrf = ""
        self.signed_once = False
        self.port = 0

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
            for name, value in response.getheaders():
                if name.lower() == "set-cookie":
                    key, _, rest = value.partition("=")
                    self.cookies[key.strip()] = rest.split(";", 1)[0]
            return response.status, text
        finally:
            connection.close()

    def sign_in(self, port: int) -> None:
        self.port = port
        status, page = self.request("GET", "/sign-in")
        self.csrf = CSRF.search(page).group(1)  # type: ignore[union-attr]
        totp = pyotp.TOTP(self.person.totp_secret)
        code = totp.now()  # this step; the first signature uses the next one (both accepted across a step boundary)
        status, page = self.request("POST", "/sign-in", {"csrf_token": self.csrf, "user_id": self.person.user_id,
                                                         "password": self.person.password, "totp": code})
        if status != 302:
            raise RuntimeError(f"sign-in of {self.person.user_id} refused ({status})")
        status, page = self.request("GET", "/tasks/?per_page=1")
        self.csrf = CSRF.search(page).group(1)  # type: ignore[union-attr]

    def complete(self, task_id: str) -> tuple[bool, float]:
        """Open the task and complete it: (completed, latency of the completion POST in seconds)."""
        started = time.perf_counter()
        ok, status, latency = self._complete(task_id)
        return ok, latency if status else time.perf_counter() - started

    def try_complete(self, task_id: str) -> tuple[bool, int]:
        ok, status, _ = self._complete(task_id)
        return ok, status

    def _complete(self, task_id: str) -> tuple[bool, int, float]:
        status, _ = self.request("GET", f"/tasks/{task_id}")
        if status != 200:
            return False, status, 0.0
        form = {"csrf_token": self.csrf, "f:lot": f"L-{task_id[:8]}", "sig_password": self.person.password}
        if not self.signed_once:
            form["sig_totp"] = pyotp.TOTP(self.person.totp_secret).at(time.time() + 30)
        posted = time.perf_counter()
        status, page = self.request("POST", f"/tasks/{task_id}", form)
        latency = time.perf_counter() - posted
        ok = status == 200 and 'data-testid="task-completed"' in page
        if ok:
            self.signed_once = True
        return ok, status, latency


@dataclass
class Window:
    backend: str
    workers: int
    clients: int
    completed: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies)
        p50 = statistics.median(lat) if lat else 0.0
        p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))] if lat else 0.0
        return {"backend": self.backend, "workers": self.workers, "clients": self.clients,
                "completions": len(self.completed), "per_second": round(len(self.completed) / self.seconds, 2),
                "p50_ms": round(p50 * 1000, 1), "p95_ms": round(p95 * 1000, 1),
                "max_ms": round(max(lat) * 1000, 1) if lat else 0.0, "errors": self.errors,
                "p95_over_p50": round(p95 / p50, 2) if p50 else None}


def run_window(plant: Plant, port: int, workers: int, clients: int, seconds: float,
               max_tasks: int | None = None) -> Window:
    """`clients` operators at once, each on its own share of the ready tasks, until the time or the tasks run out."""
    window = Window(plant.backend, workers, clients)
    people = plant.operators[:clients]
    pool = plant.tasks[:max_tasks] if max_tasks is not None else plant.tasks
    queues = [pool[n::clients] for n in range(clients)]
    lock = threading.Lock()
    operators = []
    for person in people:
        operator = plant.sessions.get(person.user_id)
        if operator is None:
            operator = plant.sessions[person.user_id] = Operator(person)
            operator.sign_in(port)
        operator.port = port
        operators.append(operator)
    used: list[str] = []

    def work(operator: Operator, queue: list[str]) -> None:
        for task_id in queue:
            if time.monotonic() >= stop_at:
                return
            try:
                ok, latency = operator.complete(task_id)
            except OSError:
                ok, latency = False, 0.0
            with lock:
                used.append(task_id)
                if ok:
                    window.completed.append(task_id)
                    window.latencies.append(latency)
                else:
                    window.errors += 1

    threads = [threading.Thread(target=work, args=(op, q)) for op, q in zip(operators, queues)]
    stop_at = time.monotonic() + seconds  # the window starts once everyone is signed in
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    window.seconds = time.perf_counter() - started
    done = set(used)
    plant.tasks = [t for t in plant.tasks if t not in done]
    plant.completed.extend(window.completed)
    return window


def check_trail(plant: Plant, completed: list[str]) -> dict[str, Any]:
    """`gmp audit verify` on the database, and every completion (and only those) in the trail, signed."""
    from sqlalchemy import select

    from audit.models import AuditEntry
    from signatures.models import Signature

    env = {k: v for k, v in os.environ.items() if not k.startswith("GMP_")}
    env.update(GMP_INSTANCE_PATH=plant.settings.instance_path, GMP_DATABASE_URL=plant.settings.database_url,
               GMP_SECRET_KEY=SECRET, GMP_SERVER_KEY_PASSPHRASE=PASSPHRASE)
    verify = subprocess.run([sys.executable, "-m", "cli", "audit", "verify"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=600)
    with plant.db.read_session() as session:
        in_trail = set(session.execute(select(AuditEntry.object_id).where(AuditEntry.action == "task.completed"))
                       .scalars())
        signed = set(session.execute(select(Signature.record_id).where(Signature.record_type == "task",
                                                                       Signature.meaning == "performed")).scalars())
    expected = set(completed)
    return {"audit_verify_ok": verify.returncode == 0, "completions_seen": len(expected),
            "all_in_trail": expected <= in_trail and expected <= signed,
            "nothing_else_completed": in_trail == expected}


def inbox_figures(plant: Plant, port: int) -> dict[str, Any]:
    operator = plant.sessions[plant.operators[0].user_id]
    operator.port = port
    times = []
    size = 0
    for _ in range(5):
        started = time.perf_counter()
        status, page = operator.request("GET", "/tasks/")
        times.append(time.perf_counter() - started)
        size = len(page.encode())
    return {"ready_tasks": len(ready_tasks(plant.db)), "inbox_p50_ms": round(statistics.median(times) * 1000, 1),
            "inbox_bytes": size}


# ------------------------------------------------------------------ main
def free_port() -> int:
    from connectors.simulator.plant import free_port as find

    return find()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short windows, both backends (within a minute)")
    parser.add_argument("--seconds", type=float, default=None, help="length of one measuring window")
    parser.add_argument("--backends", default=None,
                        help="sqlite,postgresql (the default, with --quick too)")
    args = parser.parse_args()
    args.backends = args.backends or "sqlite,postgresql"
    seconds = args.seconds or (2.0 if args.quick else 20.0)
    tasks_per_window = int(seconds * 15)
    backends = [b for b in args.backends.split(",") if b]
    started = time.perf_counter()
    results: list[dict[str, Any]] = []
    checks: dict[str, Any] = {}
    inbox: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="gmp-load-") as folder:
        root = Path(folder)
        pg = None
        try:
            for backend in backends:
                plan = [(2, 1), (2, 4)] if backend == "sqlite" else [(1, 4), (2, 1), (2, 4), (4, 4)]
                if backend == "sqlite":
                    url = f"sqlite:///{root / 'sqlite' / 'gmp.sqlite3'}"
                else:
                    from tests.support.pgserver import PgServer

                    pg = PgServer().start()
                    pg.admin_execute("ALTER SYSTEM SET fsync = on")
                    pg.admin_execute("ALTER SYSTEM SET synchronous_commit = on")
                    pg.admin_execute("ALTER SYSTEM SET full_page_writes = on")
                    pg.admin_execute("SELECT pg_reload_conf()")
                    pg.admin_execute("CREATE DATABASE gmp_load")
                    url = pg.url("gmp_load")
                spare = 20 if args.quick else 60
                plant = prepare(backend, url, root / backend / "instance", 4, tasks_per_window * len(plan) + spare)
                for workers in dict.fromkeys(w for w, _ in plan):  # one server per worker count, in plan order
                    with Server(plant, workers, free_port()) as server:
                        run_window(plant, server.port, workers, 1, 0.5)  # warm-up: every worker's first request
                        for clients in [c for w, c in plan if w == workers]:
                            window = run_window(plant, server.port, workers, clients, seconds)
                            results.append(window.summary())
                            log(json.dumps(results[-1]))
                            if backend == "sqlite" and clients == 4:
                                inbox = inbox_figures(plant, server.port)
                checks[backend] = check_trail(plant, plant.completed)
                plant.db.dispose()
        finally:
            if pg is not None:
                pg.stop()
    print(json.dumps({"benchmark": "load", "windows": results, "inbox": inbox}, sort_keys=True), file=sys.stderr)
    summary = summarise(results, checks, inbox, args.quick, seconds, time.perf_counter() - started)
    print(json.dumps(summary, sort_keys=True))


def summarise(results: list[dict[str, Any]], checks: dict[str, Any], inbox: dict[str, Any], quick: bool,
              seconds: float, elapsed: float) -> dict[str, Any]:
    def find(backend: str, workers: int, clients: int) -> dict[str, Any] | None:
        return next((r for r in results if (r["backend"], r["workers"], r["clients"]) == (backend, workers, clients)),
                    None)

    out: dict[str, Any] = {"benchmark": "load", "quick": quick, "window_seconds": seconds,
                           "elapsed_seconds": round(elapsed, 1), "threads_per_worker": 1,
                           "goals": {"scale_ratio_min": 1.5, "clients_ratio_min": 1.6, "p95_over_p50_max": 2,
                                     "errors": 0}}
    for backend in ("sqlite", "postgresql"):
        one, four = find(backend, 2, 1), find(backend, 2, 4)
        if one and four:
            out[backend] = {"clients_1": {k: one[k] for k in ("per_second", "p50_ms", "p95_ms", "max_ms")},
                            "clients_4": {k: four[k] for k in ("per_second", "p50_ms", "p95_ms", "max_ms")},
                            "clients_ratio": round(four["per_second"] / one["per_second"], 2) if one["per_second"] else None,
                            "p95_over_p50": four["p95_over_p50"], **checks.get(backend, {})}
    workers = {w: find("postgresql", w, 4) for w in (1, 2, 4)}
    if all(workers.values()):
        out["postgresql_workers"] = {str(w): {k: r[k] for k in ("per_second", "p50_ms", "p95_ms")}  # type: ignore[index]
                                     for w, r in workers.items()}
        base = workers[1]["per_second"]  # type: ignore[index]
        out["scale_ratio"] = round(workers[2]["per_second"] / base, 2) if base else None  # type: ignore[index]
        out["scale_ratio_4"] = round(workers[4]["per_second"] / base, 2) if base else None  # type: ignore[index]
    out["errors"] = sum(r["errors"] for r in results)
    out["inbox"] = inbox
    out["nothing_lost"] = bool(checks) and all(c["audit_verify_ok"] and c["all_in_trail"] and c["nothing_else_completed"]
                                               for c in checks.values())
    return out


if __name__ == "__main__":
    main()
