"""Appending to the chain. Called by the unit of work at commit, in its transaction.

On the store floor with the unit of work that calls it; re-exported as `audit.chain`.

Writers serialise on the single `audit_head` row (SELECT ... FOR UPDATE on
PostgreSQL; on SQLite every write transaction already holds the database lock from
BEGIN IMMEDIATE), so concurrent processes never fork the chain.

Hooks registered with `on_append` run after each append, inside the transaction,
with the head before and after (audit.checkpoints uses one to schedule a signed
checkpoint when a commit crosses the configured interval). A hook must be cheap.
"""
from __future__ import annotations

from typing import Callable, Sequence

from sqlalchemy.orm import Session

from core import clock
from core.errors import GmpError
from store.canonical import AuditEvent, canonical_bytes, chain_hash, content_digest, dumps, entry_document

HEAD_ID = 1

AppendHook = Callable[[Session, int, int], None]
_hooks: list[AppendHook] = []


class HeadMissing(GmpError):
    """The audit_head row is absent: the database is not migrated."""

    http_status = 500


_COLUMNS = ("seq", "ts", "actor_id", "actor_name", "action", "object_type", "object_id", "changes", "reason",
            "details", "canonical", "prev_hash", "entry_hash")


def _statements(mark: str, lock: str) -> tuple[str, str, str]:
    return (f"SELECT seq, entry_hash FROM audit_head WHERE id = {HEAD_ID}{lock}",
            f"INSERT INTO audit_entry ({', '.join(_COLUMNS)}) VALUES ({', '.join([mark] * len(_COLUMNS))})",
            f"UPDATE audit_head SET seq = {mark}, entry_hash = {mark} WHERE id = {HEAD_ID}")


# Appending is on every commit's path: plain DBAPI statements on the session's own
# connection and transaction (SQLite holds the write lock from BEGIN IMMEDIATE;
# PostgreSQL locks the head row).
_SQL = {"sqlite": _statements("?", ""), "postgresql": _statements("%s", " FOR UPDATE")}


def on_append(hook: AppendHook) -> None:
    """Register `hook(session, seq_before, seq_after)`; registering twice is a no-op."""
    if hook not in _hooks:
        _hooks.append(hook)


def append(session: Session, events: Sequence[AuditEvent]) -> list[int]:
    """Append events to the chain in the session's transaction; return their seqs."""
    if not events:
        return []
    connection = session.connection()
    select_head, insert_entry, update_head = _SQL[connection.dialect.name]
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    cursor.execute(select_head)
    head = cursor.fetchone()
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
        rows.append((seq, ts, document["actor_id"], document["actor_name"], document["action"],
                     document["object_type"], document["object_id"], dumps(document["changes"]), document["reason"],
                     dumps(document["details"]), canonical, prev, entry_hash))
        seqs.append(seq)
        prev = entry_hash
    if len(rows) == 1:
        cursor.execute(insert_entry, rows[0])
    else:
        cursor.executemany(insert_entry, rows)
    cursor.execute(update_head, (seq, prev))
    cursor.close()
    for hook in _hooks:
        hook(session, first, seq)
    return seqs
