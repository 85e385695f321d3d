"""The restricted environment itself: runaway scripts, size guards, error translation, re-attachment."""
from __future__ import annotations

import threading
from typing import Any

import pytest
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine

from engine.scripting import (
    RestrictedEnvironment,
    ScriptLimits,
    ScriptResourceError,
    ScriptRuntimeError,
    ScriptSecurityError,
    ScriptSyntaxError,
    ScriptTimeoutError,
    check_source,
)
from engine.spiff.script_engine import attach_script_engine, is_restricted, make_script_engine
from tests.engine_runtime.support import serializer, workflow

SHORT = ScriptLimits(timeout_seconds=0.2)


def env(limits: ScriptLimits = SHORT) -> RestrictedEnvironment:
    return RestrictedEnvironment(limits=limits)


@pytest.mark.req("URS-RUN-002", "A11-7.1")
@pytest.mark.parametrize("script", [
    "while True: pass",
    "x = [1 for a in range(10**5) for b in range(10**5)]",
    "while True:\n    try:\n        while True: pass\n    except BaseException:\n        pass",
    "try:\n    while True: pass\nexcept BaseException:\n    survived = True",
    "f = lambda n: n < 9 and [f(n + 1) for i in range(10)]\nf(0)",
], ids=["while", "nested-comprehension", "swallowing-loop", "swallow-then-finish", "lambda-fanout"])
def test_runaway_script_is_stopped_at_the_time_limit(script: str) -> None:
    context: dict[str, Any] = {}
    with pytest.raises(ScriptTimeoutError, match=r"stopped after 0\.2 s .*does not finish"):
        env().execute(script, context)
    assert "survived" not in context  # a failed script changes nothing


@pytest.mark.req("URS-RUN-002", "A11-7.1")
@pytest.mark.parametrize("expression, message", [
    ("'x' * 10**10", "repeated sequence is too large"),
    ("[0] * 10**9", "repeated sequence is too large"),
    ("10**10 * 'x'", "repeated sequence is too large"),
    ("2 ** 10**9", "integer power above"),
    ("1 << 10**9", "shift above"),
    ("(2**50000) * (2**50000)", "integer product above"),
    ("'a'.ljust(10**10)", r"ljust\(\) width is too large"),
    ("'a'.zfill(10**10)", r"zfill\(\) width is too large"),
    ("(1).to_bytes(10**10, 'big')", r"to_bytes\(\) width is too large"),
    ("('a' * 1000).replace('a', 'b' * 2000)", r"replace\(\) is too large"),
    ("'-'.join(['x' * 1000] * 10000)", r"join\(\) is too large"),
    ("'\\t'.expandtabs(10**9)", r"expandtabs\(\) is too large"),
    ("'%*d' % (10**9, 1)", "%-format width is too large"),
    ("'%9999999999d' % 1", "%-format width is too large"),
    ("list(range(10**9))", r"range\(\) of more than"),
])
def test_big_allocations_are_refused_before_they_happen(expression: str, message: str) -> None:
    with pytest.raises(ScriptResourceError, match=message):
        env().evaluate(expression, {})


BIG = "x = 'a' * 10**5\ny = [x] * 100\n"


@pytest.mark.req("URS-RUN-002", "A11-7.1")
@pytest.mark.parametrize("script, message", [
    (BIG + "s = str(y)", r"text of a value \(str\(\)\) is too large"),
    (BIG + "s = repr(y)", r"text of a value \(repr\(\)\) is too large"),
    (BIG + "s = f'{y}'", "f-string value is too large"),
    (BIG + "s = '%s' % (y,)", "%-formatted value is too large"),
    (BIG + "s = ', '.join(map(str, y * 100))", r"join\(\) is too large"),
    (BIG + "s = list(map(repr, [y] * 10))", r"text of a value \(repr\(\)\) is too large"),
    (BIG + "s = str(*[y])", r"text of a value \(str\(\)\) is too large"),
])
def test_text_of_large_containers_is_refused_before_it_is_built(script: str, message: str) -> None:
    # the refusal is on size, not time: a deadline far off, so that a busy machine cannot turn it into a timeout
    with pytest.raises(ScriptResourceError, match=message):
        env(ScriptLimits(timeout_seconds=5)).execute(script, {})


@pytest.mark.req("URS-RUN-002", "A11-7.1")
@pytest.mark.parametrize("script", [
    "x = 'a' * 10**5\nz = list(map(repr, [x] * 10**4))",
    "x = 'a' * 10**5\nz = list(map(str.upper, [x] * 10**4))",
    "x = 'a' * 10**5\nz = sorted([x + str(i) for i in range(3000)], key=repr)",
], ids=["map-repr", "map-method", "sorted-key"])
def test_c_level_loops_over_guarded_callables_are_watched(script: str) -> None:
    with pytest.raises((ScriptResourceError, ScriptTimeoutError), match="too much memory|does not finish"):
        env(ScriptLimits(timeout_seconds=5, memory_budget_bytes=64 * 1024 * 1024)).execute(script, {})


