"""Diagram code runs in worker processes whose CPU time and memory the operating system bounds.

    pool = sandbox.pool(config)          # the process's pool for these limits (made on first use)
    outcome = pool.run(evaluation)       # an engine.scripting.Evaluation, run in a worker
    problems = pool.check([("exec", source), ...])   # the upload's compile check, in a worker

Why processes: one C-level operation (`pow(10, 10**8)`, `int(decimal('1e999999'))`,
`str.ljust('a', 10**9)`) holds the interpreter lock for as long as it runs and allocates
what it likes; no check inside the interpreter can stop it, and a thread of the web
server running it stops every other request of that process. A worker process is stopped
from outside instead:

- the worker sets its own limits before each evaluation: RLIMIT_AS (its address space may
  grow by `memory_mb` for one evaluation: an allocation beyond fails with MemoryError) and
  RLIMIT_CPU (the kernel ends it with SIGXCPU after the timeout plus a second of CPU);
- the caller waits for the answer on a pipe (the interpreter lock is free meanwhile: other
  requests are served) until the timeout plus a grace period, then kills the worker
  (SIGKILL) and reports the timeout; the next evaluation gets a fresh worker;
- a worker whose resident memory grew by more than `RECYCLE_GROWTH_BYTES` is retired after
  its answer, so memory freed by a large evaluation goes back to the operating system.

Workers are started on demand (at most `workers` per server process, kept warm between
evaluations) with `python -I` and a minimal environment; they read requests from stdin
and exit at end of file, so a worker never outlives its server process by more than its
current evaluation. `shutdown()` (run at exit) kills them.

Answers are pickles read with an allow-list unpickler (`_Unpickler`): only task-data
types (numbers, text, containers, Decimal, dates and times) come back into the server.
Expressions that only compare names and literals run in the calling process
(`engine.scripting.is_trivial`: their cost is bounded by the data they compare).
"""
from __future__ import annotations

import atexit
import functools
import io
import math
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from engine.scripting import (
    Evaluation,
    Outcome,
    ScriptError,
    ScriptResourceError,
    ScriptRuntimeError,
    ScriptSecurityError,
    ScriptSyntaxError,
    ScriptTimeoutError,
    is_trivial,
    memory_message,
    run_evaluation,
    timeout_message,
)

RECYCLE_GROWTH_BYTES = 48 * 1024 * 1024   # retire a worker that kept this much more than it started with
MAX_ANSWER_BYTES = 64 * 1024 * 1024       # a script's variables, pickled
CHECK_SECONDS = 10.0                      # the upload check of one bundle's sources
START_SECONDS = 20.0                      # a worker's start (imports), on a loaded machine
_HEADER = struct.Struct("!Q")
_ROOT = str(Path(__file__).resolve().parents[1])
_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from engine.sandbox_worker import main; main()"
_ENV_KEPT = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "HOME", "TMPDIR", "SYSTEMROOT")


@dataclass(frozen=True)
class SandboxConfig:
    """Limits of diagram code (core.config.Settings `script_*`)."""

    timeout_seconds: float = 2.0
    memory_mb: int = 256
    workers: int = 2
    max_source_chars: int = 20_000

    @classmethod
    def from_settings(cls, settings: Any) -> "SandboxConfig":
        if settings is None:
            return _DEFAULT
        return _config(float(getattr(settings, "script_timeout_seconds", cls.timeout_seconds)),
                       int(getattr(settings, "script_memory_mb", cls.memory_mb)),
                       int(getattr(settings, "script_workers", cls.workers)),
                       int(getattr(settings, "script_max_source_chars", cls.max_source_chars)))


_DEFAULT = SandboxConfig()


@functools.lru_cache(maxsize=64)
def _config(timeout_seconds: float, memory_mb: int, workers: int, max_source_chars: int) -> SandboxConfig:
    return SandboxConfig(timeout_seconds, memory_mb, workers, max_source_chars)


