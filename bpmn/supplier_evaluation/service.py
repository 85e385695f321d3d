"""Supplier evaluation: what the `supplier_evaluation` process computes (no Flask, no SpiffWorkflow).

    performance(session, "SUP-INDO")          # deviations, OOS results, complaints, rejected lots -> history
    decision_problem(data, instance_data)     # why a decision cannot be taken as entered
    draft_asl(uow, ...)                       # the approved supplier list entry drafted under change control

History, computed from the system (never typed): the deviations raised with `context.supplier`
(engine audit entries `deviation.raised`, contract item 1), split by `source_kind` into
out-of-specification results (`ipc_oos`, `oos`), complaints (`complaint`) and other deviations,
plus the supplier's lots rejected by QC (masterdata.lots). `new`: no lot and no event; `good`:
lots and no event; `fair`: one or two events; `poor`: three or more.
"""
from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import clock
from masterdata import changes, lots

PROCESS_ID = "supplier_evaluation"
OOS_KINDS = ("ipc_oos", "oos")
COMPLAINT_KINDS = ("complaint",)
REEVALUATION_DAYS = 365
REEVALUATION_LEAD_DAYS = 30
REJECTION_STANDS_DAYS = 5 * 365


class SupplierError(ValueError):
    """A supplier evaluation input that cannot be used: a code and its message's parameters."""

    def __init__(self, code: str, message: str, **params: Any) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


def today() -> date:
    return clock.now().date()


def request_problem(session: Session, supplier: str, material: str) -> SupplierError | None:
    if changes.effective(session, "supplier", supplier) is None:
        return SupplierError("unknown_supplier", f"supplier {supplier} is not in the master data in force",
                             supplier=supplier)
    if changes.effective(session, "material", material) is None:
        return SupplierError("unknown_material", f"material {material} is not in the master data in force",
                             material=material)
    return None


# what triggers an evaluation started by hand (its start page); the re-evaluation starts itself
TRIGGERS = ("new_supplier", "new_material", "change_at_supplier", "quality_issue", "other")


def _name(session: Session, kind: str, code: str) -> str:
    found = changes.effective(session, kind, code)
    return str((found.data or {}).get("name") or code) if found is not None else code


def start_problem(session: Session, supplier: str, material: str, trigger: str, reason: str) -> SupplierError | None:
    """Why an evaluation cannot be started as entered (its start page), None when it can."""
    if not supplier:
        return SupplierError("supplier_required", "choose the supplier")
    if not material:
        return SupplierError("material_required", "choose the material")
    problem = request_problem(session, supplier, material)
    if problem is not None:
        return problem
    if trigger not in TRIGGERS:
        return SupplierError("unknown_trigger", f"{trigger or 'nothing'} is not a trigger of an evaluation",
                             trigger=trigger)
    if not reason:
        return SupplierError("reason_required", "give the reason for the evaluation")
    return None


def start_evaluation(uow: Any, supplier: str, material: str, trigger: str, reason: str, *, settings: Any = None,
                     runtime: Any = None) -> Any:
    """Start an evaluation of `supplier` for `material` (codes in force) with its trigger and reason: the
    start data `evaluation` presets the request's supplier and material; the business key is the
    process's own numbering (SE-0001). Raises SupplierError, starting nothing."""
    from engine import instances

    supplier, material, reason = supplier.strip(), material.strip(), reason.strip()
    problem = start_problem(uow.session, supplier, material, trigger, reason)
    if problem is not None:
        raise problem
    title = (f"Evaluation of {_name(uow.session, 'supplier', supplier)} ({supplier}) for "
             f"{_name(uow.session, 'material', material)} ({material})")[:200]
    return instances.start(uow, PROCESS_ID, title=title, settings=settings, runtime=runtime, data={"evaluation": {
        "supplier": supplier, "material": material, "trigger": trigger, "reason": reason[:2000]}})


def raised_deviations(session: Session, supplier: str) -> list[dict[str, Any]]:
    """Deviations raised with `context.supplier` = supplier (their raise audit entries), oldest first."""
    from audit.models import AuditEntry

    found = []
    for object_id, details in session.execute(select(AuditEntry.object_id, AuditEntry.details).where(
            AuditEntry.action == "deviation.raised").order_by(AuditEntry.seq)):
        try:
            data = json.loads(details or "{}")
        except ValueError:
            continue
        context = data.get("context") or {}
        if context.get("supplier") == supplier:
            found.append({"instance": object_id, "title": data.get("title"), "kind": context.get("source_kind"),
                          "material": context.get("material"), "lot": context.get("lot")})
    return found


