"""Passwords (argon2id, policy: length, history, ageing), TOTP login, credential reset.

`login` needs user ID, password AND a TOTP code; replayed codes are refused; disabled,
locked, expired or not-yet-enrolled accounts cannot log in (P11-10d). Every attempt is
an audit entry; failures count toward the lockout (P11-300d, see lockout.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from audit.canonical import Actor
from core import clock
from core.config import Settings
from signatures import totp
from signatures.accounts import get_user, is_expired, require_admin
from signatures.enrolment import issue_enrolment
from signatures.errors import (
    AccountDisabled,
    AccountExpired,
    AccountLocked,
    AccountStateError,
    AuthenticationFailed,
    InvalidIdentityData,
    NotEnrolled,
    PasswordExpired,
    PasswordPolicyError,
)
from signatures.keys import current_key, retire_keys, rewrap
from signatures.lockout import register_failure
from signatures.models import AuthSession, UserAccount, UserStatus
from signatures.passwords import MAX_PASSWORD_LENGTH, check_password_policy, password_expired, password_matches, set_password
from signatures.sessions import create_session, end_sessions_of
from store.uow import UnitOfWork

if TYPE_CHECKING:
    from signatures.precheck import Prechecked

GENERIC_FAILURE = "user ID, password or TOTP code is wrong"

__all__ = ["Credentials", "authenticate", "login", "change_password", "reset_credentials", "MAX_PASSWORD_LENGTH",
           "password_matches", "check_password_policy", "set_password", "password_expired"]


@dataclass(frozen=True)
class Credentials:
    """What a person types in a login or signature dialog. `totp` may be omitted only where
    the ceremony allows it (a later signing in the same continuous session)."""

    username: str
    password: str = field(repr=False)
    totp: str | None = field(default=None, repr=False)
    prechecked: "Prechecked | None" = field(default=None, repr=False, compare=False)
    """The password check done before the write transaction (signatures.precheck), if any."""


def authenticate(uow: UnitOfWork, username: str, password: str, totp_code: str | None, settings: Settings, *,
                 action: str, require_totp: bool = True, check_ageing: bool = True,
                 details: dict[str, object] | None = None, prechecked: "Prechecked | None" = None,
                 password_check: Callable[[UserAccount], bool] | None = None) -> UserAccount:
    """Check the components; on failure record the refusal (`action`), count it, raise.

    Returns the user on success; the TOTP step is consumed and the failure count reset.
    The password is checked by `password_check(user)` when given (the signing ceremony
    unwraps the key instead), else by a `prechecked` outcome for the current password hash,
    else against the hash here.
    """
    info = dict(details or {})
    user = uow.session.get(UserAccount, username) if username else None
    if user is None:
        register_failure(uow, None, str(username)[:64], action, "unknown user ID", settings, info)
        raise AuthenticationFailed(GENERIC_FAILURE)
    if user.status == UserStatus.DEACTIVATED.value:
        register_failure(uow, user, user.user_id, action, "account deactivated", settings, info, count=False)
        raise AccountDisabled(f"account {user.user_id} is deactivated")
    if user.status == UserStatus.LOCKED.value:
        register_failure(uow, user, user.user_id, action, "account locked", settings, info, count=False)
        raise AccountLocked(f"account {user.user_id} is locked: an administrator must unlock it")
    if user.status == UserStatus.PENDING_ENROLMENT.value or not user.password_hash or not user.totp_secret:
        register_failure(uow, user, user.user_id, action, "account not enrolled", settings, info, count=False)
        raise NotEnrolled(f"account {user.user_id} has not completed enrolment")
    if is_expired(user):
        register_failure(uow, user, user.user_id, action, "account expired", settings, info, count=False)
        raise AccountExpired(f"account {user.user_id} expired on {user.expires_on}")
    if password_check is not None:
        password_ok = password_check(user)
    elif prechecked is not None and prechecked.applies_to_hash(user):
        password_ok = prechecked.ok
    else:
        password_ok = password_matches(user.password_hash, password)
    if not password_ok:
        register_failure(uow, user, user.user_id, action, "wrong password", settings, info)
        raise AuthenticationFailed(GENERIC_FAILURE)
    step = None
    if require_totp or totp_code:
        step, why = totp.match(user.totp_secret, totp_code, clock.now(), user.totp_last_step or 0)
        if step is None:
            register_failure(uow, user, user.user_id, action, f"TOTP code {why}", settings, info)
            if why == "replayed":
                raise AuthenticationFailed("this TOTP code has been used already: wait for the next code")
            raise AuthenticationFailed(GENERIC_FAILURE)
    if check_ageing and password_expired(user, settings):
        register_failure(uow, user, user.user_id, action, "password expired", settings, info, count=False)
        raise PasswordExpired(f"the password of {user.user_id} is older than {settings.password_max_age_days} days: "
                              "change it")
    if step is not None:
        user.totp_last_step = step
        user.totp_checked_at = clock.now()  # the device is checked at every use (P11-300e)
    user.failed_attempts = 0
    uow.session.flush()
    return user


def login(uow: UnitOfWork, username: str, password: str, totp: str | None, settings: Settings,
          client: str | None = None, *, prechecked: "Prechecked | None" = None) -> AuthSession:
    """Password AND TOTP; creates a server-side session. Every attempt is audited.
    `prechecked`: the password checked before the write transaction (signatures.precheck)."""
    user = authenticate(uow, username, password, totp, settings, action="user.login_refused",
                        details={"client": client}, prechecked=prechecked)
    auth_session = create_session(uow.session, user, client)
    uow.audit("user.login", "user", user.user_id, actor=Actor(user.user_id, user.printed_name),
              details={"client": client, "session": auth_session.id[:8]})
    return auth_session


def change_password(uow: UnitOfWork, username: str, old_password: str, totp_code: str, new_password: str,
                    settings: Settings) -> UserAccount:
    """The owner changes their password (also when it has aged); the signing key is re-wrapped."""
    user = authenticate(uow, username, old_password, totp_code, settings, action="user.password_change_refused",
                        check_ageing=False)
    if new_password == old_password:
        raise PasswordPolicyError("the new password must differ from the current one")
    actor = Actor(user.user_id, user.printed_name)
    set_password(uow, user, new_password, settings, actor=actor)
    rewrap(current_key(uow.session, user.user_id), old_password, new_password)
    uow.session.flush()
    return user


def reset_credentials(uow: UnitOfWork, user_id: str, reason: str, settings: Settings) -> str:
    """Revoke password, TOTP device and signing key at once (P11-300c); return a new enrolment secret.

    Sessions end; the old public key is retired (old signatures stay verifiable); the
    next enrolment creates a new key pair. The account cannot log in or sign until then.
    """
    admin = require_admin(uow)
    if not (reason or "").strip():
        raise InvalidIdentityData("a credential reset needs a reason")
    user = get_user(uow.session, user_id)
    if user.user_id == admin.user_id:
        raise AccountStateError("administrators may not reset their own credentials; another administrator must")
    if user.status == UserStatus.DEACTIVATED.value:
        raise AccountStateError(f"user {user_id!r} is deactivated")
    old_status = user.status
    user.password_hash = None
    user.totp_secret = None
    user.status = UserStatus.PENDING_ENROLMENT.value
    user.failed_attempts = 0
    user.locked_at = None
    ended = end_sessions_of(uow.session, user_id, "credentials reset")
    retired = retire_keys(uow.session, user_id)
    uow.session.flush()
    uow.audit("user.credentials_revoked", "user", user_id, reason=reason.strip(),
              changes=[["status", old_status, user.status], ["password", "(set)", None], ["totp", "(enrolled)", None]],
              details={"sessions_ended": ended, "signing_keys_retired": retired})
    return issue_enrolment(uow, user, "reset", settings)
