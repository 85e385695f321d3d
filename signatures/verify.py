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


def verify_signature(session: Session, row: Signature, record: SignableRecord | None = None,
                     settings: Settings | None = None) -> None:
    from signatures.service import countersignature_document, signature_document

    label = _label(row)
    if not row.message.startswith(_SIG):
        raise SignatureInvalid(f"{label}: signed message lacks the signature domain tag")
    try:
        signed = json.loads(row.message[len(_SIG):])
    except ValueError as exc:
        raise SignatureInvalid(f"{label}: signed message is not canonical JSON") from exc
    if record is not None:
        check_record(record)
        binding = (record.record_type, record.record_id, record.record_version)
        found = (signed.get("record_type"), signed.get("record_id"), signed.get("record_version"))
        if found != binding:
            raise BindingMismatch(f"{label}: signed for {found[0]}/{found[1]} version {found[2]}, not for "
                                  f"{binding[0]}/{binding[1]} version {binding[2]}")
        digest = content_sha256(record)
        if signed.get("content_sha256") != digest:
            raise ContentChanged(f"{label}: record {binding[0]}/{binding[1]} version {binding[2]} changed after "
                                 f"signing: content SHA-256 expected {signed.get('content_sha256')}, found {digest}")
    expected = _SIG + canonical_bytes(signature_document(row))
    if expected != row.message:
        columns = signature_document(row)
        changed = sorted(k for k in columns if signed.get(k) != columns[k])
        raise SignatureInvalid(f"{label}: stored columns {', '.join(changed) or '(encoding)'} differ from the signed "
                               "message")
    key = session.get(SigningKey, row.key_id)
    if key is None or key.user_id != row.signer_id or key_id_of(key.public_key) != key.key_id:
        raise SignatureInvalid(f"{label}: signing key {row.key_id} is missing, not the signer's, or altered")
    if not verify_with(key, row.signer_signature, row.message):
        raise SignatureInvalid(f"{label}: the signer's Ed25519 signature does not verify")
    counter = _COUNTER + canonical_bytes(countersignature_document(row))
    if counter != row.countersignature_message:
        raise CountersignatureInvalid(f"{label}: countersigned message does not match the signature (sequence, "
                                      "time or signer signature changed)")
    if settings is not None:
        server = public_keys(settings).get(row.server_key_id)
        if server is None:
            raise CountersignatureInvalid(f"{label}: server key {row.server_key_id} is not a key of this server")
    else:
        if server_key_id_of(Ed25519PublicKey.from_public_bytes(row.server_public_key)) != row.server_key_id:
            raise CountersignatureInvalid(f"{label}: stored server public key does not match key {row.server_key_id}")
        server = Ed25519PublicKey.from_public_bytes(row.server_public_key)
    if server.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw) != row.server_public_key:
        raise CountersignatureInvalid(f"{label}: stored server public key is not the server's key {row.server_key_id}")
    try:
        server.verify(row.countersignature, row.countersignature_message)
    except InvalidSignature as exc:
        raise CountersignatureInvalid(f"{label}: the server countersignature does not verify") from exc


def verify_signatures(session: Session, record: SignableRecord, settings: Settings | None = None, *,
                      required: bool = False) -> None:
    """Verify every signature of this version of `record`; nothing, or a precise error.

    `required=True` also raises NoSignatures when the version has no signature.
    """
    rec = check_record(record)
    rows = list(session.execute(
        select(Signature).where(Signature.record_type == rec.record_type, Signature.record_id == rec.record_id,
                                Signature.record_version == rec.record_version).order_by(Signature.seq)
    ).scalars())
    if not rows and required:
        raise NoSignatures(f"{rec.record_type}/{rec.record_id} version {rec.record_version} has no signature")
    for row in rows:
        verify_signature(session, row, rec, settings)


def message_sha256(row: Signature) -> str:
    return hashlib.sha256(row.message).hexdigest()
