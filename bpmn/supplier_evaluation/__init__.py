"""Supplier evaluation (process `supplier_evaluation`, GMP_PROCESSES.md §7): the diagram, its
forms, the risk decision table, and what it plugs into the engine runtime.

`install(runtime, env)` adds:
- the gate `supplier_evaluation` (named in a task's `gates`; decides at completion): the
  supplier and the material requested are in the master data in force; a decision names its
  validity date (after today) and, if conditional, its conditions; a high-risk supplier is
  approved only after a satisfactory audit, and only with complying qualification lots; the
  approved supplier list entry is confirmed only once a second QA person has approved it;
- the operators the diagram calls:
    supplier.performance(supplier, material)  -> performance data and history computed from the system
    supplier.raise_findings(supplier, material) -> a deviation (CAPA) per audit finding
        that needs one (`source_kind: audit_finding`)
    supplier.draft_asl(...)                   -> the approved supplier list entry drafted under
        change control, the date the re-evaluation starts
    supplier.start_reevaluation(...)          -> the next evaluation, linked `started_by`
- its record sections (bpmn.supplier_evaluation.sections): evaluation and risk, audit,
  qualification lots, decision and approved supplier list entry.
Nothing registers at import time.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from bpmn.supplier_evaluation import sections, service
from engine.gates import Gate, GateContext
from engine.operators import OperatorFailed, Param
from forms.errors import N_

FOLDER = Path(__file__).resolve().parent
DIAGRAM = FOLDER / "diagram"
GATE = "supplier_evaluation"
CONFIRM_TASK = "confirm_asl"
GATE_CODES = {
    "unknown_supplier": N_("supplier %(supplier)s is not in the master data in force"),
    "unknown_material": N_("material %(material)s is not in the master data in force"),
    "valid_until_required": N_("an approval names the date it is valid until"),
    "valid_until_past": N_("the approval must be valid after today (%(until)s)"),
    "conditions_required": N_("a conditional approval names its conditions"),
    "audit_unsatisfactory": N_("a high-risk supplier is approved only after a satisfactory audit (audit: "
                               "%(outcome)s)"),
    "qualification_failed": N_("the qualification lots did not comply: the supplier cannot be approved"),
    "asl_not_approved": N_("the approved supplier list entry %(entry)s is %(status)s: a second QA person approves "
                           "it under Master data first"),
}


def _gate(ctx: GateContext) -> None:
    data, instance = ctx.data, ctx.instance_data
    session = ctx.uow.session
    problem = None
    if "supplier" in data and "material" in data:
        problem = service.request_problem(session, str(data["supplier"]).strip(), str(data["material"]).strip())
    if problem is None and "decision" in data:
        problem = service.decision_problem(data, instance)
    if problem is not None:
        raise ctx.refuse(problem.code, **problem.params)
    if ctx.bpmn_id == CONFIRM_TASK and isinstance(instance.get("asl"), dict):
        status = service.change_set_status(session, instance["asl"]["change_set"])
        if status != "approved":
            raise ctx.refuse("asl_not_approved", entry=instance["asl"]["code"], status=status)


def _uow(context: Any) -> Any:
    uow = getattr(context, "uow", None)
    if uow is None:
        raise OperatorFailed("not_in_step", "supplier evaluation operators run inside an engine step")
    return uow


def _performance(context: Any, supplier: str, material: str) -> dict[str, Any]:
    return service.performance(_uow(context).session, supplier, material)


def _raise_findings(context: Any, supplier: str, material: str) -> dict[str, Any]:
    """A deviation for each finding of the audit form (`findings`) marked as needing a CAPA."""
    raised = []
    for number, finding in enumerate(context.task_data.get("findings") or [], start=1):
        if not finding.get("capa"):
            continue
        title = f"Supplier audit finding {number} ({finding['classification']}) at {supplier}: {finding['finding']}"
        raised.append(context.raise_deviation(title[:200], {
            "source_kind": "audit_finding", "supplier": supplier, "material": material,
            "finding": finding["finding"], "classification": finding["classification"],
            "evaluation_instance": context.instance_id},
            {"critical": "critical", "major": "major"}.get(finding["classification"], "minor")))
    return {"deviations": raised}


def _draft_asl(context: Any, supplier: str, material: str, decision: str) -> dict[str, Any]:
    """The decision form's validity, conditions and the request's scope come from the task data."""
    uow = _uow(context)
    data = context.task_data
    entry = service.asl_entry(supplier, material, decision, data.get("valid_until"), data.get("conditions"),
                              data.get("scope"))
    set_id = service.draft_asl(uow, context.settings, entry, f"supplier evaluation (instance {context.instance_id}): "
                               f"{decision}")
    return {"change_set": set_id, "code": entry["code"], "status": decision, "valid_until": entry["valid_until"],
            "reevaluate_at": service.reevaluate_at(entry)}


def _start_reevaluation(context: Any, supplier: str, material: str, criticality: str) -> dict[str, Any]:
    started = context.start_linked_process(service.PROCESS_ID, {"evaluation": {
        "supplier": supplier, "material": material}, "reevaluation": {
        "supplier": supplier, "material": material, "criticality": criticality,
        "scope": context.task_data.get("scope"), "previous_instance": context.instance_id}}, "started_by")
    return {"instance": started}


def install(runtime: Any, env: Any = None) -> Any:
    """Add the supplier evaluation gate and operators to `runtime` (not frozen)."""
    if GATE not in runtime.gates:
        runtime.gates.register(Gate(GATE, _gate, codes=GATE_CODES, stages=("complete",),
                                    description="supplier evaluation: request, decision, approved supplier list"))
    sections.register(runtime)
    ops = runtime.operators
    ops.register("supplier.performance", _performance, [Param("supplier", "str"), Param("material", "str")],
                 description="Performance data of a supplier computed from the system", replace=True)
    ops.register("supplier.raise_findings", _raise_findings,
                 [Param("supplier", "str"), Param("material", "str")],
                 description="A deviation (CAPA) for each audit finding that needs one", replace=True)
    ops.register("supplier.draft_asl", _draft_asl,
                 [Param("supplier", "str"), Param("material", "str"), Param("decision", "str")],
                 description="Draft the approved supplier list entry under change control", replace=True)
    ops.register("supplier.start_reevaluation", _start_reevaluation,
                 [Param("supplier", "str"), Param("material", "str"), Param("criticality", "str")],
                 description="Start the supplier's re-evaluation", replace=True)
    return runtime
