"""Signed checkpoints of the audit head.

A checkpoint is the head (sequence number, entry hash) and the time, signed with the
server's Ed25519 key. Each checkpoint is kept in three places so that cutting the
trail is detectable even if the checkpoint rows are deleted with it:

- the append-only `audit_checkpoint` table;
- the append-only log file `instance/audit-checkpoints.jsonl` (one JSON object a line);
- every JSONL export (audit.export).

The server public keys are stored in `audit_server_key` too, so a restored database
verifies without the key folder.

Signed message: CHECKPOINT_DOMAIN || canonical JSON of
{"entry_hash", "key_id", "seq", "ts", "v": 1} (keys sorted, no spaces, UTF-8).

Periodic checkpoints: `enable_periodic(db, settings)` makes every commit that crosses
a multiple of `settings.checkpoint_interval_entries` write one after it commits.
"""
from __future__ import annotations

import base64
import fcntl
import json
import logging
import os
import weakref
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Engine, event, insert, select
from sqlalchemy.orm import Session

from audit import chain
from audit.canonical import dumps
from audit.errors import CheckpointInvalid, CheckpointLogCorrupt, EmptyTrail
from audit.models import AuditCheckpoint, AuditHead, AuditServerKey
from audit.server_key import ServerKey, key_id_of, load_server_key, public_keys
from core import clock
from core.config import Settings
from store.db import Database

CHECKPOINT_DOMAIN = b"GMP-AUDIT-CHECKPOINT-v1\x00"
LOG_NAME = "audit-checkpoints.jsonl"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    entry_hash: str
    ts: str
    key_id: str
    signature: str  # base64

    def message(self) -> bytes:
        return checkpoint_message(self.seq, self.entry_hash, self.ts, self.key_id)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> "Checkpoint":
        if not isinstance(data, dict):
            raise ValueError("a checkpoint is a JSON object")
        seq, entry_hash, ts, key_id, signature = (data.get(k) for k in ("seq", "entry_hash", "ts", "key_id", "signature"))
        if not (isinstance(seq, int) and not isinstance(seq, bool) and seq > 0):
            raise ValueError("seq must be a positive integer")
        for name, value in (("entry_hash", entry_hash), ("ts", ts), ("key_id", key_id), ("signature", signature)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty string")
        return cls(seq, entry_hash, ts, key_id, signature)

    def verify(self, keys: dict[str, Ed25519PublicKey]) -> None:
        """Return nothing or raise CheckpointInvalid."""
        public = keys.get(self.key_id)
        if public is None:
            raise CheckpointInvalid(f"checkpoint at seq {self.seq}: signed by unknown or untrusted key {self.key_id!r}")
        try:
            public.verify(base64.b64decode(self.signature, validate=True), self.message())
        except (InvalidSignature, ValueError) as exc:
            raise CheckpointInvalid(f"checkpoint at seq {self.seq}: signature by key {self.key_id} does not verify") from exc


def checkpoint_message(seq: int, entry_hash: str, ts: str, key_id: str) -> bytes:
    document = {"entry_hash": entry_hash, "key_id": key_id, "seq": seq, "ts": ts, "v": 1}
    return CHECKPOINT_DOMAIN + dumps(document).encode("utf-8")


def log_path(settings: Settings) -> Path:
    return settings.instance / LOG_NAME


# ---------------------------------------------------------------- keys
_key_cache: dict[tuple[str, str], ServerKey] = {}


def current_key(settings: Settings) -> ServerKey:
    """The current server key (decrypting it costs a key derivation: cached per key ID)."""
    current = settings.instance / "keys" / "current"
    key_id = current.read_text().strip() if current.exists() else ""
    cached = _key_cache.get((str(settings.instance), key_id))
    if cached is not None:
        return cached
    key = load_server_key(settings)
    _key_cache[(str(settings.instance), key.key_id)] = key
    return key


def store_public_keys(session: Session, settings: Settings) -> list[str]:
    """Copy every server public key of the key folder into the database; return new key IDs."""
    known = set(session.execute(select(AuditServerKey.key_id)).scalars())
    added = []
    for key_id, public in public_keys(settings).items():
        if key_id not in known:
            pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            session.execute(insert(AuditServerKey).values(key_id=key_id, public_pem=pem.decode(),
                                                          ts=clock.isoformat(clock.now())))
            added.append(key_id)
    return added


def database_public_keys(session: Session) -> dict[str, Ed25519PublicKey]:
    found: dict[str, Ed25519PublicKey] = {}
    for key_id, pem in session.execute(select(AuditServerKey.key_id, AuditServerKey.public_pem)):
        found[key_id] = load_public_key(pem.encode())
    return found


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    public = serialization.load_pem_public_key(pem)
    if not isinstance(public, Ed25519PublicKey):
        raise CheckpointInvalid("public key is not an Ed25519 key")
    return public


def load_public_keys_pem(data: bytes) -> dict[str, Ed25519PublicKey]:
    """Every PEM public key block in `data` (a file from `gmp audit public-key`), by key ID."""
    marker = b"-----END PUBLIC KEY-----"
    found: dict[str, Ed25519PublicKey] = {}
    for block in data.split(marker)[:-1]:
        start = block.find(b"-----BEGIN PUBLIC KEY-----")
        if start < 0:
            continue
        try:
            public = load_public_key(block[start:] + marker + b"\n")
        except ValueError as exc:
            raise CheckpointInvalid(f"unreadable public key: {exc}") from exc
        found[key_id_of(public)] = public
    if not found:
        raise CheckpointInvalid("no PEM public key found")
    return found


# ---------------------------------------------------------------- writing
def create_checkpoint(db: Database, settings: Settings) -> Checkpoint:
    """Sign the current head; store it in the table and the log file. Idempotent per head."""
    key = current_key(settings)
    with db.session() as session:
        store_public_keys(session, settings)
        seq, entry_hash = session.execute(select(AuditHead.seq, AuditHead.entry_hash).where(AuditHead.id == chain.HEAD_ID)).one()
        if seq == 0:
            raise EmptyTrail("the audit trail is empty: nothing to checkpoint")
        newest = session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc(), AuditCheckpoint.id.desc())
                                 .limit(1)).scalar_one_or_none()
        if newest is not None and newest.seq == seq and newest.key_id == key.key_id:
            session.commit()
            checkpoint = Checkpoint(newest.seq, newest.entry_hash, newest.ts, newest.key_id, newest.signature)
            _append_log(settings, checkpoint, only_if_missing=True)
            return checkpoint
        ts = clock.isoformat(clock.now())
        signature = base64.b64encode(key.sign(checkpoint_message(seq, entry_hash, ts, key.key_id))).decode()
        checkpoint = Checkpoint(seq, entry_hash, ts, key.key_id, signature)
        session.execute(insert(AuditCheckpoint).values(**checkpoint.to_json()))
        session.commit()
    _append_log(settings, checkpoint)
    return checkpoint


