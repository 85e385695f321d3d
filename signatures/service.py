"""The signing ceremony: `sign(uow, record, meaning, credentials, auth_session, settings)`.

Two components, enforced here on the server (P11-200a1):
- first signing after login (same user as the session): user ID + password + TOTP;
- later signings in the same continuous session: the password (TOTP optional);
- no session, an expired session, or a second signer at another user's terminal
  (verifier, witness): all components; the second signer never becomes the session's user.

Then the rules: identity verified (P11-100b), accountability statement signed (P11-10j),
role rules (P11-10g, A11-15, CN-8), no superseded version, four-eyes (A11-6, CN-3).
Every signature and every refused attempt is an audit entry; failed authentication
counts toward the lockout (P11-300d). The caller must let the unit of work roll back on
an error (the refusal and the failure count survive the rollback).

Signed message (by the signer's own key, unwrapped with their password):
    "GMP-SIGNATURE-v1\\0" || canonical JSON {v, seq, record_type, record_id, record_version,
        content_sha256, signer_id, printed_name, meaning, signed_at, components, reason, key_id}
Countersigned message (by the server key; time and sequence come from the server):
    "GMP-COUNTERSIGNATURE-v1\\0" || canonical JSON {v, seq, countersigned_at, signer_key_id,
        message_sha256, signer_signature_sha256, server_key_id}
"""
from __future__ import annotations

from operator import itemgetter
from types import SimpleNamespace
from typing import Any, Sequence

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, configure_mappers, make_transient_to_detached
from sqlalchemy.orm.instrumentation import manager_of_class

from audit.canonical import Actor
from audit.server_key import ServerKey, load_server_key
from core import clock
from core.config import Settings
from signatures import sessions
from signatures.credentials import Credentials, authenticate
from signatures.documents import COUNTERSIGNATURE_DOMAIN, SIGNATURE_DOMAIN, countersignature_document, signature_document
from signatures.errors import (
    AccountabilityNotSigned,
    FourEyesViolation,
    IdentityNotVerified,
    InvalidRecord,
    MissingComponent,
    RecordVersionError,
    SigningRefused,
    UnknownMeaning,
)
from signatures.identities import role_kind_of, roles_of
from signatures.keys import current_key, unwrap_private_key
from signatures.meanings import Meaning
from signatures.models import AccountabilityStatement, AuthSession, Signature, SignatureHead, SigningKey, UserAccount
from signatures.precheck import KeyUnlock
from signatures.records import SignableRecord, canonical_json, check_record, content_sha256
from signatures.signing_rules import SigningRules, load_rules
from signatures.verify import verify_many, verify_signature, verify_signatures
from store.uow import UnitOfWork

__all__ = ["sign", "sign_many", "verify_many", "sign_correction", "signatures_for", "verify_signatures", "verify_signature", "Credentials",
           "Meaning", "signature_document", "countersignature_document"]

_server_keys: dict[tuple[str, str], ServerKey] = {}

# The signing path writes through the session's own DBAPI connection and transaction with
# statements prepared once per dialect (as `audit.chain` does for the trail): SQLAlchemy's
# per-row parameter processing and ORM row loading cost more than the signature itself.
_SIGNATURE_COLUMNS = tuple(column.name for column in Signature.__table__.columns)


# Per-ceremony queries as plain Core statements built once (no ORM entity loading)
_SIGNATURE = Signature.__table__
_EXISTING = (select(_SIGNATURE.c.record_id, _SIGNATURE.c.record_version, _SIGNATURE.c.signer_id, _SIGNATURE.c.meaning)
             .where(_SIGNATURE.c.record_type == bindparam("record_type"),
                    _SIGNATURE.c.record_id.in_(bindparam("record_ids", expanding=True))))
_STATEMENT = AccountabilityStatement.__table__
_STATEMENT_EXISTS = select(_STATEMENT.c.id).where(_STATEMENT.c.user_id == bindparam("user_id")).limit(1)
_HEAD = SignatureHead.__table__
# SQLite: the write lock is held from BEGIN IMMEDIATE; PostgreSQL: the head row is locked.
_SELECT_HEAD = select(_HEAD.c.seq).where(_HEAD.c.id == 1).with_for_update()


def _statements(mark: str) -> tuple[str, str]:
    return (f"INSERT INTO signature ({', '.join(_SIGNATURE_COLUMNS)}) "
            f"VALUES ({', '.join([mark] * len(_SIGNATURE_COLUMNS))})",
            f"UPDATE signature_head SET seq = {mark} WHERE id = 1")


