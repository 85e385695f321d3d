"""Script and expression bodies have a size limit, checked at upload before anything parses them.

A 1 MB script body used to pass the upload check in 4.5 s and 514 MB, a 4.8 MB one took 35 s
and 2.6 GB: now both are refused at once, naming the element, and the check's cost is that
of reading the XML.
"""
from __future__ import annotations

import resource
import time
from xml.sax.saxutils import escape

import pytest

from engine import definitions
from engine.errors import DefinitionCheckFailed
from engine.install import build_runtime
from engine.ports import EngineServices, jsonschema_validate
from engine.sandbox import SandboxConfig

SERVICES = EngineServices(roles_of=lambda uow, user: set(), sign=lambda *a, **k: None,
                          validate_form=jsonschema_validate, meanings=frozenset({"approved"}))


def diagram(script: str = "r = 1", condition: str = "r == 1") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="x">
  <bpmn:process id="calc" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="compute"/>
    <bpmn:scriptTask id="compute" name="Compute yield" scriptFormat="python">
      <bpmn:script>{escape(script)}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="compute" targetRef="gw"/>
    <bpmn:exclusiveGateway id="gw" default="f4"/>
    <bpmn:sequenceFlow id="f3" sourceRef="gw" targetRef="end">
      <bpmn:conditionExpression>{escape(condition)}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f4" sourceRef="gw" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>""".encode()


def peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def upload_check(content: bytes, runtime) -> None:  # type: ignore[no-untyped-def]
    definitions.validate_upload({"calc.bpmn": content}, roles={"operator"}, services=SERVICES, runtime=runtime)


@pytest.mark.req("URS-RUN-009", "URS-RUN-002", "A11-7.1")
@pytest.mark.parametrize("size", [1_000_000, 4_800_000], ids=["1MB", "4.8MB"])
@pytest.mark.parametrize("body", ["x = 1 + 1\n", "x = (((((1)))))\n", "-"], ids=["lines", "nested", "unary"])
def test_a_huge_script_body_is_refused_quickly_naming_the_element(runtime, size: int, body: str) -> None:
    script = (body * (size // len(body) + 1))[:size]
    before = peak_bytes()
    started = time.monotonic()
    with pytest.raises(DefinitionCheckFailed) as refused:
        upload_check(diagram(script=script), runtime)
    elapsed = time.monotonic() - started
    [problem] = refused.value.problems
    assert problem.element_id == "compute" and problem.file == "calc.bpmn"
    assert f"script: the expression or script is {size:,} characters long, more than the limit of 20,000 " \
           "(GMP_SCRIPT_MAX_SOURCE_CHARS)" in str(problem)
    assert elapsed < 5, f"the check took {elapsed:.1f} s"
    assert peak_bytes() - before < 200 * 1024 * 1024  # the peak grew by less than 200 MB


def test_a_long_condition_is_refused_naming_its_flow(runtime) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DefinitionCheckFailed) as refused:
        upload_check(diagram(condition="r == 1 or " * 3000 + "False"), runtime)
    [problem] = refused.value.problems
    assert problem.element_id == "f3"
    assert "conditionExpression: the expression or script is 30,005 characters long" in str(problem)


def test_the_limit_is_a_setting() -> None:
    from core.config import load_settings

    settings = load_settings({"secret_key": "k" * 32}, environ={"GMP_SCRIPT_MAX_SOURCE_CHARS": "50000"})
    runtime = build_runtime(settings=settings)
    assert runtime.sandbox == SandboxConfig(timeout_seconds=2, memory_mb=256, workers=2, max_source_chars=50_000)
    upload_check(diagram(condition="r == 1 or " * 3000 + "False"), runtime)  # 30,005 characters: accepted now
    with pytest.raises(DefinitionCheckFailed, match="more than the limit of 50,000"):
        upload_check(diagram(script="x = 1\n" * 10_000), runtime)


@pytest.mark.parametrize("script, message", [
    ("x = (" * 150 + "1" + ")" * 150, "too many nested parentheses|not valid Python"),
    ("x = " + "-" * 19_000 + "1", "too complex|not valid Python|recursed|too much memory"),
    ("import os", "import statements are not allowed"),
])
def test_sources_within_the_limit_are_compiled_in_a_worker(runtime, script: str, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DefinitionCheckFailed, match=message) as refused:
        upload_check(diagram(script=script), runtime)
    assert refused.value.problems[0].element_id == "compute"


def test_an_ordinary_diagram_passes(runtime) -> None:  # type: ignore[no-untyped-def]
    upload_check(diagram(script="r = 1\nnote = now().strftime('%Y')"), runtime)
