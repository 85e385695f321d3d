"""Identities, credentials and electronic signatures.

Revision ID: 0002_identities_signatures
Revises: 0001_foundation
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0002_identities_signatures"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    raise RuntimeError("GMP data is never dropped: restore a backup instead")
