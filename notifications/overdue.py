"""The overdue-task scan of the `gmp notify` worker.

`notify_overdue(db, settings)` notifies, once per task and user, the active holders of a lane's
role about each ready user task that has waited longer than `notify_overdue_hours`, or whose task
data or instance data carries a `due_at` in the past.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select

from core import clock
from core.config import Settings
from engine.instances import InstanceStatus
from engine.models import InstanceTask, ProcessInstance
from engine.tasks import READY
from notifications.models import Notification
from notifications.queue import task_link
from signatures.identities import list_users, roles_of
from store.db import Database

OVERDUE_KIND = "task_overdue"


@dataclass
class OverdueResult:
    notified: int = 0
    problems: list[str] = field(default_factory=list)


def parse_due(value: Any) -> datetime:
    """A `due_at` value: ISO 8601 text with a time zone, or a date (due at its end, UTC)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"due_at must be ISO 8601 text, not {value!r}")
    text = value.strip()
    if len(text) == 10:
        return datetime.fromisoformat(text).replace(tzinfo=timezone.utc) + timedelta(days=1)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"due_at {value!r} has no time zone")
    return moment


def _due_of(task_body: str, workflow_json: str) -> Any:
    data = json.loads(task_body).get("data") or {}
    if isinstance(data, dict) and data.get("due_at") is not None:
        return data["due_at"]
    header = json.loads(workflow_json)
    wf_data = header.get("data") if isinstance(header, dict) else None
    return wf_data.get("due_at") if isinstance(wf_data, dict) else None


def notify_overdue(db: Database, settings: Settings) -> OverdueResult:
    """Notify lane-role holders of overdue ready tasks, once per task and user; return counts and problems."""
    result = OverdueResult()
    now = clock.now()
    waited_limit = now - timedelta(hours=settings.notify_overdue_hours)
    with db.session() as session:
        rows = session.execute(
            select(InstanceTask, ProcessInstance.title, ProcessInstance.workflow_json)
            .join(ProcessInstance, ProcessInstance.id == InstanceTask.instance_id)
            .where(InstanceTask.state == READY, InstanceTask.manual.is_(True),
                   InstanceTask.dropped.is_(False), InstanceTask.lane.is_not(None),
                   ProcessInstance.status == InstanceStatus.RUNNING.value)
            .order_by(InstanceTask.instance_id, InstanceTask.seq)).all()
        if not rows:
            return result
        people = [p for p in list_users(session) if p.status == "active"]
        roles = {p.user_id: roles_of(session, p.user_id) for p in people}
        for task, title, workflow_json in rows:
            name = task.bpmn_name or task.bpmn_id or task.spec_name
            reason = None
            due_raw = _due_of(task.body, workflow_json)
            if due_raw is not None:
                try:
                    due = parse_due(due_raw)
                except ValueError as exc:
                    result.problems.append(f"task {task.id} ({name}): {exc}")
                    due = None
                if due is not None and due <= now:
                    reason = f"due at {clock.isoformat(due)}"
            if reason is None and clock.parse_iso(task.updated_at) <= waited_limit:
                reason = f"waiting since {task.updated_at} (more than {settings.notify_overdue_hours} h)"
            if reason is None:
                continue
            link = task_link(task.id)
            already = set(session.execute(select(Notification.user_id).where(
                Notification.kind == OVERDUE_KIND, Notification.link == link)).scalars())
            for person in people:
                if task.lane in roles[person.user_id] and person.user_id not in already:
                    session.add(Notification(user_id=person.user_id, kind=OVERDUE_KIND,
                                             title=f"Overdue: {name}", body=f"{title}: {reason}", link=link,
                                             created_at=clock.isoformat(now)))
                    result.notified += 1
        session.commit()
    return result