_SQL = {"sqlite": _statements("?"), "postgresql": _statements("%s")}
_SIGNATURE_MANAGER = manager_of_class(Signature)
_column_values = itemgetter(*_SIGNATURE_COLUMNS)  # row values in INSERT column order


def _server_key(settings: Settings) -> ServerKey:
    """The current server key, decrypted once per process and key (rotation picks up the new one)."""
    current = settings.instance / "keys" / "current"
    key_id = current.read_text().strip() if current.exists() else ""
    cache_key = (str(settings.instance), key_id)
    if not key_id or cache_key not in _server_keys:
        key = load_server_key(settings)
        _server_keys[(str(settings.instance), key.key_id)] = key
        return key
    return _server_keys[cache_key]


def signatures_for(session: Session, record_type: str, record_id: str,
                   record_version: int | None = None) -> list[Signature]:
    """Signatures of a record (all versions, or one), in signing order."""
    query = select(Signature).where(Signature.record_type == record_type, Signature.record_id == str(record_id))
    if record_version is not None:
        query = query.where(Signature.record_version == record_version)
    return list(session.execute(query.order_by(Signature.seq)).scalars())


def _meaning(meaning: Meaning | str, rules: SigningRules) -> str:
    value = meaning.value if isinstance(meaning, Meaning) else str(meaning)
    if value not in rules.meanings():
        raise UnknownMeaning(f"unknown signature meaning {value!r}")
    return value


def _refuse(uow: UnitOfWork, error: type[SigningRefused], message: str, record: SignableRecord,
            actor: Actor, details: dict[str, Any]) -> SigningRefused:
    uow.record_refusal("signature.refused", record.record_type, record.record_id, reason=message,
                       details=details, actor=actor)
    return error(message)


def sign(uow: UnitOfWork, record: SignableRecord, meaning: Meaning | str, credentials: Credentials,
         auth_session: AuthSession | str | None = None, settings: Settings | None = None, *,
         reason: str | None = None) -> Signature:
    """Sign `record` with `meaning` as the person whose credentials are given; return the signature."""
    return sign_many(uow, [record], meaning, credentials, auth_session, settings, reason=reason)[0]


def sign_many(uow: UnitOfWork, records: Sequence[SignableRecord], meaning: Meaning | str, credentials: Credentials,
              auth_session: AuthSession | str | None = None, settings: Settings | None = None, *,
              reason: str | None = None) -> list[Signature]:
    """One signing ceremony for several records the signer selected (e.g. a review-by-exception list).

    The components are checked and the private key unwrapped once; every record gets its
    own signature, bound to its own content, with every rule checked per record. If any
    record is refused, nothing is signed.
    """
    if settings is None:
        raise TypeError("sign() needs settings (the server key and the signing rules come from them)")
    if not records:
        raise InvalidRecord("nothing to sign")
    rules = load_rules(settings)
    recs = [check_record(record) for record in records]
    value = _meaning(meaning, rules)
    first = recs[0]
    details: dict[str, Any] = {"record_version": first.record_version, "meaning": value}
    if len(recs) > 1:
        details["records"] = len(recs)

    live: AuthSession | None = None
    given_session = auth_session is not None
    if given_session:
        session_id = auth_session if isinstance(auth_session, str) else auth_session.id  # type: ignore[union-attr]
        live = uow.session.get(AuthSession, session_id)
        if live is not None and not sessions.is_active(live, settings):
            live = None
    same_user = live is not None and live.user_id == credentials.username
    if same_user and live is not None and live.signed_in_session:
        ceremony, need_totp = "continuous_session", False
    elif same_user:
        ceremony, need_totp = "first_in_session", True
    elif live is not None:
        ceremony, need_totp = "second_signer", True
    else:
        ceremony, need_totp = ("session_expired" if given_session else "no_session"), True
    details["ceremony"] = ceremony
    if need_totp and not credentials.totp:
        raise _refuse(uow, MissingComponent,
                      f"missing component: this signing ({ceremony.replace('_', ' ')}) needs user ID, password "
                      "and TOTP code", first, uow.actor, details)

    unlock = KeyUnlock(uow.session, credentials)
    user: UserAccount = authenticate(uow, credentials.username, credentials.password, credentials.totp, settings,
                                     action="signature.refused", require_totp=need_totp, password_check=unlock,
                                     details={"record_type": first.record_type, "record_id": first.record_id,
                                              **details})
    actor = Actor(user.user_id, user.printed_name)
    roles, kind = roles_of(uow.session, user.user_id), role_kind_of(uow.session, user.user_id)
    for rec in recs:
        try:
            rules.check(rec.record_type, value, roles, kind)
        except SigningRefused as exc:
            raise _refuse(uow, type(exc), str(exc), rec, actor, details) from None
    if user.identity_verified_at is None:
        raise _refuse(uow, IdentityNotVerified, f"the identity of {user.user_id} has not been verified (P11-100b)",
                      first, actor, details)
    if uow.session.execute(_STATEMENT_EXISTS, {"user_id": user.user_id}).first() is None:
        raise _refuse(uow, AccountabilityNotSigned,
                      f"{user.user_id} must sign the accountability statement before the first signature (P11-10j)",
                      first, actor, details)
    reason = (reason or "").strip() or None
    seen: set[tuple[str, str, int]] = set()
    existing = existing_signatures(uow.session, recs)
    for rec in recs:
        _check_record_rules(uow, rec, value, user.user_id, reason, actor, details, seen,
                            existing.get((rec.record_type, rec.record_id), []))

    key, private = unlock.key, unlock.private
    if key is None or private is None:  # no current key: refused here as before
        key = current_key(uow.session, user.user_id)
        private = unwrap_private_key(key, credentials.password)
    return _sign_unwrapped(uow, recs, value, user, key, private, settings, ceremony, bool(credentials.totp),
                           live if same_user else None, reason, details)


