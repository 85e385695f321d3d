"""Small helpers for the signatures tests (and the tests of other signing paths)."""
from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event, select

from audit.models import AuditEntry
from signatures import kdf
from store.db import READ_ONLY


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


@contextmanager
def counted_derivations(monkeypatch, db=None):  # type: ignore[no-untyped-def]
    """Count every argon2id derivation (key unwraps and password-hash verifications): `n` in all,
    and, given the database `db`, `inside` / `outside` a write transaction open on it at the time
    (seen through the engine's own begin/commit/rollback events: the real transactions)."""
    count = {"n": 0, "inside": 0, "outside": 0}
    open_writes: set[int] = set()
    derive, hasher = kdf.derive_key, kdf.password_hasher

    def counted() -> None:
        count["n"] += 1
        count["inside" if open_writes else "outside"] += 1

    def counting_derive(*args, **kwargs):  # type: ignore[no-untyped-def]
        counted()
        return derive(*args, **kwargs)

    class CountingHasher:
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            self.inner = hasher(*args, **kwargs)

        def verify(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            counted()
            return self.inner.verify(*args, **kwargs)

        def __getattr__(self, name):  # type: ignore[no-untyped-def]
            return getattr(self.inner, name)

    def began(conn):  # type: ignore[no-untyped-def]
        if not conn.get_execution_options().get(READ_ONLY):
            open_writes.add(id(conn))

    def ended(conn):  # type: ignore[no-untyped-def]
        open_writes.discard(id(conn))

    monkeypatch.setattr(kdf, "derive_key", counting_derive)
    monkeypatch.setattr(kdf, "password_hasher", CountingHasher)
    hooks = [("begin", began), ("commit", ended), ("rollback", ended)] if db is not None else []
    for name, fn in hooks:
        event.listen(db.engine, name, fn)
    try:
        yield count
    finally:
        for name, fn in hooks:
            event.remove(db.engine, name, fn)
