"""Foundation: the audit trail.

Revision ID: 0001_foundation
Revises:
"""
import sqlalchemy as sa
from alembic import op

from store.sqlguards import append_only

revision = "0001_foundation"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_entry",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("ts", sa.String(length=27), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("actor_name", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=80), nullable=False),
        sa.Column("object_type", sa.String(length=80), nullable=False),
        sa.Column("object_id", sa.String(length=200), nullable=False),
        sa.Column("changes", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("canonical", sa.LargeBinary(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_entry")),
    )
    op.create_index(op.f("ix_audit_entry_ts"), "audit_entry", ["ts"])
    op.create_index(op.f("ix_audit_entry_actor_id"), "audit_entry", ["actor_id"])
    op.create_index(op.f("ix_audit_entry_action"), "audit_entry", ["action"])
    op.create_index("ix_audit_entry_object", "audit_entry", ["object_type", "object_id"])
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.execute("INSERT INTO audit_head (id, seq, entry_hash) VALUES (1, 0, '" + "0" * 64 + "')")
    append_only("audit_entry")


def downgrade() -> None:
    raise RuntimeError("GMP data is never dropped: restore a backup instead")