def _append_log(settings: Settings, checkpoint: Checkpoint, only_if_missing: bool = False) -> None:
    path = log_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (dumps(checkpoint.to_json()) + "\n").encode("utf-8")
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if only_if_missing:
            with open(path, "rb") as handle:
                if line in handle.read().splitlines(keepends=True):
                    return
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_log(path: Path) -> list[Checkpoint]:
    """The checkpoints of a log file (an absent file holds none)."""
    if not path.exists():
        return []
    found = []
    for number, line in enumerate(path.read_bytes().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            found.append(Checkpoint.from_json(json.loads(line)))
        except ValueError as exc:
            raise CheckpointLogCorrupt(f"{path} line {number}: not a checkpoint: {exc}") from exc
    return found


def database_checkpoints(session: Session) -> list[Checkpoint]:
    rows = session.execute(select(AuditCheckpoint.seq, AuditCheckpoint.entry_hash, AuditCheckpoint.ts,
                                  AuditCheckpoint.key_id, AuditCheckpoint.signature).order_by(AuditCheckpoint.id))
    return [Checkpoint(*row) for row in rows]


def merge(*sources: list[Checkpoint]) -> list[Checkpoint]:
    """Union of checkpoint lists, without duplicates, ordered by seq."""
    seen: dict[tuple[Any, ...], Checkpoint] = {}
    for source in sources:
        for checkpoint in source:
            seen.setdefault(tuple(asdict(checkpoint).values()), checkpoint)
    return sorted(seen.values(), key=lambda c: (c.seq, c.ts))


# ---------------------------------------------------------------- periodic
_periodic: "weakref.WeakKeyDictionary[Engine, tuple[Database, Settings]]" = weakref.WeakKeyDictionary()


def enable_periodic(db: Database, settings: Settings) -> None:
    """Write a checkpoint after each commit through `db` that crosses the configured interval."""
    _periodic[db.engine] = (db, settings)
    chain.on_append(_on_append)


_DUE = "audit_checkpoint_due"


def _on_append(session: Session, before: int, after: int) -> None:
    if not _periodic:
        return
    target = _periodic.get(session.get_bind())  # type: ignore[arg-type]
    if target is None:
        return
    interval = target[1].checkpoint_interval_entries
    if interval > 0 and before // interval != after // interval:
        session.info[_DUE] = target


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    target = session.info.pop(_DUE, None)
    if target is None:
        return
    try:
        create_checkpoint(*target)
    except Exception:  # the commit stands; verify reports the entries as unanchored
        log.exception("periodic audit checkpoint failed")


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_DUE, None)
