"""Tables of the API for other systems: system accounts, their roles and tokens, acknowledgements.

- `api_system_account`: an account of another system (MES, ERP, LIMS). Not a user: it has
  no password, no TOTP and no signing key, so it can never sign in to the web nor sign a
  record (Part 11). Never deleted; deactivation revokes its tokens.
- `api_system_account_role`: a system-kind role (a lane meant for systems) granted to a
  system account; revocation stamps the row (A11-12), rows are never deleted.
- `api_token`: a bearer token of a system account: scoped, expiring, revocable; only the
  SHA-256 of its secret is stored (the secret is shown once, at issue).
- `api_acknowledgement`: the acknowledgement of every data exchange a system sent (Annex 11
  §5): what was received (its verified SHA-256), when, from whom, and whether it was
  accepted or refused, with the result. Append-only in the database.
Times are canonical UTC text from `core.clock.isoformat`.
"""
from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.base import Base


class SystemAccount(Base):
    __tablename__ = "api_system_account"

    account_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    printed_name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[str] = mapped_column(String(27))
    created_by: Mapped[str] = mapped_column(String(64))
    deactivated_at: Mapped[str | None] = mapped_column(String(27), nullable=True)
    deactivated_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class SystemAccountRole(Base):
    __tablename__ = "api_system_account_role"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("api_system_account.account_id"), index=True)
    role: Mapped[str] = mapped_column(ForeignKey("role.name"))
    granted_at: Mapped[str] = mapped_column(String(27))
    granted_by: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[str | None] = mapped_column(String(27), nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ApiToken(Base):
    __tablename__ = "api_token"

    token_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("api_system_account.account_id"), index=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(Text)
    label: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[str] = mapped_column(String(27))
    created_by: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[str] = mapped_column(String(27))
    revoked_at: Mapped[str | None] = mapped_column(String(27), nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    revoke_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class Acknowledgement(Base):
    __tablename__ = "api_acknowledgement"

    ack_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(48), index=True)
    token_id: Mapped[str] = mapped_column(String(32))
    operation: Mapped[str] = mapped_column(String(100))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(500))
    client_reference: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    received_at: Mapped[str] = mapped_column(String(27))
    request_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    request_bytes: Mapped[int] = mapped_column(Integer)
    status: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))
    result_json: Mapped[str] = mapped_column(Text)
