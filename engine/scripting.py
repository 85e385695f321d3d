"""The one restricted environment for every piece of Python a BPMN or DMN file carries.

SpiffWorkflow evaluates Python in many places: script tasks, pre- and post-scripts,
gateway conditions, timer expressions, multi-instance settings (cardinality,
collections, completion condition), service-task parameters, message payloads and
correlation expressions, ad-hoc completion conditions and DMN cells. Some of these call
`script_engine.evaluate(task, ...)`, others call `script_engine.environment.evaluate(...)`
directly; both land in `RestrictedEnvironment`, so there is exactly one place where
diagram code runs.

Defences, in order:
1. Compile with RestrictedPython's transformer (no names or attributes starting with
   `_`, no `exec`/`eval`, no imports) plus our own policy (`GmpPolicy`): no class
   definitions, and every `*`, `**`, `<<`, `+` and `%` goes through a size guard, so a
   single C-level operation cannot allocate gigabytes (`'x' * 10**10`).
2. Run with a small builtins table (functions only, never modules), RestrictedPython's
   guards (`_getattr_`, `_getitem_`, `_getiter_`, `_write_`, `_inplacevar_`, guarded
   unpacking) and size-checked wrappers for the few `str`/`bytes`/`int` methods that
   take a size argument.
3. A watchdog per evaluation: every loop iteration and function call of diagram code
   ticks; a tick checks a monotonic deadline (settings.script_timeout_seconds) and, every
   few hundred ticks, the process's resident memory. After the deadline every further
   tick raises again, so `try/except` inside the script cannot swallow the stop.

These are Python-level checks; the hard limits are the operating system's: the engine
runs every evaluation in a worker process with RLIMIT_AS/RLIMIT_CPU, killed at the
timeout (engine.sandbox), because one C-level call (`pow(10, 10**8)`) holds the
interpreter lock and no check in the interpreter can stop it.

One evaluation is an `Evaluation` (source, task data, helpers, limits, the clock's
reading): plain data, passed explicitly, run by `run_evaluation`. Nothing here knows
SpiffWorkflow: `engine.spiff.script_engine` adapts this environment to SpiffWorkflow's
script engine and names the BPMN element in errors. docs/engine-runtime.md explains how
evaluations are bounded.
"""
from __future__ import annotations

import ast
import functools
import operator as _op
import os
import re
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from types import CodeType, ModuleType
from typing import Any, Callable, Iterable, Iterator, Mapping

from RestrictedPython import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safe_builtins,
    safer_getattr,
)
from RestrictedPython.PrintCollector import PrintCollector
from RestrictedPython.transformer import RestrictingNodeTransformer

from core import clock
from engine.errors import EngineError
from engine.spiff.errors import SpiffError

SCRIPT_FILENAME = "<bpmn-script>"
MAX_SEQUENCE_LENGTH = 1_000_000      # items or characters produced by one operation
MAX_INT_BITS = 100_000               # about 30,000 decimal digits
MAX_RANGE = 100_000
MEMORY_BUDGET_BYTES = 256 * 1024 * 1024
MEMORY_CHECK_EVERY = 128             # lines of diagram code between two memory checks
MAX_SOURCE_CHARS = 20_000            # default longest script or expression (settings.script_max_source_chars)
TRIVIAL_CONSTANT_CHARS = 1_000       # literals an in-process expression may carry


# ---------------------------------------------------------------- errors
class ScriptError(EngineError, SpiffError):
    """A BPMN/DMN expression or script failed; the message names the element.

    Also SpiffWorkflow's exception root, so SpiffWorkflow's own handlers (DMN rows,
    pre/post scripts) add their notes and re-raise it instead of wrapping it. `source`:
    the expression or script that failed.
    """

    http_status = 422

    def __init__(self, message: str, *, element: str | None = None, detail: str | None = None,
                 line: int | None = None) -> None:
        super().__init__(message, element=element, detail=detail, line=line)
        self.element = element
        self.detail = detail if detail is not None else message
        self.line = line
        self.source: str | None = None
        self.notes: list[str] = []

    def at(self, element: str, line: int | None = None) -> "ScriptError":
        """The same error, placed at an element (once: an error already placed is kept)."""
        if self.element is not None:
            return self
        line = line if line is not None else self.line
        where = f"{element}, line {line}" if line else element
        error = type(self)(f"{where}: {self.detail}", element=element, detail=self.detail, line=line)
        error.source = self.source
        error.__cause__ = self.__cause__ or self
        return error


class ScriptSyntaxError(ScriptError):
    """The expression or script is not valid Python."""


class ScriptSecurityError(ScriptError):
    """The expression or script tried something the sandbox does not allow."""

    http_status = 403


