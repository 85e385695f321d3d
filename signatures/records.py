"""What a signable record is: a type, an ID, a version and a canonical content encoding.

Any record type (task completion, document version, batch record, audit-trail review,
process definition, validation protocol) implements `SignableRecord`; the signature
covers SHA-256(canonical_content()). `SimpleRecord` wraps a JSON-able mapping.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, runtime_checkable

from audit.canonical import jsonable
from signatures.errors import InvalidRecord

# One encoder, built once, with exactly the arguments of `audit.canonical.dumps`: the same
# bytes as `audit.canonical.canonical_bytes` without building an encoder per call (the
# signing and verification loops encode several documents per signature).
_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def canonical_json(document: Mapping[str, Any]) -> bytes:
    """Canonical JSON (keys sorted, compact, UTF-8) of a JSON-ready document; = `audit.canonical.canonical_bytes`."""
    return _encode(document).encode("utf-8")


@runtime_checkable
class SignableRecord(Protocol):
    record_type: str
    record_id: str
    record_version: int

    def canonical_content(self) -> bytes: ...


@dataclass(frozen=True)
class SimpleRecord:
    """A record given as a mapping: canonical content is its sorted, compact UTF-8 JSON."""

    record_type: str
    record_id: str
    record_version: int
    content: Mapping[str, Any] = field(default_factory=dict)

    def canonical_content(self) -> bytes:
        content = dict(self.content)
        # a flat mapping of plain strings, integers, booleans and None is its own JSON form
        # (what `jsonable` would return unchanged); anything else goes through `jsonable`
        if not all(type(key) is str and type(value) in _PLAIN for key, value in content.items()):
            content = jsonable(content)
        return _encode(content).encode("utf-8")


_PLAIN = frozenset({str, int, bool, type(None)})


def check_record(record: object) -> SignableRecord:
    for attribute in ("record_type", "record_id", "record_version", "canonical_content"):
        if not hasattr(record, attribute):
            raise InvalidRecord(f"{type(record).__name__} is not a signable record: it lacks {attribute}")
    rec: Any = record
    if not isinstance(rec.record_type, str) or not rec.record_type or len(rec.record_type) > 80:
        raise InvalidRecord(f"invalid record_type {rec.record_type!r}: expected a non-empty string (<= 80 characters)")
    if not isinstance(rec.record_id, str) or not rec.record_id or len(rec.record_id) > 200:
        raise InvalidRecord(f"invalid record_id {rec.record_id!r}: expected a non-empty string (<= 200 characters)")
    if isinstance(rec.record_version, bool) or not isinstance(rec.record_version, int) or rec.record_version < 1:
        raise InvalidRecord(f"invalid record_version {rec.record_version!r}: expected an integer >= 1")
    return rec  # type: ignore[no-any-return]


def content_sha256(record: SignableRecord) -> str:
    content = record.canonical_content()
    if not isinstance(content, bytes):
        raise InvalidRecord(f"{record.record_type}/{record.record_id}: canonical_content() must return bytes")
    return hashlib.sha256(content).hexdigest()
