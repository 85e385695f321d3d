"""Hard limits of diagram code: worker processes bounded by the operating system (engine.sandbox).

Each probe here ran unchecked inside the server process before (C-level operations hold the
interpreter lock and allocate what they like): they must now stop at the time or memory
limit, in a worker that is killed and replaced, while the calling process stays free and
keeps its size.
"""
from __future__ import annotations

import os
import threading
import time
from datetime import datetime, timezone
from typing import Any

import pytest

from engine import sandbox
from engine.sandbox import SandboxConfig
from engine.scripting import (
    DEFAULT_HELPERS,
    Evaluation,
    ScriptError,
    ScriptLimits,
    ScriptResourceError,
    ScriptRuntimeError,
    ScriptTimeoutError,
    is_trivial,
)
from engine.spiff.script_engine import make_script_engine

TIMEOUT = 1.0
CONFIG = SandboxConfig(timeout_seconds=TIMEOUT, memory_mb=128, workers=2)


@pytest.fixture
def pool() -> Any:
    made = sandbox.SandboxPool(CONFIG)
    yield made
    made.close()


def request(source: str, mode: str = "exec", context: dict[str, Any] | None = None,
            timeout: float = TIMEOUT) -> Evaluation:
    return Evaluation(mode, source, dict(context or {}), {}, dict(DEFAULT_HELPERS),
                      ScriptLimits(timeout_seconds=timeout, memory_budget_bytes=CONFIG.memory_mb * 1024 * 1024),
                      datetime(2026, 12, 3, 8, 30, tzinfo=timezone.utc))


def resident(pid: int) -> int:
    with open(f"/proc/{pid}/statm", "rb") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


PROBES = [
    ("r = pow(10, 3*10**7) > 0", ScriptTimeoutError),
    ("r = pow(10, 10**8) > 0", ScriptTimeoutError),
    ("r = int(decimal('1e999999'))", ScriptTimeoutError),
    ("r = str.ljust('a', 10**9)", ScriptResourceError),
    ("r = str.rjust('a', 10**9)", ScriptResourceError),
    ("r = str.center('a', 10**9)", ScriptResourceError),
    ("r = str.zfill('1', 10**9)", ScriptResourceError),
    ("r = str.replace('a' * 10**6, 'a', 'b' * 1000)", ScriptResourceError),
    ("r = str.join('', ['x' * 10**6] * 1000)", ScriptResourceError),
    ("r = str.expandtabs('\\t' * 10**6, 1000)", ScriptResourceError),
    ("r = int.to_bytes(1, 10**9, 'big')", ScriptResourceError),
    ("r = list(range(100000)) * 10000", ScriptResourceError),
    ("r = sorted(range(10**5), key=lambda i: pow(i, 10**6))", ScriptTimeoutError),
]


@pytest.mark.req("URS-RUN-009", "URS-RUN-002", "A11-7.1")
@pytest.mark.parametrize("source, error", PROBES, ids=[p[0][:40] for p in PROBES])
def test_c_level_probes_stop_at_the_limit_in_a_worker(pool: Any, source: str, error: type[ScriptError]) -> None:
    before = resident(os.getpid())
    started = time.monotonic()
    with pytest.raises(error) as raised:
        pool.run(request(source))
    elapsed = time.monotonic() - started
    assert elapsed < TIMEOUT + 5, f"{source} took {elapsed:.1f} s"
    message = str(raised.value)
    if error is ScriptTimeoutError:
        assert "stopped after 1 s" in message and "GMP_SCRIPT_TIMEOUT_SECONDS" in message
    else:
        assert "too large" in message or "too much memory (limit 128 MB, GMP_SCRIPT_MEMORY_MB)" in message
    assert resident(os.getpid()) - before < 50 * 1024 * 1024  # nothing of it landed in this process
    assert pool.run(request("r = 6 * 7")).variables == {"r": 42}  # the pool goes on (a fresh worker if killed)


