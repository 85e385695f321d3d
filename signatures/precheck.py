"""The expensive part of a credential check, done before the write transaction opens.

A signature needs the signer's password checked and their private key unwrapped: one
argon2id derivation (about 0.1 s of CPU; `keys.try_unwrap` proves the password). Done
inside the unit of work it would hold the database's write lock all that time, and every
other writer (and on SQLite every request) would queue behind it. So the web layer calls

    credentials = precheck_signing(db, credentials)      # read-only transaction, no lock
    with unit_of_work() as uow: ... sign(uow, record, meaning, credentials, ...)

and the ceremony in the write transaction uses the outcome, if the state it was computed
from (the signing key row, or the password hash for a login) is still the same; otherwise
it derives again itself. Everything else (account state, lockout, TOTP and its replay
protection, roles, four-eyes, the refusal records) is checked in the write transaction as
before: a precheck only saves time, it never decides alone.
"""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from signatures.keys import try_unwrap
from signatures.models import SigningKey, UserAccount
from signatures.passwords import password_matches
from store.db import Database

if TYPE_CHECKING:
    from signatures.credentials import Credentials

KEY, HASH = "key", "hash"


@dataclass(frozen=True)
class Prechecked:
    """The outcome of checking `user_id`'s password against `state` (a digest of what was checked)."""

    user_id: str
    kind: str
    state: str
    ok: bool
    private: Ed25519PrivateKey | None = field(default=None, repr=False, compare=False)

    def applies_to_key(self, row: SigningKey) -> bool:
        return self.kind == KEY and self.user_id == row.user_id and self.state == key_state(row)

    def applies_to_hash(self, user: UserAccount) -> bool:
        return self.kind == HASH and self.user_id == user.user_id and self.state == hash_state(user.password_hash)


def key_state(row: SigningKey) -> str:
    digest = hashlib.sha256()
    for part in (row.key_id.encode(), row.user_id.encode(), row.kdf.encode(), row.salt or b"", row.nonce or b"",
                 row.wrapped_private_key or b"", row.public_key or b""):
        digest.update(len(part).to_bytes(4, "big") + part)
    return digest.hexdigest()


def hash_state(password_hash: str | None) -> str:
    return hashlib.sha256((password_hash or "").encode()).hexdigest()


def precheck_signing(db: Database, credentials: "Credentials") -> "Credentials":
    """`credentials` with the unwrap of the signer's current key attached (or unchanged when
    there is nothing to check: unknown user, no current key)."""
    if not credentials.username or not isinstance(credentials.password, str):
        return credentials
    with db.read_session() as session:
        row = session.execute(select(SigningKey).where(SigningKey.user_id == credentials.username,
                                                       SigningKey.retired_at.is_(None))).scalar_one_or_none()
    if row is None or row.wrapped_private_key is None:
        return credentials
    private = try_unwrap(row, credentials.password)
    return dataclasses.replace(credentials, prechecked=Prechecked(row.user_id, KEY, key_state(row), private is not None,
                                                                   private))


def precheck_login(db: Database, credentials: "Credentials") -> "Credentials":
    """`credentials` with the password checked against the stored hash (login: no key to unwrap)."""
    if not credentials.username or not isinstance(credentials.password, str):
        return credentials
    with db.read_session() as session:
        password_hash = session.execute(select(UserAccount.password_hash)
                                        .where(UserAccount.user_id == credentials.username)).scalar_one_or_none()
    if not password_hash:
        return credentials
    ok = password_matches(password_hash, credentials.password)
    return dataclasses.replace(credentials, prechecked=Prechecked(credentials.username, HASH, hash_state(password_hash), ok))
