"""Verification of the audit trail in the database.

For every entry, in sequence order:
1. the sequence numbers run 1, 2, 3, ... without a gap;
2. `prev_hash` equals the previous entry's hash (genesis: 64 zeros);
3. `entry_hash` equals SHA-256(DOMAIN || prev_hash || SHA-256(canonical));
4. every displayed column equals the value inside the canonical bytes (so a change to a
   column shown to people is caught, not only a change to the stored bytes);
5. where a signed checkpoint names this sequence number, its hash is this entry's hash.

Then the head row must name the last entry, and no checkpoint may name an entry beyond
the end (that means rows were cut). Checkpoints come from the table and from the
checkpoint log file; each signature is checked against the server public keys stored in
the database and in the key folder.

Step 4 is done cheaply: the canonical bytes are rebuilt from the columns with the C
JSON string encoder and compared as bytes; only on a mismatch is the entry decoded to
name the column that differs.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit import checkpoints as cps
from audit.canonical import DOMAIN, GENESIS_HASH, dumps
from audit.errors import ChainBroken
from audit.server_key import public_keys as folder_public_keys
from core.config import Settings
from store.db import Database

_enc = json.encoder.encode_basestring  # type: ignore[attr-defined]  # the C encoder json.dumps(ensure_ascii=False) uses
COLUMNS = ("seq", "ts", "actor_id", "actor_name", "action", "object_type", "object_id",
           "changes", "reason", "details", "canonical", "prev_hash", "entry_hash")
SELECT_ENTRIES = "SELECT " + ", ".join(COLUMNS) + " FROM audit_entry ORDER BY seq"
BATCH = 5000


@dataclass
class VerifyReport:
    entries: int
    head_seq: int
    head_hash: str
    checkpoints: int
    newest_checkpoint: cps.Checkpoint | None
    unanchored: int
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        anchored = (f"newest checkpoint at {self.newest_checkpoint.seq}" if self.newest_checkpoint
                    else "no checkpoint yet")
        return (f"audit trail intact: {self.entries} entries, head {self.head_seq} {self.head_hash[:16]}..., "
                f"{self.checkpoints} checkpoints ({anchored}); {self.unanchored} entries after the newest "
                f"checkpoint are not yet anchored")


def rebuild_canonical(row: tuple[Any, ...]) -> bytes:
    """The canonical bytes that the columns of `row` (in COLUMNS order) stand for."""
    seq, ts, actor_id, actor_name, action, object_type, object_id, changes, reason, details = row[:10]
    return ('{"action":' + _enc(action) + ',"actor_id":' + _enc(actor_id) + ',"actor_name":' + _enc(actor_name)
            + ',"changes":' + changes + ',"details":' + details + ',"object_id":' + _enc(object_id)
            + ',"object_type":' + _enc(object_type) + ',"reason":' + ("null" if reason is None else _enc(reason))
            + ',"seq":' + str(seq) + ',"ts":' + _enc(ts) + ',"v":1}').encode("utf-8")


def explain_mismatch(row: tuple[Any, ...]) -> ChainBroken:
    """Name the first column that differs from the canonical bytes of `row`."""
    seq, canonical = row[0], bytes(row[10])
    try:
        document = json.loads(canonical)
    except ValueError as exc:
        return ChainBroken(seq, "canonical bytes are not JSON", "a JSON object", str(exc))
    if not isinstance(document, dict):
        return ChainBroken(seq, "canonical bytes are not a JSON object", "object", type(document).__name__)
    for index, name in enumerate(COLUMNS[:10]):
        found = row[index]
        expected = document.get(name)
        if name in ("changes", "details"):
            expected = dumps(expected)
        if found != expected:
            return ChainBroken(seq, f"column {name} differs from the canonical bytes", expected, found)
    return ChainBroken(seq, "canonical bytes are not in canonical form", rebuild_canonical(row).decode(),
                       canonical.decode("utf-8", "replace"))


_TEMPLATE = ('{"action":%s,"actor_id":%s,"actor_name":%s,"changes":%s,"details":%s,"object_id":%s,'
             '"object_type":%s,"reason":%s,"seq":%d,"ts":%s,"v":1}')


def verify_rows(rows: Iterable[tuple[Any, ...]], checkpoints: dict[int, str],
                start_seq: int = 1, start_hash: str = GENESIS_HASH) -> tuple[int, str, int]:
    """Check a run of entry rows (COLUMNS order) that continues the chain at (start_seq, start_hash).

    `checkpoints` maps seq -> signed entry hash. Returns (last seq, last hash, count).
    This loop is the hot path of `gmp audit verify` (bench/audit_verify.py): keep it lean.
    """
    sha256 = hashlib.sha256
    domain = DOMAIN
    enc = _enc
    template = _TEMPLATE
    expected_seq = start_seq
    prev_hex = start_hash
    prev_raw = bytes.fromhex(start_hash)
    signed_seqs = checkpoints.keys()
    for seq, ts, actor_id, actor_name, action, object_type, object_id, changes, reason, details, canonical, \
            prev_hash, entry_hash in rows:
        if seq != expected_seq:
            if seq > expected_seq:
                raise ChainBroken(expected_seq, "entry missing (sequence gap)", expected_seq, seq)
            raise ChainBroken(expected_seq, "sequence out of order", expected_seq, seq)
        if prev_hash != prev_hex:
            raise ChainBroken(seq, "prev_hash does not link to the previous entry", prev_hex, prev_hash)
        if type(canonical) is not bytes:
            canonical = bytes(canonical)
        digest = sha256(domain + prev_raw + sha256(canonical).digest())
        prev_hex = digest.hexdigest()
        if prev_hex != entry_hash:
            raise ChainBroken(seq, "entry_hash does not match the canonical bytes (altered entry)", prev_hex, entry_hash)
        if (template % (enc(action), enc(actor_id), enc(actor_name), changes, details, enc(object_id), enc(object_type),
                        "null" if reason is None else enc(reason), seq, enc(ts))).encode() != canonical:
            raise explain_mismatch((seq, ts, actor_id, actor_name, action, object_type, object_id, changes, reason,
                                    details, canonical, prev_hash, entry_hash))
        if seq in signed_seqs and checkpoints[seq] != prev_hex:
            raise ChainBroken(seq, "entry hash differs from the signed checkpoint", checkpoints[seq], prev_hex)
        prev_raw = digest.digest()
        expected_seq += 1
    return expected_seq - 1, prev_hex, expected_seq - start_seq


def _iter_cursor(cursor: Any) -> Iterator[tuple[Any, ...]]:
    while True:
        batch = cursor.fetchmany(BATCH)
        if not batch:
            return
        yield from batch


def verify_trail(db: Database, settings: Settings | None = None, *,
                 checkpoint_log: Path | None = None,
                 extra_keys: dict[str, Ed25519PublicKey] | None = None) -> VerifyReport:
    """Verify the whole trail; return a report or raise ChainBroken / CheckpointInvalid."""
    if checkpoint_log is None and settings is not None:
        checkpoint_log = cps.log_path(settings)
    # The log is read before the database snapshot: it only ever lags the database.
    logged = cps.read_log(checkpoint_log) if checkpoint_log is not None else []
    keys: dict[str, Ed25519PublicKey] = dict(extra_keys or {})
    if settings is not None:
        keys.update(folder_public_keys(settings))

    raw = db.engine.raw_connection()
    try:
        raw.rollback()
        cursor = raw.cursor()
        if db.is_sqlite:
            cursor.execute("BEGIN")  # one read snapshot for everything below
        else:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute("SELECT key_id, public_pem FROM audit_server_key")
        for key_id, pem in cursor.fetchall():
            keys.setdefault(key_id, cps.load_public_key(pem.encode()))
        cursor.execute("SELECT seq, entry_hash, ts, key_id, signature FROM audit_checkpoint ORDER BY id")
        stored = [cps.Checkpoint(*row) for row in cursor.fetchall()]
        all_checkpoints = cps.merge(stored, logged)
        for checkpoint in all_checkpoints:
            checkpoint.verify(keys)
        signed: dict[int, str] = {}
        for checkpoint in all_checkpoints:
            if signed.setdefault(checkpoint.seq, checkpoint.entry_hash) != checkpoint.entry_hash:
                raise ChainBroken(checkpoint.seq, "two signed checkpoints disagree", signed[checkpoint.seq],
                                  checkpoint.entry_hash)
        cursor.execute("SELECT seq, entry_hash FROM audit_head WHERE id = 1")
        head = cursor.fetchone()
        head_seq, head_hash = (int(head[0]), head[1]) if head else (0, GENESIS_HASH)
        cursor.close()
        # PostgreSQL: a server-side cursor, so a long trail is not loaded into memory at once.
        cursor = raw.cursor() if db.is_sqlite else raw.driver_connection.cursor("audit_verify")  # type: ignore[union-attr]
        cursor.execute(SELECT_ENTRIES)
        rows = cursor if db.is_sqlite else _iter_cursor(cursor)  # sqlite3 cursors iterate fastest directly
        last_seq, last_hash, count = verify_rows(rows, signed)
        cursor.close()
    finally:
        raw.rollback()
        raw.close()

    if last_seq != head_seq or last_hash != head_hash:
        if head_seq > last_seq:
            raise ChainBroken(last_seq + 1, f"entry missing (audit_head names entry {head_seq})", head_hash, None)
        raise ChainBroken(head_seq, "audit_head does not name the last entry", f"{last_seq} {last_hash}",
                          f"{head_seq} {head_hash}")
    beyond = [c for c in all_checkpoints if c.seq > last_seq]
    if beyond:
        checkpoint = beyond[-1]
        raise ChainBroken(last_seq + 1, f"entry missing: trail truncated (a checkpoint signed entry {checkpoint.seq})",
                          checkpoint.entry_hash, None)
    newest = all_checkpoints[-1] if all_checkpoints else None
    return VerifyReport(entries=count, head_seq=last_seq, head_hash=last_hash, checkpoints=len(all_checkpoints),
                        newest_checkpoint=newest, unanchored=last_seq - (newest.seq if newest else 0))
