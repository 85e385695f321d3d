"""Unit of work: one transaction per request or command.

The change and its audit entries commit together or not at all. Work rolls back
unless `commit()` is called. Refused attempts (a wrong password, a failed gate) are
recorded with `record_refusal`: those entries, and `after_rollback` callbacks such
as a failed-attempt counter, are written in a fresh transaction after the rollback,
so a refusal changes nothing except the record of the refusal.

`UnitOfWork(db, actor, read_only=True)` reads in a read-only transaction (no write lock,
see `Database.read_session`); it cannot commit changes or audit entries, but refusals
are still recorded (in their own transaction).
"""
from __future__ import annotations

from typing import Any, Callable

from sqlalchemy.orm import Session

from store import chain
from store.canonical import SYSTEM, Actor, AuditEvent
from store.db import Database, ReadOnlyWrite


class UnitOfWork:
    def __init__(self, db: Database, actor: Actor = SYSTEM, *, read_only: bool = False) -> None:
        self.db = db
        self.actor = actor
        self.read_only = read_only
        self.session: Session = db.read_session() if read_only else db.session()
        self.events: list[AuditEvent] = []
        self._refusals: list[AuditEvent] = []
        self._after_rollback: list[Callable[[Session], None]] = []
        self._after_commit: list[Callable[[], None]] = []
        self.committed = False
        self.audit_seqs: list[int] = []

    def __enter__(self) -> "UnitOfWork":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if not self.committed:
                self.rollback()
        finally:
            self.session.close()

    def audit(self, action: str, object_type: str, object_id: object, *,
              changes: list[list[Any]] | None = None, reason: str | None = None,
              details: dict[str, Any] | None = None, actor: Actor | None = None) -> AuditEvent:
        """Queue an audit entry; it is appended at commit in the same transaction."""
        event = AuditEvent(action=action, object_type=object_type, object_id=str(object_id),
                           actor=actor or self.actor, changes=changes or [], reason=reason,
                           details=details or {})
        self.events.append(event)
        return event

    def record_refusal(self, action: str, object_type: str, object_id: object, *,
                       reason: str, details: dict[str, Any] | None = None,
                       actor: Actor | None = None) -> None:
        """Record a refused attempt; it survives the rollback of this unit of work."""
        self._refusals.append(AuditEvent(action=action, object_type=object_type, object_id=str(object_id),
                                         actor=actor or self.actor, reason=reason, details=details or {}))

    def after_rollback(self, callback: Callable[[Session], None]) -> None:
        """Run `callback(session)` in a fresh transaction if this unit of work rolls back."""
        self._after_rollback.append(callback)

    def after_commit(self, callback: Callable[[], None]) -> None:
        self._after_commit.append(callback)

    def flush(self) -> None:
        self.session.flush()

    def commit(self) -> None:
        if self.committed:
            raise RuntimeError("unit of work already committed")
        if self.read_only:
            if self.events:
                raise ReadOnlyWrite(f"a read-only unit of work cannot write audit entries ({self.events[0].action})")
            self.session.flush()
            self.session.commit()
            self.committed = True
            if self._refusals:
                self._after_rollback.clear()
                self.rollback()
            for callback in self._after_commit:
                callback()
            return
        try:
            self.session.flush()
            self.audit_seqs = chain.append(self.session, self.events + self._refusals)
            self.session.commit()
        except BaseException:
            self.session.rollback()
            raise
        self.committed = True
        for callback in self._after_commit:
            callback()

    def rollback(self) -> None:
        self.session.rollback()
        self.events.clear()
        if self._refusals or self._after_rollback:
            refusals, callbacks = self._refusals, self._after_rollback
            self._refusals, self._after_rollback = [], []
            with self.db.session() as session:
                for callback in callbacks:
                    callback(session)
                session.flush()
                chain.append(session, refusals)
                session.commit()
