"""Per-user Ed25519 signing keys, the private key stored only wrapped (CN-9, P11-200a3).

wrapping key = argon2id(password, salt, stored parameters)
wrapped      = AES-256-GCM(wrapping key, nonce, raw private key, aad = DOMAIN || key_id || user_id)

Nobody without the user's password (administrators and the holder of the server key
included) can unwrap the key. A password change re-wraps it; a credential reset retires
the key (the wrapped private key is destroyed, the public key stays for verification)
and the next enrolment creates a new pair. Key IDs: first 32 hex digits of SHA-256 of
the raw public key.
"""
from __future__ import annotations

import hashlib
import json
import os

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import clock
from signatures import kdf
from signatures.errors import SigningKeyError
from signatures.models import SigningKey

WRAP_DOMAIN = b"GMP-SIGNING-KEY-WRAP-v1\x00"


def key_id_of(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:32]


def _aad(key_id: str, user_id: str) -> bytes:
    return WRAP_DOMAIN + key_id.encode() + b"\x00" + user_id.encode()


def _wrap(private_raw: bytes, password: str, key_id: str, user_id: str) -> tuple[str, bytes, bytes, bytes]:
    params = kdf.current().as_dict()
    salt = os.urandom(16)
    nonce = os.urandom(12)
    wrapping_key = kdf.derive_key(password, salt, params)
    wrapped = AESGCM(wrapping_key).encrypt(nonce, private_raw, _aad(key_id, user_id))
    return json.dumps(params, sort_keys=True), salt, nonce, wrapped


def create_key_pair(session: Session, user_id: str, password: str) -> SigningKey:
    """Retire the user's current key (if any) and create a new wrapped pair."""
    retire_keys(session, user_id)
    private = Ed25519PrivateKey.generate()
    private_raw = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                        serialization.NoEncryption())
    public_raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key_id = key_id_of(public_raw)
    params, salt, nonce, wrapped = _wrap(private_raw, password, key_id, user_id)
    row = SigningKey(key_id=key_id, user_id=user_id, public_key=public_raw, wrapped_private_key=wrapped,
                     kdf=params, salt=salt, nonce=nonce, created_at=clock.now(), retired_at=None)
    session.add(row)
    session.flush()
    return row


def current_key(session: Session, user_id: str) -> SigningKey:
    row = session.execute(
        select(SigningKey).where(SigningKey.user_id == user_id, SigningKey.retired_at.is_(None))
    ).scalar_one_or_none()
    if row is None or row.wrapped_private_key is None:
        raise SigningKeyError(f"user {user_id!r} has no current signing key: enrol first")
    return row


def unwrap_private_key(row: SigningKey, password: str) -> Ed25519PrivateKey:
    private = try_unwrap(row, password)
    if private is None:
        raise SigningKeyError(f"signing key {row.key_id} cannot be unwrapped with this password")
    return private


def try_unwrap(row: SigningKey, password: str) -> Ed25519PrivateKey | None:
    """The private key, or None when the password is not the one it is wrapped under.

    One argon2id derivation. The wrapping is authenticated (AES-GCM, bound to key and user),
    and the key is re-wrapped whenever the password changes, so a key that unwraps proves
    the password as the stored password hash would: the signing ceremony uses this as its
    password check instead of deriving twice.
    """
    if row.wrapped_private_key is None:
        raise SigningKeyError(f"signing key {row.key_id} is retired")
    wrapping_key = kdf.derive_key(password, row.salt, json.loads(row.kdf))
    try:
        raw = AESGCM(wrapping_key).decrypt(row.nonce, row.wrapped_private_key, _aad(row.key_id, row.user_id))
    except InvalidTag:
        return None
    private = Ed25519PrivateKey.from_private_bytes(raw)
    public_raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    if public_raw != row.public_key:
        raise SigningKeyError(f"signing key {row.key_id}: unwrapped private key does not match the public key")
    return private


def rewrap(row: SigningKey, old_password: str, new_password: str) -> None:
    """Password change: the same key pair, wrapped under the new password."""
    private = unwrap_private_key(row, old_password)
    raw = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
    row.kdf, row.salt, row.nonce, row.wrapped_private_key = _wrap(raw, new_password, row.key_id, row.user_id)


def retire_keys(session: Session, user_id: str) -> list[str]:
    """Retire every current key of the user: the private key is destroyed, the public key kept."""
    retired = []
    for row in session.execute(
        select(SigningKey).where(SigningKey.user_id == user_id, SigningKey.retired_at.is_(None))
    ).scalars():
        row.retired_at = clock.now()
        row.wrapped_private_key = None
        retired.append(row.key_id)
    session.flush()
    return retired


_public_cache: dict[bytes, Ed25519PublicKey] = {}


def public_key(row: SigningKey) -> Ed25519PublicKey:
    if key_id_of(row.public_key) != row.key_id:
        raise SigningKeyError(f"signing key {row.key_id}: public key does not match its key ID")
    found = _public_cache.get(row.public_key)
    if found is None:
        if len(_public_cache) > 10_000:
            _public_cache.clear()
        found = _public_cache[row.public_key] = Ed25519PublicKey.from_public_bytes(row.public_key)
    return found


def public_pem(row: SigningKey) -> bytes:
    return public_key(row).public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def verify_with(row: SigningKey, signature: bytes, message: bytes) -> bool:
    try:
        public_key(row).verify(signature, message)
    except InvalidSignature:
        return False
    return True
