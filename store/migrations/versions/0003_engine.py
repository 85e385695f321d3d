"""Workflow engine core: definitions, instances, tasks.

Revision ID: 0003_engine
Revises: 0002_identities_signatures
"""
import sqlalchemy as sa
from alembic import op

revision = "0003_engine"
down_revision = "0002_identities_signatures"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "process_definition",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.String(length=27), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_process_definition")),
        sa.UniqueConstraint("key", name=op.f("uq_process_definition_key")),
    )
    op.create_table(
        "process_definition_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("definition_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("change_reason", sa.Text(), nullable=False),
        sa.Column("files_json", sa.Text(), nullable=False),
        sa.Column("files_sha256", sa.String(length=64), nullable=False),
        sa.Column("spec_json", sa.Text(), nullable=False),
        sa.Column("elements_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(length=27), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("approved_at", sa.String(length=27), nullable=True),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.Column("approval_signature", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["definition_id"], ["process_definition.id"],
                                name=op.f("fk_process_definition_version_definition_id_process_definition")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_process_definition_version")),
        sa.UniqueConstraint("definition_id", "version", name="uq_process_definition_version_def_ver"),
    )
    op.create_index(op.f("ix_process_definition_version_definition_id"), "process_definition_version", ["definition_id"])
    op.create_table(
        "process_instance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("started_at", sa.String(length=27), nullable=False),
        sa.Column("started_by", sa.String(length=64), nullable=False),
        sa.Column("ended_at", sa.String(length=27), nullable=True),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.Column("lock_version", sa.Integer(), nullable=False),
        sa.Column("task_seq", sa.Integer(), nullable=False),
        sa.Column("workflow_json", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["version_id"], ["process_definition_version.id"],
                                name=op.f("fk_process_instance_version_id_process_definition_version")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_process_instance")),
    )
    op.create_index(op.f("ix_process_instance_version_id"), "process_instance", ["version_id"])
    op.create_index(op.f("ix_process_instance_status"), "process_instance", ["status"])
    op.create_table(
        "instance_task",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("workflow_key", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("spec_name", sa.String(length=200), nullable=False),
        sa.Column("bpmn_id", sa.String(length=200), nullable=True),
        sa.Column("bpmn_name", sa.String(length=200), nullable=True),
        sa.Column("lane", sa.String(length=200), nullable=True),
        sa.Column("manual", sa.Boolean(), nullable=False),
        sa.Column("state", sa.Integer(), nullable=False),
        sa.Column("dropped", sa.Boolean(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_at", sa.String(length=27), nullable=True),
        sa.Column("updated_at", sa.String(length=27), nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instance.id"],
                                name=op.f("fk_instance_task_instance_id_process_instance")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instance_task")),
    )
    op.create_index("ix_instance_task_inst_seq", "instance_task", ["instance_id", "seq"])
    op.create_index("ix_instance_task_state_lane", "instance_task", ["state", "lane"])


def downgrade() -> None:
    raise RuntimeError("GMP data is never dropped: restore a backup instead")
