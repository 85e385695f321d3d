"""Run SpiffWorkflow work that recurses along the task tree in a thread with a deep stack.

SpiffWorkflow's parser, its prediction of future tasks and its serializer recurse once per
element of a chain: a process of 1000 sequential elements overflows the default recursion
limit, and a web server's request threads have small C stacks. `run_deep(fn, ...)` runs
`fn` in a fresh thread with a 256 MiB stack and a recursion limit of 20 000 (raised only while deep calls run), and hands the
result (or the exception) back to the caller. The caller blocks meanwhile, so objects such
as a SQLAlchemy session are never used by two threads at once.
"""
from __future__ import annotations

import sys
import threading
from typing import Any, Callable, TypeVar

T = TypeVar("T")

STACK_BYTES = 256 * 1024 * 1024
RECURSION_LIMIT = 20_000
_lock = threading.Lock()


def run_deep(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call `fn(*args, **kwargs)` with a deep stack; re-raise its exception unchanged."""
    if getattr(_local, "deep", False):  # already inside a deep thread
        return fn(*args, **kwargs)
    result: list[Any] = []
    error: list[BaseException] = []

    def target() -> None:
        _local.deep = True
        try:
            result.append(fn(*args, **kwargs))
        except BaseException as exc:  # handed back to the calling thread
            error.append(exc)

    global _active, _saved_limit
    with _lock:
        if _active == 0:
            _saved_limit = sys.getrecursionlimit()
            sys.setrecursionlimit(max(_saved_limit, RECURSION_LIMIT))
        _active += 1
        previous = threading.stack_size(STACK_BYTES)
        try:
            thread = threading.Thread(target=target, name="gmp-engine-deep", daemon=True)
            thread.start()
        finally:
            threading.stack_size(previous)
    try:
        thread.join()
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                sys.setrecursionlimit(_saved_limit)
    if error:
        raise error[0]
    return result[0]


_local = threading.local()
_active = 0
_saved_limit = 1000