@pytest.mark.req("URS-RUN-009", "URS-RUN-002")
def test_a_killed_worker_is_replaced_and_leaves_nothing_running(pool: Any) -> None:
    pool.run(request("r = 1"))
    [first] = pool.workers()
    with pytest.raises(ScriptTimeoutError):
        pool.run(request("r = pow(10, 10**8)"))
    assert pool.killed == 1 and _zombie_or_gone(first)
    assert pool.run(request("r = 2")).variables == {"r": 2}
    [second] = pool.workers()
    assert second != first
    pool.close()
    assert pool.workers() == [] and _zombie_or_gone(second)
    with pytest.raises(ScriptRuntimeError, match="shut down"):
        pool.run(request("r = 3"))


def _zombie_or_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1].startswith("Z")
    except FileNotFoundError:
        return True


@pytest.mark.req("URS-RUN-009", "URS-RUN-002")
def test_other_evaluations_go_on_while_one_runs_away(pool: Any) -> None:
    """The caller waits on a pipe, the interpreter lock is free: another thread evaluates meanwhile."""
    results: dict[str, Any] = {}

    def runaway() -> None:
        try:
            pool.run(request("r = pow(10, 10**8)", timeout=5))
        except ScriptError as exc:
            results["runaway"] = exc

    thread = threading.Thread(target=runaway)
    thread.start()
    try:
        while thread.is_alive() and len(pool.workers()) < 1:  # the runaway has its worker
            time.sleep(0.01)
        assert pool.run(request("r = sum([1, 2, 3])")).variables == {"r": 6}
        assert thread.is_alive()  # answered while the runaway still runs
        assert len(pool.workers()) == 2
    finally:
        thread.join()
    assert isinstance(results["runaway"], ScriptTimeoutError)


@pytest.mark.req("URS-RUN-009", "URS-RUN-002")
def test_memory_of_the_worker_returns_after_a_large_evaluation(pool: Any) -> None:
    pool.run(request("r = 1"))
    [worker] = pool.workers()
    base = resident(worker)
    pool.run(request("big = ['x' * 4000 for i in range(20000)]\nr = len(big)\ndel big", timeout=10))
    live = pool.workers()
    assert worker not in live or resident(worker) - base < 50 * 1024 * 1024  # retired when it kept its growth


@pytest.mark.parametrize("source, helpers_value", [
    ("r = now().strftime('%Y')", "2026"),
    ("r = today().strftime('%d.%m.%Y')", "03.12.2026"),
    ("r = now().isoformat()", "2026-12-03T08:30:00+00:00"),
    ("r = (now() + timedelta(days=1)).strftime('%A')", "Friday"),
    ("r = str(decimal('1.10') + 2)", "3.10"),
    ("r = parse_datetime('2026-01-31T10:00:00Z').strftime('%Y-%m-%d %H:%M')", "2026-01-31 10:00"),
    ("r = parse_datetime('2026-01-31').year", 2026),
    ("r = f'{now():%H:%M}'", "08:30"),
])
def test_every_documented_helper_works_inside_scripts(pool: Any, source: str, helpers_value: Any) -> None:
    assert pool.run(request(source)).variables == {"r": helpers_value}


def test_imports_stay_refused_though_c_code_may_import() -> None:
    from engine.scripting import RestrictedEnvironment, ScriptSecurityError

    environment = RestrictedEnvironment()
    with pytest.raises(ScriptSecurityError):
        environment.execute("import os", {})
    with pytest.raises(ScriptSecurityError):
        environment.execute("x = __import__('os')", {})


@pytest.mark.parametrize("source, trivial", [
    ("approved == True", True), ("result in ('pass', 'ok')", True), ("not deviation", True),
    ("a < 5 and b >= 1.5", True), ("rows[0] != 'x'", True), ("x", True),
    ("pow(10, 10**8)", False), ("a + 1", False), ("x.upper()", False), ("10**100 == x", False),
    ("rows[0:5] == x", False), ("_secret == 1", False), ("[i for i in x]", False), ("'a' * 5 == x", False),
    (f"x == '{'a' * 2000}'", False), ("-x < 0", False),
])
def test_only_comparisons_of_names_and_literals_run_in_process(source: str, trivial: bool) -> None:
    assert is_trivial(source) is trivial


