"""The diagrams the project ships pass bpmn.io's bpmnlint (recommended rules) and carry
layout for every flow node and sequence flow (engine.diagram_lint).

bpmnlint is the version pinned in tools/bpmnlint/package.json, installed by `make test` and
`.ci/run` (`npm ci --prefix tools/bpmnlint`); without it the bpmnlint tests skip, and fail
under GMP_TEST_REQUIRE_ALL=1."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from engine.diagram_lint import PINNED_MAJOR, TOOL_DIR, LintToolError, bpmnlint, layout_problems
from tests.conftest import missing

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted([*(ROOT / "bpmn").rglob("*.bpmn"), *(ROOT / "docs" / "examples").rglob("*.bpmn")])

UNDRAWN = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="http://x">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:task id="loose"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="loose"/>
  </bpmn:process>
</bpmn:definitions>
"""


def tool():  # type: ignore[no-untyped-def]
    found = bpmnlint()
    if found is None:
        missing(f"bpmnlint {PINNED_MAJOR} with Node.js (npm ci --prefix tools/bpmnlint)")
    return found


def test_the_project_ships_diagrams():
    names = {p.relative_to(ROOT).as_posix() for p in SHIPPED}
    assert {"bpmn/demo_processes/scale/scale.bpmn", "docs/examples/line_clearance/line_clearance.bpmn"} <= names


@pytest.mark.req("URS-LIB-006")
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_shipped_diagram_has_layout_for_every_flow_node_and_flow(path):
    assert layout_problems(path.name, path.read_bytes()) == []


def test_a_diagram_without_layout_is_named_element_by_element():
    assert layout_problems("undrawn.bpmn", UNDRAWN) == [
        "undrawn.bpmn:4: startEvent 'start' has no diagram layout (BPMNShape)",
        "undrawn.bpmn:5: task 'loose' has no diagram layout (BPMNShape)",
        "undrawn.bpmn:6: sequence flow 'f1' has no diagram layout (BPMNEdge)"]
    [broken] = layout_problems("broken.bpmn", b"<bpmn:definitions")
    assert broken.startswith("broken.bpmn: not well-formed XML: ")


@pytest.mark.req("URS-LIB-006")
def test_every_shipped_diagram_passes_bpmnlint_recommended():
    linter = tool()
    assert linter.version.split(".")[0] == str(PINNED_MAJOR)
    found = linter.lint(SHIPPED)
    assert set(found) == {str(p) for p in SHIPPED}
    problems = {Path(path).relative_to(ROOT).as_posix(): [str(f) for f in items] for path, items in found.items()
                if items}
    assert problems == {}


def test_bpmnlint_names_the_rule_and_element_of_each_problem(tmp_path):
    linter = tool()
    (tmp_path / "undrawn.bpmn").write_bytes(UNDRAWN)
    (tmp_path / "broken.bpmn").write_bytes(b"<bpmn:definitions")
    found = linter.lint([tmp_path / "undrawn.bpmn", tmp_path / "broken.bpmn"])
    rules = {(f.rule, f.element_id, f.category) for f in found[str(tmp_path / "undrawn.bpmn")]}
    assert {("no-bpmndi", "start", "error"), ("no-bpmndi", "loose", "error"), ("end-event-required", "p", "error"),
            ("label-required", "loose", "error")} <= rules
    [broken] = found[str(tmp_path / "broken.bpmn")]
    assert (broken.rule, broken.category) == ("import", "error") and broken.message.startswith("Parse error:")


def test_a_bpmnlint_of_another_major_version_is_refused(tmp_path):
    if shutil.which("node") is None:
        missing("Node.js")
    (tmp_path / "lint.js").write_text((TOOL_DIR / "lint.js").read_text())
    package = tmp_path / "node_modules" / "bpmnlint" / "package.json"
    package.parent.mkdir(parents=True)
    package.write_text(json.dumps({"name": "bpmnlint", "version": "10.3.0"}))
    with pytest.raises(LintToolError, match="bpmnlint 10.3.0 is installed .* need major version 11"):
        bpmnlint(tmp_path)
    assert bpmnlint(tmp_path / "nowhere") is None  # not installed: the caller decides (skip, or fail in CI)
