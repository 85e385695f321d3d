"""Users: unique, never reused IDs (P11-100a), printed names, expiry (P11-10d), roles.

Every change to an account or its roles is an audit entry (A11-12, CN-2). Accounts are
never deleted; deactivation keeps the ID taken forever. Administrative functions act as
`uow.actor`, which must be an active user holding an admin-kind role.
"""
from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.canonical import dumps
from core import clock
from core.config import Settings
from signatures.accounts import User, actor_for, get_user, is_expired, list_users, require_admin, role_kind_of, roles_of
from signatures.enrolment import issue_enrolment, revoke_open_enrolments
from signatures.errors import (
    AccountStateError,
    BootstrapRefused,
    DuplicateUser,
    InvalidIdentityData,
    NotAuthorised,
    UnknownRole,
)
from signatures.models import AccessReview, Role, RoleKind, UserAccount, UserRole, UserStatus
from signatures.roles import get_role, kind_of_roles
from signatures.sessions import end_sessions_of
from store.uow import UnitOfWork

USER_ID = re.compile(r"^[a-z][a-z0-9._-]{1,63}$")

__all__ = ["User", "UserStatus", "RoleKind", "get_user", "roles_of", "role_kind_of", "actor_for",
           "create_user", "bootstrap_admin", "grant_role", "revoke_role", "deactivate_user", "unlock_user",
           "set_expiry", "verify_identity", "list_users", "record_access_review", "require_admin",
           "is_expired"]


def _validate_new_user(session: Session, user_id: str, printed_name: str, roles: Iterable[str]) -> list[str]:
    if not USER_ID.match(user_id or ""):
        raise InvalidIdentityData(
            f"invalid user ID {user_id!r}: expected 2-64 characters, lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter")
    if not (printed_name or "").strip():
        raise InvalidIdentityData("a user needs a printed full name")
    if session.get(UserAccount, user_id) is not None:
        raise DuplicateUser(f"user ID {user_id!r} is taken and can never be reused or reassigned (P11-100a)")
    names = sorted(set(roles))
    if not names:
        raise InvalidIdentityData("a user needs at least one role")
    for name in names:
        get_role(session, name)
    kind_of_roles(session, names)
    return names


def _insert_user(uow: UnitOfWork, user_id: str, printed_name: str, roles: list[str],
                 expires_on: date | None, settings: Settings, reason: str | None) -> tuple[UserAccount, str]:
    now = clock.now()
    user = UserAccount(user_id=user_id, printed_name=printed_name.strip(), status=UserStatus.PENDING_ENROLMENT.value,
                       expires_on=expires_on, created_at=now, created_by=uow.actor.user_id, totp_last_step=0,
                       failed_attempts=0)
    uow.session.add(user)
    uow.session.flush()
    uow.audit("user.created", "user", user_id, reason=reason,
              changes=[["printed_name", None, user.printed_name], ["status", None, user.status],
                       ["expires_on", None, expires_on]])
    for name in roles:
        uow.session.add(UserRole(user_id=user_id, role=name, granted_at=now, granted_by=uow.actor.user_id))
        uow.audit("role.granted", "user", user_id, changes=[["role", None, name]], reason=reason)
    uow.session.flush()
    secret = issue_enrolment(uow, user, "initial", settings)
    return user, secret


def create_user(uow: UnitOfWork, user_id: str, printed_name: str, roles: Iterable[str], settings: Settings,
                expires_on: date | None = None, reason: str | None = None) -> tuple[UserAccount, str]:
    """Create an account pending enrolment; return it and its one-time enrolment secret.

    The administrator never sets or learns the user's password (P11-200a3).
    """
    require_admin(uow)
    names = _validate_new_user(uow.session, user_id, printed_name, roles)
    if expires_on is not None and expires_on < clock.now().date():
        raise InvalidIdentityData(f"expiry date {expires_on.isoformat()} is in the past")
    return _insert_user(uow, user_id, printed_name, names, expires_on, settings, reason)


