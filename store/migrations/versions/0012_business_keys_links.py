"""Business keys of instances; reasons and retractions of links between instances.

Adds tables and one nullable column; changes no existing row.

Revision ID: 0012_business_keys_links
Revises: 0011_md_records
"""
import sqlalchemy as sa
from alembic import op

from store.sqlguards import append_only

revision = "0012_business_keys_links"
down_revision = "0011_md_records"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "engine_business_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("definition_id", sa.Integer(), nullable=False),
        sa.Column("business_key", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.String(length=27), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instance.id"],
                                name=op.f("fk_engine_business_key_instance_id_process_instance")),
        sa.ForeignKeyConstraint(["definition_id"], ["process_definition.id"],
                                name=op.f("fk_engine_business_key_definition_id_process_definition")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engine_business_key")),
        sa.UniqueConstraint("instance_id", name=op.f("uq_engine_business_key_instance_id")),
        sa.UniqueConstraint("definition_id", "business_key", name="uq_engine_business_key_definition_key"),
    )
    op.create_index(op.f("ix_engine_business_key_business_key"), "engine_business_key", ["business_key"])
    append_only("engine_business_key")

    # A nullable column: no existing row changes (SQLite and PostgreSQL add it in place;
    # the append-only triggers of the table stay as they are).
    op.add_column("engine_instance_link", sa.Column("reason", sa.Text(), nullable=True))
    op.create_table(
        "engine_instance_link_retraction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("retracted_at", sa.String(length=27), nullable=False),
        sa.Column("retracted_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["link_id"], ["engine_instance_link.id"],
                                name=op.f("fk_engine_instance_link_retraction_link_id_engine_instance_link")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engine_instance_link_retraction")),
        sa.UniqueConstraint("link_id", name=op.f("uq_engine_instance_link_retraction_link_id")),
    )
    append_only("engine_instance_link_retraction")


def downgrade() -> None:
    raise RuntimeError("GMP data is never dropped: restore a backup instead")
