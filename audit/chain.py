"""Appending to the chain. Called by the unit of work at commit, in its transaction.

Writers serialise on the single `audit_head` row (SELECT ... FOR UPDATE on
PostgreSQL; on SQLite every write transaction already holds the database lock from
BEGIN IMMEDIATE), so concurrent processes never fork the chain.
"""
from __future__ import annotations

from typing import Sequence

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from audit.canonical import AuditEvent, canonical_bytes, chain_hash, content_digest, dumps, entry_document
from audit.models import AuditEntry, AuditHead
from core import clock

HEAD_ID = 1


def append(session: Session, events: Sequence[AuditEvent]) -> list[int]:
    """Append events to the chain in the session's transaction; return their seqs."""
    if not events:
        return []
    head = session.execute(
        select(AuditHead.seq, AuditHead.entry_hash).where(AuditHead.id == HEAD_ID).with_for_update()
    ).one_or_none()
    if head is None:
        raise RuntimeError("audit_head row missing: run `gmp db upgrade`")
    seq, prev = head
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
    return seqs
