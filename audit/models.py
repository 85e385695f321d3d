"""Audit tables. Rows are never updated or deleted (database triggers refuse it),
except the single `audit_head` row that writers lock and move forward."""
from __future__ import annotations

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.base import Base


class AuditEntry(Base):
    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_object", "object_type", "object_id"),)
    __table_args__ = (Index("ix_audit_entry_object", "object_type", "object_id"),)

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    ts: Mapped[str] = mapped_column(String(27), index=True)
    actor_id: Mapped[str] = mapped_column(String(64), index=True)
    actor_name: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(80), index=True)
    object_type: Mapped[str] = mapped_column(String(80))
    object_id: Mapped[str] = mapped_column(String(200))
    changes: Mapped[str] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    details: Mapped[str] = mapped_column(Text)
    canonical: Mapped[bytes] = mapped_column(LargeBinary)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """One row: the newest sequence number and hash. Writers lock it to append."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    entry_hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """A head (seq, entry hash, time) signed by the server key. Append-only."""

    __tablename__ = "audit_checkpoint"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)
    entry_hash: Mapped[str] = mapped_column(String(64))
    ts: Mapped[str] = mapped_column(String(27))
    key_id: Mapped[str] = mapped_column(String(16))
    signature: Mapped[str] = mapped_column(String(128))  # base64 of the Ed25519 signature


class AuditServerKey(Base):
    """Every server public key ever used, so a restored database can verify. Append-only."""

    __tablename__ = "audit_server_key"

    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    public_pem: Mapped[str] = mapped_column(Text)
    ts: Mapped[str] = mapped_column(String(27))


class AuditReview(Base):
    """A reviewer marked a range of the trail as reviewed (A11-9). Append-only."""

    __tablename__ = "audit_review"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    first_seq: Mapped[int] = mapped_column(BigInteger)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    reviewer_id: Mapped[str] = mapped_column(String(64), index=True)
    reviewer_name: Mapped[str] = mapped_column(String(200))
    ts: Mapped[str] = mapped_column(String(27))
    comment: Mapped[str] = mapped_column(Text)
    signature_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class PeriodicReport(Base):
    """A periodic evaluation of the system (A11-11) as generated: its period, who generated it and
    its content (canonical JSON, what a signature covers). Append-only."""

    __tablename__ = "periodic_report"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    period_from: Mapped[str] = mapped_column(String(27))
    period_to: Mapped[str] = mapped_column(String(27))
    generated_at: Mapped[str] = mapped_column(String(27))
    generated_by: Mapped[str] = mapped_column(String(64))
    generated_by_name: Mapped[str] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text)
    content_sha256: Mapped[str] = mapped_column(String(64))