def test_text_helpers_keep_ordinary_behaviour() -> None:
    context: dict[str, Any] = {"items": [3, 1, 2], "d": {"b": 2, "a": 1}}
    env().execute("s = str(items) + repr('q') + f'{len(items)}:{d}'\nt = sorted(items, key=str)\n"
                  "u = max(['aa', 'b'], key=len)\nv = list(filter(None, [0, 1, 2]))\n"
                  "w = list(map(str.upper, ['a', 'b']))\nitems.sort(key=repr)\n"
                  "m = max(*[4, 9], **{'key': abs})", context)
    assert context["s"] == "[3, 1, 2]'q'3:{'b': 2, 'a': 1}"
    assert (context["t"], context["u"], context["v"], context["w"]) == ([1, 2, 3], "aa", [1, 2], ["A", "B"])
    assert context["items"] == [1, 2, 3] and context["m"] == 9


@pytest.mark.req("URS-RUN-002", "A11-7.1")
def test_growing_memory_in_a_loop_is_stopped() -> None:
    with pytest.raises((ScriptResourceError, ScriptTimeoutError), match="too much memory|does not finish"):
        env(ScriptLimits(timeout_seconds=5, memory_budget_bytes=64 * 1024 * 1024)).execute(
            "kept = []\nwhile True:\n    kept.append('x' * 10**6)", {})


@pytest.mark.req("URS-RUN-002")
def test_a_runaway_script_in_one_thread_does_not_stop_another() -> None:
    results: dict[str, Any] = {}

    def runaway() -> None:
        try:
            env(ScriptLimits(timeout_seconds=0.5)).execute("while True: pass", {})
        except ScriptTimeoutError as exc:
            results["runaway"] = exc

    thread = threading.Thread(target=runaway)
    thread.start()
    results["other"] = env().evaluate("sum([n * n for n in range(100)])", {})
    thread.join()
    assert results["other"] == 328350
    assert isinstance(results["runaway"], ScriptTimeoutError)


