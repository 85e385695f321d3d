"""What the batch pages show, read from the engine and the master data (no Flask here).

    batches(session)                  -> [{"instance_id", "batch_number", "product", "status", ...}], newest first
    batch_view(session, instance_id)  -> the batch: order, bill of materials with PPE, steps with their
                                         signatures (and late entries), set-points, samplings, exceptions,
                                         deviations, changed entries
    instance_for(session, number)     -> the instance id of batch `number` (None if there is none)
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bpmn.batch_record.plan import PROCESS_KEY
from bpmn.batch_record.review import changed_entries, deviations, exceptions
from bpmn.batch_record.status import batch_status
from engine.models import InstanceTask

STATUS_LABELS = {"planned": ("Planned", "计划"), "in_progress": ("In progress", "生产中"),
                 "on_hold": ("On hold", "暂停"), "completed": ("Completed", "已完成"),
                 "qa_approved": ("QA approved", "QA 已批准"), "released": ("Released", "已放行"),
                 "rejected": ("Rejected", "已拒绝")}


def instance_for(session: Any, number: str) -> int | None:
    from engine.business_keys import find

    return find(session, PROCESS_KEY, number)


def current_data(session: Any, instance_id: int) -> dict[str, Any]:
    """The batch's data as it stands: its newest reached task's (the instance's own once ended)."""
    from engine import instances
    from engine.spiff.serializer import row_data
    from engine.spiff.workflow import COMPLETED, READY, STARTED

    found = dict(instances.inspect(session, instance_id)["data"])
    newest = session.scalars(select(InstanceTask).where(
        InstanceTask.instance_id == instance_id, InstanceTask.state.in_((READY, STARTED, COMPLETED)))
        .order_by(InstanceTask.state.in_((READY, STARTED)).desc(), InstanceTask.seq.desc())).first()
    if newest is not None:
        found.update(row_data(newest.body))
    return found


def batches(session: Any, limit: int = 200) -> list[dict[str, Any]]:
    from engine import instances

    rows = instances.list_instances(session, key=PROCESS_KEY, limit=limit)
    out = []
    for row in reversed(rows):
        status = batch_status(session, row["id"])
        out.append({"instance_id": row["id"], "batch_number": row.get("business_key") or f"#{row['id']}",
                    "title": row.get("title"), "status": status, "status_label": STATUS_LABELS[status],
                    "started_at": row.get("started_at"), "instance_status": row.get("status")})
    return out


def _signatures(session: Any, task_id: str) -> list[dict[str, Any]]:
    from signatures.service import signatures_for

    return [{"signer": s.signer_id, "name": s.printed_name, "meaning": s.meaning, "at": s.signed_at}
            for s in signatures_for(session, "task", task_id)]


def _late_entry(row: Any) -> dict[str, Any] | None:
    """The late entry a completed step carries (web.late_entry: work done on paper while the system
    was down, transcribed afterwards), or None."""
    import json

    body = json.loads(row.body) if row.body else {}
    provenance = (body.get("data") or {}).get("_form")
    late = provenance.get("late_entry") if isinstance(provenance, dict) else None
    return late if isinstance(late, dict) and late.get("late_entry") else None


def batch_view(session: Any, instance_id: int) -> dict[str, Any]:
    from engine import instances
    from engine.spiff.workflow import state_name

    inspected = instances.inspect(session, instance_id)
    data = current_data(session, instance_id)
    rows = session.scalars(select(InstanceTask).where(InstanceTask.instance_id == instance_id,
                                                      InstanceTask.manual.is_(True))
                           .order_by(InstanceTask.seq)).all()
    steps = []
    for row in rows:
        state = state_name(row.state) or ""
        if state not in ("ready", "started", "completed", "error", "cancelled"):
            continue
        steps.append({"task_id": row.id, "bpmn_id": row.bpmn_id, "name": row.bpmn_name, "lane": row.lane,
                      "state": state, "claimed_by": row.claimed_by, "updated_at": row.updated_at,
                      "signatures": _signatures(session, row.id) if state == "completed" else [],
                      "late_entry": _late_entry(row) if state == "completed" else None})
    setpoints = [dict(data[k], phase=k.split("_")[0]) for k in ("granulation_setpoint", "drying_setpoint")
                 if isinstance(data.get(k), dict)]
    samplings = []
    for key in ("granulation", "drying"):
        samples, cpp = data.get(f"{key}_samples"), data.get(f"{key}_cpp")
        if isinstance(samples, dict):
            samplings.append({"phase": key, "sampling_id": samples.get("sampling_id"), "rounds": samples.get("rounds"),
                              "tags": samples.get("tags") or {}, "in_limits": (cpp or {}).get("in_limits")})
    status = batch_status(session, instance_id)
    return {"instance_id": instance_id, "batch_number": inspected.get("business_key"), "title": inspected["title"],
            "status": status, "status_label": STATUS_LABELS[status], "instance_status": inspected["status"],
            "started_at": inspected["started_at"], "started_by": inspected["started_by"],
            "product": data.get("product"), "recipe": data.get("recipe"), "recipe_revision": data.get("recipe_revision"),
            "batch_size": data.get("batch_size"), "planned_date": data.get("planned_date"),
            "bom": data.get("bom") or [], "dispensing": data.get("dispensing") or [], "plan": data.get("plan") or {},
            "steps": steps, "setpoints": setpoints, "samplings": samplings,
            "yield": data.get("yield_check"), "ipc": data.get("ipc_check"),
            "exceptions": exceptions(session, instance_id), "deviations": deviations(session, instance_id),
            "changed": changed_entries(session, instance_id), "assessments": data.get("assessments") or [],
            "decision": data.get("decision"), "decision_reason": data.get("decision_reason")}
