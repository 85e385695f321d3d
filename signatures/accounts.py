"""Account queries and guards: who a user is, their roles and kind, whether they may administer.

The lowest module about accounts: the role catalogue, credentials, lockout, enrolment
and the administrative commands (identities.py) all stand on it; it imports none of them.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.canonical import Actor
from core import clock
from signatures.errors import NotAuthorised, RoleConflict, UnknownUser
from signatures.models import Role, RoleKind, UserAccount, UserRole, UserStatus
from store.uow import UnitOfWork

User = UserAccount

__all__ = ["User", "get_user", "list_users", "roles_of", "role_kind_of", "actor_for", "is_expired", "require_admin"]


def get_user(session: Session, user_id: str) -> UserAccount:
    user = session.get(UserAccount, user_id)
    if user is None:
        raise UnknownUser(f"unknown user {user_id!r}")
    return user


def list_users(session: Session) -> list[UserAccount]:
    return list(session.execute(select(UserAccount).order_by(UserAccount.user_id)).scalars())


def roles_of(session: Session, user_id: str) -> set[str]:
    """Names of the roles currently granted to the user."""
    return set(session.execute(
        select(UserRole.role).where(UserRole.user_id == user_id, UserRole.revoked_at.is_(None))
    ).scalars())


def role_kind_of(session: Session, user_id: str) -> RoleKind | None:
    kinds = set(session.execute(
        select(Role.kind).join(UserRole, UserRole.role == Role.name)
        .where(UserRole.user_id == user_id, UserRole.revoked_at.is_(None))
    ).scalars())
    if len(kinds) > 1:  # cannot happen through this module; refuse rather than guess
        raise RoleConflict(f"user {user_id!r} holds roles of several kinds {sorted(kinds)} (CN-1)")
    return RoleKind(kinds.pop()) if kinds else None


def actor_for(user: UserAccount) -> Actor:
    return Actor(user.user_id, user.printed_name)


def is_expired(user: UserAccount) -> bool:
    """Expired after its expiry date (UTC): the expiry date itself is the last valid day."""
    return user.expires_on is not None and clock.now().date() > user.expires_on


def require_admin(uow: UnitOfWork) -> UserAccount:
    """The unit of work's actor must be an active, unexpired administrator."""
    user = uow.session.get(UserAccount, uow.actor.user_id)
    if (user is None or user.status != UserStatus.ACTIVE.value or is_expired(user)
            or role_kind_of(uow.session, user.user_id) is not RoleKind.ADMIN):
        raise NotAuthorised(f"{uow.actor.user_id!r} is not an active administrator")
    return user