@pytest.mark.req("URS-RUN-001", "P11-10a")
@pytest.mark.parametrize("source, error, message", [
    ("import os", ScriptSecurityError, "import statements are not allowed"),
    ("from os import path", ScriptSecurityError, "import statements are not allowed"),
    ("class A: pass", ScriptSecurityError, "class definitions are not allowed"),
    ("def g():\n    yield 1", ScriptSecurityError, "generators"),
    ("x = f'{y:{w}}'", ScriptSecurityError, "computed f-string format"),
    ("x = (", ScriptSyntaxError, "not valid Python"),
])
def test_check_source_refuses_at_upload(source: str, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        check_source(source, "exec")


def test_check_source_mode_is_checked() -> None:
    with pytest.raises(ValueError, match="mode must be"):
        check_source("1", "single")


@pytest.mark.req("URS-RUN-001")
@pytest.mark.parametrize("expression, message", [
    ("type(1)", "'type' is not available"),
    ("getattr(now, 'x')", "'getattr' is not available"),
    ("'{}'.format(1)", "format"),
    ("'a'.translate({})", r"translate\(\) is not allowed"),
])
def test_withheld_builtins_and_methods(expression: str, message: str) -> None:
    with pytest.raises(ScriptSecurityError, match=message):
        env().evaluate(expression, {})


def test_ordinary_errors_name_line_and_type() -> None:
    with pytest.raises(ScriptRuntimeError, match=r"line 2: ZeroDivisionError: division by zero"):
        env().execute("a = 1\nb = a / 0", {})
    with pytest.raises(ScriptRuntimeError, match=r"NameError: name 'missing' is not defined"):
        env().evaluate("missing + 1", {})


def test_helpers_are_functions_and_read_the_product_clock(frozen_clock: Any) -> None:
    e = env()
    assert e.evaluate("now()", {}) == frozen_clock.value
    assert e.evaluate("(now() + timedelta(hours=1)).hour", {}) == 9
    assert e.evaluate("today().isoformat()", {}) == "2026-01-05"
    assert e.evaluate("str(decimal('0.1') + decimal('0.2'))", {}) == "0.3"
    assert e.evaluate("stamp.now() == now()", {"stamp": frozen_clock.value}) is True
    with pytest.raises(TypeError, match="must be a function"):
        RestrictedEnvironment(helpers={"os": __import__("os")})
    with pytest.raises(TypeError, match="may not start with"):
        RestrictedEnvironment(helpers={"_x": len})


def test_script_keeps_data_and_drops_functions() -> None:
    context: dict[str, Any] = {"a": 1, "old": 2}
    env().execute("def double(v):\n    return v * 2\nb = double(a)\ndel old\nx, (y, z) = 1, (2, 3)", context)
    assert context == {"a": 1, "b": 2, "x": 1, "y": 2, "z": 3}


def test_make_script_engine_rejects_a_bad_limit() -> None:
    with pytest.raises(ValueError, match="timeout_seconds must be positive"):
        make_script_engine(timeout_seconds=0)


@pytest.mark.req("URS-RUN-003", "P11-10a")
def test_deserialized_workflow_runs_restricted_again() -> None:
    hostile = {"site_script.bpmn": {"SCRIPT": "result = __import__('os').getcwd()"}}
    wf = workflow(hostile, "site_script")
    text = serializer().serialize_json(wf)
    loaded = serializer().deserialize_json(text)
    # The trap: SpiffWorkflow's deserializer attaches a new, unrestricted engine.
    assert type(loaded.script_engine) is PythonScriptEngine and not is_restricted(loaded)
    # The engine's factory re-attaches the restricted engine after every load.
    attach_script_engine(loaded)
    assert is_restricted(loaded)
    with pytest.raises(ScriptSecurityError, match="compute_yield"):
        loaded.do_engine_steps()


def test_the_time_limit_comes_from_settings(tmp_path: Any) -> None:
    from core.config import load_settings

    settings = load_settings({"instance_path": str(tmp_path), "script_timeout_seconds": 1}, environ={})
    assert make_script_engine(settings).environment.limits.timeout_seconds == 1
    assert make_script_engine().environment.limits.timeout_seconds == 2


@pytest.mark.req("URS-RUN-001", "P11-10a")
def test_upload_check_names_every_element_with_code_the_sandbox_refuses() -> None:
    from engine.spiff.script_engine import check_spec_sources, spec_sources
    from tests.engine_runtime.support import parse

    spec, subs = parse({"site_gateway.bpmn": {"EXPR": "().__class__"}}, "site_gateway")
    assert check_spec_sources(spec, subs) == [
        ("in_spec", "condition of the flow to 'end_ok': not allowed: Line 1: \"__class__\" is an invalid "
                    "attribute name because it starts with \"_\".")]
    spec, subs = parse({"site_multiinstance.bpmn": {"SEQUENTIAL": "false", "CARDINALITY": "import os",
                                                    "CONDITION": "done"}}, "site_multiinstance")
    (problem,) = check_spec_sources(spec, subs)
    assert problem[0] == "weigh_each" and problem[1].startswith("loop cardinality: not valid Python: Line 1: SyntaxError")
    spec, subs = parse({"site_message.bpmn": {"PAYLOAD": "{'a': 1}", "CORRELATION": "batch_number"}}, "site_message")
    assert check_spec_sources(spec, subs) == []
    sites = {(element, site) for element, site, _mode, _source in spec_sources(spec, subs)}
    assert ("send_outcome", "correlation property 'batch_number'") in sites
    assert ("send_outcome", "event expression") in sites


@pytest.mark.req("URS-RUN-001", "ALCOA-ACCURATE")
def test_numbers_with_a_fraction_are_exact_decimals() -> None:
    """Form numbers are Decimal in task data: diagram code keeps arithmetic exact instead of
    raising TypeError on `net * 1.5`, and floats it meets (old data, readings) join as decimals."""
    from decimal import Decimal

    env = RestrictedEnvironment()
    assert env.evaluate("net * 1.5", {"net": Decimal("10.10")}) == Decimal("15.150")
    assert env.evaluate("0.1 + 0.2 == 0.3", {}) is True
    assert env.evaluate("net - 0.05 >= 10.05 and net / 2 == 5.05", {"net": Decimal("10.10")}) is True
    assert env.evaluate("reading + 0.1", {"reading": 0.2}) == Decimal("0.3")
    assert env.evaluate("gross - tare", {"gross": Decimal("13.0"), "tare": 2.0}) == Decimal("11.0")
    assert env.evaluate("7 / 2", {}) == 3.5 and env.evaluate("7 // 2", {}) == 3  # integers stay as they were
    data = {"total": Decimal("1.1")}
    env.execute("total -= 0.1\ntotal *= 2\nshare = total / 4", data)
    assert data == {"total": Decimal("2.0"), "share": Decimal("0.5")}
    assert type(data["share"]) is Decimal
    assert env.evaluate("sum([r['q'] for r in rows])", {"rows": [{"q": Decimal("2.5")}, {"q": 7.5}]}) == Decimal("10.0")


@pytest.mark.parametrize("script, expected", [
    ("r = now().strftime('%Y-%m')", r"\d{4}-\d{2}"),
    ("r = parse_datetime('2026-01-31T10:00:00Z').strftime('%d.%m.%Y %H:%M')", r"31\.01\.2026 10:00"),
    ("r = f'{today():%Y}'", r"\d{4}"),
])
def test_date_formatting_works_in_scripts(script: str, expected: str) -> None:
    """C code of datetime imports `time` through the builtins' __import__ (KeyError '__import__' before)."""
    import re

    context: dict[str, Any] = {}
    env().execute(script, context)
    assert re.fullmatch(expected, context["r"])


def test_the_engines_environment_runs_in_worker_processes() -> None:
    """make_script_engine's environment hands every evaluation to the sandbox pool (engine.sandbox)."""
    from engine import sandbox

    engine = make_script_engine(timeout_seconds=1)
    assert getattr(engine.environment.runner, "__self__", None) is sandbox.pool(sandbox.SandboxConfig())
    with pytest.raises(ScriptTimeoutError, match="stopped after 1 s"):
        engine.environment.evaluate("pow(10, 10**8) > 0", {})
