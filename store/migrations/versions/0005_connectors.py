"""Equipment connectors: tag registry and set-point writes.

Revision ID: 0005_connectors
Revises: 0004_engine_runtime
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0005_connectors"
down_revision = "0004_engine_runtime"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    raise RuntimeError("GMP data is never dropped: restore a backup instead")
