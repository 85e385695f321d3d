"""Signature verification: returns nothing or raises a precise VerificationError.

For every signature of the record's version: the record's content hash, the binding
(type, ID, version) in the signed message, every stored column against the signed
message, the signer's Ed25519 signature (key ID = hash of the public key, key owned by
the signer), and the server's countersignature. With `settings`, server public keys
come from the instance key folder (the trust anchor); without, from the signature row
(still checked against its key ID).
"""
from __future__ import annotations

import hashlib
import json
from typing import Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.canonical import canonical_bytes
from audit.server_key import key_id_of as server_key_id_of
from audit.server_key import public_keys
from core.config import Settings
from signatures.errors import (BindingMismatch, ContentChanged, CountersignatureInvalid, NoSignatures,
                               SignatureInvalid)
from signatures.keys import key_id_of, verify_with
from signatures.models import Signature, SigningKey
from signatures.records import SignableRecord, check_record, content_sha256

_SIG = b"GMP-SIGNATURE-v1\x00"
_COUNTER = b"GMP-COUNTERSIGNATURE-v1\x00"


def _label(row: Signature) -> str:
    return f"signature {row.seq} ({row.meaning} by {row.signer_id})"


_trusted: dict[tuple[str, int], dict[str, Ed25519PublicKey]] = {}


def _trusted_server_keys(settings: Settings) -> dict[str, Ed25519PublicKey]:
    """The instance's server public keys (the trust anchor), re-read when the key folder changes."""
    folder = settings.instance / "keys" / "public"
    stamp = folder.stat().st_mtime_ns if folder.exists() else 0
    cache_key = (str(folder), stamp)
    if cache_key not in _trusted:
        _trusted.clear()
        _trusted[cache_key] = public_keys(settings)
    return _trusted[cache_key]


def verify_signature(session: Session, row: Signature, record: SignableRecord | None = None,
                     settings: Settings | None = None) -> None:
    """Verify one stored signature (against `record` when given); nothing, or a precise error."""
    _verify_row(row, session.get(SigningKey, row.key_id), record, settings)


def _verify_row(row: Signature, key: SigningKey | None, record: SignableRecord | None,
                settings: Settings | None) -> None:
    from signatures.service import countersignature_document, signature_document

    label = _label(row)
    if not row.message.startswith(_SIG):
        raise SignatureInvalid(f"{label}: signed message lacks the signature domain tag")
    try:
        signed = json.loads(row.message[len(_SIG):])
    except ValueError as exc:
        raise SignatureInvalid(f"{label}: signed message is not canonical JSON") from exc
    if record is not None:
        binding = (record.record_type, record.record_id, record.record_version)
        found = (signed.get("record_type"), signed.get("record_id"), signed.get("record_version"))
        if found != binding:
            raise BindingMismatch(f"{label}: signed for {found[0]}/{found[1]} version {found[2]}, not for "
                                  f"{binding[0]}/{binding[1]} version {binding[2]}")
        digest = content_sha256(record)
        if signed.get("content_sha256") != digest:
            raise ContentChanged(f"{label}: record {binding[0]}/{binding[1]} version {binding[2]} changed after "
                                 f"signing: content SHA-256 expected {signed.get('content_sha256')}, found {digest}")
    columns = signature_document(row)
    if _SIG + canonical_bytes(columns) != row.message:
        changed = sorted(k for k in columns if signed.get(k) != columns[k])
        raise SignatureInvalid(f"{label}: stored columns {', '.join(changed) or '(encoding)'} differ from the signed "
                               "message")
    if key is None or key.user_id != row.signer_id or key_id_of(key.public_key) != key.key_id:
        raise SignatureInvalid(f"{label}: signing key {row.key_id} is missing, not the signer's, or altered")
    if not verify_with(key, row.signer_signature, row.message):
        raise SignatureInvalid(f"{label}: the signer's Ed25519 signature does not verify")
    counter = _COUNTER + canonical_bytes(countersignature_document(row))
    if counter != row.countersignature_message:
        raise CountersignatureInvalid(f"{label}: countersigned message does not match the signature (sequence, "
                                      "time or signer signature changed)")
    if settings is not None:
        server = _trusted_server_keys(settings).get(row.server_key_id)
        if server is None:
            raise CountersignatureInvalid(f"{label}: server key {row.server_key_id} is not a key of this server")
        if server.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw) != row.server_public_key:
            raise CountersignatureInvalid(f"{label}: stored server public key is not the server's key "
                                          f"{row.server_key_id}")
    else:
        server = _stored_server_key(row, label)
    try:
        server.verify(row.countersignature, row.countersignature_message)
    except InvalidSignature as exc:
        raise CountersignatureInvalid(f"{label}: the server countersignature does not verify") from exc


def _stored_server_key(row: Signature, label: str) -> Ed25519PublicKey:
    public = Ed25519PublicKey.from_public_bytes(row.server_public_key)
    if server_key_id_of(public) != row.server_key_id:
        raise CountersignatureInvalid(f"{label}: stored server public key does not match key {row.server_key_id}")
    return public


def verify_signatures(session: Session, record: SignableRecord, settings: Settings | None = None, *,
                      required: bool = False) -> None:
    """Verify every signature of this version of `record`; nothing, or a precise error.

    `required=True` also raises NoSignatures when the version has no signature.
    """
    verify_many(session, [record], settings, required=required)


def verify_many(session: Session, records: Sequence[SignableRecord], settings: Settings | None = None, *,
                required: bool = False) -> None:
    """`verify_signatures` for many records (e.g. every step of a batch record), in few queries."""
    recs = [check_record(record) for record in records]
    by_type: dict[str, set[str]] = {}
    for rec in recs:
        by_type.setdefault(rec.record_type, set()).add(rec.record_id)
    rows: dict[tuple[str, str, int], list[Signature]] = {}
    for record_type, id_set in by_type.items():
        ids = sorted(id_set)
        for start in range(0, len(ids), 500):
            for row in session.execute(
                select(Signature).where(Signature.record_type == record_type,
                                        Signature.record_id.in_(ids[start:start + 500])).order_by(Signature.seq)
            ).scalars():
                rows.setdefault((row.record_type, row.record_id, row.record_version), []).append(row)
    key_ids = sorted({row.key_id for found in rows.values() for row in found})
    keys: dict[str, SigningKey] = {}
    for start in range(0, len(key_ids), 500):
        keys.update((k.key_id, k) for k in session.execute(
            select(SigningKey).where(SigningKey.key_id.in_(key_ids[start:start + 500]))).scalars())
    for rec in recs:
        found = rows.get((rec.record_type, rec.record_id, rec.record_version), [])
        if not found and required:
            raise NoSignatures(f"{rec.record_type}/{rec.record_id} version {rec.record_version} has no signature")
        for row in found:
            _verify_row(row, keys.get(row.key_id), rec, settings)


def message_sha256(row: Signature) -> str:
    return hashlib.sha256(row.message).hexdigest()
