"""Special-work permit (permit to work): process `work_permit`, business keys PTW-0001, ...

The diagram (work_permit.bpmn) runs a permit from request to hand-back: the requester names
the work type, place, time window and crew; the area owner confirms the work type's hazard
checklist; the isolation authority applies and locks the isolation points, whose states are
read from the plant over the equipment connector; the EHS officer tests the atmosphere (gas
detector over the connector, or a manual entry verified by a second person); the area owner
and the EHS officer (two people) approve and issue; the crew works inside the window; the
permit expires by timer (work suspended, crew notified) and is re-checked periodically;
close-out reads the isolation points back as restored; requester and area owner sign the
hand-back.

`install(runtime, env)` adds the permit's operators (bpmn.work_permit.operators), gates
(bpmn.work_permit.gates) and record sections (bpmn.work_permit.record: isolation and gas readings)
to an engine runtime; `env` is the connector environment (database,
settings, equipment client) for calls whose context carries none (None: from the context).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from bpmn.work_permit.rules import PROCESS_KEY

DIAGRAM_DIR = Path(__file__).resolve().parent
__all__ = ["PROCESS_KEY", "DIAGRAM_DIR", "install", "diagram_files"]


def install(runtime: Any, env: Any = None) -> Any:
    from bpmn.work_permit import gates, operators, record

    operators.register(runtime.operators, env)
    for gate in gates.gates(env):
        runtime.gates.register(gate, replace=True)
    record.register(runtime)
    return runtime


def diagram_files() -> dict[str, bytes]:
    """The files of the permit's definition (diagram and forms), as an upload takes them."""
    return {str(p.relative_to(DIAGRAM_DIR)): p.read_bytes() for p in sorted(DIAGRAM_DIR.rglob("*"))
            if p.is_file() and p.suffix in (".bpmn", ".json", ".dmn")}
