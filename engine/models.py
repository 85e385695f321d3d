"""Tables of the workflow engine core.

- `process_definition`: one row per process key (the BPMN process id).
- `process_definition_version`: the uploaded files, the serialized spec (stored once
  per version, never per instance), status draft -> approved -> superseded.
- `process_instance`: one running process, pinned to its version; top-level workflow
  state (small) and an optimistic `lock_version`.
- `instance_task`: one row per SpiffWorkflow task; a step rewrites only the rows it
  changed. Rows of tasks SpiffWorkflow dropped from its tree are flagged `dropped`.
"""
from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from store.base import Base


class ProcessDefinition(Base):
    __tablename__ = "process_definition"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[str] = mapped_column(String(27))
    created_by: Mapped[str] = mapped_column(String(64))


class ProcessDefinitionVersion(Base):
    __tablename__ = "process_definition_version"
    __table_args__ = (UniqueConstraint("definition_id", "version", name="uq_process_definition_version_def_ver"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    change_reason: Mapped[str] = mapped_column(Text)
    # Large texts load only when used (a step needs them only on a cold start of the spec cache).
    files_json: Mapped[str] = mapped_column(Text, deferred=True)
    files_sha256: Mapped[str] = mapped_column(String(64))
    spec_json: Mapped[str] = mapped_column(Text, deferred=True)
    elements_json: Mapped[str] = mapped_column(Text, deferred=True)
    created_at: Mapped[str] = mapped_column(String(27))
    created_by: Mapped[str] = mapped_column(String(64))
    approved_at: Mapped[str | None] = mapped_column(String(27), nullable=True)
    approved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    approval_signature: Mapped[str | None] = mapped_column(String(200), nullable=True)


class ProcessInstance(Base):
    __tablename__ = "process_instance"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("process_definition_version.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    title: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[str] = mapped_column(String(27))
    started_by: Mapped[str] = mapped_column(String(64))
    ended_at: Mapped[str | None] = mapped_column(String(27), nullable=True)
    cancel_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    lock_version: Mapped[int] = mapped_column(Integer)
    task_seq: Mapped[int] = mapped_column(Integer)
    workflow_json: Mapped[str] = mapped_column(Text)


class InstanceTask(Base):
    __tablename__ = "instance_task"
    __table_args__ = (
        Index("ix_instance_task_inst_seq", "instance_id", "seq"),
        Index("ix_instance_task_state_lane", "state", "lane"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    workflow_key: Mapped[str] = mapped_column(String(36))
    seq: Mapped[int] = mapped_column(Integer)
    spec_name: Mapped[str] = mapped_column(String(200))
    bpmn_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    bpmn_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    lane: Mapped[str | None] = mapped_column(String(200), nullable=True)
    manual: Mapped[bool] = mapped_column(Boolean)
    state: Mapped[int] = mapped_column(Integer)
    dropped: Mapped[bool] = mapped_column(Boolean)
    body: Mapped[str] = mapped_column(Text)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_at: Mapped[str | None] = mapped_column(String(27), nullable=True)
    updated_at: Mapped[str] = mapped_column(String(27))
