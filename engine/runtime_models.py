"""Tables of the engine runtime (scheduler, operators, links between instances).

- `engine_due_timer`: one row per (timer task, due time), written when the scheduler
  (or a save hook) sees a waiting timer; the scheduler claims due rows with
  `SELECT ... FOR UPDATE SKIP LOCKED`, fires them and marks them `fired` (or `void`
  when the timer was no longer waiting), in the same transaction as the instance step.
  Rows are kept: they record when each timer fired and which scheduler fired it.
- `engine_operator_job`: one row per long-running operator call; the scheduler claims
  it, runs the operator outside any instance lock, commits progress as it goes, then
  completes the task. After a crash the row shows how far the operation got.
- `engine_instance_link`: links between instances (a deviation raised from a batch, the
  batches it affects, a process and the one it started): `from --kind--> to`, with the
  reason given (engine.links). Append-only; a link made in error is retracted by a row
  in `engine_instance_link_retraction` (link, reason, who, when), also append-only.
- `engine_business_key`: the business key of an instance (batch number, deviation
  number), at most one per instance and unique per process definition (engine.business_keys).
  Append-only: a business key never changes.
- `engine_instance_exception`: exceptions recorded on an instance for review by
  exception. Append-only.
- `engine_message`: every message routed between instances, with its correlation,
  payload and outcome (delivered to which instance, or started which instance).
"""
from __future__ import annotations

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from store.base import Base


class DueTimer(Base):
    __tablename__ = "engine_due_timer"
    __table_args__ = (
        UniqueConstraint("task_id", "due_at", name="uq_engine_due_timer_task_due"),
        Index("ix_engine_due_timer_state_due", "state", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    task_id: Mapped[str] = mapped_column(String(36))
    element_id: Mapped[str] = mapped_column(String(200))
    due_at: Mapped[str] = mapped_column(String(27))
    state: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[str] = mapped_column(String(27))
    fired_at: Mapped[str | None] = mapped_column(String(27), nullable=True)
    fired_by: Mapped[str | None] = mapped_column(String(100), nullable=True)


class OperatorJob(Base):
    __tablename__ = "engine_operator_job"
    __table_args__ = (Index("ix_engine_operator_job_state", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    task_id: Mapped[str] = mapped_column(String(36), unique=True)
    element_id: Mapped[str] = mapped_column(String(200))
    operator: Mapped[str] = mapped_column(String(200))
    params_json: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(12))
    progress_json: Mapped[str] = mapped_column(Text)
    result_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    claimed_at: Mapped[str | None] = mapped_column(String(27), nullable=True)
    created_at: Mapped[str] = mapped_column(String(27))
    updated_at: Mapped[str] = mapped_column(String(27))


class InstanceLink(Base):
    __tablename__ = "engine_instance_link"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    from_instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    to_instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    kind: Mapped[str] = mapped_column(String(50))
    element_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[str] = mapped_column(String(27))
    created_by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class InstanceLinkRetraction(Base):
    __tablename__ = "engine_instance_link_retraction"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("engine_instance_link.id"), unique=True)
    reason: Mapped[str] = mapped_column(Text)
    retracted_at: Mapped[str] = mapped_column(String(27))
    retracted_by: Mapped[str] = mapped_column(String(64))


class BusinessKey(Base):
    __tablename__ = "engine_business_key"
    __table_args__ = (UniqueConstraint("definition_id", "business_key", name="uq_engine_business_key_definition_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), unique=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"))
    business_key: Mapped[str] = mapped_column(String(100), index=True)
    created_at: Mapped[str] = mapped_column(String(27))
    created_by: Mapped[str] = mapped_column(String(64))


class InstanceException(Base):
    __tablename__ = "engine_instance_exception"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    element_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    kind: Mapped[str] = mapped_column(String(100))
    message: Mapped[str] = mapped_column(Text)
    details_json: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[str] = mapped_column(String(27))
    recorded_by: Mapped[str] = mapped_column(String(64))


class RoutedMessage(Base):
    __tablename__ = "engine_message"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(12))
    correlations_json: Mapped[str] = mapped_column(Text)
    payload_json: Mapped[str] = mapped_column(Text)
    from_instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"), nullable=True)
    to_instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"), nullable=True)
    outcome: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[str] = mapped_column(String(27))