# ---------------------------------------------------------------- answers: an allow-list unpickler
_ALLOWED = {
    ("builtins", name) for name in ("set", "frozenset", "complex", "range", "slice", "bytearray")
} | {
    ("decimal", "Decimal"), ("datetime", "datetime"), ("datetime", "date"), ("datetime", "time"),
    ("datetime", "timedelta"), ("datetime", "timezone"), ("collections", "OrderedDict"),
    ("engine.scripting", "Outcome"), ("copyreg", "_reconstructor"), ("builtins", "object"),
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise ScriptRuntimeError(
            f"the script left a value of type {name!r} in the task data; task data holds numbers, text, "
            "true/false, lists, dictionaries, decimals, dates and times only: convert it (for example with list() "
            "or str()) or delete the variable at the end of the script")


def _loads(data: bytes) -> Any:
    return _Unpickler(io.BytesIO(data)).load()


_ERRORS: dict[str, type[ScriptError]] = {cls.__name__: cls for cls in (
    ScriptError, ScriptSyntaxError, ScriptSecurityError, ScriptTimeoutError, ScriptResourceError, ScriptRuntimeError)}


def _error(described: tuple[str, str, int | None]) -> ScriptError:
    name, detail, line = described
    return _ERRORS.get(name, ScriptRuntimeError)(detail, line=line)


# ---------------------------------------------------------------- one worker
class WorkerLost(Exception):
    """The worker ended (or was killed) without answering."""


class _Worker:
    def __init__(self) -> None:
        env = {k: v for k, v in os.environ.items() if k in _ENV_KEPT}
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-I", "-c", _BOOT, _ROOT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, env=env, close_fds=True)
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin = self.process.stdin.fileno()
        self.stdout = self.process.stdout.fileno()
        self._poll = select.poll()
        self._poll.register(self.stdout, select.POLLIN | select.POLLHUP | select.POLLERR)
        self.started_rss: int | None = None
        kind, rss = self.receive(time.monotonic() + START_SECONDS)
        if kind != "ready":
            self.kill()
            raise WorkerLost("the script worker did not start")
        self.started_rss = rss
        self.rss = rss

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, message: Any) -> None:
        if self.process.poll() is not None:
            raise WorkerLost("ended while idle")
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(_HEADER.pack(len(data)) + data)
        try:
            while view:
                written = os.write(self.stdin, view)
                view = view[written:]
        except OSError as exc:
            raise WorkerLost(str(exc)) from exc

    def _read(self, size: int, deadline: float) -> bytes:
        chunks, remaining = [], size
        while remaining:
            wait = deadline - time.monotonic()
            if wait <= 0:
                raise TimeoutError
            if not self._poll.poll(wait * 1000):  # poll, not select: any descriptor number
                raise TimeoutError
            chunk = os.read(self.stdout, min(remaining, 1 << 20))
            if not chunk:
                raise WorkerLost("end of output")
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def receive(self, deadline: float) -> Any:
        (size,) = _HEADER.unpack(self._read(_HEADER.size, deadline))
        if size > MAX_ANSWER_BYTES:
            self.kill()
            raise ScriptResourceError(
                f"the script's variables take {size:,} bytes, more than the {MAX_ANSWER_BYTES:,} task data may take "
                "from one script: delete large intermediate variables at the end of the script")
        return _loads(self._read(size, deadline))

    def kill(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.kill()
            except OSError:  # pragma: no cover - already gone
                pass
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()  # type: ignore[union-attr]
            except OSError:  # pragma: no cover
                pass

    def close(self) -> None:
        try:
            self.process.stdin.close()  # type: ignore[union-attr]  # the worker exits at end of input
        except OSError:  # pragma: no cover
            pass
        try:
            self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            pass
        self.kill()


# ---------------------------------------------------------------- the pool
class SandboxPool:
    """At most `config.workers` warm workers of this process; thread-safe."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.pid = os.getpid()
        self._idle: list[_Worker] = []
        self._live = 0
        self._all: set[_Worker] = set()
        self._cond = threading.Condition()
        self.started = 0     # workers started (a figure for tests and the bench)
        self.killed = 0      # workers killed at a limit
        self.closed = False

    # ---- workers
    def _acquire(self) -> _Worker:
        with self._cond:
            while True:
                if self.closed:
                    raise ScriptRuntimeError("the script sandbox is shut down")
                if self._idle:
                    return self._idle.pop()
                if self._live < max(1, self.config.workers):
                    self._live += 1
                    break
                self._cond.wait()
        try:
            worker = _Worker()
        except BaseException:
            with self._cond:
                self._live -= 1
                self._cond.notify()
            raise
        with self._cond:
            self._all.add(worker)
            self.started += 1
        return worker

    def _release(self, worker: _Worker, healthy: bool) -> None:
        if healthy and worker.started_rss is not None and worker.rss - worker.started_rss > RECYCLE_GROWTH_BYTES:
            healthy = False
            worker.close()
        elif not healthy:
            worker.kill()
        with self._cond:
            if healthy and not self.closed:
                self._idle.append(worker)
            else:
                self._all.discard(worker)
                self._live -= 1
            self._cond.notify()
        if healthy and self.closed:
            worker.close()

    def _call(self, message: Any, seconds: float, stopped: ScriptError) -> Any:
        worker = self._acquire()
        try:
            worker.send(message)
        except WorkerLost:  # it ended while idle (killed from outside): once more with a fresh one
            self._release(worker, False)
            worker = self._acquire()
            try:
                worker.send(message)
            except WorkerLost:
                self._release(worker, False)
                raise ScriptRuntimeError("the script sandbox's worker process could not take the evaluation") from None
        healthy = False
        try:
            kind, rss, payload = worker.receive(time.monotonic() + seconds)
            worker.rss = rss
            healthy = True
        except TimeoutError:
            self.killed += 1
            raise stopped from None
        except WorkerLost:
            self.killed += 1
            code = worker.process.poll()
            if code in (-signal.SIGXCPU, -signal.SIGKILL):
                raise stopped from None
            raise ScriptResourceError(
                f"{memory_message(self.config.memory_mb)} (the script's worker process stopped: "
                f"{'signal ' + str(-code) if code is not None and code < 0 else 'exit ' + str(code)})") from None
        finally:
            self._release(worker, healthy)
        return kind, payload

    # ---- what callers use
    def run(self, request: Evaluation) -> Outcome:
        """Run one evaluation in a worker (or here, for a trivial expression); raise ScriptError (unplaced)."""
        if request.mode == "eval" and is_trivial(request.source):
            return run_evaluation(request)
        seconds = request.limits.timeout_seconds
        message = ("eval", request, self.config.memory_mb)
        kind, payload = self._call(message, seconds + _grace(seconds),
                                   ScriptTimeoutError(timeout_message(seconds)))
        if kind == "ok":
            return _loads(payload)
        error = _error(payload)
        error.source = request.source
        raise error

    def check(self, items: Iterable[tuple[str, str]]) -> list[ScriptError | None]:
        """Compile each (mode, source) in a worker: None if it compiles, else the ScriptError."""
        items = list(items)
        if not items:
            return []
        kind, payload = self._call(("check", items, self.config.memory_mb), CHECK_SECONDS,
                                   ScriptTimeoutError(f"the sandbox's compile check of {len(items)} expression(s) "
                                                      f"and script(s) took longer than {CHECK_SECONDS:g} s"))
        return [None if described is None else _error(described) for described in payload]

    def workers(self) -> list[int]:
        """Process ids of the live workers."""
        with self._cond:
            return [w.pid for w in self._all if w.process.poll() is None]

    def close(self) -> None:
        with self._cond:
            self.closed = True
            idle, self._idle = self._idle, []
            everyone = list(self._all)
            self._cond.notify_all()
        for worker in idle:
            worker.close()
        for worker in everyone:
            if worker not in idle:
                worker.kill()


def _grace(seconds: float) -> float:
    return max(0.5, seconds * 0.25)


def cpu_limit_seconds(timeout: float) -> int:
    """CPU seconds one evaluation may use before the kernel stops its worker."""
    return math.ceil(timeout) + 1


# ---------------------------------------------------------------- the process's pools
_POOLS: dict[tuple[int, int], SandboxPool] = {}
_POOLS_LOCK = threading.Lock()
_AT_EXIT = [False]


def pool(config: SandboxConfig | None = None) -> SandboxPool:
    """The pool of this process for these limits (made on first use). Timeouts and source
    limits travel with each request, so pools differ only by worker count and memory."""
    key = (config.workers, config.memory_mb) if config is not None else (SandboxConfig.workers, SandboxConfig.memory_mb)
    existing = _POOLS.get(key)
    pid = os.getpid()
    if existing is not None and existing.pid == pid and not existing.closed:
        return existing
    with _POOLS_LOCK:
        existing = _POOLS.get(key)
        if existing is not None and existing.pid == pid and not existing.closed:
            return existing
        if existing is not None and existing.pid != pid:
            _POOLS.clear()  # forked: the parent's workers are not ours (left alone, not killed)
        made = SandboxPool(SandboxConfig(workers=key[0], memory_mb=key[1]))
        _POOLS[key] = made
        if not _AT_EXIT[0]:
            atexit.register(shutdown)
            _AT_EXIT[0] = True
        return made


def shutdown() -> None:
    """Stop every worker of this process (at exit; tests)."""
    with _POOLS_LOCK:
        pools = [p for p in _POOLS.values() if p.pid == os.getpid()]
        _POOLS.clear()
    for each in pools:
        each.close()


def live_workers() -> list[int]:
    """Process ids of this process's live workers (tests, health)."""
    with _POOLS_LOCK:
        pools = [p for p in _POOLS.values() if p.pid == os.getpid()]
    return [pid for p in pools for pid in p.workers()]
