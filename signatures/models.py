"""Tables of identities, credentials, sessions and electronic signatures.

Rows of `user_account` and `role` are never deleted: a user ID stays taken forever
(P11-100a). `signature`, `accountability_statement`, `role_grant_event` style history
and `access_review` are append-only in the database (triggers in the migration).
Times are stored as timezone-aware UTC.
"""
from __future__ import annotations

import enum
from datetime import date, datetime, timezone

from sqlalchemy import BigInteger, Boolean, Date, DateTime, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from store.base import Base


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on both backends (SQLite stores naive UTC text; it comes back aware)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):  # type: ignore[no-untyped-def]
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: use core.clock.now()")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):  # type: ignore[no-untyped-def]
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class UserStatus(str, enum.Enum):
    PENDING_ENROLMENT = "pending_enrolment"
    ACTIVE = "active"
    LOCKED = "locked"
    DEACTIVATED = "deactivated"


class RoleKind(str, enum.Enum):
    ADMIN = "admin"        # user and configuration management only; never GMP work or GMP signatures
    AUDIT = "audit"        # read-only
    BUSINESS = "business"  # GMP work and signatures
    SYSTEM = "system"      # lanes worked by other systems through the API; held by system accounts, never by a person


class Role(Base):
    __tablename__ = "role"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    label_en: Mapped[str] = mapped_column(String(200))
    label_zh: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str] = mapped_column(String(64))


class UserAccount(Base):
    __tablename__ = "user_account"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    printed_name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(32))
    expires_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str | None] = mapped_column(String(256), nullable=True)
    password_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    totp_secret: Mapped[str | None] = mapped_column(String(64), nullable=True)
    totp_last_step: Mapped[int] = mapped_column(BigInteger, default=0)
    totp_checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    identity_verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    identity_verified_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    identity_verification_method: Mapped[str | None] = mapped_column(Text, nullable=True)
    deactivated_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class UserRole(Base):
    """A role grant. Revocation stamps the row; grants are never deleted (A11-12)."""

    __tablename__ = "user_role"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("user_account.user_id"), index=True)
    role: Mapped[str] = mapped_column(ForeignKey("role.name"))
    granted_at: Mapped[datetime] = mapped_column(UtcDateTime())
    granted_by: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class PasswordHistory(Base):
    __tablename__ = "password_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("user_account.user_id"), index=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Enrolment(Base):
    """A one-time, expiring enrolment secret (only its SHA-256 is stored)."""

    __tablename__ = "enrolment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("user_account.user_id"), index=True)
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    totp_secret: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)


class SecurityAlert(Base):
    __tablename__ = "security_alert"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class AuthSession(Base):
    """A server-side login session; the web layer keeps only its id."""

    __tablename__ = "auth_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("user_account.user_id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_activity_at: Mapped[datetime] = mapped_column(UtcDateTime())
    signed_in_session: Mapped[bool] = mapped_column(Boolean, default=False)
    client: Mapped[str | None] = mapped_column(String(200), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    end_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)


class AccessReview(Base):
    """A periodic access review (P11-300b): who reviewed, when, and the snapshot reviewed."""

    __tablename__ = "access_review"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    reviewed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    reviewer_id: Mapped[str] = mapped_column(String(64))
    reviewer_name: Mapped[str] = mapped_column(String(200))
    comment: Mapped[str] = mapped_column(Text)
    snapshot: Mapped[str] = mapped_column(Text)
    snapshot_sha256: Mapped[str] = mapped_column(String(64))


class SigningKey(Base):
    """A user's Ed25519 key pair; the private key only wrapped under a password-derived key."""

    __tablename__ = "signing_key"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("user_account.user_id"), index=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    wrapped_private_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    kdf: Mapped[str] = mapped_column(Text)
    salt: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class AccountabilityStatement(Base):
    """The signed statement that the e-signature is legally binding (P11-10j). Append-only."""

    __tablename__ = "accountability_statement"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("user_account.user_id"), index=True)
    statement_en: Mapped[str] = mapped_column(Text)
    statement_zh: Mapped[str] = mapped_column(Text)
    signed_at: Mapped[str] = mapped_column(String(27))
    key_id: Mapped[str] = mapped_column(ForeignKey("signing_key.key_id"))
    message: Mapped[bytes] = mapped_column(LargeBinary)
    signature: Mapped[bytes] = mapped_column(LargeBinary)


class SignatureHead(Base):
    """One row: the last signature sequence number. Signers lock it (countersignature order)."""

    __tablename__ = "signature_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)


class Signature(Base):
    """An electronic signature bound to one version of one record (P11-70). Append-only."""

    __tablename__ = "signature"
    __table_args__ = (UniqueConstraint("record_type", "record_id", "record_version", "signer_id",
                                       name="uq_signature_signer_per_record_version"),)

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    record_type: Mapped[str] = mapped_column(String(80))
    record_id: Mapped[str] = mapped_column(String(200))
    record_version: Mapped[int] = mapped_column(Integer)
    content_sha256: Mapped[str] = mapped_column(String(64))
    signer_id: Mapped[str] = mapped_column(ForeignKey("user_account.user_id"), index=True)
    printed_name: Mapped[str] = mapped_column(String(200))
    meaning: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[str] = mapped_column(String(27))
    components: Mapped[str] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    key_id: Mapped[str] = mapped_column(ForeignKey("signing_key.key_id"))
    message: Mapped[bytes] = mapped_column(LargeBinary)
    signer_signature: Mapped[bytes] = mapped_column(LargeBinary)
    server_key_id: Mapped[str] = mapped_column(String(32))
    server_public_key: Mapped[bytes] = mapped_column(LargeBinary)
    countersignature_message: Mapped[bytes] = mapped_column(LargeBinary)
    countersignature: Mapped[bytes] = mapped_column(LargeBinary)
    auth_session_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
