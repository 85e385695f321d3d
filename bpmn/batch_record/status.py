"""A batch's status, derived from its steps (contract: planned | in_progress | on_hold | completed |
qa_approved | released | rejected).

    batch_status(session, instance_id) -> "in_progress"

Nobody sets a status: it follows from what the batch record's steps did.
- planned: ordered, the order not yet signed;
- in_progress: the order signed;
- completed: production review signed;
- qa_approved: QA review by exception signed;
- released / rejected: the QP's signed release or rejection;
- on_hold: at least one running deviation is related to the batch (raised from it, or
  affecting it), whatever the other steps say, until released or rejected.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine.models import InstanceTask

STATUSES = ("planned", "in_progress", "on_hold", "completed", "qa_approved", "released", "rejected")
# the step whose completion sets the status, latest first
STEPS = (("qp_reject", "rejected"), ("qp_release", "released"), ("qa_review", "qa_approved"),
         ("production_review", "completed"), ("sign_order", "in_progress"))
FINAL = ("released", "rejected")


def completed_steps(session: Any, instance_id: int) -> set[str]:
    from engine.spiff.workflow import COMPLETED

    return set(session.scalars(select(InstanceTask.bpmn_id).where(InstanceTask.instance_id == instance_id,
                                                                  InstanceTask.state == COMPLETED)))


def open_deviations(session: Any, instance_id: int) -> list[Any]:
    """The open deviations raised from the batch or affecting it (the release gate's own reading)."""
    from bpmn.deviation_capa.gate import open_deviations as gate_open_deviations

    return gate_open_deviations(session, instance_id)


def batch_status(session: Any, instance_id: int) -> str:
    done = completed_steps(session, instance_id)
    status = next((name for step, name in STEPS if step in done), "planned")
    if status not in FINAL and open_deviations(session, instance_id):
        return "on_hold"
    return status
