"""Telling the crew: a notification to each crew member (and the requester) in their inbox.

The permit's timers fire in the scheduler, which runs without the web application, so the
notifications are queued here, in the step's own unit of work, with `notifications.queue.notify`
(the queue the web interface reads). The `gmp notify` worker e-mails them like any other notification.
"""
from __future__ import annotations

from typing import Any, Iterable

from notifications.queue import notify

KIND = "work_permit"


def notify_people(uow: Any, people: Iterable[str], title: str, body: str, instance_id: Any) -> list[str]:
    """Queue one notification per person (each once); returns whom."""
    whom: list[str] = []
    for user_id in people:
        user_id = str(user_id or "").strip()
        if user_id and user_id not in whom:
            whom.append(user_id)
    for user_id in whom:
        notify(uow, user_id, KIND, title[:500], body, f"/records/{instance_id}")
    return whom
