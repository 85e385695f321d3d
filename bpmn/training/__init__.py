"""Training qualification (process id `training`, business key TRN-NNNN; GMP_PROCESSES.md §4).

    training.bpmn      lanes trainee (the person the training is for: `assignee`), trainer,
                       training_coordinator; plan -> per document: read and understood (signed) ->
                       exam from the question bank (shuffled, graded on the server, limited attempts,
                       failure returns to study) -> practical assessment by a trainer (signed
                       `assessed`, not the trainee) -> approval (signed) -> qualifications granted
                       with their validity -> timer: requalification started before they lapse
    forms/*.json       the task forms
    operators.py       training.plan / prepare_exam / grade_exam / grant
    exam.py            papers and grading
    gate.py            gates `not_trainee` (four eyes) and `current_document`
    triggers.py        the role hook (new user, role granted) and `start_training`
    record.py          its sections of the executed record (curriculum, exam answers, qualifications)
    demo.py            demo data for `make run`

`install(runtime, env)` adds the operators, the gate and the role hook to an engine runtime
(bpmn.glue calls it). Nothing registers at import. `bundle()` is the definition's upload.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from bpmn.training import operators, record, triggers
from bpmn.training.gate import DOCUMENT_GATE, GATE

PROCESS_KEY = "training"
HERE = Path(__file__).resolve().parent


def bundle() -> dict[str, bytes]:
    """The files of the training definition (diagram and forms), as uploaded."""
    return {str(p.relative_to(HERE)): p.read_bytes() for p in sorted(HERE.rglob("*"))
            if p.is_file() and p.suffix in (".bpmn", ".json", ".dmn")}


def install(runtime: Any, env: Any = None) -> Any:
    """Add the training operators, the gate `not_trainee` and the role hook to `runtime` (not frozen)."""
    operators.register(runtime.operators)
    for gate in (GATE, DOCUMENT_GATE):
        if gate.name not in runtime.gates:
            runtime.gates.register(gate)
    if "training" not in runtime.role_hooks:
        runtime.add_role_hook("training", triggers.roles_granted)
    runtime.record_sections.register_missing(record.SECTIONS)
    return runtime


def messages() -> dict[str, str]:
    """The gate's refusal templates (code -> English), for the catalogue test."""
    return {f"{gate.name}.{code}": template for gate in (GATE, DOCUMENT_GATE) for code, template in gate.codes.items()}
