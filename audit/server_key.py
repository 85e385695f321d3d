"""The server's Ed25519 signing key: signs audit checkpoints and countersigns signatures.

Kept in `instance/keys/` as PKCS#8 encrypted with the configured passphrase
(GMP_SERVER_KEY_PASSPHRASE). Rotation creates a new key and makes it current; every
old public key stays in `instance/keys/public/` so old checkpoints and
countersignatures keep verifying. Key IDs are the first 16 hex digits of the
SHA-256 of the raw public key.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from audit.errors import AuditError
from core.config import Settings


class ServerKeyError(AuditError):
    pass


def key_id_of(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


class ServerKey:
    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public = private.public_key()
        self.key_id = key_id_of(self.public)

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)

    def public_pem(self) -> bytes:
        return public_pem(self.public)


def _keys_dir(settings: Settings) -> Path:
    return settings.instance / "keys"


def _write_private(settings: Settings, private: Ed25519PrivateKey) -> ServerKey:
    key = ServerKey(private)
    folder = _keys_dir(settings)
    (folder / "public").mkdir(parents=True, exist_ok=True)
    encrypted = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(settings.server_key_passphrase.encode()))
    path = folder / f"server-{key.key_id}.pem"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(encrypted)
    (folder / "public" / f"{key.key_id}.pem").write_bytes(key.public_pem())
    tmp = folder / "current.tmp"
    tmp.write_text(key.key_id + "\n")
    tmp.replace(folder / "current")
    return key


def load_server_key(settings: Settings, create: bool = True) -> ServerKey:
    """The current server key; created on first use."""
    folder = _keys_dir(settings)
    current = folder / "current"
    if not current.exists():
        if not create:
            raise ServerKeyError(f"no server key in {folder}")
        return _write_private(settings, Ed25519PrivateKey.generate())
    key_id = current.read_text().strip()
    path = folder / f"server-{key_id}.pem"
    try:
        private = serialization.load_pem_private_key(path.read_bytes(), settings.server_key_passphrase.encode())
    except FileNotFoundError as exc:
        raise ServerKeyError(f"server key file {path} is missing") from exc
    except (ValueError, TypeError) as exc:
        raise ServerKeyError(f"server key {path} cannot be decrypted: wrong GMP_SERVER_KEY_PASSPHRASE?") from exc
    if not isinstance(private, Ed25519PrivateKey):
        raise ServerKeyError(f"server key {path} is not an Ed25519 key")
    return ServerKey(private)


def rotate_server_key(settings: Settings) -> ServerKey:
    """Create a new current key; old public keys stay valid for verification."""
    load_server_key(settings)  # proves the passphrase opens the current key first
    return _write_private(settings, Ed25519PrivateKey.generate())


def public_keys(settings: Settings) -> dict[str, Ed25519PublicKey]:
    """Every server public key ever used, by key ID."""
    found: dict[str, Ed25519PublicKey] = {}
    folder = _keys_dir(settings) / "public"
    for path in sorted(folder.glob("*.pem")) if folder.exists() else []:
        public = serialization.load_pem_public_key(path.read_bytes())
        if isinstance(public, Ed25519PublicKey):
            found[key_id_of(public)] = public
    return found


def verify_server_signature(settings: Settings, key_id: str, signature: bytes, message: bytes) -> None:
    """Return nothing or raise ServerKeyError naming what failed."""
    keys = public_keys(settings)
    public = keys.get(key_id)
    if public is None:
        raise ServerKeyError(f"unknown server key {key_id!r}")
    try:
        public.verify(signature, message)
    except InvalidSignature as exc:
        raise ServerKeyError(f"server signature by key {key_id} does not verify") from exc
