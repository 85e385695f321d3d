"""One background asyncio loop per process, owning every equipment connection.

The rest of the product is synchronous (engine operators, web requests); it calls
`runtime().run(coro, timeout)` which hands the coroutine to the loop thread and waits.
No loop is created per call; connections persist between calls and reconnect on use.
After a fork the child builds its own loop (connections are never shared across processes).
"""
from __future__ import annotations

import asyncio
import os
import queue
import threading
from concurrent.futures import Future
from typing import Any, Callable, Coroutine, TypeVar

T = TypeVar("T")


class ConnectorRuntime:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        started: Future[None] = Future()
        self.thread = threading.Thread(target=self._run, args=(started,), name="gmp-connectors", daemon=True)
        self.thread.start()
        started.result(timeout=10)
        self._closers: list[Callable[[], Coroutine[Any, Any, None]]] = []

    def _run(self, started: Future[None]) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(started.set_result, None)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run `coro` on the loop; wait at most `timeout` seconds (the coroutine has its own
        shorter protocol timeout, this is a backstop that cancels it).

        Lighter than `asyncio.run_coroutine_threadsafe` (no chained concurrent future):
        one task on the loop, and the caller waits on a C-implemented queue. This hop is
        the facade's whole overhead per call (bench/connectors.py measures it).
        """
        if threading.current_thread() is self.thread:
            coro.close()
            raise RuntimeError("connector runtime called from its own loop thread")
        replies: queue.SimpleQueue[asyncio.Task[T]] = queue.SimpleQueue()  # C-implemented: the cheapest wake-up
        box: list[asyncio.Task[T]] = []

        def start() -> None:
            task = self.loop.create_task(coro)
            box.append(task)
            task.add_done_callback(replies.put)

        self.loop.call_soon_threadsafe(start)
        try:
            task = replies.get(timeout=timeout)
        except queue.Empty:
            self.loop.call_soon_threadsafe(lambda: box and box[0].cancel())
            raise TimeoutError(f"no result within {timeout:g} s") from None
        return task.result()

    def on_close(self, closer: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._closers.append(closer)

    def close(self) -> None:
        async def shutdown() -> None:
            for closer in reversed(self._closers):
                try:
                    await closer()
                except Exception:  # closing a dead connection must not stop the others
                    pass
            self._closers.clear()
        if self.thread.is_alive():
            asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(timeout=15)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
        self.loop.close()

    def task_count(self) -> int:
        """Asyncio tasks alive on the loop (used by the leak tests)."""
        async def count() -> int:
            return len(asyncio.all_tasks()) - 1
        return self.run(count(), timeout=5)


_lock = threading.Lock()
_runtime: ConnectorRuntime | None = None


def runtime() -> ConnectorRuntime:
    """The process's connector runtime (created on first use)."""
    global _runtime
    with _lock:
        if _runtime is None or _runtime.pid != os.getpid():
            _runtime = ConnectorRuntime()
        return _runtime


def shutdown_runtime() -> None:
    """Close every connection and stop the loop thread (tests, process exit)."""
    global _runtime
    with _lock:
        current, _runtime = _runtime, None
    if current is not None and current.pid == os.getpid():
        current.close()
