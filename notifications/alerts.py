"""Security alerts to administrators: `notify_security_alerts(db)` gives each active administrator
one notification per open security alert, once (so alerts reach administrators by e-mail too)."""
from __future__ import annotations

from sqlalchemy import select

from core import clock
from notifications.models import Notification
from signatures.identities import list_users, role_kind_of
from signatures.lockout import list_alerts
from signatures.models import RoleKind
from store.db import Database

ALERT_KIND = "security_alert"


def alert_link(alert_id: int) -> str:
    """Path of a security alert on the administrators' alert page."""
    return f"/admin/alerts#alert-{alert_id}"


def notify_security_alerts(db: Database) -> int:
    """One `security_alert` notification per open alert and active administrator, once; return how many."""
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
