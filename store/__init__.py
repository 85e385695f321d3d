"""Persistence: SQLAlchemy base, database handle, unit of work, Alembic migrations.

Rule: store/ imports only core/ and audit/ (for appending the trail at commit).
"""
from store.base import Base
from store.db import Database

__all__ = ["Base", "Database"]
