"""The active-permits board (no web framework here): every permit with its location, work type,
time window and status, computed from the instance and the task it stands at.

    permits(session, include_closed=False) -> [PermitRow]

Status, from where the permit stands: requested, hazard_assessment, isolating, gas_testing,
awaiting_approval, active (issued, inside its window), expired (the window has passed, the
suspension timer has not fired yet), suspended (the window ended during the work, or a periodic
re-check failed: the work task is withdrawn and the crew told to stop; after a failed re-check
the work resumes only once a re-test passes), closing (isolations being removed, hand-back),
closed, cancelled.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bpmn.work_permit import rules
from bpmn.work_permit.rules import PROCESS_KEY
from core import clock
from engine import instances
from engine.models import InstanceTask
from engine.spiff.serializer import row_data
from engine.spiff.workflow import READY

STATUS_LABELS: dict[str, tuple[str, str]] = {
    "requested": ("Requested", "已申请"),
    "hazard_assessment": ("Hazard assessment", "危害评估"),
    "isolating": ("Isolating", "隔离中"),
    "gas_testing": ("Gas testing", "气体检测中"),
    "awaiting_approval": ("Awaiting approval", "待批准"),
    "active": ("Active", "作业中"),
    "expired": ("Expired", "已过期"),
    "suspended": ("Suspended", "已暂停"),
    "suspended_recheck": ("Suspended: re-check failed", "已暂停：复查不合格"),
    "closing": ("Closing out", "关闭中"),
    "closed": ("Closed", "已关闭"),
    "cancelled": ("Cancelled", "已取消"),
}
_AT = {"request": "requested", "apply_isolations": "isolating", "gas_test": "gas_testing", "enter_gas": "gas_testing",
       "area_approval": "awaiting_approval", "issue": "awaiting_approval", "work": "active",
       "resume_work": "suspended_recheck",
       "remove_isolations": "closing", "handback_requester": "closing", "handback_area": "closing"}


@dataclass(frozen=True)
class PermitRow:
    instance_id: int
    key: str | None
    work_type: str | None
    location: str
    equipment: str
    valid_from: str | None
    valid_until: str | None
    status: str
    at: list[str]
    crew: list[str]

    def work_type_label(self, zh: bool) -> str:
        labels = rules.WORK_TYPES.get(self.work_type or "")
        return (labels[1] if zh else labels[0]) if labels else "-"

    def status_label(self, zh: bool) -> str:
        en, zh_label = STATUS_LABELS[self.status]
        return zh_label if zh else en


def _latest_data(session: Session, instance_id: int) -> dict[str, Any]:
    bodies = session.execute(select(InstanceTask.body).where(
        InstanceTask.instance_id == instance_id, InstanceTask.dropped.is_(False), InstanceTask.state >= 8,
        InstanceTask.state <= 64).order_by(InstanceTask.seq.desc()).limit(5)).scalars()
    for body in bodies:
        data = row_data(body)
        if data:
            return dict(data)
    return {}


def _status(instance_status: str, at: list[str], data: dict[str, Any], valid_until: str | None) -> str:
    if instance_status == "completed":
        return "closed"
    if instance_status == "cancelled":
        return "cancelled"
    states = [_AT.get(bpmn_id) or ("hazard_assessment" if bpmn_id.startswith("hazards_") else "requested")
              for bpmn_id in at]
    if "closing" in states and data.get("suspension"):
        return "suspended"
    if "active" in states:
        if valid_until is not None and clock.isoformat(clock.now()) >= valid_until:
            return "expired"
        return "active"
    return states[0] if states else "requested"


def permits(session: Session, include_closed: bool = False) -> list[PermitRow]:
    rows = []
    for found in reversed(instances.list_instances(session, key=PROCESS_KEY)):
        if not include_closed and found["status"] in ("completed", "cancelled"):
            continue
        at = sorted(session.execute(select(InstanceTask.bpmn_id).where(
            InstanceTask.instance_id == found["id"], InstanceTask.state == READY, InstanceTask.manual.is_(True),
            InstanceTask.dropped.is_(False))).scalars())
        data = _latest_data(session, found["id"])
        plan = data.get("permit") or {}
        until = plan.get("valid_until")
        rows.append(PermitRow(
            instance_id=found["id"], key=found["business_key"], work_type=data.get("work_type"),
            location=str(data.get("location") or ""), equipment=str(data.get("equipment") or ""),
            valid_from=plan.get("valid_from") or data.get("valid_from"), valid_until=until or data.get("valid_until"),
            status=_status(found["status"], at, data, until), at=at,
            crew=[str(r.get("member")) for r in data.get("crew") or [] if isinstance(r, dict)]))
    return rows
