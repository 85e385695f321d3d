"""Small helpers for the signatures tests."""
from __future__ import annotations

from sqlalchemy import select

from audit.models import AuditEntry


def actions(db, object_id=None):
    with db.session() as session:
        query = select(AuditEntry.action).order_by(AuditEntry.seq)
        if object_id is not None:
            query = query.where(AuditEntry.object_id == str(object_id))
        return list(session.execute(query).scalars())


def last_entry(db, action):
    with db.session() as session:
        return session.execute(select(AuditEntry).where(AuditEntry.action == action)
                               .order_by(AuditEntry.seq.desc())).scalars().first()