def performance(session: Session, supplier: str, material: str | None = None) -> dict[str, Any]:
    """The supplier's performance data computed from the system, with its history class."""
    events = raised_deviations(session, supplier)
    oos = [e for e in events if e["kind"] in OOS_KINDS]
    complaints = [e for e in events if e["kind"] in COMPLAINT_KINDS]
    others = [e for e in events if e["kind"] not in OOS_KINDS + COMPLAINT_KINDS]
    received = [lot for lot in lots.lots(session) if lot.supplier == supplier]
    rejected = [lot.lot for lot in received if lot.status == "rejected"]
    count = len(events) + len(rejected)
    history = "new" if not received and not count else "good" if not count else "fair" if count <= 2 else "poor"
    return {"supplier": supplier, "material": material, "lots_received": len(received),
            "lots_rejected": rejected, "deviations": len(others), "oos_results": len(oos),
            "complaints": len(complaints), "events": [e["instance"] for e in events], "history": history,
            "computed_on": today().isoformat()}


def decision_problem(data: Mapping[str, Any], instance: Mapping[str, Any]) -> SupplierError | None:
    decision = data.get("decision")
    if decision in ("approved", "conditional"):
        until = data.get("valid_until")
        if not until:
            return SupplierError("valid_until_required", "an approval names the date it is valid until")
        day = until if isinstance(until, date) else date.fromisoformat(str(until))
        if day <= today():
            return SupplierError("valid_until_past", f"the approval must be valid after today ({day.isoformat()})",
                                 until=day.isoformat())
    if decision == "conditional" and not str(data.get("conditions") or "").strip():
        return SupplierError("conditions_required", "a conditional approval names its conditions")
    if decision == "approved":
        if instance.get("risk") == "high" and instance.get("audit_outcome") != "satisfactory":
            return SupplierError("audit_unsatisfactory", "a high-risk supplier is approved only after a "
                                 "satisfactory audit", outcome=str(instance.get("audit_outcome") or "none"))
        if instance.get("qualification_result") != "pass":
            return SupplierError("qualification_failed", "the qualification lots did not comply: the supplier "
                                 "cannot be approved")
    return None


def asl_entry(supplier: str, material: str, decision: str, valid_until: Any, conditions: str | None,
              scope: str | None) -> dict[str, Any]:
    if decision == "rejected":
        until = (today() + timedelta(days=REJECTION_STANDS_DAYS)).isoformat()
    else:
        until = valid_until.isoformat() if isinstance(valid_until, date) else str(valid_until)
    entry: dict[str, Any] = {"code": f"{supplier}:{material}", "supplier": supplier, "material": material,
                             "status": decision, "valid_until": until}
    if str(scope or "").strip():
        entry["scope"] = str(scope).strip()
    if str(conditions or "").strip():
        entry["conditions"] = str(conditions).strip()
    return entry


def draft_asl(uow: Any, settings: Any, entry: Mapping[str, Any], reason: str) -> int:
    """Draft the approved supplier list entry under change control; the change set id. A second
    QA person approves it by signature (masterdata.changes) before it is in force."""
    from masterdata.kinds import APPROVED_SUPPLIER

    code = entry["code"]
    action = "change" if changes.history(uow.session, "approved_supplier", code) else "create"
    found = changes.draft_set(uow, None, APPROVED_SUPPLIER, [(code, dict(entry), action)], reason,
                              settings=settings)
    return int(found.id)


def change_set_status(session: Session, set_id: int) -> str:
    """'approved' once every change of the set is approved (in force or to be), else the first other status."""
    found = changes.get_change_set(session, int(set_id))
    other = [c.status for c in found.changes if c.status not in changes.IN_FORCE_STATUSES]
    return other[0] if other else "approved"


def reevaluate_at(entry: Mapping[str, Any]) -> str:
    """When the re-evaluation starts: a year from today, or 30 days before the approval ends if sooner."""
    until = date.fromisoformat(entry["valid_until"])
    day = min(today() + timedelta(days=REEVALUATION_DAYS), until - timedelta(days=REEVALUATION_LEAD_DAYS))
    return f"{max(day, today()).isoformat()}T00:00:00Z"