class ScriptTimeoutError(ScriptError):
    """The expression or script ran longer than settings.script_timeout_seconds."""


class ScriptResourceError(ScriptError):
    """The expression or script would allocate more memory than allowed."""


class ScriptRuntimeError(ScriptError):
    """An ordinary error inside the script (name not defined, division by zero, ...)."""


def timeout_message(seconds: float) -> str:
    return (f"stopped after {seconds:g} s (settings.script_timeout_seconds): the script or expression does not "
            "finish; make it do less work (fewer loop rounds, smaller numbers) or raise GMP_SCRIPT_TIMEOUT_SECONDS")


def memory_message(memory_mb: int | None = None) -> str:
    limit = f" (limit {memory_mb} MB, GMP_SCRIPT_MEMORY_MB)" if memory_mb else ""
    return (f"stopped: the script or expression allocates too much memory{limit}; work on less data at a time "
            "or raise the limit")


def source_too_long(length: int, limit: int) -> str:
    return (f"the expression or script is {length:,} characters long, more than the limit of {limit:,} "
            "(GMP_SCRIPT_MAX_SOURCE_CHARS): split it over several script tasks or move the work into a "
            "service operator")


# Names a script might reach for that the sandbox withholds on purpose.
_WITHHELD = frozenset({
    "open", "eval", "exec", "compile", "getattr", "setattr", "delattr", "globals", "locals",
    "vars", "dir", "type", "object", "super", "input", "breakpoint", "help", "memoryview",
    "bytearray", "bytes", "classmethod", "staticmethod", "property", "iter", "next",
    "exit", "quit", "copyright", "credits", "license", "id", "hash",
})


# ---------------------------------------------------------------- compile-time policy
class GmpPolicy(RestrictingNodeTransformer):
    """RestrictedPython's policy plus size guards on operators and a few refusals."""

    _GUARDED = {ast.Mult: "*", ast.Pow: "**", ast.LShift: "<<", ast.Add: "+", ast.Mod: "%", ast.Sub: "-",
                ast.Div: "/", ast.FloorDiv: "//"}

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        """Number literals with a fraction are exact decimals: `net * 1.5`, `0.1 + 0.2 == 0.3`."""
        node = super().visit_Constant(node)
        if isinstance(node, ast.Constant) and type(node.value) is float:
            call = ast.Call(func=ast.Name("_gmp_decimal_", ast.Load()), args=[ast.Constant(repr(node.value))],
                            keywords=[])
            return ast.fix_missing_locations(ast.copy_location(call, node))
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        node = self.node_contents_visit(node)
        symbol = self._GUARDED.get(type(node.op))
        if symbol is None:
            return node
        call = ast.Call(func=ast.Name("_gmp_binop_", ast.Load()),
                        args=[ast.Constant(symbol), node.left, node.right], keywords=[])
        return ast.fix_missing_locations(ast.copy_location(call, node))

    def _tick(self, node: ast.AST) -> ast.stmt:
        call = ast.Expr(ast.Call(func=ast.Name("_gmp_tick_", ast.Load()), args=[], keywords=[]))
        return ast.fix_missing_locations(ast.copy_location(call, node))

    def visit_While(self, node: ast.While) -> ast.AST:
        node = self.node_contents_visit(node)
        node.body.insert(0, self._tick(node))
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        node = super().visit_FunctionDef(node)
        node.body.insert(0, self._tick(node))
        return node

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        node = super().visit_Lambda(node)
        tick = ast.Call(func=ast.Name("_gmp_tick_", ast.Load()), args=[], keywords=[])
        node.body = ast.fix_missing_locations(ast.copy_location(ast.BoolOp(op=ast.Or(), values=[tick, node.body]), node.body))
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        self.error(node, "class definitions are not allowed in BPMN scripts")
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        node = super().visit_Call(node)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("str", "repr"):
            call = ast.Call(func=ast.Name("_gmp_text_", ast.Load()), args=[node.func, *node.args],
                            keywords=node.keywords)
            return ast.fix_missing_locations(ast.copy_location(call, node))
        return node

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        spec = node.format_spec
        if spec is not None:
            parts = spec.values if isinstance(spec, ast.JoinedStr) else [spec]
            for part in parts:
                if not (isinstance(part, ast.Constant) and isinstance(part.value, str)):
                    self.error(node, "computed f-string format specifications are not allowed")
                elif _format_width_too_large(part.value):
                    self.error(node, f"f-string width or precision above {MAX_SEQUENCE_LENGTH} is not allowed")
        node = self.node_contents_visit(node)
        node.value = ast.fix_missing_locations(ast.copy_location(
            ast.Call(func=ast.Name("_gmp_fmtval_", ast.Load()), args=[node.value], keywords=[]), node.value))
        return node

    def visit_Import(self, node: ast.Import) -> ast.AST:
        self.error(node, "import statements are not allowed in BPMN scripts (helpers are offered as functions)")
        return node

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST:
        self.error(node, "import statements are not allowed in BPMN scripts (helpers are offered as functions)")
        return node

    def visit_Yield(self, node: ast.Yield) -> ast.AST:
        self.error(node, "generators (yield) are not allowed in BPMN scripts")
        return node

    def visit_YieldFrom(self, node: ast.YieldFrom) -> ast.AST:
        self.error(node, "generators (yield from) are not allowed in BPMN scripts")
        return node


