"""Signature verification: returns nothing or raises a precise VerificationError.

For every signature of the record's version: the record's content hash, the binding
(type, ID, version) in the signed message, every stored column against the signed
message, the signer's Ed25519 signature (key ID = hash of the public key, key owned by
the signer), and the server's countersignature. The server public keys always come
from the instance key folder (the trust anchor, hence `settings` is required): the key
stored in the signature row is never trusted on its own, it must be one of them.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.server_key import public_keys
from core.config import Settings
from signatures.documents import COUNTERSIGNATURE_DOMAIN, SIGNATURE_DOMAIN, countersignature_document, signature_document
from signatures.errors import BindingMismatch, ContentChanged, CountersignatureInvalid, NoSignatures, SignatureInvalid
from signatures.keys import key_id_of, public_key
from signatures.models import Signature, SigningKey
from signatures.records import SignableRecord, canonical_json, check_record, content_sha256

_SIGNATURE_COLUMNS = tuple(getattr(Signature, column.key) for column in Signature.__table__.columns)
_SIG = SIGNATURE_DOMAIN
_COUNTER = COUNTERSIGNATURE_DOMAIN


def _label(row: Signature) -> str:
    return f"signature {row.seq} ({row.meaning} by {row.signer_id})"


_trusted: dict[tuple[str, int], dict[str, tuple[Ed25519PublicKey, bytes]]] = {}


def _trusted_server_keys(settings: Settings) -> dict[str, tuple[Ed25519PublicKey, bytes]]:
    """The instance's server public keys (the trust anchor) with their raw bytes, by key ID; re-read
    when the key folder changes."""
    folder = settings.instance / "keys" / "public"
    stamp = folder.stat().st_mtime_ns if folder.exists() else 0
    cache_key = (str(folder), stamp)
    if cache_key not in _trusted:
        _trusted.clear()
        _trusted[cache_key] = {
            key_id: (public, public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
            for key_id, public in public_keys(settings).items()}
    return _trusted[cache_key]


def _require(settings: Settings | None) -> Settings:
    if settings is None:
        raise TypeError("signature verification needs settings: the trusted server public keys come from the "
                        "instance key folder, never from the signature row")
    return settings


def verify_signature(session: Session, row: Signature, record: SignableRecord | None = None,
                     settings: Settings | None = None) -> None:
    """Verify one stored signature (against `record` when given); nothing, or a precise error."""
    trusted = _trusted_server_keys(_require(settings))
    _verify_row(row, _signer_key(session.get(SigningKey, row.key_id)), record, None, trusted)


def _signer_key(key: SigningKey | None) -> tuple[Ed25519PublicKey, str] | None:
    """(public key, owner) of a signing key row if it is intact (key ID = hash of the public key)."""
    if key is None or key_id_of(key.public_key) != key.key_id:
        return None
    return public_key(key), key.user_id


def _verify_row(row: Signature, signer: tuple[Ed25519PublicKey, str] | None, record: SignableRecord | None,
                record_digest: str | None, trusted: dict[str, tuple[Ed25519PublicKey, bytes]]) -> None:
    """Check one row. `signer`: (public key, owner) of the intact key `row.key_id`, None if it is
    missing or altered; `record_digest`: SHA-256 of the record's canonical content (None: computed
    here); `trusted`: the instance's server keys by key ID."""
    message = row.message
    if not message.startswith(_SIG):
        raise SignatureInvalid(f"{_label(row)}: signed message lacks the signature domain tag")
    columns = signature_document(row)
    encoded = _SIG + canonical_json(columns)
    if encoded == message:
        # the stored columns encode to exactly the signed message: it says what the columns say
        signed = columns
    else:
        try:
            signed = json.loads(message[len(_SIG):])
        except ValueError as exc:
            raise SignatureInvalid(f"{_label(row)}: signed message is not canonical JSON") from exc
        if not isinstance(signed, dict):
            raise SignatureInvalid(f"{_label(row)}: signed message is not a canonical JSON object")
    if record is not None:
        binding = (record.record_type, record.record_id, record.record_version)
        found = (signed.get("record_type"), signed.get("record_id"), signed.get("record_version"))
        if found != binding:
            raise BindingMismatch(f"{_label(row)}: signed for {found[0]}/{found[1]} version {found[2]}, not for "
                                  f"{binding[0]}/{binding[1]} version {binding[2]}")
        if record_digest is None:
            record_digest = content_sha256(record)
        if signed.get("content_sha256") != record_digest:
            raise ContentChanged(f"{_label(row)}: record {binding[0]}/{binding[1]} version {binding[2]} changed "
                                 f"after signing: content SHA-256 expected {signed.get('content_sha256')}, found "
                                 f"{record_digest}")
    if encoded != message:
        changed = sorted(k for k in columns if signed.get(k) != columns[k])
        raise SignatureInvalid(f"{_label(row)}: stored columns {', '.join(changed) or '(encoding)'} differ from the "
                               "signed message")
    if signer is None or signer[1] != row.signer_id:
        raise SignatureInvalid(f"{_label(row)}: signing key {row.key_id} is missing, not the signer's, or altered")
    try:
        signer[0].verify(row.signer_signature, message)
    except InvalidSignature:
        raise SignatureInvalid(f"{_label(row)}: the signer's Ed25519 signature does not verify") from None
    counter = _COUNTER + canonical_json(countersignature_document(row))
    if counter != row.countersignature_message:
        raise CountersignatureInvalid(f"{_label(row)}: countersigned message does not match the signature "
                                      "(sequence, time or signer signature changed)")
    known = trusted.get(row.server_key_id)
    if known is None:
        raise CountersignatureInvalid(f"{_label(row)}: server key {row.server_key_id} is not a key of this "
                                      "server")
    server, raw = known
    if raw != row.server_public_key:
        raise CountersignatureInvalid(f"{_label(row)}: stored server public key is not the server's key "
                                      f"{row.server_key_id}")
    try:
        server.verify(row.countersignature, counter)
    except InvalidSignature as exc:
        raise CountersignatureInvalid(f"{_label(row)}: the server countersignature does not verify") from exc


