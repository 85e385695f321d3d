"""Passwords: argon2id hashes, the policy (length, history, not the ID or name) and ageing (P11-300b).

Below credentials (login, reset) and enrolment (the owner sets the first password).
"""
from __future__ import annotations

from datetime import timedelta

from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select

from audit.canonical import Actor
from core import clock
from core.config import Settings
from signatures import kdf
from signatures.errors import PasswordPolicyError
from signatures.models import PasswordHistory, UserAccount
from store.uow import UnitOfWork

MAX_PASSWORD_LENGTH = 1024


def password_matches(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return kdf.password_hasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def check_password_policy(uow: UnitOfWork, user: UserAccount, password: str, settings: Settings) -> None:
    """Length and history (no reuse of the last `password_history` passwords) (P11-300b)."""
    if not isinstance(password, str) or len(password) < settings.password_min_length:
        raise PasswordPolicyError(f"the password must have at least {settings.password_min_length} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordPolicyError(f"the password may have at most {MAX_PASSWORD_LENGTH} characters")
    if password.strip().lower() in (user.user_id.lower(), user.printed_name.strip().lower()):
        raise PasswordPolicyError("the password may not be the user ID or the name")
    if settings.password_history:
        recent = uow.session.execute(
            select(PasswordHistory.password_hash).where(PasswordHistory.user_id == user.user_id)
            .order_by(PasswordHistory.id.desc()).limit(settings.password_history)
        ).scalars()
        if any(password_matches(old, password) for old in recent):
            raise PasswordPolicyError(f"the password may not repeat any of the last {settings.password_history} passwords")


def set_password(uow: UnitOfWork, user: UserAccount, password: str, settings: Settings, *, actor: Actor,
                 audit_action: str | None = "user.password_changed") -> None:
    check_password_policy(uow, user, password, settings)
    hashed = kdf.password_hasher().hash(password)
    now = clock.now()
    user.password_hash = hashed
    user.password_changed_at = now
    uow.session.add(PasswordHistory(user_id=user.user_id, password_hash=hashed, created_at=now))
    uow.session.flush()
    if audit_action:
        uow.audit(audit_action, "user", user.user_id, actor=actor, changes=[["password", "(set)", "(changed)"]])


def password_expired(user: UserAccount, settings: Settings) -> bool:
    return (user.password_changed_at is None
            or clock.now() >= user.password_changed_at + timedelta(days=settings.password_max_age_days))
