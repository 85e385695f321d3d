"""Queueing a notification in the caller's unit of work (it commits or rolls back with the work)."""
from __future__ import annotations

from typing import Any

from core import clock
from notifications.models import Notification


def notify(uow: Any, user_id: str, kind: str, title: str, body: str = "", link: str | None = None) -> Notification:
    """Queue a notification for a user in the caller's unit of work."""
    row = Notification(user_id=user_id, kind=kind[:40], title=title, body=body, link=link,
                       created_at=clock.isoformat(clock.now()))
    uow.session.add(row)
    uow.session.flush()
    return row


def task_link(task_id: str) -> str:
    """Path of a task's page in the web application (the `tasks.task` view)."""
    return f"/tasks/{task_id}"
