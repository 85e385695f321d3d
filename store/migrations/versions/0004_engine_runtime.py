"""Workflow engine runtime: timers, messages, operators.

Revision ID: 0004_engine_runtime
Revises: 0003_engine
"""
import sqlalchemy as sa
from alembic import op

from store.sqlguards import append_only

revision = "0004_engine_runtime"
down_revision = "0003_engine"
branch_labels = None
depends_on = None


def _fk(table: str, column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], ["process_instance.id"], name=op.f(f"fk_{table}_{column}_process_instance"))


def upgrade() -> None:
    op.create_table(
        "engine_due_timer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("element_id", sa.String(length=200), nullable=False),
        sa.Column("due_at", sa.String(length=27), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.String(length=27), nullable=False),
        sa.Column("fired_at", sa.String(length=27), nullable=True),
        sa.Column("fired_by", sa.String(length=100), nullable=True),
        _fk("engine_due_timer", "instance_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engine_due_timer")),
        sa.UniqueConstraint("task_id", "due_at", name="uq_engine_due_timer_task_due"),
    )
    op.create_index("ix_engine_due_timer_state_due", "engine_due_timer", ["state", "due_at"])
    op.create_table(
        "engine_operator_job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("element_id", sa.String(length=200), nullable=False),
        sa.Column("operator", sa.String(length=200), nullable=False),
        sa.Column("params_json", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("progress_json", sa.Text(), nullable=False),
        sa.Column("result_json", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("claimed_at", sa.String(length=27), nullable=True),
        sa.Column("created_at", sa.String(length=27), nullable=False),
        sa.Column("updated_at", sa.String(length=27), nullable=False),
        _fk("engine_operator_job", "instance_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engine_operator_job")),
        sa.UniqueConstraint("task_id", name=op.f("uq_engine_operator_job_task_id")),
    )
    op.create_index("ix_engine_operator_job_state", "engine_operator_job", ["state"])
    op.create_table(
        "engine_instance_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("from_instance_id", sa.Integer(), nullable=False),
        sa.Column("to_instance_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("element_id", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.String(length=27), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        _fk("engine_instance_link", "from_instance_id"),
        _fk("engine_instance_link", "to_instance_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engine_instance_link")),
    )
    op.create_index(op.f("ix_engine_instance_link_from_instance_id"), "engine_instance_link", ["from_instance_id"])
    op.create_index(op.f("ix_engine_instance_link_to_instance_id"), "engine_instance_link", ["to_instance_id"])
    append_only("engine_instance_link")
    op.create_table(
        "engine_instance_exception",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("element_id", sa.String(length=200), nullable=True),
        sa.Column("kind", sa.String(length=100), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("details_json", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.String(length=27), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        _fk("engine_instance_exception", "instance_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engine_instance_exception")),
    )
    op.create_index(op.f("ix_engine_instance_exception_instance_id"), "engine_instance_exception", ["instance_id"])
    append_only("engine_instance_exception")
    op.create_table(
        "engine_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("correlations_json", sa.Text(), nullable=False),
        sa.Column("payload_json", sa.Text(), nullable=False),
        sa.Column("from_instance_id", sa.Integer(), nullable=True),
        sa.Column("to_instance_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.String(length=27), nullable=False),
        _fk("engine_message", "from_instance_id"),
        _fk("engine_message", "to_instance_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engine_message")),
    )
    op.create_index(op.f("ix_engine_message_name"), "engine_message", ["name"])
    append_only("engine_message")


def downgrade() -> None:
    raise RuntimeError("GMP data is never dropped: restore a backup instead")