def existing_signatures(session: Session, recs: Sequence[SignableRecord]
                        ) -> dict[tuple[str, str], list[tuple[int, str, str]]]:
    """(record_type, record_id) -> [(version, signer_id, meaning)] for the records, in few queries."""
    by_type: dict[str, list[str]] = {}
    for rec in recs:
        by_type.setdefault(rec.record_type, []).append(rec.record_id)
    found: dict[tuple[str, str], list[tuple[int, str, str]]] = {}
    for record_type, ids in by_type.items():
        unique = sorted(set(ids))
        for start in range(0, len(unique), 500):
            for rid, version, signer, meaning in session.execute(
                _EXISTING, {"record_type": record_type, "record_ids": unique[start:start + 500]}
            ):
                found.setdefault((record_type, rid), []).append((version, signer, meaning))
    return found


def _check_record_rules(uow: UnitOfWork, rec: SignableRecord, value: str, signer_id: str, reason: str | None,
                        actor: Actor, details: dict[str, Any], seen: set[tuple[str, str, int]],
                        existing: list[tuple[int, str, str]]) -> None:
    """Version and four-eyes rules of one record, given its existing signatures."""
    binding = (rec.record_type, rec.record_id, rec.record_version)
    latest = max((v for v, _, _ in existing), default=None)
    if latest is not None and latest > rec.record_version:
        raise _refuse(uow, RecordVersionError, f"{rec.record_type}/{rec.record_id} version {rec.record_version} is "
                      f"superseded by signed version {latest}", rec, actor, details)
    if value == Meaning.CORRECTED.value:
        if reason is None:
            raise _refuse(uow, RecordVersionError, "a correction needs a reason (CN-4)", rec, actor, details)
        if latest is None or rec.record_version == 1:
            raise _refuse(uow, RecordVersionError, f"{rec.record_type}/{rec.record_id} version {rec.record_version}: "
                          "a correction is a new version of a signed record", rec, actor, details)
    already = next((m for v, who, m in existing if v == rec.record_version and who == signer_id), None)
    if already is None and binding in seen:
        already = value
    if already is not None:
        raise _refuse(uow, FourEyesViolation, f"{signer_id} has signed {rec.record_type}/{rec.record_id} version "
                      f"{rec.record_version} already ({already}): a second signature must be by another person "
                      "(A11-6, CN-3)", rec, actor, details)
    seen.add(binding)