_WIDTH = re.compile(r"(\d+)")


def _format_width_too_large(spec: str) -> bool:
    return any(int(number) > MAX_SEQUENCE_LENGTH for number in _WIDTH.findall(spec))


# ---------------------------------------------------------------- runtime guards
def _size_error(what: str) -> ScriptResourceError:
    return ScriptResourceError(f"{what} is too large for a BPMN script (limit {MAX_SEQUENCE_LENGTH:,} items)")


def _check_length(length: int, what: str) -> None:
    if length > MAX_SEQUENCE_LENGTH:
        raise _size_error(what)


_SEQUENCES = (str, bytes, list, tuple)
_PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


_FAST = (int, float)
_PLAIN = {"-": _op.sub, "/": _op.truediv, "//": _op.floordiv}


def _exact(value: Any) -> Decimal:
    """A float as the decimal it was written as (its shortest repr): 0.1 -> Decimal('0.1')."""
    return Decimal(repr(value))


def _binop(symbol: str, left: Any, right: Any) -> Any:
    if symbol == "+" and type(left) in _FAST and type(right) in _FAST:
        return left + right  # the common case, and it cannot grow beyond one bit
    # exact decimals meet floats (old data, equipment readings) as decimals, never TypeError
    if type(left) is float and isinstance(right, Decimal):
        left = _exact(left)
    elif type(right) is float and isinstance(left, Decimal):
        right = _exact(right)
    plain = _PLAIN.get(symbol)
    if plain is not None:
        return plain(left, right)
    if symbol == "*":
        if isinstance(left, _SEQUENCES) and isinstance(right, int):
            _check_length(len(left) * max(right, 0), "a repeated sequence")
        elif isinstance(right, _SEQUENCES) and isinstance(left, int):
            _check_length(len(right) * max(left, 0), "a repeated sequence")
        elif _is_int(left) and _is_int(right) and left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise ScriptResourceError(f"an integer product above {MAX_INT_BITS:,} bits is not allowed")
        return left * right
    if symbol == "**":
        if _is_int(left) and _is_int(right) and right > 0 and abs(left) > 1:
            if left.bit_length() * right > MAX_INT_BITS:
                raise ScriptResourceError(f"an integer power above {MAX_INT_BITS:,} bits is not allowed")
        return left**right
    if symbol == "<<":
        if _is_int(left) and _is_int(right) and left.bit_length() + right > MAX_INT_BITS:
            raise ScriptResourceError(f"a shift above {MAX_INT_BITS:,} bits is not allowed")
        return left << right
    if symbol == "+":
        if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
            _check_length(len(left) + len(right), "a concatenated sequence")
        return left + right
    if symbol == "%":
        if isinstance(left, (str, bytes)):
            text = left if isinstance(left, str) else left.decode("latin-1")
            for width, precision in _PERCENT.findall(text):
                for value in (width, precision):
                    if value == "*" or (value and int(value) > MAX_SEQUENCE_LENGTH):
                        raise _size_error("a %-format width")
            _check_text(right, "a %-formatted value")
        return left % right
    raise ScriptSecurityError(f"operator {symbol} is not supported")  # pragma: no cover - policy only emits the above


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_INPLACE = {"+=": "+", "*=": "*", "**=": "**", "<<=": "<<", "%=": "%", "-=": "-", "/=": "/", "//=": "//"}
_INPLACE_PLAIN: dict[str, Callable[[Any, Any], Any]] = {
    ">>=": _op.rshift,
    "&=": _op.and_, "|=": _op.or_, "^=": _op.xor, "@=": _op.matmul,
}


def _inplacevar(symbol: str, left: Any, right: Any) -> Any:
    if symbol == "+=" and type(left) in _FAST and type(right) in _FAST:
        return left + right
    if symbol in _INPLACE:
        return _binop(_INPLACE[symbol], left, right)
    try:
        return _INPLACE_PLAIN[symbol](left, right)
    except KeyError:
        raise ScriptSecurityError(f"augmented assignment {symbol} is not supported") from None


_SCALARS = (str, bytes, int, float, bool, type(None), Decimal, datetime, date, timedelta)


