"""Workflow engine core: definitions, instances, tasks.

Revision ID: 0003_engine
Revises: 0002_identities_signatures
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0003_engine"
down_revision = "0002_identities_signatures"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    raise RuntimeError("GMP data is never dropped: restore a backup instead")