def test_a_trivial_expression_needs_no_worker(pool: Any) -> None:
    assert pool.run(request("result == 'pass'", "eval", {"result": "pass"})).value is True
    assert pool.started == 0
    assert pool.run(request("len(result) == 4", "eval", {"result": "pass"})).value is True
    assert pool.started == 1


def test_values_task_data_cannot_hold_are_refused_naming_the_variable(pool: Any) -> None:
    with pytest.raises(ScriptRuntimeError, match="type 'map'.*task data holds numbers"):
        pool.run(request("m = map(str, [1, 2])"))
    with pytest.raises(ScriptRuntimeError, match="variable 'g' holds a generator"):
        pool.run(request("g = (i for i in [1, 2])"))


def test_task_data_types_come_back_from_the_worker(pool: Any) -> None:
    from datetime import date, timedelta
    from decimal import Decimal

    data = {"d": Decimal("1.10"), "day": date(2026, 1, 31), "when": datetime(2026, 1, 31, 10, tzinfo=timezone.utc),
            "rows": [{"n": 1}], "s": {1, 2}, "t": (1, "a"), "none": None}
    outcome = pool.run(request("gap = timedelta(hours=2)\ntotal = d * 2", context=data))
    assert outcome.variables == {**data, "gap": timedelta(hours=2), "total": Decimal("2.20")}


def test_engine_workflows_run_their_scripts_in_the_pool() -> None:
    """make_script_engine's default runner is the process's pool: a workflow's script task stops at the limit."""
    engine = make_script_engine(timeout_seconds=1)
    context: dict[str, Any] = {}
    with pytest.raises(ScriptTimeoutError):
        engine.environment.execute("r = pow(10, 10**8)", context)
    assert context == {}
    engine.environment.execute("r = 6 * 7", context)
    assert context == {"r": 42}
    assert sandbox.live_workers()  # the process's pool holds warm workers
    sandbox.shutdown()
    assert sandbox.live_workers() == []


CHILD = """
import sys
from datetime import datetime, timezone
from engine import sandbox
from engine.scripting import DEFAULT_HELPERS, Evaluation, ScriptLimits
pool = sandbox.pool(sandbox.SandboxConfig(workers=2))
ev = Evaluation("exec", sys.argv[1], {}, {}, dict(DEFAULT_HELPERS), ScriptLimits(timeout_seconds=30),
                datetime.now(timezone.utc))
import threading
threading.Thread(target=lambda: pool.run(ev), daemon=True).start()
import time
while len(sandbox.live_workers()) < 1:
    time.sleep(0.01)
print(" ".join(map(str, sandbox.live_workers())), flush=True)
if sys.argv[2] == "exit":
    time.sleep(0.2)  # the evaluation is under way in its worker
    sys.exit(0)       # like a gmp command ending: atexit stops the workers
time.sleep(60)        # killed from outside meanwhile
"""


@pytest.mark.req("URS-RUN-009", "URS-RUN-002")
@pytest.mark.parametrize("how", ["exit", "sigkill"])
def test_workers_end_with_their_process(how: str) -> None:
    """A command that ends stops its workers (atexit); a server process killed outright leaves
    none behind either: an idle worker ends at the end of its input, a busy one at its CPU limit."""
    import signal
    import subprocess
    import sys

    script = "r = 1" if how == "sigkill" else "while True: pass"
    child = subprocess.Popen([sys.executable, "-c", CHILD, script, how], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    workers = [int(pid) for pid in child.stdout.readline().split()]
    assert workers
    if how == "sigkill":
        child.send_signal(signal.SIGKILL)
    child.wait(timeout=60)
    deadline = time.monotonic() + 10  # the busy worker's own limit is 30 s: only atexit ends it sooner
    while any(not _zombie_or_gone(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(_zombie_or_gone(pid) for pid in workers)


def test_a_worker_killed_while_idle_is_replaced_without_an_error(pool: Any) -> None:
    import signal

    pool.run(request("r = 1"))
    [worker] = pool.workers()
    os.kill(worker, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while not _zombie_or_gone(worker) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pool.run(request("r = 2")).variables == {"r": 2}
    assert pool.workers() and worker not in pool.workers()
