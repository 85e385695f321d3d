"""Run SpiffWorkflow work that recurses along the task tree in a thread with a deep stack.

SpiffWorkflow's parser, its prediction of future tasks and its serializer recurse once per
element of a chain: a process of 1000 sequential elements overflows the default recursion
limit, and a web server's request threads have small C stacks. `run_deep(fn, ...)` runs
`fn` in a worker thread with a 256 MiB stack (kept for reuse) and a recursion limit of
20 000 (raised only while deep calls run), and hands the result (or the exception) back
to the caller. The caller blocks meanwhile, so objects such as a SQLAlchemy session are
never used by two threads at once. `fn` runs in a copy of the caller's context
(`contextvars`), so what is current there (the engine runtime) is current in `fn`.

`run_bounded(max_frames, fn, ...)` runs `fn` on the calling thread when the caller can
bound its depth and that many frames fit under the normal recursion limit (an engine step
of a process of a few hundred elements), and hands it to `run_deep` otherwise.
"""
from __future__ import annotations

import contextvars
import queue
import sys
import threading
from typing import Any, Callable, TypeVar

T = TypeVar("T")

STACK_BYTES = 256 * 1024 * 1024
RECURSION_LIMIT = 20_000
INLINE_MARGIN = 100  # frames kept free under the limit when running inline
_lock = threading.Lock()


def stack_depth() -> int:
    """Python frames on the calling thread's stack."""
    depth = 0
    frame: Any = sys._getframe(1)
    while frame is not None:
        depth += 1
        frame = frame.f_back
    return depth


def run_bounded(max_frames: int, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call `fn` inline if `max_frames` more frames fit under the recursion limit, else `run_deep`.

    `max_frames` is the caller's bound on how deep `fn` can recurse; a handoff to the
    deep thread costs two thread wake-ups, which a loaded machine makes expensive, so
    work known to stay shallow (an engine step of a process of a few hundred elements)
    runs on the calling thread without touching the recursion limit.
    """
    if getattr(_local, "deep", False) or stack_depth() + max_frames < _base_limit() - INLINE_MARGIN:
        return fn(*args, **kwargs)
    return run_deep(fn, *args, **kwargs)


def _base_limit() -> int:
    """The recursion limit outside deep calls (run_deep raises it while they run)."""
    with _lock:
        return _saved_limit if _active else sys.getrecursionlimit()


def run_deep(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call `fn(*args, **kwargs)` with a deep stack; re-raise its exception unchanged."""
    if getattr(_local, "deep", False):  # already inside a deep thread
        return fn(*args, **kwargs)
    job = _Job(fn, args, kwargs)
    global _active, _saved_limit
    with _lock:
        if _active == 0:
            _saved_limit = sys.getrecursionlimit()
            sys.setrecursionlimit(max(_saved_limit, RECURSION_LIMIT))
        _active += 1
        if _idle:
            worker = _idle.pop()
        else:
            worker = _Worker()
    try:
        worker.submit(job)
        job.done.wait()
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                sys.setrecursionlimit(_saved_limit)
            if len(_idle) < MAX_IDLE:
                _idle.append(worker)
            else:
                worker.stop()
    if job.error is not None:
        raise job.error
    return job.result


class _Job:
    def __init__(self, fn: Callable[..., Any], args: Any, kwargs: Any) -> None:
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.context = contextvars.copy_context()
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = threading.Event()


class _Worker:
    """A daemon thread with a deep stack, reused for later jobs (starting one costs milliseconds)."""

    def __init__(self) -> None:
        self._jobs: "queue.SimpleQueue[_Job | None]" = queue.SimpleQueue()
        previous = threading.stack_size(STACK_BYTES)
        try:
            self.thread = threading.Thread(target=self._run, name="gmp-engine-deep", daemon=True)
            self.thread.start()
        finally:
            threading.stack_size(previous)

    def submit(self, job: _Job) -> None:
        self._jobs.put(job)

    def stop(self) -> None:
        self._jobs.put(None)

    def _run(self) -> None:
        _local.deep = True
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                job.result = job.context.run(job.fn, *job.args, **job.kwargs)
            except BaseException as exc:  # handed back to the calling thread
                job.error = exc
            finally:
                job.done.set()


_local = threading.local()
_idle: list[_Worker] = []
MAX_IDLE = 4
_active = 0
_saved_limit = 1000
