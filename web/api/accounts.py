"""System accounts and their bearer tokens (no Flask).

A system account is how another system (MES, ERP, LIMS) is known: an ID, a printed name,
the system-kind roles it holds (the lanes whose tasks it may complete) and its tokens.
It is not a user: it has no password, TOTP or signing key, so it can never sign in to the
web and never sign a record; in the audit trail it acts as `system:<id>`.

Tokens (`gmp_<token id>_<secret>`) carry scopes (what the holder may call), expire
(at most MAX_TOKEN_DAYS ahead), can be revoked at once, and are stored as the SHA-256 of
the secret only: the secret is shown once, when the token is issued. Only an active
administrator creates accounts, grants their roles and issues or revokes tokens; every
change is an audit entry (A11-12).
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.canonical import Actor
from core import clock
from store.uow import UnitOfWork
from web.api.errors import AccountError, AccountStateError, TokenRefused, UnknownAccount
from web.api.models import ApiToken, SystemAccount, SystemAccountRole

ACCOUNT_ID = re.compile(r"^[a-z][a-z0-9._-]{1,47}$")
ACTOR_PREFIX = "system:"
TOKEN = re.compile(r"^gmp_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
MAX_TOKEN_DAYS = 366
ACTIVE, DEACTIVATED = "active", "deactivated"

SCOPES: dict[str, str] = {
    "instances:start": "start process instances",
    "instances:read": "read process instances and their status",
    "tasks:read": "list and read ready tasks",
    "tasks:complete": "complete system tasks (tasks in a lane of a system role the account holds)",
    "tasks:complete-human": "relay the completion of a person's task, signed by that person with their own credentials",
    "messages:send": "send messages with correlation to waiting instances",
    "records:read": "read instance records (JSON and PDF)",
    "masterdata:read": "read master data (equipment tags, process definitions, ...)",
    "audit:read": "read and export the audit trail",
}


@dataclass(frozen=True)
class TokenHolder:
    """Who a valid token speaks for: the account, the token and its scopes."""

    account_id: str
    printed_name: str
    token_id: str
    scopes: frozenset[str]
    expires_at: str

    @property
    def actor(self) -> Actor:
        return Actor(actor_id(self.account_id), self.printed_name)


def actor_id(account_id: str) -> str:
    return ACTOR_PREFIX + account_id


def _now() -> str:
    return clock.isoformat(clock.now())


def _admin(uow: UnitOfWork) -> str:
    from signatures.identities import require_admin

    return require_admin(uow).user_id


def _reason(reason: str | None, what: str) -> str:
    text = (reason or "").strip()
    if not text:
        raise AccountError(f"{what} needs a reason", "reason")
    return text


# ---------------------------------------------------------------- accounts
def get_account(session: Session, account_id: str) -> SystemAccount:
    row = session.get(SystemAccount, account_id)
    if row is None:
        raise UnknownAccount(f"no system account {account_id!r}", "account_id")
    return row


def list_accounts(session: Session) -> list[SystemAccount]:
    return list(session.execute(select(SystemAccount).order_by(SystemAccount.account_id)).scalars())


def roles_of_account(session: Session, account_id: str) -> set[str]:
    return set(session.execute(select(SystemAccountRole.role).where(
        SystemAccountRole.account_id == account_id, SystemAccountRole.revoked_at.is_(None))).scalars())


def _system_role(session: Session, name: str) -> None:
    from signatures.errors import UnknownRole
    from signatures.models import RoleKind
    from signatures.roles import get_role

    try:
        role = get_role(session, name)
    except UnknownRole as exc:
        raise AccountError(str(exc), "roles") from exc
    if role.kind != RoleKind.SYSTEM.value:
        raise AccountError(f"role {name!r} is a {role.kind} role: a system account holds system roles only "
                           "(the lanes meant for systems)", "roles")


def create_account(uow: UnitOfWork, account_id: str, printed_name: str, *, roles: Iterable[str] = (),
                   description: str = "", reason: str) -> SystemAccount:
    admin = _admin(uow)
    reason = _reason(reason, "creating a system account")
    account_id = (account_id or "").strip()
    if not ACCOUNT_ID.match(account_id):
        raise AccountError(f"invalid system account ID {account_id!r}: expected 2-48 characters, lower-case letters, "
                           "digits, '.', '_' or '-', starting with a letter", "account_id")
    if not (printed_name or "").strip():
        raise AccountError("a system account needs a name (e.g. 'MES line 1')", "printed_name")
    from signatures.models import UserAccount

    if uow.session.get(SystemAccount, account_id) is not None:
        raise AccountStateError(f"system account ID {account_id!r} is taken and is never reused", "account_id")
    if uow.session.get(UserAccount, account_id) is not None:
        raise AccountStateError(f"{account_id!r} is a person's user ID: choose another ID for the system", "account_id")
    names = sorted(set(roles))
    for name in names:
        _system_role(uow.session, name)
    now = _now()
    row = SystemAccount(account_id=account_id, printed_name=printed_name.strip()[:200], description=description.strip(),
                        status=ACTIVE, created_at=now, created_by=admin)
    uow.session.add(row)
    uow.session.flush()
    uow.audit("system_account.created", "system_account", account_id, reason=reason,
              changes=[["printed_name", None, row.printed_name], ["status", None, ACTIVE],
                       ["description", None, row.description]])
    for name in names:
        _insert_grant(uow, account_id, name, admin, now, reason)
    return row


def _active(session: Session, account_id: str) -> SystemAccount:
    row = get_account(session, account_id)
    if row.status != ACTIVE:
        raise AccountStateError(f"system account {account_id!r} is {row.status}", "account_id")
    return row


def _insert_grant(uow: UnitOfWork, account_id: str, role: str, admin: str, now: str, reason: str) -> None:
    uow.session.add(SystemAccountRole(account_id=account_id, role=role, granted_at=now, granted_by=admin))
    uow.session.flush()
    uow.audit("system_account.role_granted", "system_account", account_id, changes=[["role", None, role]],
              reason=reason)


def grant_role(uow: UnitOfWork, account_id: str, role: str, reason: str) -> None:
    admin = _admin(uow)
    reason = _reason(reason, "granting a role")
    _active(uow.session, account_id)
    _system_role(uow.session, role)
    if role in roles_of_account(uow.session, account_id):
        raise AccountStateError(f"system account {account_id!r} holds role {role!r} already", "role")
    _insert_grant(uow, account_id, role, admin, _now(), reason)


def revoke_role(uow: UnitOfWork, account_id: str, role: str, reason: str) -> None:
    admin = _admin(uow)
    reason = _reason(reason, "revoking a role")
    get_account(uow.session, account_id)
    row = uow.session.execute(select(SystemAccountRole).where(
        SystemAccountRole.account_id == account_id, SystemAccountRole.role == role,
        SystemAccountRole.revoked_at.is_(None))).scalar_one_or_none()
    if row is None:
        raise AccountStateError(f"system account {account_id!r} does not hold role {role!r}", "role")
    row.revoked_at, row.revoked_by = _now(), admin
    uow.session.flush()
    uow.audit("system_account.role_revoked", "system_account", account_id, changes=[["role", role, None]],
              reason=reason)


def deactivate_account(uow: UnitOfWork, account_id: str, reason: str) -> SystemAccount:
    """Deactivate for good: every token is revoked at once; the ID stays taken."""
    admin = _admin(uow)
    reason = _reason(reason, "deactivating a system account")
    row = _active(uow.session, account_id)
    now = _now()
    revoked = []
    for token in uow.session.execute(select(ApiToken).where(ApiToken.account_id == account_id,
                                                            ApiToken.revoked_at.is_(None))).scalars():
        token.revoked_at, token.revoked_by, token.revoke_reason = now, admin, f"account deactivated: {reason}"
        revoked.append(token.token_id)
    row.status, row.deactivated_at, row.deactivated_by = DEACTIVATED, now, admin
    uow.session.flush()
    uow.audit("system_account.deactivated", "system_account", account_id, reason=reason,
              changes=[["status", ACTIVE, DEACTIVATED]], details={"tokens_revoked": revoked})
    return row


# ---------------------------------------------------------------- tokens
def parse_scopes(scopes: Iterable[str] | str) -> list[str]:
    names = sorted({s for s in (scopes.split() if isinstance(scopes, str) else scopes) if s})
    if not names:
        raise AccountError("a token needs at least one scope: " + ", ".join(SCOPES), "scopes")
    unknown = [s for s in names if s not in SCOPES]
    if unknown:
        raise AccountError(f"unknown scope(s) {', '.join(unknown)}: expected some of {', '.join(SCOPES)}", "scopes")
    return names


def _expiry(expires_at: datetime) -> str:
    if expires_at.tzinfo is None:
        raise AccountError("the expiry must carry a time zone", "expires_at")
    now = clock.now()
    if expires_at <= now:
        raise AccountError(f"the expiry {expires_at.isoformat()} is not in the future", "expires_at")
    if expires_at > now + timedelta(days=MAX_TOKEN_DAYS):
        raise AccountError(f"a token expires within {MAX_TOKEN_DAYS} days; issue a new one before then", "expires_at")
    return clock.isoformat(expires_at.astimezone(timezone.utc))


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def issue_token(uow: UnitOfWork, account_id: str, scopes: Iterable[str] | str, expires_at: datetime, *,
                label: str = "", reason: str) -> tuple[ApiToken, str]:
    """Issue a token; return its row and the full token text, which is never shown again."""
    admin = _admin(uow)
    reason = _reason(reason, "issuing a token")
    _active(uow.session, account_id)
    names = parse_scopes(scopes)
    expiry = _expiry(expires_at)
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    row = ApiToken(token_id=token_id, account_id=account_id, secret_sha256=secret_digest(secret),
                   scopes=" ".join(names), label=(label or "").strip()[:200], created_at=_now(), created_by=admin,
                   expires_at=expiry)
    uow.session.add(row)
    uow.session.flush()
    uow.audit("api_token.issued", "system_account", account_id, reason=reason,
              changes=[["token", None, token_id]],
              details={"token_id": token_id, "scopes": names, "expires_at": expiry, "label": row.label})
    return row, f"gmp_{token_id}_{secret}"


def revoke_token(uow: UnitOfWork, token_id: str, reason: str) -> ApiToken:
    admin = _admin(uow)
    reason = _reason(reason, "revoking a token")
    row = uow.session.get(ApiToken, token_id)
    if row is None:
        raise UnknownAccount(f"no token {token_id!r}", "token_id")
    if row.revoked_at is not None:
        raise AccountStateError(f"token {token_id} was revoked already on {row.revoked_at}", "token_id")
    row.revoked_at, row.revoked_by, row.revoke_reason = _now(), admin, reason
    uow.session.flush()
    uow.audit("api_token.revoked", "system_account", row.account_id, reason=reason,
              changes=[["token", token_id, None]], details={"token_id": token_id})
    return row


def tokens_of(session: Session, account_id: str) -> list[ApiToken]:
    return list(session.execute(select(ApiToken).where(ApiToken.account_id == account_id)
                                .order_by(ApiToken.created_at)).scalars())


def token_state(row: ApiToken) -> str:
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at <= _now():
        return "expired"
    return "active"


def authenticate_token(uow: UnitOfWork, header: str | None) -> TokenHolder:
    """The holder of the bearer token in an `Authorization` header, or TokenRefused.

    Every refusal is an audit entry (CN-2); using a revoked token also raises a security
    alert for the administrators (a system still holding a revoked secret).
    """
    field = "Authorization"
    if not header:
        raise TokenRefused("this call needs an API token: send 'Authorization: Bearer gmp_...'", field)
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise TokenRefused("the Authorization header must be 'Bearer <token>'", field)
    match = TOKEN.match(value.strip())
    if match is None:
        _refuse(uow, "malformed", "unknown", None)
        raise TokenRefused("the API token is malformed: expected gmp_<16 hex digits>_<43 characters>", field)
    token_id, secret = match.groups()
    row = uow.session.get(ApiToken, token_id)
    if row is None or not hmac.compare_digest(row.secret_sha256, secret_digest(secret)):
        _refuse(uow, "unknown token or wrong secret", token_id, row.account_id if row else None)
        raise TokenRefused("the API token is not valid", field)
    state = token_state(row)
    account = uow.session.get(SystemAccount, row.account_id)
    if state == "revoked":
        message = f"the API token {token_id} was revoked on {row.revoked_at}"
        _refuse(uow, "revoked token", token_id, row.account_id)
        _alert(uow, row)
        raise TokenRefused(message, field)
    if state == "expired":
        message = f"the API token {token_id} expired on {row.expires_at}"
        _refuse(uow, "expired token", token_id, row.account_id)
        raise TokenRefused(message, field)
    if account is None or account.status != ACTIVE:
        message = f"the system account {row.account_id} is not active"
        _refuse(uow, "inactive system account", token_id, row.account_id)
        raise TokenRefused(message, field)
    return TokenHolder(account.account_id, account.printed_name, token_id, frozenset(row.scopes.split()),
                       row.expires_at)


def _refuse(uow: UnitOfWork, why: str, token_id: str, account_id: str | None) -> None:
    from audit.canonical import SYSTEM

    actor = Actor(actor_id(account_id), account_id) if account_id else SYSTEM
    uow.record_refusal("api.token_refused", "api_token", token_id, reason=why, actor=actor,
                       details={"account_id": account_id})


def _alert(uow: UnitOfWork, row: ApiToken) -> None:
    from signatures.models import SecurityAlert

    account_id, token_id = row.account_id, row.token_id  # plain values: the row expires with the rollback

    def write(session: Session) -> None:
        session.add(SecurityAlert(created_at=clock.now(), kind="api_token_revoked_used", user_id=actor_id(account_id),
                                  message=f"revoked API token {token_id} of system account {account_id} was used"))
    uow.after_rollback(write)
