"""Tables of the operational master data records: what happens to lots, equipment,
instruments and people between changes of their master data.

Each row is one signed record (`signature_id`: the sequence number of its Part 11
signature) and is never changed or deleted (append-only in the database); the current
state of a lot, a piece of equipment, an instrument or a qualification is computed from
its rows and the product clock.

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

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.base import Base

APPEND_ONLY_TABLES = ("md_lot", "md_lot_status", "md_equipment_log", "md_calibration", "md_qualification",
                      "md_qualification_revocation")


class LotRow(Base):
    __tablename__ = "md_lot"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lot: Mapped[str] = mapped_column(String(64), unique=True)
    material: Mapped[str] = mapped_column(String(200), index=True)
    material_revision: Mapped[int] = mapped_column(Integer)
    supplier: Mapped[str] = mapped_column(String(200), index=True)
    supplier_revision: Mapped[int] = mapped_column(Integer)
    supplier_lot: Mapped[str | None] = mapped_column(String(100), nullable=True)
    quantity: Mapped[str] = mapped_column(String(40))
    unit: Mapped[str] = mapped_column(String(16))
    expiry: Mapped[str] = mapped_column(String(10))
    received_by: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[str] = mapped_column(String(27))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    signature_id: Mapped[str] = mapped_column(String(200))


class LotStatusRow(Base):
    __tablename__ = "md_lot_status"
    __table_args__ = (Index("ix_md_lot_status_lot_id", "lot", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lot: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    previous_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    changed_by: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[str] = mapped_column(String(27))
    signature_id: Mapped[str] = mapped_column(String(200))


class EquipmentLogRow(Base):
    __tablename__ = "md_equipment_log"
    __table_args__ = (Index("ix_md_equipment_log_equipment_id", "equipment", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    equipment: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    previous_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    instance_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    note: Mapped[str] = mapped_column(Text)
    entered_by: Mapped[str] = mapped_column(String(64))
    entered_at: Mapped[str] = mapped_column(String(27))
    signature_id: Mapped[str] = mapped_column(String(200))


class CalibrationRow(Base):
    __tablename__ = "md_calibration"
    __table_args__ = (Index("ix_md_calibration_instrument_id", "instrument", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instrument: Mapped[str] = mapped_column(String(200))
    instrument_revision: Mapped[int] = mapped_column(Integer)
    calibrated_on: Mapped[str] = mapped_column(String(10))
    result: Mapped[str] = mapped_column(String(20))
    due_on: Mapped[str] = mapped_column(String(10))
    reference: Mapped[str | None] = mapped_column(String(200), nullable=True)
    certificate: Mapped[str | None] = mapped_column(String(200), nullable=True)
    note: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[str] = mapped_column(String(27))
    signature_id: Mapped[str] = mapped_column(String(200))


class QualificationRow(Base):
    __tablename__ = "md_qualification"
    __table_args__ = (Index("ix_md_qualification_user_sop", "user_id", "sop"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64))
    sop: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    granted_on: Mapped[str] = mapped_column(String(10))
    valid_until: Mapped[str | None] = mapped_column(String(10), nullable=True)
    basis: Mapped[str] = mapped_column(Text)
    granted_by: Mapped[str] = mapped_column(String(64))
    granted_at: Mapped[str] = mapped_column(String(27))
    signature_id: Mapped[str] = mapped_column(String(200))


class QualificationRevocationRow(Base):
    __tablename__ = "md_qualification_revocation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    qualification_id: Mapped[int] = mapped_column(ForeignKey("md_qualification.id"), unique=True)
    reason: Mapped[str] = mapped_column(Text)
    revoked_by: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[str] = mapped_column(String(27))
    signature_id: Mapped[str] = mapped_column(String(200))
