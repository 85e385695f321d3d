"""Canonical encoding of audit entries and the chain hash.

Who acts (`Actor`), an entry waiting for its unit of work's commit (`AuditEvent`) and how an
entry is encoded and chained. Every unit of work writes entries (store.uow, store.chain), so
this sits on the store floor; the audit package (verification, export, review, checkpoints)
builds on it and re-exports it as `audit.canonical`.

canonical = UTF-8 JSON, keys sorted, no insignificant whitespace, of
  {"v", "seq", "ts", "actor_id", "actor_name", "action", "object_type",
   "object_id", "changes", "reason", "details"}
entry_hash = SHA-256(DOMAIN || prev_hash(32 bytes) || SHA-256(canonical))

so an export may carry only SHA-256(canonical) of an entry it leaves out and still
let a verifier recompute the chain. docs/audit-export-format.md specifies it.

Exact decimals (form numbers are `Decimal`) are written as JSON strings with their exact
digits in plain notation, never as binary floats and never in exponent form:
Decimal("10.10") -> "10.10", Decimal("1E+1") -> "10", Decimal("0E-7") -> "0.0000000".
Stored entries keep their canonical bytes: verification reads them, it never re-encodes
Python values.
"""
from __future__ import annotations

import base64
import enum
import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from core.clock import isoformat

FORMAT_VERSION = 1
DOMAIN = b"GMP-AUDIT-ENTRY-v1\x00"
GENESIS_HASH = "00" * 32


@dataclass(frozen=True)
class Actor:
    """Who acts: a user (ID and printed name) or the system."""

    user_id: str
    printed_name: str


SYSTEM = Actor("system", "System")


@dataclass
class AuditEvent:
    """An entry waiting for the commit of its unit of work."""

    action: str
    object_type: str
    object_id: str
    actor: Actor
    changes: list[list[Any]] = field(default_factory=list)  # [[field, old, new], ...]
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def jsonable(value: Any) -> Any:
    """Convert a value to the JSON form used in the trail (stable, lossless enough to read)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        return value
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, datetime):
        return isoformat(value) if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, bytes):
        return "base64:" + base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [jsonable(v) for v in value]
        return sorted(items, key=dumps) if isinstance(value, (set, frozenset)) else items
    return str(value)


def decimal_text(value: Decimal) -> str:
    """The exact digits of a decimal in plain notation (what a person wrote, without an exponent)."""
    text = str(value)
    if "E" in text and value.is_finite():
        return format(value, "f")
    return text


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def dumps(value: Any) -> str:
    """Canonical JSON text (what `json.dumps` gives with these options; the encoder is built once)."""
    return _ENCODER.encode(value)


def entry_document(seq: int, ts: str, event: AuditEvent) -> dict[str, Any]:
    return {
        "v": FORMAT_VERSION,
        "seq": seq,
        "ts": ts,
        "actor_id": event.actor.user_id,
        "actor_name": event.actor.printed_name,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": str(event.object_id),
        "changes": jsonable(event.changes),
        "reason": event.reason,
        "details": jsonable(event.details),
    }


def canonical_bytes(document: dict[str, Any]) -> bytes:
    return dumps(document).encode("utf-8")


def content_digest(canonical: bytes) -> bytes:
    return hashlib.sha256(canonical).digest()


def chain_hash(prev_hash_hex: str, digest: bytes) -> str:
    return hashlib.sha256(DOMAIN + bytes.fromhex(prev_hash_hex) + digest).hexdigest()
