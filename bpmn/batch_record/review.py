"""What the QA review by exception and the QP look at: a batch's exceptions, its linked
deviations and the entries changed after first entry (Annex 11 §8).

    items = review_items(session, instance_id)     # [ReviewItem(reference, kind, ...)], oldest first
    flags = changed_entries(session, instance_id)  # audit entries of values changed after first entry
    missing = unassessed(session, instance_id, assessments)

Exceptions carry the executed record's stable references (web.records): `F:<task id>:<field>`
for a value entered outside its limits, `E:<id>` for an exception a step recorded
(engine.messages.record_exception), `S:<reading id>` for a sampled value outside its tag's
limits; a deviation is referenced by its business key (e.g. DEV-2026-0001, else `#<id>`). QA
assesses each reference in a row of the review form's `assessments` (columns `exception_ref`,
`assessment`, `decision`: what the record reads); the gate `batch_record` refuses the review
(and the release) while one is missing.
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
    return f"E:{exception_id}"


def deviations(session: Any, instance_id: int) -> list[ReviewItem]:
    found = related(session, instance_id, relation=DEVIATION_RELATIONS, process=DEVIATION_PROCESS_KEY)
    items, seen = [], set()
    for item in found:
        if item.instance_id in seen:
            continue
        seen.add(item.instance_id)
        items.append(ReviewItem(item.business_key or f"#{item.instance_id}", "deviation",
                                item.title or "", item.element_id or "", item.created_at or "", item.status,
                                item.instance_id, {"relation": item.relation}))
    return items


def values_out_of_limits(session: Any, instance_id: int) -> list[ReviewItem]:
    """Values accepted outside their limits with the person's comment (each completed task's form record)."""
    from engine.spiff.serializer import row_data
    from engine.spiff.workflow import COMPLETED

    items = []
    rows = session.scalars(select(InstanceTask).where(InstanceTask.instance_id == instance_id,
                                                      InstanceTask.state == COMPLETED, InstanceTask.manual.is_(True))
                           .order_by(InstanceTask.seq))
    for row in rows:
        record = row_data(row.body).get("_form")
        fields = record.get("fields") if isinstance(record, Mapping) else None
        for path, field_record in (fields or {}).items():
            if isinstance(field_record, Mapping) and field_record.get("out_of_limits"):
                items.append(ReviewItem(f"F:{row.id}:{path}", "value_out_of_limits",
                                        str(field_record.get("exception_comment") or ""), row.bpmn_id or "",
                                        row.updated_at, details={"field": path, "value": field_record.get("value"),
                                                                 "limits": field_record.get("limits")}))
    return items


def samples_out_of_limits(session: Any, instance_id: int) -> list[ReviewItem]:
    """Sampled values outside their tag's limits."""
    from connectors.models import EquipmentReading

    rows = session.scalars(select(EquipmentReading).where(EquipmentReading.instance_id == str(instance_id),
                                                          EquipmentReading.sampling_id.is_not(None),
                                                          EquipmentReading.within_limits == 0)
                           .order_by(EquipmentReading.id))
    return [ReviewItem(f"S:{r.id}", "sample_out_of_limits", f"{r.tag_name} {json.loads(r.value_json)} {r.unit}",
                       r.task_id or "", r.source_timestamp, details={"sampling_id": r.sampling_id}) for r in rows]


def exceptions(session: Any, instance_id: int) -> list[ReviewItem]:
    recorded = [ReviewItem(exception_reference(e["id"]), e["kind"], e["message"], e["element_id"], e["recorded_at"],
                           details=e["details"]) for e in exceptions_of(session, instance_id)]
    return values_out_of_limits(session, instance_id) + recorded + samples_out_of_limits(session, instance_id)


def review_items(session: Any, instance_id: int) -> list[ReviewItem]:
    """Every exception of the batch (values out of limits, recorded exceptions, samples out of
    limits), then every deviation linked to it."""
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
    return {str(row.get("exception_ref") or "").strip().upper() for row in assessments or ()
            if isinstance(row, Mapping) and str(row.get("assessment") or "").strip()}


def unassessed(session: Any, instance_id: int, assessments: Iterable[Mapping[str, Any]] | None) -> list[str]:
    """References of the batch's exceptions and deviations that no assessment row covers."""
    done = assessed_references(assessments)
    return [item.reference for item in review_items(session, instance_id) if item.reference.upper() not in done]
