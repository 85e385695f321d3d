"""Notifications in the application (and by e-mail when GMP_SMTP_HOST is set).

The page. Stored notifications are written with `notifications.queue.notify(uow, ...)` and
e-mailed by the `gmp notify` worker (both in the `notifications` package, below the web). The page
also shows live items: open security alerts for administrators and the tasks waiting in the
user's inbox.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, g, redirect, render_template, url_for
from sqlalchemy import select

from core import clock
from core.errors import NotFound
from notifications.models import Notification
from web.uow import unit_of_work

bp = Blueprint("notifications", __name__, url_prefix="/notifications")


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    user = g.user
    alerts: list[Any] = []
    tasks: list[Any] = []
    task_total = 0
    with unit_of_work() as uow:
        rows = list(uow.session.execute(select(Notification).where(Notification.user_id == user.user_id)
                                        .order_by(Notification.id.desc()).limit(200)).scalars())
        if user.kind == "admin":
            from signatures.lockout import list_alerts

            alerts = list_alerts(uow.session)
        elif user.kind == "business":
            from engine.listing import inbox_page
            from engine.ports import default_services

            waiting = inbox_page(uow, user.user_id, services=default_services(), per_page=20)
            tasks, task_total = waiting.items, waiting.total
        return render_template("notifications/index.html", rows=rows, alerts=alerts, tasks=tasks, task_total=task_total)


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
