"""Notifications in the application (and by e-mail when GMP_SMTP_HOST is set).

Stored notifications (`web_notification`) are written with `notify(uow, ...)` in the
caller's unit of work; `deliver_email(db, settings)` sends those not yet e-mailed (called by
the scheduler or `gmp` commands; it does nothing without GMP_SMTP_HOST). The page also shows
live items: open security alerts for administrators and the tasks waiting in the user's inbox.
"""
from __future__ import annotations

import smtplib
from email.message import EmailMessage
from typing import Any

from flask import Blueprint, g, redirect, render_template, url_for
from sqlalchemy import select

from core import clock
from core.config import Settings
from core.errors import NotFound
from store.db import Database
from web.models import Notification
from web.uow import unit_of_work

bp = Blueprint("notifications", __name__, url_prefix="/notifications")


def notify(uow: Any, user_id: str, kind: str, title: str, body: str = "", link: str | None = None) -> Notification:
    """Queue a notification for a user in the caller's unit of work."""
    row = Notification(user_id=user_id, kind=kind[:40], title=title, body=body, link=link,
                       created_at=clock.isoformat(clock.now()))
    uow.session.add(row)
    uow.session.flush()
    return row


def deliver_email(db: Database, settings: Settings, addresses: dict[str, str]) -> int:
    """E-mail every notification not yet e-mailed to users with a known address; return how many were sent."""
    if not settings.smtp_host:
        return 0
    sent = 0
    with db.session() as session:
        rows = list(session.execute(select(Notification).where(Notification.emailed_at.is_(None))
                                    .order_by(Notification.id)).scalars())
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.connector_timeout_seconds) as smtp:
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password or "")
            for row in rows:
                address = addresses.get(row.user_id)
                if not address:
                    continue
                message = EmailMessage()
                message["From"], message["To"], message["Subject"] = settings.smtp_from, address, row.title
                message.set_content(row.body or row.title)
                smtp.send_message(message)
                row.emailed_at = clock.isoformat(clock.now())
                sent += 1
        session.commit()
    return sent


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    user = g.user
    alerts: list[Any] = []
    tasks: list[Any] = []
    with unit_of_work() as uow:
        rows = list(uow.session.execute(select(Notification).where(Notification.user_id == user.user_id)
                                        .order_by(Notification.id.desc()).limit(200)).scalars())
        if user.kind == "admin":
            from signatures.lockout import list_alerts

            alerts = list_alerts(uow.session)
        elif user.kind == "business":
            from engine.ports import default_services
            from engine.tasks import inbox

            tasks = inbox(uow, user.user_id, services=default_services())
        return render_template("notifications/index.html", rows=rows, alerts=alerts, tasks=tasks)


@bp.post("/<int:notification_id>/read")
def mark_read(notification_id: int):  # type: ignore[no-untyped-def]
    with unit_of_work() as uow:
        row = uow.session.get(Notification, notification_id)
        if row is None or row.user_id != g.user.user_id:
            raise NotFound(f"no notification {notification_id}")
        if row.read_at is None:
            row.read_at = clock.isoformat(clock.now())
        uow.commit()
    return redirect(url_for("notifications.index"))
