"""Periodic evaluation reports (A11-11): the generated report's content, append-only.

Revision ID: 0009_periodic_report
Revises: 0008_md_changes
"""
import sqlalchemy as sa
from alembic import op

from store.sqlguards import append_only

revision = "0009_periodic_report"
down_revision = "0008_md_changes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "periodic_report",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("period_from", sa.String(length=27), nullable=False),
        sa.Column("period_to", sa.String(length=27), nullable=False),
        sa.Column("generated_at", sa.String(length=27), nullable=False),
        sa.Column("generated_by", sa.String(length=64), nullable=False),
        sa.Column("generated_by_name", sa.String(length=200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_periodic_report")),
    )
    append_only("periodic_report")


def downgrade() -> None:
    op.drop_table("periodic_report")
