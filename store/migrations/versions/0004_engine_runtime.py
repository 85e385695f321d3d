"""Workflow engine runtime: timers, messages, operators.

Revision ID: 0004_engine_runtime
Revises: 0003_engine
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0004_engine_runtime"
down_revision = "0003_engine"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    raise RuntimeError("GMP data is never dropped: restore a backup instead")
