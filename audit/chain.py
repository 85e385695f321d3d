"""Appending to the chain. Called by the unit of work at commit, in its transaction.

Writers serialise on the single `audit_head` row (SELECT ... FOR UPDATE on
PostgreSQL; on SQLite every write transaction already holds the database lock from
BEGIN IMMEDIATE), so concurrent processes never fork the chain.

Hooks registered with `on_append` run after each append, inside the transaction,
with the head before and after (audit.checkpoints uses one to schedule a signed
checkpoint when a commit crosses the configured interval). A hook must be cheap.
"""
from __future__ import annotations

from typing import Callable, Sequence

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from audit.canonical import AuditEvent, canonical_bytes, chain_hash, content_digest, dumps, entry_document
from audit.errors import AuditError
from audit.models import AuditEntry, AuditHead
from core import clock

HEAD_ID = 1

AppendHook = Callable[[Session, int, int], None]
_hooks: list[AppendHook] = []


class HeadMissing(AuditError):
    """The audit_head row is absent: the database is not migrated."""


def on_append(hook: AppendHook) -> None:
    """Register `hook(session, seq_before, seq_after)`; registering twice is a no-op."""
    if hook not in _hooks:
        _hooks.append(hook)


def append(session: Session, events: Sequence[AuditEvent]) -> list[int]:
    """Append events to the chain in the session's transaction; return their seqs."""
    if not events:
        return []
    head = session.execute(
        select(AuditHead.seq, AuditHead.entry_hash).where(AuditHead.id == HEAD_ID).with_for_update()
    ).one_or_none()
    if head is None:
        raise HeadMissing("audit_head row missing: run `gmp db upgrade`")
    first, prev = head
    seq = first
    ts = clock.isoformat(clock.now())
    rows = []
    seqs = []
    for event in events:
        seq += 1
        document = entry_document(seq, ts, event)
        canonical = canonical_bytes(document)
        entry_hash = chain_hash(prev, content_digest(canonical))
        rows.append({
            "seq": seq,
            "ts": ts,
            "actor_id": document["actor_id"],
            "actor_name": document["actor_name"],
            "action": document["action"],
            "object_type": document["object_type"],
            "object_id": document["object_id"],
            "changes": dumps(document["changes"]),
            "reason": document["reason"],
            "details": dumps(document["details"]),
            "canonical": canonical,
            "prev_hash": prev,
            "entry_hash": entry_hash,
        })
        seqs.append(seq)
        prev = entry_hash
    session.execute(insert(AuditEntry), rows)
    session.execute(update(AuditHead).where(AuditHead.id == HEAD_ID).values(seq=seq, entry_hash=prev))
    for hook in _hooks:
        hook(session, first, seq)
    return seqs
