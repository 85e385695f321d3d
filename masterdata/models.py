"""Tables of change control (masterdata.changes).

- `md_change_set`: changes drafted together (one import, one registry revision), approved
  together in one signing ceremony; a single draft is a set of one.
- `md_change`: one revision of one controlled item (kind, key): its whole data after the
  change, why, who drafted and who approved it with which signature, from when it is in
  force, and what superseded it. Rows are never deleted; the data of a row never changes
  once drafted (a correction is a new revision), only its status moves forward.
Times are `core.clock.isoformat` text (UTC, microseconds, 'Z').
"""
from __future__ import annotations

import enum

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from store.base import Base


class ChangeStatus(str, enum.Enum):
    DRAFT = "draft"
    APPROVED = "approved"          # signed, in force from a later date
    EFFECTIVE = "effective"
    SUPERSEDED = "superseded"
    WITHDRAWN = "withdrawn"


class ChangeAction(str, enum.Enum):
    CREATE = "create"
    CHANGE = "change"
    RETIRE = "retire"


class ChangeSetRow(Base):
    __tablename__ = "md_change_set"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(60), index=True)
    reason: Mapped[str] = mapped_column(Text)
    source_name: Mapped[str | None] = mapped_column(String(300), nullable=True)
    source_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    drafted_by: Mapped[str] = mapped_column(String(64))
    drafted_at: Mapped[str] = mapped_column(String(27))


class ChangeRow(Base):
    __tablename__ = "md_change"
    __table_args__ = (UniqueConstraint("kind", "item_key", "revision", name="uq_md_change_item_revision"),
                      Index("ix_md_change_kind_status", "kind", "status"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    change_set_id: Mapped[int] = mapped_column(ForeignKey("md_change_set.id"), index=True)
    kind: Mapped[str] = mapped_column(String(60))
    item_key: Mapped[str] = mapped_column(String(200), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(10))
    data_json: Mapped[str] = mapped_column(Text)
    data_sha256: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12))
    drafted_by: Mapped[str] = mapped_column(String(64))
    drafted_at: Mapped[str] = mapped_column(String(27))
    approved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    approved_at: Mapped[str | None] = mapped_column(String(27), nullable=True)
    approval_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    signature_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    effective_from: Mapped[str | None] = mapped_column(String(27), nullable=True, index=True)
    superseded_by: Mapped[int | None] = mapped_column(Integer, nullable=True)
    superseded_at: Mapped[str | None] = mapped_column(String(27), nullable=True)
    withdrawn_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    withdrawn_at: Mapped[str | None] = mapped_column(String(27), nullable=True)
    withdrawal_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
