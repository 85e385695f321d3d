"""Tables of the equipment connectors.

- `tag_registry_revision`: one imported definition file; pending -> approved (effective)
  or rejected; an approved revision is superseded once none of its tag changes is in
  force. Its change set (masterdata `md_change_set`) holds one change per tag it adds,
  changes or retires (kind `tag`).
- `equipment_tag`: the tags a revision defines (append-only: a change is a new revision).
- `equipment_reading`: every value captured from equipment, marked as original
  equipment data (append-only).
- `setpoint_write` / `setpoint_write_outcome`: a set-point write is committed as
  requested before it is sent, and its outcome (confirmed / failed) afterwards; a
  request without an outcome is an unconfirmed write (both append-only).
- `connector_security_event`: refused or dropped equipment data (P11-10h; append-only).
Times are `core.clock.isoformat` text (UTC, microseconds, 'Z').
"""
from __future__ import annotations

import enum

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from store.base import Base


class RevisionStatus(str, enum.Enum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"


class WriteOutcome(str, enum.Enum):
    CONFIRMED = "confirmed"
    FAILED = "failed"


class SecurityEventKind(str, enum.Enum):
    UNREGISTERED_TAG = "unregistered_tag"
    UNREGISTERED_NODE = "unregistered_node"
    ENDPOINT_MISMATCH = "endpoint_mismatch"


class TagRegistryRevision(Base):
    __tablename__ = "tag_registry_revision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    source_name: Mapped[str] = mapped_column(String(300))
    source_sha256: Mapped[str] = mapped_column(String(64))
    content_sha256: Mapped[str] = mapped_column(String(64))
    tag_count: Mapped[int] = mapped_column(Integer)
    change_reason: Mapped[str] = mapped_column(Text)
    imported_by: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[str] = mapped_column(String(27))
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_at: Mapped[str | None] = mapped_column(String(27), nullable=True)
    decision_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    approval_signature: Mapped[str | None] = mapped_column(String(200), nullable=True)
    change_set_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)  # md_change_set.id


class EquipmentTag(Base):
    __tablename__ = "equipment_tag"
    __table_args__ = (UniqueConstraint("revision_id", "name", name="uq_equipment_tag_revision_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision_id: Mapped[int] = mapped_column(ForeignKey("tag_registry_revision.id"), index=True)
    name: Mapped[str] = mapped_column(String(120), index=True)
    equipment_id: Mapped[str] = mapped_column(String(120))
    protocol: Mapped[str] = mapped_column(String(10))
    endpoint: Mapped[str] = mapped_column(String(300))
    data_type: Mapped[str] = mapped_column(String(10))
    unit: Mapped[str] = mapped_column(String(40))
    access: Mapped[str] = mapped_column(String(12))
    modbus_unit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    register_type: Mapped[str | None] = mapped_column(String(20), nullable=True)
    address: Mapped[int | None] = mapped_column(Integer, nullable=True)
    word_order: Mapped[str] = mapped_column(String(6))
    node_id: Mapped[str | None] = mapped_column(String(300), nullable=True)
    scale: Mapped[float] = mapped_column(Float)
    offset: Mapped[float] = mapped_column(Float)
    low: Mapped[float | None] = mapped_column(Float, nullable=True)
    high: Mapped[float | None] = mapped_column(Float, nullable=True)
    description: Mapped[str] = mapped_column(Text)


class EquipmentReading(Base):
    __tablename__ = "equipment_reading"
    __table_args__ = (Index("ix_equipment_reading_context", "instance_id", "task_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("equipment_tag.id"), index=True)
    tag_name: Mapped[str] = mapped_column(String(120), index=True)
    value_json: Mapped[str] = mapped_column(Text)
    unit: Mapped[str] = mapped_column(String(40))
    quality: Mapped[str] = mapped_column(String(10))
    source_timestamp: Mapped[str] = mapped_column(String(27))
    timestamp_origin: Mapped[str] = mapped_column(String(10))
    received_at: Mapped[str] = mapped_column(String(27))
    origin: Mapped[str] = mapped_column(String(10))
    purpose: Mapped[str] = mapped_column(String(20))
    within_limits: Mapped[int] = mapped_column(Integer)
    instance_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    task_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    sampling_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    captured_by: Mapped[str] = mapped_column(String(64))


class SetpointWrite(Base):
    __tablename__ = "setpoint_write"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("equipment_tag.id"), index=True)
    tag_name: Mapped[str] = mapped_column(String(120))
    value_json: Mapped[str] = mapped_column(Text)
    unit: Mapped[str] = mapped_column(String(40))
    instance_id: Mapped[str] = mapped_column(String(64), index=True)
    task_id: Mapped[str] = mapped_column(String(64))
    signature_id: Mapped[str] = mapped_column(String(200))
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[str] = mapped_column(String(27))


class SetpointWriteOutcome(Base):
    __tablename__ = "setpoint_write_outcome"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    write_id: Mapped[str] = mapped_column(ForeignKey("setpoint_write.id"), unique=True)
    outcome: Mapped[str] = mapped_column(String(10))
    readback_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    detail: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[str] = mapped_column(String(27))


class ConnectorSecurityEvent(Base):
    __tablename__ = "connector_security_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    occurred_at: Mapped[str] = mapped_column(String(27), index=True)
    kind: Mapped[str] = mapped_column(String(30), index=True)
    tag_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    endpoint: Mapped[str | None] = mapped_column(String(300), nullable=True)
    source: Mapped[str | None] = mapped_column(String(300), nullable=True)
    value_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    actor_id: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text)