def bootstrap_admin(uow: UnitOfWork, user_id: str, printed_name: str, settings: Settings) -> tuple[UserAccount, str]:
    """Create the first administrator; only while no administrator account exists (other than deactivated ones)."""
    existing = uow.session.execute(
        select(UserAccount.user_id).join(UserRole, UserRole.user_id == UserAccount.user_id)
        .join(Role, Role.name == UserRole.role)
        .where(Role.kind == RoleKind.ADMIN.value, UserRole.revoked_at.is_(None),
               UserAccount.status != UserStatus.DEACTIVATED.value)
    ).first()
    if existing is not None:
        raise BootstrapRefused(f"an administrator exists already ({existing[0]!r}): "
                               "bootstrap works only on a database without one")
    names = _validate_new_user(uow.session, user_id, printed_name, ["admin"])
    return _insert_user(uow, user_id, printed_name, names, None, settings, "bootstrap of the first administrator")


def _reason(reason: str | None, what: str) -> str:
    if not (reason or "").strip():
        raise InvalidIdentityData(f"{what} needs a reason")
    return reason.strip()  # type: ignore[union-attr]


def grant_role(uow: UnitOfWork, user_id: str, role: str, reason: str) -> None:
    admin = require_admin(uow)
    reason = _reason(reason, "granting a role")
    user = get_user(uow.session, user_id)
    if user.status == UserStatus.DEACTIVATED.value:
        raise AccountStateError(f"user {user_id!r} is deactivated")
    if user_id == admin.user_id:
        raise NotAuthorised("administrators may not change their own roles")
    current = roles_of(uow.session, user_id)
    if role in current:
        raise AccountStateError(f"user {user_id!r} holds role {role!r} already")
    get_role(uow.session, role)
    kind_of_roles(uow.session, current | {role})
    uow.session.add(UserRole(user_id=user_id, role=role, granted_at=clock.now(), granted_by=admin.user_id))
    uow.session.flush()
    uow.audit("role.granted", "user", user_id, changes=[["role", None, role]], reason=reason)


def revoke_role(uow: UnitOfWork, user_id: str, role: str, reason: str) -> None:
    admin = require_admin(uow)
    reason = _reason(reason, "revoking a role")
    get_user(uow.session, user_id)
    if user_id == admin.user_id:
        raise NotAuthorised("administrators may not change their own roles")
    row = uow.session.execute(
        select(UserRole).where(UserRole.user_id == user_id, UserRole.role == role, UserRole.revoked_at.is_(None))
    ).scalar_one_or_none()
    if row is None:
        raise UnknownRole(f"user {user_id!r} does not hold role {role!r}")
    row.revoked_at = clock.now()
    row.revoked_by = admin.user_id
    uow.session.flush()
    uow.audit("role.revoked", "user", user_id, changes=[["role", role, None]], reason=reason)


def deactivate_user(uow: UnitOfWork, user_id: str, reason: str) -> UserAccount:
    """Deactivate for good: the ID stays taken, sessions end, open enrolments are revoked."""
    admin = require_admin(uow)
    reason = _reason(reason, "deactivating a user")
    user = get_user(uow.session, user_id)
    if user.user_id == admin.user_id:
        raise NotAuthorised("administrators may not deactivate themselves")
    if user.status == UserStatus.DEACTIVATED.value:
        raise AccountStateError(f"user {user_id!r} is deactivated already")
    old = user.status
    user.status = UserStatus.DEACTIVATED.value
    user.deactivated_at = clock.now()
    end_sessions_of(uow.session, user_id, "deactivated")
    revoke_open_enrolments(uow.session, user_id)
    uow.session.flush()
    uow.audit("user.deactivated", "user", user_id, changes=[["status", old, user.status]], reason=reason)
    return user


