"""Notifications without the web framework: queue, overdue scan, e-mail delivery.

Used by the web views (`web/notifications.py`, `web/operator.py`) and by the `gmp notify`
worker (`web/notify_cli.py`). Nothing here imports Flask.

- `notify(uow, ...)` queues a stored notification in the caller's unit of work.
- `notify_overdue(db, settings)` notifies, once per task and user, the active holders of a
  lane's role about each ready user task that has waited longer than
  `notify_overdue_hours`, or whose task data or instance data carries a `due_at` in the past.
- `notify_security_alerts(db)` gives each active administrator one notification per open
  security alert (so alerts reach administrators by e-mail too).
- `deliver_email(db, settings, addresses)` e-mails the notifications not yet e-mailed, one
  commit per message: a failure leaves the rest undelivered (retried next time) and raises
  `EmailDeliveryFailed`; nothing is lost and nothing already sent is sent again.
"""
from __future__ import annotations

import json
import smtplib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Mapping

from sqlalchemy import select

from core import clock
from core.config import Settings
from core.errors import GmpError
from store.db import Database
from web.models import Notification

OVERDUE_KIND = "task_overdue"
ALERT_KIND = "security_alert"
ADDRESS_FILE = "notification_addresses.json"


class NotificationError(GmpError):
    """Root of the notification errors."""


class EmailDeliveryFailed(NotificationError):
    """The SMTP server could not be reached or refused a message; undelivered rows stay queued."""


class AddressBookInvalid(NotificationError):
    """The address book file is not a JSON object of user id -> e-mail address."""


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
    from engine.instances import InstanceStatus
    from engine.models import InstanceTask, ProcessInstance
    from engine.tasks import READY
    from signatures.identities import list_users, roles_of

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


def alert_link(alert_id: int) -> str:
    """Path of a security alert on the administrators' alert page."""
    return f"/admin/alerts#alert-{alert_id}"


def notify_security_alerts(db: Database) -> int:
    """One `security_alert` notification per open alert and active administrator, once; return how many."""
    from signatures.identities import list_users, role_kind_of
    from signatures.lockout import list_alerts
    from signatures.models import RoleKind

    created = 0
    with db.session() as session:
        alerts = list_alerts(session)
        if not alerts:
            return 0
        admins = [p.user_id for p in list_users(session)
                  if p.status == "active" and role_kind_of(session, p.user_id) is RoleKind.ADMIN]
        for alert in reversed(alerts):  # oldest first
            link = alert_link(alert.id)
            already = set(session.execute(select(Notification.user_id).where(
                Notification.kind == ALERT_KIND, Notification.link == link)).scalars())
            for user_id in admins:
                if user_id not in already:
                    session.add(Notification(user_id=user_id, kind=ALERT_KIND,
                                             title=f"Security alert: {alert.kind}", body=alert.message, link=link,
                                             created_at=clock.isoformat(clock.now())))
                    created += 1
        session.commit()
    return created


def load_addresses(settings: Settings) -> dict[str, str]:
    """The address book: `<instance>/notification_addresses.json` ({user id: address}), if present."""
    path = Path(settings.instance_path) / ADDRESS_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AddressBookInvalid(f"{path}: {exc}") from exc
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) and "@" in v
                                             for k, v in data.items()):
        raise AddressBookInvalid(f"{path}: expected a JSON object of user id -> e-mail address")
    return dict(data)


def deliver_email(db: Database, settings: Settings, addresses: Mapping[str, str]) -> int:
    """E-mail every notification not yet e-mailed to users with a known address; return how many were sent.

    Does nothing without GMP_SMTP_HOST. Each sent message is committed (`emailed_at`) at once;
    an SMTP failure raises `EmailDeliveryFailed` and leaves the unsent rows queued.
    """
    if not settings.smtp_host:
        return 0
    sent = 0
    with db.session() as session:
        rows = [r for r in session.execute(select(Notification).where(Notification.emailed_at.is_(None))
                                           .order_by(Notification.id)).scalars() if addresses.get(r.user_id)]
        if not rows:
            return 0
        try:
            with smtplib.SMTP(settings.smtp_host, settings.smtp_port,
                              timeout=settings.connector_timeout_seconds) as smtp:
                if settings.smtp_user:
                    smtp.login(settings.smtp_user, settings.smtp_password or "")
                for row in rows:
                    message = EmailMessage()
                    message["From"], message["To"] = settings.smtp_from, addresses[row.user_id]
                    message["Subject"] = row.title
                    message.set_content(row.body or row.title)
                    smtp.send_message(message)
                    row.emailed_at = clock.isoformat(clock.now())
                    session.commit()
                    sent += 1
        except (OSError, smtplib.SMTPException) as exc:
            session.rollback()
            raise EmailDeliveryFailed(f"e-mail to {settings.smtp_host}:{settings.smtp_port} failed after "
                                      f"{sent} sent, {len(rows) - sent} left queued: {exc}") from exc
    return sent