def _sign_unwrapped(uow: UnitOfWork, recs: Sequence[SignableRecord], value: str, user: UserAccount, key: SigningKey,
                    private: Ed25519PrivateKey, settings: Settings, ceremony: str, totp_given: bool,
                    live: AuthSession | None, reason: str | None, details: dict[str, Any]) -> list[Signature]:
    """The signing path after the ceremony: hash, encode, sign, countersign, store, audit."""
    server = _server_key(settings)
    server_raw = server.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    uow.session.flush()  # pending ORM changes (the signer's TOTP step, ...) go first
    connection = uow.session.connection()
    insert_signature, update_head = _SQL[connection.dialect.name]
    seq = connection.execute(_SELECT_HEAD).scalar_one()  # locks the head row (countersignature order)
    components = {"ceremony": ceremony, "user_id": "session" if ceremony == "continuous_session" else "entered",
                  "password": True, "totp": totp_given}
    components_text = canonical_json(components).decode()
    signed_at = clock.isoformat(clock.now())
    actor = Actor(user.user_id, user.printed_name)
    user_id, printed_name, key_id, server_key_id = user.user_id, user.printed_name, key.key_id, server.key_id
    auth_session_id = live.id if live is not None else None
    values: list[dict[str, Any]] = []
    params: list[tuple[Any, ...]] = []
    for rec in recs:
        seq += 1
        digest = content_sha256(rec)
        row = SimpleNamespace(seq=seq, record_type=rec.record_type, record_id=rec.record_id,
                              record_version=rec.record_version, content_sha256=digest, signer_id=user_id,
                              printed_name=printed_name, meaning=value, signed_at=signed_at,
                              components=components_text, reason=reason, key_id=key_id,
                              server_key_id=server_key_id, server_public_key=server_raw,
                              auth_session_id=auth_session_id)
        row.message = SIGNATURE_DOMAIN + canonical_json(signature_document(row))  # type: ignore[arg-type]
        row.signer_signature = private.sign(row.message)
        row.countersignature_message = (COUNTERSIGNATURE_DOMAIN
                                        + canonical_json(countersignature_document(row)))  # type: ignore[arg-type]
        row.countersignature = server.sign(row.countersignature_message)
        row_values = vars(row)
        values.append(row_values)
        params.append(_column_values(row_values))
        uow.audit("signature.created", rec.record_type, rec.record_id, actor=actor, reason=reason,
                  details={**details, "record_version": rec.record_version, "seq": seq, "content_sha256": digest,
                           "components": components, "key_id": key_id, "server_key_id": server_key_id})
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if len(params) == 1:
            cursor.execute(insert_signature, params[0])
        else:
            cursor.executemany(insert_signature, params)
        cursor.execute(update_head, (seq,))
    finally:
        cursor.close()
    # The caller gets Signature objects, persistent in the session, holding exactly the values
    # just written: built as the ORM builds loaded rows (instance without __init__, its
    # attribute dict filled, identity key set), not read back from the database.
    configure_mappers()  # new_instance() does not configure mappers (Signature(...) would); a no-op once done
    rows: list[Signature] = []
    for row_values in values:
        signature = _SIGNATURE_MANAGER.new_instance()
        signature.__dict__.update(row_values)
        make_transient_to_detached(signature)
        rows.append(signature)
    uow.session.add_all(rows)
    if live is not None:
        live.signed_in_session = True
        sessions.touch(uow.session, live)
    return rows


def sign_correction(uow: UnitOfWork, old: SignableRecord, new: SignableRecord, credentials: Credentials,
                    reason: str, auth_session: AuthSession | str | None = None,
                    settings: Settings | None = None) -> Signature:
    """A signed record changes only as a new version with a reason, signed "corrected" (CN-4).

    `new` must be the next version of `old`, which must be signed and verify; the old
    signatures stay with the old version and the new version needs its own signatures.
    """
    check_record(old)
    check_record(new)
    if (new.record_type, new.record_id) != (old.record_type, old.record_id):
        raise InvalidRecord("a correction must keep the record type and ID")
    if new.record_version != old.record_version + 1:
        raise InvalidRecord(f"a correction of version {old.record_version} must be version {old.record_version + 1}, "
                            f"not {new.record_version}")
    if not signatures_for(uow.session, old.record_type, old.record_id, old.record_version):
        raise InvalidRecord(f"{old.record_type}/{old.record_id} version {old.record_version} is not signed: "
                            "change it without a correction")
    verify_signatures(uow.session, old, settings)
    if content_sha256(new) == content_sha256(old):
        raise InvalidRecord("the corrected version has the same content as the old one")
    return sign(uow, new, Meaning.CORRECTED, credentials, auth_session, settings, reason=reason)
