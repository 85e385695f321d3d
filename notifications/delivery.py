"""E-mail delivery of queued notifications.

`load_addresses(settings)` reads the address book; `deliver_email(db, settings, addresses)`
e-mails the notifications not yet e-mailed, one commit per message: a failure leaves the rest
undelivered (retried next time) and raises `EmailDeliveryFailed`; nothing is lost and nothing
already sent is sent again.
"""
from __future__ import annotations

import json
import smtplib
from email.message import EmailMessage
from pathlib import Path
from typing import Mapping

from sqlalchemy import select

from core import clock
from core.config import Settings
from notifications.errors import AddressBookInvalid, EmailDeliveryFailed
from notifications.models import Notification
from store.db import Database

ADDRESS_FILE = "notification_addresses.json"


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
