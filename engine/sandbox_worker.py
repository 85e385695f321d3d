"""The worker process of engine.sandbox: runs evaluations under operating-system limits.

Started by `engine.sandbox` as `python -I -c ...`; reads length-prefixed pickled requests
on stdin and writes answers on its original stdout (fd 1 is pointed at /dev/null, so
nothing else can write there). Before each request it sets:

- RLIMIT_AS: its address space at start plus the request's `memory_mb`;
- RLIMIT_CPU: the CPU time used so far plus the timeout plus a second (SIGXCPU ends it);
- RLIMIT_CORE 0 (a killed worker leaves no core file).

Answers: ("ready", rss) once, then (kind, rss, payload) per request: ("ok", rss, the Outcome pickled),
("error", rss, (class name, detail, line)) or, for a check, ("checked", rss, [None | error]).
It exits at end of input (its server process closed the pipe or ended).
"""
from __future__ import annotations

import os
import pickle
import resource
import signal
import struct
import sys
from typing import Any

_HEADER = struct.Struct("!Q")


def _statm() -> tuple[int, int]:
    """(address space, resident) bytes."""
    with open("/proc/self/statm", "rb") as handle:
        size, resident = handle.read().split()[:2]
    page = os.sysconf("SC_PAGE_SIZE")
    return int(size) * page, int(resident) * page


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks, remaining = [], size
    while remaining:
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _write(fd: int, message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def _limit(base_address_space: int, memory_mb: int, timeout: float) -> None:
    from engine.sandbox import cpu_limit_seconds  # loaded at start (main)

    resource.setrlimit(resource.RLIMIT_AS, (base_address_space + memory_mb * 1024 * 1024, resource.RLIM_INFINITY))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = int(usage.ru_utime + usage.ru_stime) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (used + cpu_limit_seconds(timeout), resource.RLIM_INFINITY))


def _unlimit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def _describe(error: BaseException) -> tuple[str, str, int | None]:
    from engine.scripting import ScriptError

    if isinstance(error, ScriptError):
        return type(error).__name__, error.detail, error.line
    return "ScriptRuntimeError", f"{type(error).__name__}: {error}", None


def _answer_eval(request: Any, memory_mb: int) -> tuple[str, Any]:
    from engine.scripting import ScriptResourceError, memory_message, run_evaluation

    try:
        outcome = run_evaluation(request)
    except MemoryError:
        return "error", ("ScriptResourceError", memory_message(memory_mb), None)
    except BaseException as exc:  # noqa: BLE001 - every failure goes back as an error
        if isinstance(exc, ScriptResourceError) and isinstance(exc.__cause__, MemoryError):
            return "error", ("ScriptResourceError", memory_message(memory_mb), exc.line)
        return "error", _describe(exc)
    try:
        data = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
    except MemoryError:
        return "error", ("ScriptResourceError", memory_message(memory_mb), None)
    except Exception:  # noqa: BLE001 - name the variable that cannot be kept
        for name, value in (outcome.variables or {}).items():
            try:
                pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:  # noqa: BLE001
                return "error", ("ScriptRuntimeError",
                                 f"variable {name!r} holds a {type(value).__name__}, which task data cannot keep: "
                                 "convert it (for example with list()) or delete it at the end of the script", None)
        return "error", ("ScriptRuntimeError", "the script's result cannot be kept in the task data", None)
    return "ok", data


def _answer_check(items: list[tuple[str, str]]) -> list[Any]:
    from engine.scripting import check_source

    out: list[Any] = []
    for mode, source in items:
        try:
            check_source(source, mode, max_chars=sys.maxsize)  # the caller checked the size
            out.append(None)
        except MemoryError:
            out.append(("ScriptResourceError", "the expression or script is too complex to compile", None))
        except BaseException as exc:  # noqa: BLE001
            out.append(_describe(exc))
    return out


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C at a terminal is for the server, which stops us
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    requests = sys.stdin.fileno()
    answers = os.dup(sys.stdout.fileno())
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    import engine.sandbox  # noqa: F401 - loaded (with engine.scripting) before measuring the base

    base, resident = _statm()
    _write(answers, ("ready", resident))
    while True:
        header = _read_exactly(requests, _HEADER.size)
        if header is None:
            return
        (size,) = _HEADER.unpack(header)
        body = _read_exactly(requests, size)
        if body is None:
            return
        kind, payload, memory_mb = pickle.loads(body)  # noqa: S301 - from our own server process
        if kind == "eval":
            _limit(base, memory_mb, payload.limits.timeout_seconds)
            try:
                answer = _answer_eval(payload, memory_mb)
            finally:
                _unlimit()
        else:
            _limit(base, memory_mb, engine.sandbox.CHECK_SECONDS)
            try:
                answer = ("checked", _answer_check(payload))
            finally:
                _unlimit()
        try:
            _write(answers, (answer[0], _statm()[1], answer[1]))
        except MemoryError:
            _write(answers, ("error", _statm()[1], ("ScriptResourceError", "the script's result is too large", None)))
