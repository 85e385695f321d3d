"""What the QA review by exception and the QP look at: a batch's exceptions, its linked
deviations and the entries changed after first entry (Annex 11 §8).

    items = review_items(session, instance_id)     # [ReviewItem(reference, kind, ...)], oldest first
    flags = changed_entries(session, instance_id)  # audit entries of values changed after first entry
    missing = unassessed(session, instance_id, assessments)

Each exception is referenced as `EXC-<id>`; each deviation by its business key (e.g.
DEV-2026-0001, else `instance <id>`). QA assesses each reference in the review form's
`assessments` rows; the gate `batch_record` refuses the review (and the release) while one is
missing.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from sqlalchemy import select

from engine.links import related
from engine.messages import DEVIATION_PROCESS_KEY, exceptions_of
from engine.models import InstanceTask

DEVIATION_RELATIONS = ("raised", "affected_by")
# audit actions that change a value after it was first entered (Annex 11 §8)
CHANGE_ACTIONS = ("task.value_corrected",)


@dataclass(frozen=True)
class ReviewItem:
    reference: str
    kind: str                      # exception kind (dispensing_tolerance, cpp_excursion, ...) or "deviation"
    message: str
    element_id: str = ""
    recorded_at: str = ""
    status: str = ""               # a deviation's instance status (running, completed, ...)
    instance_id: int | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_deviation(self) -> bool:
        return self.kind == "deviation"

    @property
    def open(self) -> bool:
        return self.is_deviation and self.status == "running"


def exception_reference(exception_id: int | str) -> str:
    return f"EXC-{exception_id}"


def deviations(session: Any, instance_id: int) -> list[ReviewItem]:
    found = related(session, instance_id, relation=DEVIATION_RELATIONS, process=DEVIATION_PROCESS_KEY)
    items, seen = [], set()
    for item in found:
        if item.instance_id in seen:
            continue
        seen.add(item.instance_id)
        items.append(ReviewItem(item.business_key or f"instance {item.instance_id}", "deviation",
                                item.title or "", item.element_id or "", item.created_at or "", item.status,
                                item.instance_id, {"relation": item.relation}))
    return items


def exceptions(session: Any, instance_id: int) -> list[ReviewItem]:
    return [ReviewItem(exception_reference(e["id"]), e["kind"], e["message"], e["element_id"], e["recorded_at"],
                       details=e["details"]) for e in exceptions_of(session, instance_id)]


def review_items(session: Any, instance_id: int) -> list[ReviewItem]:
    """Every exception recorded on the batch, then every deviation linked to it."""
    return exceptions(session, instance_id) + deviations(session, instance_id)


def changed_entries(session: Any, instance_id: int) -> list[dict[str, Any]]:
    """The batch's audit entries that change data after its first entry (corrections)."""
    from audit.models import AuditEntry

    task_ids = list(session.scalars(select(InstanceTask.id).where(InstanceTask.instance_id == instance_id)))
    if not task_ids:
        return []
    rows = session.scalars(select(AuditEntry).where(AuditEntry.object_type == "task",
                                                    AuditEntry.object_id.in_(task_ids),
                                                    AuditEntry.action.in_(CHANGE_ACTIONS))
                           .order_by(AuditEntry.seq))
    return [{"seq": row.seq, "ts": row.ts, "actor": row.actor_id, "action": row.action, "task_id": row.object_id,
             "reason": row.reason, "changes": json.loads(row.changes or "[]")} for row in rows]


def assessed_references(assessments: Iterable[Mapping[str, Any]] | None) -> set[str]:
    return {str(row.get("reference") or "").strip().upper() for row in assessments or ()
            if str(row.get("assessment") or "").strip()}


def unassessed(session: Any, instance_id: int, assessments: Iterable[Mapping[str, Any]] | None) -> list[str]:
    """References of the batch's exceptions and deviations that no assessment row covers."""
    done = assessed_references(assessments)
    return [item.reference for item in review_items(session, instance_id) if item.reference.upper() not in done]
