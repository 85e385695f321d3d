"""Web application: forms, notifications, preferences.

Revision ID: 0006_web
Revises: 0005_connectors
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0006_web"
down_revision = "0005_connectors"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    raise RuntimeError("GMP data is never dropped: restore a backup instead")