def verify_signatures(session: Session, record: SignableRecord, settings: Settings | None = None, *,
                      required: bool = False) -> None:
    """Verify every signature of this version of `record`; nothing, or a precise error.

    `required=True` also raises NoSignatures when the version has no signature.
    """
    verify_many(session, [record], settings, required=required)


def verify_many(session: Session, records: Sequence[SignableRecord], settings: Settings | None = None, *,
                required: bool = False) -> None:
    """`verify_signatures` for many records (e.g. every step of a batch record), in few queries."""
    trusted = _trusted_server_keys(_require(settings))
    recs = [check_record(record) for record in records]
    by_type: dict[str, set[str]] = {}
    for rec in recs:
        by_type.setdefault(rec.record_type, set()).add(rec.record_id)
    rows: dict[tuple[str, str, int], list[Any]] = {}
    # plain rows (the signature's columns by name), no ORM objects: verification only reads them
    for record_type, id_set in by_type.items():
        ids = sorted(id_set)
        for start in range(0, len(ids), 500):
            for row in session.execute(
                select(*_SIGNATURE_COLUMNS).where(Signature.record_type == record_type,
                                                  Signature.record_id.in_(ids[start:start + 500]))
                .order_by(Signature.seq)
            ):
                rows.setdefault((row.record_type, row.record_id, row.record_version), []).append(row)
    key_ids = sorted({row.key_id for found in rows.values() for row in found})
    signers: dict[str, tuple[Ed25519PublicKey, str] | None] = {}
    for start in range(0, len(key_ids), 500):
        signers.update((key.key_id, _signer_key(key)) for key in session.execute(
            select(SigningKey.key_id, SigningKey.user_id, SigningKey.public_key)
            .where(SigningKey.key_id.in_(key_ids[start:start + 500]))))
    for rec in recs:
        found = rows.get((rec.record_type, rec.record_id, rec.record_version), [])
        if not found:
            if required:
                raise NoSignatures(f"{rec.record_type}/{rec.record_id} version {rec.record_version} has no signature")
            continue
        digest = content_sha256(rec)
        for row in found:
            _verify_row(row, signers.get(row.key_id), rec, digest, trusted)


def message_sha256(row: Signature) -> str:
    return hashlib.sha256(row.message).hexdigest()
