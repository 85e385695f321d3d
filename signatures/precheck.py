"""The expensive part of a credential check, done before the write transaction opens.

A signature needs the signer's password checked and their private key unwrapped: one
argon2id derivation (about 0.1 s of CPU; `keys.try_unwrap` proves the password). Done
inside the unit of work it would hold the database's write lock all that time, and every
other writer (and on SQLite every request) would queue behind it. So the web layer calls

    credentials = precheck_signing(db, credentials)      # read-only transaction, no lock
    with unit_of_work() as uow: ... sign(uow, record, meaning, credentials, ...)

and the ceremony in the write transaction (`KeyUnlock`: signatures.service.sign_many,
signatures.accountability.sign_statement) uses the outcome, if the state it was computed
from (the signing key row, or the password hash for a login) is still the same; otherwise
it derives again itself. Callers outside the web do the same: whoever builds the
`Credentials` of a ceremony (the `gmp` terminal signer, the demo seed, the PQ drivers,
`signatures.testing.credentials`) passes them through `precheck_signing` before opening the
unit of work; `engine.ports.SignatureInput.of(meaning, credentials)` carries the outcome
into a task completion or an approval. Everything else (account state, lockout, TOTP and its replay
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
from sqlalchemy.orm import Session

from signatures.errors import SigningKeyError
from signatures.keys import current_key, try_unwrap
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


def signing_credentials(db: Database, user_id: str, password: str, totp: str | None = None) -> "Credentials":
    """The components of one signing ceremony, prechecked (`precheck_signing`): for callers that
    hold the typed values rather than a `Credentials`."""
    from signatures.credentials import Credentials

    return precheck_signing(db, Credentials(user_id, password, totp or None))


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


class KeyUnlock:
    """The ceremony's password check: the signer's key unwraps (one derivation serves both).

    Uses the outcome computed before the write transaction (`credentials.prechecked`) when
    the key row is unchanged since; derives here otherwise. A user without a current key is
    checked against the password hash (and refused later for the missing key). After a
    successful call, `key` and `private` are the signer's current key and its private half.
    """

    def __init__(self, session: Session, credentials: "Credentials") -> None:
        self.session = session
        self.credentials = credentials
        self.key: SigningKey | None = None
        self.private: Ed25519PrivateKey | None = None

    def __call__(self, user: UserAccount) -> bool:
        try:
            key = current_key(self.session, user.user_id)
        except SigningKeyError:
            return password_matches(user.password_hash, self.credentials.password)
        pre = self.credentials.prechecked
        if pre is not None and pre.applies_to_key(key):
            private = pre.private if pre.ok else None
        else:
            private = try_unwrap(key, self.credentials.password)
        if private is None:
            return False
        self.key, self.private = key, private
        return True
