"""Change control of master data: change sets and revisions of controlled items.

Revision ID: 0008_md_changes
Revises: 0007_api
"""
import sqlalchemy as sa
from alembic import op

revision = "0008_md_changes"
down_revision = "0007_api"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "md_change_set",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("source_name", sa.String(length=300), nullable=True),
        sa.Column("source_sha256", sa.String(length=64), nullable=True),
        sa.Column("drafted_by", sa.String(length=64), nullable=False),
        sa.Column("drafted_at", sa.String(length=27), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_md_change_set")),
    )
    op.create_index(op.f("ix_md_change_set_kind"), "md_change_set", ["kind"], unique=False)
    op.create_table(
        "md_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("change_set_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("item_key", sa.String(length=200), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("data_json", sa.Text(), nullable=False),
        sa.Column("data_sha256", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("drafted_by", sa.String(length=64), nullable=False),
        sa.Column("drafted_at", sa.String(length=27), nullable=False),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.Column("approved_at", sa.String(length=27), nullable=True),
        sa.Column("approval_reason", sa.Text(), nullable=True),
        sa.Column("signature_id", sa.String(length=200), nullable=True),
        sa.Column("effective_from", sa.String(length=27), nullable=True),
        sa.Column("superseded_by", sa.Integer(), nullable=True),
        sa.Column("superseded_at", sa.String(length=27), nullable=True),
        sa.Column("withdrawn_by", sa.String(length=64), nullable=True),
        sa.Column("withdrawn_at", sa.String(length=27), nullable=True),
        sa.Column("withdrawal_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["change_set_id"], ["md_change_set.id"],
                                name=op.f("fk_md_change_change_set_id_md_change_set")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_md_change")),
        sa.UniqueConstraint("kind", "item_key", "revision", name="uq_md_change_item_revision"),
    )
    op.create_index(op.f("ix_md_change_change_set_id"), "md_change", ["change_set_id"], unique=False)
    op.create_index(op.f("ix_md_change_item_key"), "md_change", ["item_key"], unique=False)
    op.create_index(op.f("ix_md_change_effective_from"), "md_change", ["effective_from"], unique=False)
    op.create_index("ix_md_change_kind_status", "md_change", ["kind", "status"], unique=False)


def downgrade() -> None:
    raise RuntimeError("GMP data is never dropped: restore a backup instead")
