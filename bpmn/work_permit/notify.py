"""Telling the crew: a notification to each crew member (and the requester) in their inbox.

The permit's timers fire in the scheduler, which runs without the web application, so the
notification rows are written here, in the step's own unit of work, into the notification
queue the web interface reads (table `web_notification`, owned by web.models and described
in web.notify_core). The `gmp notify` worker e-mails them like any other notification.
"""
from __future__ import annotations

from typing import Any, Iterable

from sqlalchemy import column, insert, table

from core import clock

NOTIFICATIONS = table("web_notification", column("user_id"), column("kind"), column("title"), column("body"),
                      column("link"), column("created_at"))
KIND = "work_permit"


def notify_people(uow: Any, people: Iterable[str], title: str, body: str, instance_id: Any) -> list[str]:
    """Queue one notification per person (each once); returns whom."""
    whom: list[str] = []
    for user_id in people:
        user_id = str(user_id or "").strip()
        if user_id and user_id not in whom:
            whom.append(user_id)
    if whom:
        at = clock.isoformat(clock.now())
        uow.session.execute(insert(NOTIFICATIONS), [
            {"user_id": u, "kind": KIND, "title": title[:500], "body": body, "link": f"/records/{instance_id}",
             "created_at": at} for u in whom])
    return whom