def _text_size(obj: Any, limit: int) -> int:
    """A lower bound of the length of str(obj)/repr(obj); stops counting past `limit`."""
    total, stack, seen = 0, [obj], set()
    while stack:
        item = stack.pop()
        if isinstance(item, (str, bytes)):
            total += len(item) + 2
        elif isinstance(item, (list, tuple, set, frozenset, dict)):
            if id(item) in seen:
                continue
            seen.add(id(item))
            total += 2 + 2 * len(item)
            if total > limit:
                return total
            stack.extend(item.items() if isinstance(item, dict) else item)
        else:
            total += 8
        if total > limit:
            return total
    return total


def _check_text(value: Any, what: str) -> None:
    if not isinstance(value, _SCALARS) and _text_size(value, MAX_SEQUENCE_LENGTH) > MAX_SEQUENCE_LENGTH:
        raise _size_error(what)


def _text(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`str(x)` / `repr(x)` in diagram code: the text of a large container is refused before it is built."""
    _tick_current()
    if args:
        _check_text(args[0], f"the text of a value ({getattr(fn, '__name__', 'str')}())")
    return fn(*args, **kwargs)


def _fmtval(value: Any) -> Any:
    _check_text(value, "an f-string value")
    return value


def _guarded_str(value: Any = "", *args: Any) -> Any:
    return _text(str, value, *args)


def _guarded_repr(value: Any) -> Any:
    return _text(repr, value)


_guarded_str.__name__, _guarded_repr.__name__ = "str", "repr"


def _ticked(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Let C-level loops that call `fn` (map, sorted's key...) pass through the watchdog."""
    def ticking(*args: Any, **kwargs: Any) -> Any:
        _tick_current()
        return fn(*args, **kwargs)
    return ticking


def _callback(fn: Any) -> Any:
    if fn is str:
        return _guarded_str
    if fn is repr:
        return _guarded_repr
    code = getattr(fn, "__code__", None)
    if code is not None and code.co_filename == SCRIPT_FILENAME:
        return fn  # diagram code ticks by itself
    return _ticked(fn) if callable(fn) else fn


def _apply(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """`_apply_`: calls with `*args` / `**kwargs` (RestrictedPython routes them here)."""
    _tick_current()
    return _callback(fn)(*args, **kwargs)


def _map(fn: Any, *iterables: Any) -> Any:
    return map(_callback(fn), *iterables)


def _filter(fn: Any, iterable: Any) -> Any:
    return filter(_callback(fn) if fn is not None else None, iterable)


def _with_key(builtin: Callable[..., Any]) -> Callable[..., Any]:
    def keyed(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("key") is not None:
            kwargs["key"] = _callback(kwargs["key"])
        _tick_current()
        return builtin(*args, **kwargs)
    keyed.__name__ = builtin.__name__
    return keyed


def _width_guard(method: Callable[..., Any], position: int, name: str) -> Callable[..., Any]:
    @functools.wraps(method)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        width = args[position] if len(args) > position else kwargs.get("width", kwargs.get("length", 0))
        if _is_int(width):
            _check_length(width, f"{name}() width")
        return method(*args, **kwargs)

    return guarded


def _guard_replace(text: Any) -> Callable[..., Any]:
    def replace(old: Any, new: Any, count: int = -1) -> Any:
        found = text.count(old) if old else len(text) + 1
        if 0 <= count < found:
            found = count
        _check_length(len(text) + found * max(len(new) - len(old), 0), "the result of replace()")
        return text.replace(old, new, count)

    return replace


def _guard_join(separator: Any) -> Callable[[Iterable[Any]], Any]:
    def join(items: Iterable[Any]) -> Any:
        parts = list(items)
        _check_length(len(parts), "join() input")
        total = sum(len(part) for part in parts if isinstance(part, _SEQUENCES)) + len(separator) * max(len(parts) - 1, 0)
        _check_length(total, "the result of join()")
        return separator.join(parts)

    return join


def _guard_expandtabs(text: Any) -> Callable[..., Any]:
    def expandtabs(tabsize: int = 8) -> Any:
        _check_length(len(text) + text.count("\t" if isinstance(text, str) else b"\t") * max(tabsize, 0),
                      "the result of expandtabs()")
        return text.expandtabs(tabsize)

    return expandtabs


def _refuse(name: str) -> Callable[..., Any]:
    def refused(*_args: Any, **_kwargs: Any) -> Any:
        raise ScriptSecurityError(f"{name}() is not allowed in BPMN scripts")

    return refused


def _clock_now(tz: Any = None) -> datetime:
    """The product clock as the evaluation saw it when it started (`Evaluation.now`)."""
    watchdog = getattr(_running, "watchdog", None)
    value = watchdog.now if watchdog is not None else clock.now()
    return value.astimezone(tz) if tz is not None else value


def _clock_today() -> date:
    return _clock_now().date()


def guarded_getattr(obj: Any, name: str, default: Any = None) -> Any:
    """`_getattr_`: RestrictedPython's safer_getattr plus size guards and the product clock."""
    if isinstance(obj, ModuleType):
        raise ScriptSecurityError("modules are not available in BPMN scripts")
    value = safer_getattr(obj, name, default) if default is not None else _safer_getattr_raise(obj, name)
    if isinstance(obj, (str, bytes)):
        if name in ("center", "ljust", "rjust", "zfill"):
            return _width_guard(value, 0, name)
        if name == "replace":
            return _guard_replace(obj)
        if name == "join":
            return _guard_join(obj)
        if name == "expandtabs":
            return _guard_expandtabs(obj)
        if name in ("translate", "maketrans"):
            return _refuse(name)
    elif _is_int(obj) and name == "to_bytes":
        return _width_guard(value, 0, name)
    elif name in ("now", "utcnow") and (isinstance(obj, datetime) or obj is datetime):
        return _clock_now
    elif name == "today" and (isinstance(obj, date) or obj in (date, datetime)):
        return _clock_today
    if callable(value) and (isinstance(obj, _BUILTIN_VALUES) or obj in _BUILTIN_VALUES):
        if name == "sort" and isinstance(obj, list):
            return _with_key(value)
        return _ticked(value)
    return value


_BUILTIN_VALUES = (str, bytes, list, tuple, dict, set, frozenset, int, float)


def _safer_getattr_raise(obj: Any, name: str) -> Any:
    try:
        return safer_getattr(obj, name, _MISSING)
    except AttributeError as exc:
        raise ScriptSecurityError(f"access to attribute {name!r} is not allowed ({exc})") from None
    except NotImplementedError as exc:
        raise ScriptSecurityError(str(exc)) from None


class _Missing:
    pass


_MISSING = _Missing()


def _getattr_checked(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(name, str) and (name.startswith("_")):
        raise ScriptSecurityError(f"access to attribute {name!r} is not allowed (names starting with '_' are private)")
    value = guarded_getattr(obj, name, default)
    if value is _MISSING:
        raise AttributeError(f"{type(obj).__name__!r} object has no attribute {name!r}")
    return value


def _getitem(obj: Any, index: Any) -> Any:
    if isinstance(obj, ModuleType):
        raise ScriptSecurityError("modules are not available in BPMN scripts")
    return obj[index]


def _no_tick(*_args: Any) -> Any:  # replaced by the evaluation's watchdog
    raise ScriptSecurityError("diagram code ran outside its watchdog")


def _range(*args: int) -> range:
    result = range(*args)
    if len(result) > MAX_RANGE:
        raise ScriptResourceError(f"range() of more than {MAX_RANGE:,} items is not allowed")
    return result


def _sum(values: Iterable[Any], start: Any = 0) -> Any:
    if not isinstance(start, (int, float, Decimal)):
        raise ScriptSecurityError("sum() adds numbers only in BPMN scripts")
    total = start
    for value in values:
        total = _binop("+", total, value)
    return total


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value)) if isinstance(value, float) else Decimal(value)


def _parse_datetime(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


# Modules that C code of the offered types imports while a script runs (datetime.strftime
# imports `time`, strptime `_strptime`): CPython looks `__import__` up in the running code's
# builtins. Diagram code itself cannot name `__import__` (names starting with `_` are refused
# at compile time) and never sees what it returns.
_C_IMPORTS = frozenset({"time", "_strptime", "locale", "calendar", "_datetime", "datetime"})


def _c_import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
    if level == 0 and name in _C_IMPORTS:
        import importlib

        return importlib.import_module(name)
    raise ScriptSecurityError("imports are not available in BPMN scripts (helpers are offered as functions)")


def _make_builtins() -> dict[str, Any]:
    allowed = {name: value for name, value in safe_builtins.items()
               if name not in ("__build_class__", "id", "hash", "_getattr_")}
    allowed.update({
        "range": _range, "sum": _sum, "list": list, "tuple": tuple, "dict": dict, "set": set,
        "frozenset": frozenset, "min": _with_key(min), "max": _with_key(max), "sorted": _with_key(sorted),
        "any": any, "all": all, "enumerate": enumerate, "zip": zip, "map": _map, "filter": _filter,
        "reversed": reversed, "repr": _guarded_repr, "__import__": _c_import,
    })
    return allowed


SAFE_BUILTINS: Mapping[str, Any] = _make_builtins()

# Helpers offered to every script: plain functions (never modules, never classes with
# reachable state). `now()` reads the product's one clock.
DEFAULT_HELPERS: Mapping[str, Callable[..., Any]] = {
    "now": _clock_now,
    "today": _clock_today,
    "timedelta": timedelta,
    "decimal": _decimal,
    "parse_datetime": _parse_datetime,
}


# ---------------------------------------------------------------- limits and watchdog
@dataclass(frozen=True)
class ScriptLimits:
    timeout_seconds: float = 2.0
    memory_budget_bytes: int = MEMORY_BUDGET_BYTES


def _resident_bytes() -> int:
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # not Linux: fall back to the peak
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


_baseline = [0.0, 0]  # [monotonic time read, resident bytes]


def _memory_baseline() -> int:
    """Resident memory, re-read at most once a second (reading it costs more than a small evaluation)."""
    now = time.monotonic()
    if now - _baseline[0] > 1.0:
        _baseline[0], _baseline[1] = now, _resident_bytes()
    return int(_baseline[1])


_running = threading.local()


def _tick_current() -> None:
    watchdog = getattr(_running, "watchdog", None)
    if watchdog is not None:
        watchdog.tick()


class _Watchdog:
    """One per evaluation: ticks come from every loop iteration and function call.

    `GmpPolicy` puts `_gmp_tick_()` at the top of every `while` body, function body and
    lambda; `_getiter_` ticks once per item of every `for` loop and comprehension. A tick
    checks a monotonic deadline and, every few hundred ticks, resident memory. Once
    tripped, every later tick raises again, so `try/except` in the script cannot
    swallow the stop, and the evaluation fails even if the script catches it and ends.
    """

    def __init__(self, limits: ScriptLimits, now: datetime | None = None) -> None:
        self.now = now if now is not None else clock.now()
        self.deadline = time.monotonic() + limits.timeout_seconds
        self.timeout = limits.timeout_seconds
        self.memory_limit = _memory_baseline() + limits.memory_budget_bytes
        self.memory_mb = limits.memory_budget_bytes // (1024 * 1024)
        self.ticks = 0
        self.tripped: ScriptError | None = None

    def tick(self) -> None:
        if self.tripped is not None:
            raise self.tripped
        self.ticks += 1
        if time.monotonic() >= self.deadline:
            self.tripped = ScriptTimeoutError(timeout_message(self.timeout))
            raise self.tripped
        if self.ticks % MEMORY_CHECK_EVERY == 0 and _resident_bytes() > self.memory_limit:
            self.tripped = ScriptResourceError(memory_message(self.memory_mb))
            raise self.tripped

    def getiter(self, obj: Any) -> Iterator[Any]:
        if isinstance(obj, ModuleType):
            raise ScriptSecurityError("modules are not available in BPMN scripts")
        return self._ticking(obj)

    def _ticking(self, obj: Any) -> Iterator[Any]:
        for item in obj:
            self.tick()
            yield item

    def run(self, code: CodeType, namespace: dict[str, Any], mode: str) -> Any:
        namespace["_gmp_tick_"] = self.tick
        namespace["_getiter_"] = self.getiter
        previous = getattr(_running, "watchdog", None)
        _running.watchdog = self  # guarded builtins called from C loops (map, sorted...) tick too
        try:
            result = eval(code, namespace) if mode == "eval" else exec(code, namespace)  # noqa: S102,S307
        finally:
            _running.watchdog = previous
        if self.tripped is not None:
            raise self.tripped
        return result


# ---------------------------------------------------------------- compiling
@functools.lru_cache(maxsize=2048)
def _compile(source: str, mode: str) -> CodeType:
    compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    result = compiler(source, filename=SCRIPT_FILENAME, policy=GmpPolicy)
    if result.errors:
        messages = "; ".join(result.errors)
        line = _first_line(result.errors)
        if all("SyntaxError" in message for message in result.errors):
            raise ScriptSyntaxError(f"not valid Python: {messages}", line=line)
        raise ScriptSecurityError(f"not allowed: {messages}", line=line)
    assert result.code is not None
    return result.code


def _first_line(errors: Iterable[str]) -> int | None:
    for message in errors:
        match = re.match(r"Line (\d+)", message)
        if match:
            return int(match.group(1))
    return None


def _script_line(tb: Any) -> int | None:
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == SCRIPT_FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _translate(exc: BaseException) -> ScriptError:
    """Turn anything raised by diagram code into a ScriptError (element added later)."""
    if isinstance(exc, ScriptError):
        return exc
    line = _script_line(exc.__traceback__)
    if isinstance(exc, NameError) and getattr(exc, "name", None) in _WITHHELD:
        error: ScriptError = ScriptSecurityError(f"{exc.name!r} is not available in BPMN scripts", line=line)
    elif isinstance(exc, SyntaxError):
        error = ScriptSyntaxError(f"not valid Python: {exc.msg}", line=exc.lineno or line)
    elif isinstance(exc, MemoryError):
        error = ScriptResourceError(memory_message(), line=line)
    elif isinstance(exc, RecursionError):
        error = ScriptResourceError("the script recursed too deeply", line=line)
    else:
        error = ScriptRuntimeError(f"{type(exc).__name__}: {exc}", line=line)
    error.__cause__ = exc
    return error


# ---------------------------------------------------------------- one evaluation
@dataclass(frozen=True)
class Evaluation:
    """Everything one evaluation needs, passed explicitly (and picklable: plain data, helper
    functions by reference), so that an evaluation can run in this thread or in a worker
    process alike. `now` is the product clock read when the evaluation was asked for:
    `now()` and `today()` in diagram code answer from it."""

    mode: str                      # "eval" (an expression) or "exec" (a script)
    source: str
    context: dict[str, Any]        # task data (a script may change it)
    external: dict[str, Any]
    helpers: dict[str, Callable[..., Any]]
    limits: "ScriptLimits"
    now: datetime


@dataclass
class Outcome:
    """What an evaluation gives back: the expression's value, or the script's variables."""

    value: Any = None
    variables: dict[str, Any] | None = None


_BASE: dict[str, Any] = {}


def _base_namespace() -> dict[str, Any]:
    if not _BASE:
        _BASE.update({
            "__builtins__": SAFE_BUILTINS,
            "__name__": "bpmn_script",
            "_getattr_": _getattr_checked,
            "_getitem_": _getitem,
            "_write_": full_write_guard,
            "_inplacevar_": _inplacevar,
            "_gmp_binop_": _binop,
            "_gmp_decimal_": Decimal,
            "_gmp_text_": _text,
            "_apply_": _apply,
            "_gmp_fmtval_": _fmtval,
            "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
            "_unpack_sequence_": guarded_unpack_sequence,
            "_print_": PrintCollector,
            "_gmp_tick_": _no_tick,
            "_getiter_": _no_tick,
        })
    return _BASE


def run_evaluation(request: Evaluation) -> Outcome:
    """Compile (cached) and run one evaluation under its watchdog; raise ScriptError (unplaced).

    Pure with respect to the request: reads nothing but the request, changes nothing but
    the variables it returns, so it can run in a worker process as well as in this thread.
    """
    try:
        source = request.source.strip() if request.mode == "eval" and isinstance(request.source, str) \
            else request.source
        code = _compile(source, request.mode)
        base = _base_namespace()
        namespace = dict(request.helpers)
        namespace.update(request.external)
        namespace.update(request.context)
        namespace.update(base)
        watchdog = _Watchdog(request.limits, request.now)
        value = watchdog.run(code, namespace, request.mode)
    except BaseException as exc:  # noqa: BLE001 - every failure of diagram code becomes a ScriptError
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        error = _translate(exc)
        error.source = request.source
        raise error from exc
    if request.mode == "eval":
        return Outcome(value=value)
    hidden = set(request.helpers) | set(request.external) | set(base)
    variables = {name: item for name, item in namespace.items()
                 if not (name in hidden or name.startswith("_") or callable(item) or isinstance(item, ModuleType))}
    return Outcome(variables=variables)


Runner = Callable[[Evaluation], Outcome]


# ---------------------------------------------------------------- the environment
class RestrictedEnvironment:
    """Evaluates and executes diagram Python under RestrictedPython with guards and a watchdog.

    It is SpiffWorkflow's "script engine environment" (`evaluate`, `execute`,
    `call_service`, `globals`; SpiffWorkflow calls it by those names, see
    engine.spiff.script_engine), but knows nothing of SpiffWorkflow: each call becomes an
    `Evaluation` handed to `runner` (by default `run_evaluation` in this thread).

    `locate(source)` names the element an expression belongs to when SpiffWorkflow calls
    the environment without a task (message correlations, completion conditions); the
    adapter sets it from the workflow's specs.
    """

    def __init__(self, helpers: Mapping[str, Callable[..., Any]] | None = None,
                 limits: "ScriptLimits | None" = None, runner: Runner | None = None) -> None:
        offered = dict(DEFAULT_HELPERS)
        offered.update(helpers or {})
        for name, value in offered.items():
            if isinstance(value, ModuleType) or not callable(value):
                raise TypeError(f"script helper {name!r} must be a function, not {type(value).__name__}")
            if name.startswith("_"):
                raise TypeError(f"script helper {name!r} may not start with '_'")
        self.globals: dict[str, Callable[..., Any]] = offered
        self.limits = limits or ScriptLimits()
        self.runner: Runner = runner or run_evaluation
        self.locate: Callable[[str], str | None] | None = None

    def _request(self, mode: str, source: str, context: Mapping[str, Any],
                 external: Mapping[str, Any] | None) -> Evaluation:
        return Evaluation(mode, source, dict(context), dict(external or {}), self.globals, self.limits, clock.now())

    # ---- SpiffWorkflow calls these without a task: errors are placed by `locate`
    def evaluate(self, expression: str, context: Mapping[str, Any], external_context: Mapping[str, Any] | None = None) -> Any:
        try:
            return self.evaluate_unplaced(expression, context, external_context)
        except ScriptError as error:
            raise self._located(error, expression) from error.__cause__

    def execute(self, script: str, context: dict[str, Any], external_context: Mapping[str, Any] | None = None) -> bool:
        try:
            return self.execute_unplaced(script, context, external_context)
        except ScriptError as error:
            raise self._located(error, script) from error.__cause__

    # ---- the script engine calls these with a task in hand, and places errors itself
    def evaluate_unplaced(self, expression: str, context: Mapping[str, Any],
                          external_context: Mapping[str, Any] | None = None) -> Any:
        return self.runner(self._request("eval", expression, context, external_context)).value

    def execute_unplaced(self, script: str, context: dict[str, Any],
                         external_context: Mapping[str, Any] | None = None) -> bool:
        external = dict(external_context or {})
        clashes = (set(self.globals) | set(external)) & set(context)
        if clashes:
            raise ScriptRuntimeError(f"task data overwrites helper name(s) {sorted(clashes)}: rename the field(s)")
        outcome = self.runner(self._request("exec", script, context, external))
        variables = outcome.variables or {}
        for name in list(context):
            if name not in variables:
                del context[name]
        context.update(variables)
        return True

    def call_service(self, context: Mapping[str, Any], **kwargs: Any) -> Any:
        raise ScriptSecurityError("service tasks are called through the engine's operator registry")

    def _located(self, error: ScriptError, source: str) -> ScriptError:
        """Place an error of a call made without a task, by where the source sits in the diagram."""
        if error.element is not None:
            return error
        site = self.locate(source) if self.locate is not None else None
        return error.at(site or f"expression {source!r}")


def check_size(source: str, max_chars: int = MAX_SOURCE_CHARS) -> None:
    """Refuse a source longer than `max_chars` (before anything parses it)."""
    if isinstance(source, str) and len(source) > max_chars:
        raise ScriptResourceError(source_too_long(len(source), max_chars))


def check_source(source: str, mode: str = "exec", max_chars: int = MAX_SOURCE_CHARS) -> None:
    """Compile without running: for upload checks. Raises ScriptSyntaxError/ScriptSecurityError,
    or ScriptResourceError for a source longer than `max_chars`."""
    if mode not in ("eval", "exec"):
        raise ValueError("mode must be 'eval' or 'exec'")
    check_size(source, max_chars)
    _compile(source, mode)


# ---------------------------------------------------------------- expressions safe to run in-process
_TRIVIAL_NODES = (ast.Expression, ast.Name, ast.Load, ast.Compare, ast.BoolOp, ast.And, ast.Or, ast.Not,
                  ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Is, ast.IsNot, ast.In, ast.NotIn,
                  ast.Tuple, ast.List, ast.Set)


@functools.lru_cache(maxsize=4096)
def is_trivial(source: str) -> bool:
    """True for an expression made only of names, short literals, comparisons, `and`/`or`/`not`,
    literal tuples/lists/sets and `name[literal]`: `approved == True`, `result in ('pass', 'ok')`,
    `not deviation`, `rows[0] != 'x'`.

    Such an expression calls no function and builds nothing larger than its own literals:
    its work is a comparison, a truth test, a lookup or a containment test of values that
    already exist (task data, whose size the server already holds) against literals of at
    most TRIVIAL_CONSTANT_CHARS characters and 64-bit integers. Task data holds only plain
    data (engine.sandbox reads nothing else back from a worker), so no comparison runs
    diagram code. Its cost is bounded by the size of the data it reads; it runs in the
    calling process (the same compiled code, guards and watchdog as in a worker) and saves
    the round trip to a worker process.
    """
    if not isinstance(source, str) or len(source) > TRIVIAL_CONSTANT_CHARS:
        return False
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or value is None or type(value) is float:
                continue
            if type(value) is int and value.bit_length() <= 64:
                continue
            if type(value) is str and len(value) <= TRIVIAL_CONSTANT_CHARS:
                continue
            return False
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            return False
        if isinstance(node, ast.Subscript):
            if not (isinstance(node.value, ast.Name) and isinstance(node.slice, ast.Constant)):
                return False
            continue
        if isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, ast.Not):
                return False
            continue
        if not isinstance(node, _TRIVIAL_NODES):
            return False
    return True
