"""Equipment connectors: tag registry and set-point writes.

Revision ID: 0005_connectors
Revises: 0004_engine_runtime
"""
import sqlalchemy as sa
from alembic import op

from store.sqlguards import append_only

revision = "0005_connectors"
down_revision = "0004_engine_runtime"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("connector_security_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.String(length=27), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("tag_name", sa.String(length=200), nullable=True),
        sa.Column("endpoint", sa.String(length=300), nullable=True),
        sa.Column("source", sa.String(length=300), nullable=True),
        sa.Column("value_json", sa.Text(), nullable=True),
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connector_security_event"))
        )
    op.create_index(op.f("ix_connector_security_event_kind"), "connector_security_event", ["kind"], unique=False)
    op.create_index(op.f("ix_connector_security_event_occurred_at"), "connector_security_event", ["occurred_at"], unique=False)
    op.create_table("tag_registry_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("source_name", sa.String(length=300), nullable=False),
        sa.Column("source_sha256", sa.String(length=64), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("tag_count", sa.Integer(), nullable=False),
        sa.Column("change_reason", sa.Text(), nullable=False),
        sa.Column("imported_by", sa.String(length=64), nullable=False),
        sa.Column("imported_at", sa.String(length=27), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.String(length=27), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("approval_signature", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tag_registry_revision")),
        sa.UniqueConstraint("number", name=op.f("uq_tag_registry_revision_number"))
        )
    op.create_index(op.f("ix_tag_registry_revision_status"), "tag_registry_revision", ["status"], unique=False)
    op.create_table("equipment_tag",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("equipment_id", sa.String(length=120), nullable=False),
        sa.Column("protocol", sa.String(length=10), nullable=False),
        sa.Column("endpoint", sa.String(length=300), nullable=False),
        sa.Column("data_type", sa.String(length=10), nullable=False),
        sa.Column("unit", sa.String(length=40), nullable=False),
        sa.Column("access", sa.String(length=12), nullable=False),
        sa.Column("modbus_unit", sa.Integer(), nullable=True),
        sa.Column("register_type", sa.String(length=20), nullable=True),
        sa.Column("address", sa.Integer(), nullable=True),
        sa.Column("word_order", sa.String(length=6), nullable=False),
        sa.Column("node_id", sa.String(length=300), nullable=True),
        sa.Column("scale", sa.Float(), nullable=False),
        sa.Column("offset", sa.Float(), nullable=False),
        sa.Column("low", sa.Float(), nullable=True),
        sa.Column("high", sa.Float(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["revision_id"], ["tag_registry_revision.id"], name=op.f("fk_equipment_tag_revision_id_tag_registry_revision")),  # noqa: E501
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equipment_tag")),
        sa.UniqueConstraint("revision_id", "name", name="uq_equipment_tag_revision_name")
        )
    op.create_index(op.f("ix_equipment_tag_name"), "equipment_tag", ["name"], unique=False)
    op.create_index(op.f("ix_equipment_tag_revision_id"), "equipment_tag", ["revision_id"], unique=False)
    op.create_table("equipment_reading",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.Column("tag_name", sa.String(length=120), nullable=False),
        sa.Column("value_json", sa.Text(), nullable=False),
        sa.Column("unit", sa.String(length=40), nullable=False),
        sa.Column("quality", sa.String(length=10), nullable=False),
        sa.Column("source_timestamp", sa.String(length=27), nullable=False),
        sa.Column("timestamp_origin", sa.String(length=10), nullable=False),
        sa.Column("received_at", sa.String(length=27), nullable=False),
        sa.Column("origin", sa.String(length=10), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("within_limits", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.String(length=64), nullable=True),
        sa.Column("task_id", sa.String(length=64), nullable=True),
        sa.Column("sampling_id", sa.String(length=36), nullable=True),
        sa.Column("captured_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["tag_id"], ["equipment_tag.id"], name=op.f("fk_equipment_reading_tag_id_equipment_tag")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equipment_reading"))
        )
    op.create_index("ix_equipment_reading_context", "equipment_reading", ["instance_id", "task_id"], unique=False)
    op.create_index(op.f("ix_equipment_reading_sampling_id"), "equipment_reading", ["sampling_id"], unique=False)
    op.create_index(op.f("ix_equipment_reading_tag_id"), "equipment_reading", ["tag_id"], unique=False)
    op.create_index(op.f("ix_equipment_reading_tag_name"), "equipment_reading", ["tag_name"], unique=False)
    op.create_table("setpoint_write",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.Column("tag_name", sa.String(length=120), nullable=False),
        sa.Column("value_json", sa.Text(), nullable=False),
        sa.Column("unit", sa.String(length=40), nullable=False),
        sa.Column("instance_id", sa.String(length=64), nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("signature_id", sa.String(length=200), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("requested_at", sa.String(length=27), nullable=False),
        sa.ForeignKeyConstraint(["tag_id"], ["equipment_tag.id"], name=op.f("fk_setpoint_write_tag_id_equipment_tag")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_setpoint_write"))
        )
    op.create_index(op.f("ix_setpoint_write_instance_id"), "setpoint_write", ["instance_id"], unique=False)
    op.create_index(op.f("ix_setpoint_write_tag_id"), "setpoint_write", ["tag_id"], unique=False)
    op.create_table("setpoint_write_outcome",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("write_id", sa.String(length=36), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("readback_json", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.String(length=27), nullable=False),
        sa.ForeignKeyConstraint(["write_id"], ["setpoint_write.id"], name=op.f("fk_setpoint_write_outcome_write_id_setpoint_write")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_setpoint_write_outcome")),
        sa.UniqueConstraint("write_id", name=op.f("uq_setpoint_write_outcome_write_id"))
        )
    append_only("equipment_tag")
    append_only("equipment_reading")
    append_only("setpoint_write")
    append_only("setpoint_write_outcome")
    append_only("connector_security_event")


def downgrade() -> None:
    raise RuntimeError("GMP data is never dropped: restore a backup instead")