def unlock_user(uow: UnitOfWork, user_id: str, reason: str) -> UserAccount:
    admin = require_admin(uow)
    reason = _reason(reason, "unlocking a user")
    user = get_user(uow.session, user_id)
    if user.user_id == admin.user_id:
        raise NotAuthorised("administrators may not unlock themselves")
    if user.status != UserStatus.LOCKED.value:
        raise AccountStateError(f"user {user_id!r} is not locked (status {user.status})")
    user.status = UserStatus.ACTIVE.value
    user.locked_at = None
    old_failures, user.failed_attempts = user.failed_attempts, 0
    uow.session.flush()
    uow.audit("user.unlocked", "user", user_id, reason=reason,
              changes=[["status", UserStatus.LOCKED.value, user.status], ["failed_attempts", old_failures, 0]])
    return user


def set_expiry(uow: UnitOfWork, user_id: str, expires_on: date | None, reason: str) -> UserAccount:
    require_admin(uow)
    reason = _reason(reason, "changing an expiry date")
    user = get_user(uow.session, user_id)
    old, user.expires_on = user.expires_on, expires_on
    uow.session.flush()
    uow.audit("user.expiry_changed", "user", user_id, changes=[["expires_on", old, expires_on]], reason=reason)
    return user


def verify_identity(uow: UnitOfWork, user_id: str, method: str, reason: str) -> UserAccount:
    """Record who verified the person's identity, when and how (P11-100b); needed before signing."""
    admin = require_admin(uow)
    reason = _reason(reason, "recording an identity verification")
    if not (method or "").strip():
        raise InvalidIdentityData("identity verification needs the method (e.g. 'passport checked in person')")
    user = get_user(uow.session, user_id)
    if user.user_id == admin.user_id:
        raise NotAuthorised("nobody may verify their own identity")
    if user.status == UserStatus.DEACTIVATED.value:
        raise AccountStateError(f"user {user_id!r} is deactivated")
    old = [user.identity_verified_at, user.identity_verified_by, user.identity_verification_method]
    user.identity_verified_at = clock.now()
    user.identity_verified_by = admin.user_id
    user.identity_verification_method = method.strip()
    uow.session.flush()
    uow.audit("user.identity_verified", "user", user_id, reason=reason,
              changes=[["identity_verified_at", old[0], user.identity_verified_at],
                       ["identity_verified_by", old[1], user.identity_verified_by],
                       ["identity_verification_method", old[2], user.identity_verification_method]])
    return user


def access_snapshot(session: Session) -> list[dict[str, object]]:
    """Every account with its status, expiry and current roles: what an access review reviews."""
    grants: dict[str, list[str]] = {}
    for user_id, role in session.execute(
        select(UserRole.user_id, UserRole.role).where(UserRole.revoked_at.is_(None)).order_by(UserRole.role)
    ):
        grants.setdefault(user_id, []).append(role)
    return [{"user_id": u.user_id, "printed_name": u.printed_name, "status": u.status,
             "expires_on": u.expires_on.isoformat() if u.expires_on else None,
             "identity_verified": u.identity_verified_at is not None,
             "roles": grants.get(u.user_id, [])} for u in list_users(session)]


def record_access_review(uow: UnitOfWork, comment: str) -> AccessReview:
    """Record a periodic access review (P11-300b) by the actor (an administrator or auditor)."""
    user = uow.session.get(UserAccount, uow.actor.user_id)
    kind = role_kind_of(uow.session, uow.actor.user_id) if user else None
    if user is None or user.status != UserStatus.ACTIVE.value or kind not in (RoleKind.ADMIN, RoleKind.AUDIT):
        raise NotAuthorised(f"{uow.actor.user_id!r} may not record access reviews (administrator or auditor only)")
    if not (comment or "").strip():
        raise InvalidIdentityData("an access review needs a comment (findings, or 'no findings')")
    snapshot = dumps(access_snapshot(uow.session))
    review = AccessReview(reviewed_at=clock.now(), reviewer_id=user.user_id, reviewer_name=user.printed_name,
                          comment=comment.strip(), snapshot=snapshot,
                          snapshot_sha256=hashlib.sha256(snapshot.encode()).hexdigest())
    uow.session.add(review)
    uow.session.flush()
    uow.audit("access_review.recorded", "access_review", review.id, reason=review.comment,
              details={"accounts": len(json.loads(snapshot)), "snapshot_sha256": review.snapshot_sha256})
    return review
