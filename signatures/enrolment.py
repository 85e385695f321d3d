"""One-time, expiring enrolment: the owner sets their own password and enrols TOTP.

An administrator creates an account (or resets its credentials) and receives a
one-time enrolment secret to hand to the person; only its SHA-256 is stored. The
secret lets its holder do exactly one thing: set a password and enrol a TOTP device,
proven by a code from that device (P11-300e). No administrator ever sets or knows a
usable password (P11-200a3). Enrolment also creates the user's signing key pair.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.canonical import Actor
from core import clock
from core.config import Settings
from signatures import totp
from signatures.errors import EnrolmentError
from signatures.keys import create_key_pair
from signatures.models import Enrolment, UserAccount, UserStatus
from signatures.passwords import set_password
from store.uow import UnitOfWork


def _digest(secret: str) -> str:
    normalised = secret.replace("-", "").replace(" ", "").upper()
    return hashlib.sha256(b"GMP-ENROLMENT-v1\x00" + normalised.encode()).hexdigest()


def _new_secret() -> str:
    raw = base64.b32encode(secrets.token_bytes(15)).decode()  # 120 bits, 24 characters
    return "-".join(raw[i:i + 4] for i in range(0, len(raw), 4))


def revoke_open_enrolments(session: Session, user_id: str) -> int:
    rows = list(session.execute(
        select(Enrolment).where(Enrolment.user_id == user_id, Enrolment.used_at.is_(None),
                                Enrolment.revoked_at.is_(None))
    ).scalars())
    for row in rows:
        row.revoked_at = clock.now()
    session.flush()
    return len(rows)


def issue_enrolment(uow: UnitOfWork, user: UserAccount, purpose: str, settings: Settings) -> str:
    """Issue a new one-time secret (earlier open ones are revoked); return it. Only its hash is stored."""
    revoke_open_enrolments(uow.session, user.user_id)
    secret = _new_secret()
    now = clock.now()
    row = Enrolment(user_id=user.user_id, secret_sha256=_digest(secret), totp_secret=totp.new_secret(),
                    purpose=purpose, created_at=now, created_by=uow.actor.user_id, failed_attempts=0,
                    expires_at=now + timedelta(hours=settings.enrolment_ttl_hours))
    uow.session.add(row)
    uow.session.flush()
    uow.audit("enrolment.issued", "user", user.user_id,
              details={"purpose": purpose, "expires_at": row.expires_at, "enrolment": row.id})
    return secret


def _open(session: Session, user_id: str, secret: str) -> Enrolment:
    row = session.execute(select(Enrolment).where(Enrolment.secret_sha256 == _digest(secret or ""))).scalar_one_or_none()
    if row is None or not hmac.compare_digest(row.user_id, user_id or ""):
        raise EnrolmentError("enrolment secret is not valid for this user ID")
    if row.used_at is not None:
        raise EnrolmentError("enrolment secret has been used already")
    if row.revoked_at is not None:
        raise EnrolmentError("enrolment secret has been revoked")
    if clock.now() >= row.expires_at:
        raise EnrolmentError(f"enrolment secret expired at {row.expires_at.isoformat()}: ask for a new one")
    user = session.get(UserAccount, user_id)
    if user is None or user.status == UserStatus.DEACTIVATED.value:
        raise EnrolmentError("the account is deactivated")
    return row


def _count_enrolment_failure(session: Session, enrolment_id: int, threshold: int) -> None:
    """After `threshold` wrong codes the secret is revoked (no guessing of TOTP codes)."""
    from audit import chain
    from audit.canonical import SYSTEM, AuditEvent

    row = session.execute(select(Enrolment).where(Enrolment.id == enrolment_id).with_for_update()).scalar_one()
    row.failed_attempts = (row.failed_attempts or 0) + 1
    if row.failed_attempts >= threshold and row.revoked_at is None:
        row.revoked_at = clock.now()
        session.flush()
        chain.append(session, [AuditEvent(action="enrolment.revoked", object_type="user", object_id=row.user_id,
                                          actor=SYSTEM, reason=f"{row.failed_attempts} wrong TOTP codes at enrolment",
                                          details={"enrolment": row.id})])
    session.flush()


@dataclass(frozen=True)
class EnrolmentView:
    """What the enrolment page shows: the TOTP secret and its otpauth:// URI (for a QR code)."""

    user_id: str
    printed_name: str
    totp_secret: str
    provisioning_uri: str
    expires_at: datetime


def start_enrolment(session: Session, user_id: str, secret: str) -> EnrolmentView:
    row = _open(session, user_id, secret)
    user = session.get(UserAccount, user_id)
    assert user is not None
    return EnrolmentView(user_id, user.printed_name, row.totp_secret,
                         totp.provisioning_uri(row.totp_secret, user_id), row.expires_at)


def provisioning_uri(session: Session, user_id: str, secret: str) -> str:
    """otpauth:// URI of the TOTP secret being enrolled (render it as a QR code with segno)."""
    return start_enrolment(session, user_id, secret).provisioning_uri


def enrol(uow: UnitOfWork, user_id: str, secret: str, password: str, totp_code: str,
          settings: Settings) -> UserAccount:
    """Set the owner's password and TOTP; create their signing key pair. One use per secret."""
    row = _open(uow.session, user_id, secret)
    user = uow.session.get(UserAccount, user_id)
    assert user is not None
    actor = Actor(user.user_id, user.printed_name)
    now = clock.now()
    step, why = totp.match(row.totp_secret, totp_code, now, 0)
    if step is None:
        uow.record_refusal("enrolment.refused", "user", user_id, reason=f"TOTP verification code {why}",
                           actor=actor)
        enrolment_id, threshold = row.id, settings.lockout_threshold
        uow.after_rollback(lambda session: _count_enrolment_failure(session, enrolment_id, threshold))
        raise EnrolmentError(f"the TOTP verification code is {why}: check the authenticator app and the clock")
    set_password(uow, user, password, settings, actor=actor, audit_action=None)
    user.totp_secret = row.totp_secret
    user.totp_last_step = step
    user.totp_checked_at = now
    user.failed_attempts = 0
    old_status = user.status
    if user.status in (UserStatus.PENDING_ENROLMENT.value, UserStatus.LOCKED.value):
        user.status = UserStatus.ACTIVE.value
        user.locked_at = None
    row.used_at = now
    key = create_key_pair(uow.session, user.user_id, password)
    uow.session.flush()
    uow.audit("user.enrolled", "user", user_id, actor=actor,
              changes=[["status", old_status, user.status], ["password", None, "(set)"],
                       ["totp", None, "(enrolled, code verified)"], ["signing_key", None, key.key_id]],
              details={"enrolment": row.id, "purpose": row.purpose})
    return user
