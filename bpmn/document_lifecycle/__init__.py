"""Document lifecycle (GMP_PROCESSES.md §3, Guide §26) and controlled copies.

Two diagrams, approved separately:

    lifecycle/document_lifecycle.bpmn   process `document_lifecycle`, business key CODE/VERSION:
        draft (content file stored, SHA-256 recorded) -> parallel review (a comment sends it back)
        -> QA approval (signed) puts the version in the register for its effective date -> training
        instances for everyone whose role needs it -> training check before the date (postpone or a
        documented exception) -> effective on the date (timer): the previous version superseded ->
        periodic review (timer: confirm, revise, withdraw) -> obsolete on withdrawal.
    copies/controlled_copy.bpmn          process `controlled_copy`, key CCR-NNNN: request -> QA
        approval -> numbered PDF copy marked "controlled copy" -> distribution -> return or destruction.

`install(runtime, env=None)` adds the `document` gate and its task property and the
operators (bpmn.document_lifecycle.operators) to a runtime (bpmn.glue.extend calls it).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LIFECYCLE = HERE / "lifecycle"
COPIES = HERE / "copies"
FOLDERS = (LIFECYCLE, COPIES)
PROCESS_ID = "document_lifecycle"
COPY_PROCESS_ID = "controlled_copy"


def files_of(folder: Path) -> dict[str, bytes]:
    """The files of one diagram's upload (the .bpmn and its forms)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def install(runtime: Any, env: Any = None) -> Any:
    """Add the document gate, its property and the operators to `runtime` (not frozen)."""
    from bpmn.document_lifecycle import gate, operators

    if gate.PROPERTY not in runtime.properties:
        runtime.properties.register(gate.PROPERTY_DECLARATION)
    if gate.GATE not in runtime.gates:
        runtime.gates.register(gate.GATE_DECLARATION)
    for name, function in operators.OPERATORS.items():
        if name not in runtime.operators:
            runtime.operators.register(name, function, description=(function.__doc__ or "").strip().split("\n")[0])
    return runtime
