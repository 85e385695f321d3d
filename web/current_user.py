"""Who is signed in: the server-side session (signatures.sessions) behind the cookie's session id.

Each request checks that the session is open and not idle beyond the timeout, and marks
activity. An ended or expired session is dropped from the cookie and the reason kept for
the sign-in page (session timeout, deactivation, sign-out elsewhere).
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, g, request, session
from sqlalchemy.orm import Session

from audit.canonical import Actor
from web.uow import settings, unit_of_work

SESSION_KEY = "sid"
UNTRACKED = {"assets.static", "health.healthz"}
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
    from signatures.errors import SessionError
    from signatures.identities import get_user, role_kind_of, roles_of
    from signatures.sessions import get_active_session, touch

    with unit_of_work() as uow:
        try:
            row = get_active_session(uow.session, sid, settings())
        except SessionError as exc:
            session.pop(SESSION_KEY, None)
            g.session_ended = str(exc)
            return
        if request.endpoint not in PASSIVE:
            touch(uow.session, row)
        user = get_user(uow.session, row.user_id)
        kind = role_kind_of(uow.session, user.user_id)
        current = CurrentUser(user.user_id, user.printed_name, frozenset(roles_of(uow.session, user.user_id)),
                              kind.value if kind is not None else None, sid, preferred_language(uow.session, user.user_id),
                              bool(row.signed_in_session))
        uow.commit()
    g.user = current


def preferred_language(session: Session, user_id: str) -> str | None:
    from web.models import UserPreference

    row = session.get(UserPreference, user_id)
    return row.language if row else None


def init_app(app: Flask) -> None:
    app.before_request(load_current_user)
    app.jinja_env.globals["current_user"] = lambda: g.get("user")
