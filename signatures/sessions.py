"""Server-side authentication sessions: what makes a "continuous session" (P11-200a1).

Login creates a row; the web layer keeps only its id. Inactivity beyond
`settings.session_timeout_minutes` ends the session. `signed_in_session` records that
the user has signed with every component during this session, so later signings in it
need the password only.
"""
from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import clock
from core.config import Settings
from signatures.errors import SessionExpired, UnknownSession
from signatures.models import AuthSession, UserAccount, UserStatus
from store.uow import UnitOfWork


def create_session(session: Session, user: UserAccount, client: str | None = None) -> AuthSession:
    now = clock.now()
    row = AuthSession(id=secrets.token_urlsafe(32), user_id=user.user_id, created_at=now, last_activity_at=now,
                      signed_in_session=False, client=(client or None) and client[:200])
    session.add(row)
    session.flush()
    return row


def expires_at(auth_session: AuthSession, settings: Settings):  # type: ignore[no-untyped-def]
    return auth_session.last_activity_at + timedelta(minutes=settings.session_timeout_minutes)


def is_active(auth_session: AuthSession, settings: Settings) -> bool:
    return auth_session.ended_at is None and clock.now() < expires_at(auth_session, settings)


def get_active_session(session: Session, session_id: str, settings: Settings) -> AuthSession:
    """The session if it is open and not idle for longer than the timeout; else a precise error."""
    row = session.get(AuthSession, session_id) if session_id else None
    if row is None:
        raise UnknownSession("unknown session: log in")
    if row.ended_at is not None:
        raise SessionExpired(f"session ended ({row.end_reason}): log in again")
    if clock.now() >= expires_at(row, settings):
        raise SessionExpired(f"session expired after {settings.session_timeout_minutes} minutes of inactivity: "
                             "log in again")
    user = session.get(UserAccount, row.user_id)
    if user is None or user.status != UserStatus.ACTIVE.value:
        raise SessionExpired("the account is no longer active: log in again")
    return row


def touch(session: Session, auth_session: AuthSession) -> None:
    """Mark activity now (the caller's unit of work commits it)."""
    auth_session.last_activity_at = clock.now()
    session.flush()


def logout(uow: UnitOfWork, auth_session: AuthSession, reason: str = "logout") -> None:
    if auth_session.ended_at is not None:
        return
    auth_session.ended_at = clock.now()
    auth_session.end_reason = reason
    uow.session.flush()
    uow.audit("user.logout", "user", auth_session.user_id, details={"session": auth_session.id[:8], "reason": reason})


def end_sessions_of(session: Session, user_id: str, reason: str) -> int:
    rows = list(session.execute(
        select(AuthSession).where(AuthSession.user_id == user_id, AuthSession.ended_at.is_(None))
    ).scalars())
    for row in rows:
        row.ended_at = clock.now()
        row.end_reason = reason
    session.flush()
    return len(rows)
