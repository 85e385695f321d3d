"""Diagram hygiene beyond what runs: bpmn.io's bpmnlint and the diagram layout (BPMNDI).

The diagrams the project ships pass bpmnlint's `recommended` rules and carry layout for
every flow node and sequence flow, so any BPMN modeler opens them as drawn
(tests/bpmn/test_diagram_lint.py). `gmp process check` reports both as findings beside
the engine's checks; they never stop an upload (a diagram runs without layout).

- `layout_problems(name, content)`: flow nodes without a `bpmndi:BPMNShape`, sequence flows
  without a `bpmndi:BPMNEdge` (pure lxml, always available).
- `bpmnlint()`: the installed bpmnlint (`Bpmnlint`, with `.version`), or None. It is the
  version pinned in tools/bpmnlint/package.json, installed there by `make test` and `.ci/run`
  (`npm ci --prefix tools/bpmnlint`); Node.js runs tools/bpmnlint/lint.js.
- `Bpmnlint.lint(paths)` -> `{path: [Finding]}`.
- `diagram_findings(files)`: both for the .bpmn files of a bundle, as lines (`gmp process check`).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from lxml import etree

from engine.errors import EngineError

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
TOOL_DIR = Path(__file__).resolve().parents[1] / "tools" / "bpmnlint"
PINNED_MAJOR = 11
TIMEOUT_S = 120
FLOW_NODES = frozenset({
    "task", "userTask", "manualTask", "serviceTask", "scriptTask", "sendTask", "receiveTask", "businessRuleTask",
    "callActivity", "subProcess", "transaction", "adHocSubProcess", "exclusiveGateway", "parallelGateway",
    "inclusiveGateway", "eventBasedGateway", "complexGateway", "startEvent", "intermediateCatchEvent",
    "intermediateThrowEvent", "boundaryEvent", "endEvent"})


class LintToolError(EngineError):
    """bpmnlint is installed but could not run, or is not the pinned major version."""

    http_status = 500


@dataclass(frozen=True)
class Finding:
    """One finding: the rule, the element id (may be empty), the message, error or warning."""

    rule: str
    element_id: str
    message: str
    category: str

    def __str__(self) -> str:
        where = f"element '{self.element_id}': " if self.element_id else ""
        return f"{where}{self.message} (bpmnlint {self.rule}, {self.category})"


def layout_problems(name: str, content: bytes) -> list[str]:
    """What a modeler could not draw: flow nodes and sequence flows without diagram layout."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(content, parser)
    except etree.XMLSyntaxError as exc:
        return [f"{name}: not well-formed XML: {exc.msg}"]
    shapes = {e.get("bpmnElement") for e in root.iter(f"{{{BPMNDI_NS}}}BPMNShape")}
    edges = {e.get("bpmnElement") for e in root.iter(f"{{{BPMNDI_NS}}}BPMNEdge")}
    out = []
    for element in root.iter(f"{{{BPMN_NS}}}*"):
        local = etree.QName(element.tag).localname
        element_id = element.get("id")
        if local in FLOW_NODES and element_id not in shapes:
            out.append(f"{name}:{element.sourceline}: {local} '{element_id}' has no diagram layout (BPMNShape)")
        elif local == "sequenceFlow" and element_id not in edges:
            out.append(f"{name}:{element.sourceline}: sequence flow '{element_id}' has no diagram layout (BPMNEdge)")
    return out


@dataclass(frozen=True)
class Bpmnlint:
    node: str
    script: Path
    version: str

    def lint(self, paths: Iterable[Path]) -> dict[str, list[Finding]]:
        """bpmnlint's findings per file (recommended rules), parse errors included."""
        paths = [str(p) for p in paths]
        if not paths:
            return {}
        answer = _run([self.node, str(self.script), *paths])
        return {path: [Finding(f["rule"], f["id"], f["message"], f["category"]) for f in found]
                for path, found in answer["files"].items()}


def _run(command: list[str]) -> dict:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LintToolError(f"bpmnlint could not run: {exc}") from exc
    if done.returncode != 0:
        raise LintToolError(f"bpmnlint failed (exit {done.returncode}): {done.stderr.strip()[:2000]}")
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError) as exc:
        raise LintToolError(f"bpmnlint printed no result: {done.stdout[:500]!r}") from exc


def bpmnlint(tool_dir: Path = TOOL_DIR) -> Bpmnlint | None:
    """The installed bpmnlint, or None when Node.js or the package is not installed.

    Raises LintToolError when an installed bpmnlint is not the pinned major version."""
    node = shutil.which("node")
    script = tool_dir / "lint.js"
    package = tool_dir / "node_modules" / "bpmnlint" / "package.json"
    if node is None or not script.is_file() or not package.is_file():
        return None
    version = str(json.loads(package.read_text(encoding="utf-8")).get("version", ""))
    if version.split(".")[0] != str(PINNED_MAJOR):
        raise LintToolError(f"bpmnlint {version} is installed in {tool_dir}; the checks need major version "
                            f"{PINNED_MAJOR} (run `npm ci --prefix {tool_dir}`)")
    return Bpmnlint(node, script, version)


def diagram_findings(files: Mapping[str, bytes], tool_dir: Path = TOOL_DIR) -> tuple[list[str], str | None]:
    """Layout problems and bpmnlint's findings for the .bpmn files of a bundle, and the
    bpmnlint version used (None when it is not installed: layout only)."""
    bpmn = {name: content for name, content in sorted(files.items()) if name.lower().endswith(".bpmn")}
    out = [problem for name, content in bpmn.items() for problem in layout_problems(name, content)]
    linter = bpmnlint(tool_dir)
    if linter is None or not bpmn:
        return out, None
    with tempfile.TemporaryDirectory(prefix="gmp-bpmnlint-") as folder:
        paths = {}
        for index, (name, content) in enumerate(bpmn.items()):
            path = Path(folder) / f"{index}.bpmn"
            path.write_bytes(content)
            paths[str(path)] = name
        for path, findings in linter.lint([Path(p) for p in paths]).items():
            out.extend(f"{paths[path]}: {finding}" for finding in findings)
    return out, linter.version
