"""Late entries (Annex 11 §16, ALCOA contemporaneous): work done on a printed blank record while
the system was down, transcribed afterwards.

The task page's "Late entry" section asks for the original date and time of the work (site time
zone; in the past, and not before the task became ready), who did the work on paper (a user of
the system) and the reason. The entry then travels with the task's data under
`_form.late_entry` (so the completer's signature covers it), is audited as `task.late_entry`
next to `task.completed`, and every record page, JSON and PDF shows it as a late entry.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

from flask_babel import gettext as _
from sqlalchemy import select

from core import clock
from web.errors import WebError

REASON_MAX = 1000


class LateEntryInvalid(WebError):
    """The late-entry part of a task form is incomplete or impossible."""

    http_status = 422


@dataclass(frozen=True)
class LateEntry:
    original_time: datetime
    performed_by: str
    performed_by_name: str
    reason: str
    transcribed_by: str
    transcribed_by_name: str
    transcribed_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"late_entry": True, "original_time": clock.isoformat(self.original_time),
                "performed_by": self.performed_by, "performed_by_name": self.performed_by_name, "reason": self.reason,
                "transcribed_by": self.transcribed_by, "transcribed_by_name": self.transcribed_by_name,
                "transcribed_at": clock.isoformat(self.transcribed_at)}


def ready_since(session: Any, task_id: str) -> datetime | None:
    """When the task became ready (its first `task.state_changed` to ready in the trail)."""
    import json

    from audit.models import AuditEntry

    rows = session.execute(select(AuditEntry.ts, AuditEntry.changes).where(
        AuditEntry.object_type == "task", AuditEntry.object_id == task_id,
        AuditEntry.action == "task.state_changed").order_by(AuditEntry.seq)).all()
    for ts, changes in rows:
        if any(isinstance(c, list) and len(c) == 3 and c[0] == "state" and c[2] == "ready" for c in json.loads(changes)):
            return clock.parse_iso(ts)
    return None


def from_form(form: Mapping[str, str], session: Any, task_id: str, user: Any, settings: Any) -> LateEntry | None:
    """The late entry the form declares, checked; None when the work is entered as it happens."""
    from signatures.models import UserAccount

    if not form.get("late_entry"):
        return None
    text = (form.get("late_at") or "").strip()
    try:
        local = datetime.fromisoformat(text)
    except ValueError as exc:
        raise LateEntryInvalid(_("Late entry: give the date and time the work was done on paper.")) from exc
    if local.tzinfo is None:
        local = local.replace(tzinfo=settings.tz())
    original = local.astimezone(timezone.utc)
    now = clock.now()
    if original > now:
        raise LateEntryInvalid(_("Late entry: the time the work was done (%(time)s) is in the future.", time=text))
    ready = ready_since(session, task_id)
    if ready is not None and original < ready.replace(second=0, microsecond=0):
        raise LateEntryInvalid(_("Late entry: the work cannot have been done at %(time)s, before the task was ready "
                                 "(%(ready)s UTC).", time=text, ready=ready.strftime("%Y-%m-%d %H:%M")))
    reason = (form.get("late_reason") or "").strip()
    if not reason:
        raise LateEntryInvalid(_("Late entry: give the reason (for example the system outage)."))
    if len(reason) > REASON_MAX:
        raise LateEntryInvalid(_("Late entry: the reason is longer than %(count)s characters.", count=REASON_MAX))
    performer_id = (form.get("late_by") or "").strip()
    performer = session.get(UserAccount, performer_id) if performer_id else None
    if performer is None:
        raise LateEntryInvalid(_("Late entry: give the user ID of the person who did the work on paper."))
    return LateEntry(original, performer.user_id, performer.printed_name, reason, user.user_id, user.printed_name, now)


def audit(uow: Any, task_id: str, instance_id: int, entry: LateEntry) -> None:
    uow.audit("task.late_entry", "task", task_id, reason=entry.reason,
              changes=[["original_time", None, clock.isoformat(entry.original_time)]],
              details={"instance_id": instance_id, **entry.to_json()})
