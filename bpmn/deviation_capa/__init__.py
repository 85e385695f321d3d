"""Deviation and CAPA (process id `deviation`, business key DEV-YYYY-NNNN).

The diagram `deviation_capa.bpmn` (lanes qa and investigator), its forms under `forms/`, the
decision table `deviation_class.dmn` (severity x occurrence x detectability -> minor, major,
critical) and what the process plugs into an engine runtime. `install(runtime, env)` (called
by bpmn.glue) adds:
- the release gate `deviations` (bpmn.deviation_capa.gate; batch records name it on the QP task);
- the `deviation.owner` task property and its gate `deviation.owner`, and the step checks
  `deviation.triage|investigation|capa|action|closure` (bpmn.deviation_capa.checks);
- the operators `deviation.intake|link_batches|start_capa_links|record_closure`
  (bpmn.deviation_capa.operators);
- its record sections "Deviation report" and "CAPA actions" (bpmn.deviation_capa.sections).
Nothing registers at import.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from bpmn.deviation_capa import checks, operators, sections
from bpmn.deviation_capa.gate import DEVIATIONS_GATE, GATE

PROCESS_KEY = "deviation"
FOLDER = Path(__file__).resolve().parent
BUNDLE_SUFFIXES = (".bpmn", ".dmn", ".json")


def install(runtime: Any, env: Any = None) -> Any:
    """Add the deviation process's gates, property and operators to `runtime` (not frozen); idempotent."""
    for prop in checks.PROPERTIES:
        if prop.name not in runtime.properties:
            runtime.properties.register(prop)
    for gate in (GATE, *checks.GATES):
        if gate.name not in runtime.gates:
            runtime.gates.register(gate)
    operators.register(runtime.operators)
    runtime.record_sections.register_missing(sections.SECTIONS)
    return runtime


def bundle() -> dict[str, bytes]:
    """The process's files as uploaded to the library (diagram, decision table, forms)."""
    return {str(p.relative_to(FOLDER)): p.read_bytes() for p in sorted(FOLDER.rglob("*"))
            if p.is_file() and p.suffix in BUNDLE_SUFFIXES}


def messages() -> dict[str, str]:
    """Every refusal template of the process's gates (gate.code -> English), for the catalogue test."""
    return {f"{gate.name}.{code}": template for gate in (GATE, *checks.GATES) for code, template in gate.codes.items()}


__all__ = ["DEVIATIONS_GATE", "PROCESS_KEY", "install", "bundle", "messages"]
