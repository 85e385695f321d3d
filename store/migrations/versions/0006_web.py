"""Web application: interface language per user, in-application notifications, signed corrections.

Revision ID: 0006_web
Revises: 0005_connectors
"""
import sqlalchemy as sa
from alembic import op

from store.sqlguards import append_only

revision = "0006_web"
down_revision = "0005_connectors"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_user_preference",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("updated_at", sa.String(length=27), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_web_user_preference")),
    )
    op.create_table(
        "web_notification",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("link", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.String(length=27), nullable=False),
        sa.Column("read_at", sa.String(length=27), nullable=True),
        sa.Column("emailed_at", sa.String(length=27), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_notification")),
    )
    op.create_index(op.f("ix_web_notification_user_id"), "web_notification", ["user_id"])
    op.create_index(op.f("ix_web_notification_created_at"), "web_notification", ["created_at"])


    op.create_table(
        "web_form_correction",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("record_version", sa.Integer(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("correction", sa.Text(), nullable=False),
        sa.Column("signature_seq", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.String(length=27), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_form_correction")),
    )
    op.create_index(op.f("ix_web_form_correction_instance_id"), "web_form_correction", ["instance_id"])
    op.create_index(op.f("ix_web_form_correction_task_id"), "web_form_correction", ["task_id"])
    append_only("web_form_correction")


def downgrade() -> None:
    raise RuntimeError("GMP data is never dropped: restore a backup instead")
