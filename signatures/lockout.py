"""Failed attempts, lockout and security alerts (P11-300d).

A failed login or signing attempt is recorded with `uow.record_refusal` and counted
by an `uow.after_rollback` callback: the unit of work rolls back, and in a fresh
transaction the failure count rises and, at `settings.lockout_threshold`, the account
locks, a security alert is written and a `user.locked` audit entry appended. So a
failed attempt changes nothing except the count, the alert and the audit trail.
The caller must let the unit of work roll back (leave the `with` block on the error).
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit import chain
from audit.canonical import SYSTEM, Actor, AuditEvent
from core import clock
from core.config import Settings
from signatures.accounts import require_admin
from signatures.errors import AccountStateError, InvalidIdentityData
from signatures.models import SecurityAlert, UserAccount, UserStatus
from store.uow import UnitOfWork


def register_failure(uow: UnitOfWork, user: UserAccount | None, user_id: str, action: str, reason: str,
                     settings: Settings, details: dict[str, Any] | None = None, count: bool = True) -> None:
    """Record a refused attempt; count it toward the lockout of `user` when `count`."""
    actor = Actor(user.user_id, user.printed_name) if user is not None else SYSTEM
    uow.record_refusal(action, "user", user_id, reason=reason, details=details or {}, actor=actor)
    if user is not None and count:
        threshold = settings.lockout_threshold
        uow.after_rollback(lambda session: _count_failure(session, user_id, threshold))


def _count_failure(session: Session, user_id: str, threshold: int) -> None:
    user = session.execute(
        select(UserAccount).where(UserAccount.user_id == user_id).with_for_update()
    ).scalar_one_or_none()
    if user is None:
        return
    user.failed_attempts = (user.failed_attempts or 0) + 1
    if user.failed_attempts >= threshold and user.status == UserStatus.ACTIVE.value:
        user.status = UserStatus.LOCKED.value
        user.locked_at = clock.now()
        message = f"account {user_id} locked after {user.failed_attempts} failed attempts"
        session.add(SecurityAlert(created_at=clock.now(), kind="account_locked", user_id=user_id, message=message))
        session.flush()
        chain.append(session, [AuditEvent(action="user.locked", object_type="user", object_id=user_id,
                                          actor=SYSTEM,
                                          changes=[["status", UserStatus.ACTIVE.value, UserStatus.LOCKED.value]],
                                          reason=message, details={"failed_attempts": user.failed_attempts})])
    session.flush()


def list_alerts(session: Session, include_acknowledged: bool = False) -> list[SecurityAlert]:
    query = select(SecurityAlert).order_by(SecurityAlert.created_at.desc(), SecurityAlert.id.desc())
    if not include_acknowledged:
        query = query.where(SecurityAlert.acknowledged_at.is_(None))
    return list(session.execute(query).scalars())


def acknowledge_alert(uow: UnitOfWork, alert_id: int, reason: str) -> SecurityAlert:
    admin = require_admin(uow)
    if not (reason or "").strip():
        raise InvalidIdentityData("acknowledging a security alert needs a reason")
    alert = uow.session.get(SecurityAlert, alert_id)
    if alert is None:
        raise AccountStateError(f"no security alert {alert_id}")
    if alert.acknowledged_at is not None:
        raise AccountStateError(f"security alert {alert_id} is acknowledged already")
    alert.acknowledged_at = clock.now()
    alert.acknowledged_by = admin.user_id
    uow.session.flush()
    uow.audit("security_alert.acknowledged", "security_alert", alert_id, reason=reason,
              changes=[["acknowledged_by", None, admin.user_id]])
    return alert
