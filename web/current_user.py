"""Who is signed in: the server-side session (signatures.sessions) behind the cookie's session id.

Each request checks that the session is open and not idle beyond the timeout (in a
read-only transaction), and marks activity: in a short write of its own, at most every
`TOUCH_EVERY` (a session may so end up to that much before the full timeout, never after).
An ended or expired session is dropped from the cookie and the reason kept for the sign-in
page (session timeout, deactivation, sign-out elsewhere).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import Flask, g, request, session
from sqlalchemy.orm import Session

from audit.canonical import Actor
from web.uow import settings, unit_of_work

SESSION_KEY = "sid"
UNTRACKED = {"assets.static", "health.healthz"}
TOUCH_EVERY = timedelta(seconds=30)
PASSIVE = {"tasks.live"}
"""Endpoints polled by scripts: they need a live session but are not user activity, so an
unattended page does not keep its session open."""


@dataclass(frozen=True)
class CurrentUser:
    user_id: str
    printed_name: str
    roles: frozenset[str]
    kind: str | None
    session_id: str
    language: str | None = None
    signed_in_session: bool = False

    @property
    def actor(self) -> Actor:
        return Actor(self.user_id, self.printed_name)


def load_current_user() -> None:
    g.user = None
    if request.blueprint == "api":
        return  # the API for other systems: bearer tokens only, never the session (web.api.auth)
    sid = session.get(SESSION_KEY)
    if not sid or request.endpoint in UNTRACKED:
        return
    from core import clock
    from signatures.errors import SessionError
    from signatures.identities import get_user, role_kind_of, roles_of
    from signatures.sessions import get_active_session

    with unit_of_work(read_only=True) as uow:
        try:
            row = get_active_session(uow.session, sid, settings())
        except SessionError as exc:
            session.pop(SESSION_KEY, None)
            g.session_ended = str(exc)
            return
        stale = request.endpoint not in PASSIVE and clock.now() - row.last_activity_at >= TOUCH_EVERY
        user = get_user(uow.session, row.user_id)
        kind = role_kind_of(uow.session, user.user_id)
        current = CurrentUser(user.user_id, user.printed_name, frozenset(roles_of(uow.session, user.user_id)),
                              kind.value if kind is not None else None, sid, preferred_language(uow.session, user.user_id),
                              bool(row.signed_in_session))
    if stale:
        mark_activity(sid)
    g.user = current


def mark_activity(sid: str) -> None:
    from signatures.models import AuthSession
    from signatures.sessions import touch

    with unit_of_work(read_only=False) as uow:
        row = uow.session.get(AuthSession, sid)
        if row is not None and row.ended_at is None:
            touch(uow.session, row)
        uow.commit()


def preferred_language(session: Session, user_id: str) -> str | None:
    from web.models import UserPreference

    row = session.get(UserPreference, user_id)
    return row.language if row else None


def init_app(app: Flask) -> None:
    app.before_request(load_current_user)
    app.jinja_env.globals["current_user"] = lambda: g.get("user")
