"""The signed statement of a JSONL export: what it selected and what it holds.

The server signs, with its Ed25519 key,

    STATEMENT_DOMAIN || canonical JSON of the statement object

where the statement object has exactly the keys of STATEMENT_KEYS:

  v                 1
  format, version   "gmp-audit-export", the export format version
  created           time of the export (UTC)
  filters           the filters (audit.filters.ExportFilter.to_json())
  head_seq/_hash    the trail's head when the export was made; a signed checkpoint at
                    that head was written first and is in the export
  start_seq/_hash   where the export's chain starts (genesis or a signed checkpoint)
  end_seq/_hash     where it ends
  entries           how many entries the export includes
  included_sha256   SHA-256 of the raw 32-byte entry hashes of the included entries,
                    concatenated in sequence order
  key_id            the signing server key

By signing it the server states: of the entries 1..head_seq, exactly these `entries`
entries match `filters`, and the chain runs from start to end through these hashes. A
verifier recomputes every value from the file; hiding an entry (as an `omitted` digest),
changing the filters, or cutting or recomputing the chain then fails.
"""
from __future__ import annotations

import base64
from typing import Any, Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.canonical import dumps
from audit.errors import ExportInvalid
from audit.server_key import ServerKey

STATEMENT_DOMAIN = b"GMP-AUDIT-EXPORT-STATEMENT-v1\x00"
STATEMENT_KEYS = ("v", "format", "version", "created", "filters", "head_seq", "head_hash", "start_seq", "start_hash",
                  "end_seq", "end_hash", "entries", "included_sha256", "key_id")


def statement_message(statement: Mapping[str, Any]) -> bytes:
    return STATEMENT_DOMAIN + dumps(dict(statement)).encode("utf-8")


def sign_statement(key: ServerKey, statement: dict[str, Any]) -> dict[str, Any]:
    """The `statement` record of an export: the statement (with key_id) and its signature."""
    body = {**statement, "v": 1, "key_id": key.key_id}
    missing = set(STATEMENT_KEYS) ^ set(body)
    if missing:
        raise ValueError(f"statement keys differ from the specification: {sorted(missing)}")
    signature = base64.b64encode(key.sign(statement_message(body))).decode()
    return {"type": "statement", "statement": body, "key_id": key.key_id, "signature": signature}


def verify_statement(record: Mapping[str, Any], trusted_keys: Mapping[str, Ed25519PublicKey],
                     where: str) -> dict[str, Any]:
    """Check the statement record's signature with a trusted key; return the statement."""
    body, key_id, signature = record.get("statement"), record.get("key_id"), record.get("signature")
    if not isinstance(body, dict) or set(body) != set(STATEMENT_KEYS) or body.get("v") != 1:
        raise ExportInvalid(f"{where}: the statement does not have the fields {', '.join(STATEMENT_KEYS)}")
    if not isinstance(key_id, str) or body.get("key_id") != key_id or not isinstance(signature, str):
        raise ExportInvalid(f"{where}: the statement's key_id or signature is missing")
    public = trusted_keys.get(key_id)
    if public is None:
        raise ExportInvalid(f"{where}: the statement is signed by unknown or untrusted key {key_id!r}")
    try:
        public.verify(base64.b64decode(signature, validate=True), statement_message(body))
    except (InvalidSignature, ValueError):
        raise ExportInvalid(f"{where}: the statement's signature by key {key_id} does not verify "
                            "(the statement was changed)") from None
    return body
