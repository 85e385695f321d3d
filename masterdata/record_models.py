"""Tables of the operational master data records: what happens to lots, equipment,
instruments and people between changes of their master data.

Each row is one signed record (`SignedRecord`: its `id` and `signature_id`, the sequence
number of its Part 11 signature; who made and signed it and when, in columns named after
the act: `received_by`/`received_at`, ...) and is never changed or deleted (append-only in
the database); the current state of a lot, a piece of equipment, an instrument or a
qualification is computed from its rows and the product clock.

- `md_lot`: a received lot of a material from a supplier (quantity, expiry).
- `md_lot_status`: the lot's QC status changes (quarantine, released, rejected).
- `md_equipment_log`: equipment logbook entries (clean, in use, dirty, released for use,
  out of service).
- `md_calibration`: calibrations of instruments (pass or out of tolerance, next due date).
- `md_qualification` / `md_qualification_revocation`: a person's qualification on one
  version of an SOP (granted, valid until) and its revocation.
Times are `core.clock.isoformat` text; dates are ISO dates (YYYY-MM-DD).
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.base import Base

APPEND_ONLY_TABLES = ("md_lot", "md_lot_status", "md_equipment_log", "md_calibration", "md_qualification",
                      "md_qualification_revocation")


class SignedRecord:
    """The columns every signed record table shares: `id` (first) and `signature_id` (last), as
    released (revision 0011_md_records: the column order is the tables' and the backups')."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True, sort_order=-1)
    signature_id: Mapped[str] = mapped_column(String(200), sort_order=1)


def signer() -> Any:
    """The column of the person who made and signed the record (user id)."""
    return mapped_column(String(64))


def signed_at() -> Any:
    """The column of the moment the record was made and signed (`core.clock.isoformat`)."""
    return mapped_column(String(27))


class LotRow(SignedRecord, Base):
    __tablename__ = "md_lot"

    lot: Mapped[str] = mapped_column(String(64), unique=True)
    material: Mapped[str] = mapped_column(String(200), index=True)
    material_revision: Mapped[int] = mapped_column(Integer)
    supplier: Mapped[str] = mapped_column(String(200), index=True)
    supplier_revision: Mapped[int] = mapped_column(Integer)
    supplier_lot: Mapped[str | None] = mapped_column(String(100), nullable=True)
    quantity: Mapped[str] = mapped_column(String(40))
    unit: Mapped[str] = mapped_column(String(16))
    expiry: Mapped[str] = mapped_column(String(10))
    received_by: Mapped[str] = signer()
    received_at: Mapped[str] = signed_at()
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


class LotStatusRow(SignedRecord, Base):
    __tablename__ = "md_lot_status"
    __table_args__ = (Index("ix_md_lot_status_lot_id", "lot", "id"),)

    lot: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    previous_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    changed_by: Mapped[str] = signer()
    changed_at: Mapped[str] = signed_at()


class EquipmentLogRow(SignedRecord, Base):
    __tablename__ = "md_equipment_log"
    __table_args__ = (Index("ix_md_equipment_log_equipment_id", "equipment", "id"),)

    equipment: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    previous_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    instance_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    note: Mapped[str] = mapped_column(Text)
    entered_by: Mapped[str] = signer()
    entered_at: Mapped[str] = signed_at()


class CalibrationRow(SignedRecord, Base):
    __tablename__ = "md_calibration"
    __table_args__ = (Index("ix_md_calibration_instrument_id", "instrument", "id"),)

    instrument: Mapped[str] = mapped_column(String(200))
    instrument_revision: Mapped[int] = mapped_column(Integer)
    calibrated_on: Mapped[str] = mapped_column(String(10))
    result: Mapped[str] = mapped_column(String(20))
    due_on: Mapped[str] = mapped_column(String(10))
    reference: Mapped[str | None] = mapped_column(String(200), nullable=True)
    certificate: Mapped[str | None] = mapped_column(String(200), nullable=True)
    note: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[str] = signer()
    recorded_at: Mapped[str] = signed_at()


class QualificationRow(SignedRecord, Base):
    __tablename__ = "md_qualification"
    __table_args__ = (Index("ix_md_qualification_user_sop", "user_id", "sop"),)

    user_id: Mapped[str] = mapped_column(String(64))
    sop: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    granted_on: Mapped[str] = mapped_column(String(10))
    valid_until: Mapped[str | None] = mapped_column(String(10), nullable=True)
    basis: Mapped[str] = mapped_column(Text)
    granted_by: Mapped[str] = signer()
    granted_at: Mapped[str] = signed_at()


class QualificationRevocationRow(SignedRecord, Base):
    __tablename__ = "md_qualification_revocation"

    qualification_id: Mapped[int] = mapped_column(ForeignKey("md_qualification.id"), unique=True)
    reason: Mapped[str] = mapped_column(Text)
    revoked_by: Mapped[str] = signer()
    revoked_at: Mapped[str] = signed_at()
