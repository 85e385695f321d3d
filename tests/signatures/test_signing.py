"""The signing ceremony, rules, binding to the record and verification."""
import json

import pytest
from sqlalchemy import select

from signatures import credentials as creds_mod
from signatures import testing
from signatures.credentials import Credentials
from signatures.errors import (
    AccountabilityNotSigned,
    AccountLocked,
    AuthenticationFailed,
    BindingMismatch,
    ContentChanged,
    CountersignatureInvalid,
    FourEyesViolation,
    IdentityNotVerified,
    InvalidRecord,
    MissingComponent,
    NoSignatures,
    RecordVersionError,
    RoleNotPermitted,
    SignatureInvalid,
    SigningKeyError,
    UnknownMeaning,
)
from signatures.meanings import Meaning
from signatures.models import AuthSession, Signature, SigningKey
from signatures.records import SimpleRecord
from signatures.service import sign, sign_correction, signatures_for, verify_signatures
from signatures.verify import verify_signature
from store.uow import UnitOfWork
from tests.signatures.helpers import actions, last_entry

RECORD = SimpleRecord("task_completion", "T-1", 1, {"weight_kg": "12.500", "lot": "L-7"})


def do_sign(db, settings, person, record=RECORD, meaning=Meaning.PERFORMED, auth=None, with_totp=True, **kwargs):
    with UnitOfWork(db, person.actor) as uow:
        row = sign(uow, record, meaning, testing.credentials(db, person, with_totp), auth, settings, **kwargs)
        uow.commit()
    return row


def login(db, settings, person):
    with UnitOfWork(db) as uow:
        auth = creds_mod.login(uow, person.user_id, person.password, testing.next_totp(db, person), settings)
        uow.commit()
    return auth


@pytest.mark.req("URS-SIG-002", "P11-70", "A11-14", "CN-9")
def test_signature_stores_everything_and_verifies(db, settings, make_user, frozen_clock):
    olga = make_user("olga", "Olga Operator")
    row = do_sign(db, settings, olga)
    with db.session() as s:
        stored = s.execute(select(Signature)).scalar_one()
        assert (stored.record_type, stored.record_id, stored.record_version) == ("task_completion", "T-1", 1)
        assert stored.signer_id == "olga" and stored.printed_name == "Olga Operator"
        assert stored.meaning == "performed" and stored.signed_at == "2026-01-05T08:00:00.000000Z"
        assert json.loads(stored.components) == {"ceremony": "no_session", "user_id": "entered", "password": True,
                                                 "totp": True}
        assert len(stored.signer_signature) == 64 and len(stored.countersignature) == 64
        assert stored.content_sha256 == __import__("hashlib").sha256(RECORD.canonical_content()).hexdigest()
        verify_signatures(s, RECORD, settings)
        assert [r.seq for r in signatures_for(s, "task_completion", "T-1")] == [row.seq]
    entry = last_entry(db, "signature.created")
    assert entry.actor_id == "olga" and entry.object_id == "T-1"


@pytest.mark.req("URS-SIG-004", "P11-70", "CN-9")
def test_changed_record_fails_verification(db, settings, make_user):
    olga = make_user("olga")
    do_sign(db, settings, olga)
    changed = SimpleRecord("task_completion", "T-1", 1, {"weight_kg": "12.600", "lot": "L-7"})
    with db.session() as s:
        with pytest.raises(ContentChanged, match="changed after signing: content SHA-256 expected"):
            verify_signatures(s, changed, settings)


@pytest.mark.req("URS-SIG-004", "P11-70", "P11-10a")
def test_signature_cannot_be_copied_to_another_record(db, settings, make_user):
    olga = make_user("olga")
    row = do_sign(db, settings, olga)
    other = SimpleRecord("task_completion", "T-2", 1, dict(RECORD.content))
    with db.session() as s:
        original = s.get(Signature, row.seq)
        copy = Signature(**{c.name: getattr(original, c.name) for c in Signature.__table__.columns})
        copy.seq, copy.record_id = row.seq + 1000, "T-2"
        s.add(copy)
        s.commit()
    with db.session() as s:
        with pytest.raises(BindingMismatch, match="signed for task_completion/T-1 version 1, not for "
                                                  "task_completion/T-2"):
            verify_signatures(s, other, settings)
        with pytest.raises(BindingMismatch, match="not for task_completion/T-2"):
            verify_signature(s, s.get(Signature, row.seq), other, settings)


@pytest.mark.req("URS-SIG-004", "P11-10a", "CN-9")
@pytest.mark.parametrize("column,value,error,match", [
    ("printed_name", "Someone Else", SignatureInvalid, "printed_name differ"),
    ("meaning", "approved", SignatureInvalid, "meaning differ"),
    ("signed_at", "2025-01-01T00:00:00.000000Z", SignatureInvalid, "signed_at differ"),
    ("signer_signature", bytes(64), SignatureInvalid, "does not verify"),
    ("countersignature", bytes(64), CountersignatureInvalid, "countersignature does not verify"),
    ("seq", 999, SignatureInvalid, "seq differ"),
])
def test_tampered_signature_detected(db, settings, make_user, column, value, error, match):
    olga = make_user("olga")
    row = do_sign(db, settings, olga)
    with db.session() as s:
        stored = s.get(Signature, row.seq)
        s.expunge(stored)
        setattr(stored, column, value)
        with pytest.raises(error, match=match):
            verify_signature(s, stored, RECORD, settings)


@pytest.mark.req("URS-SIG-004", "P11-10a")
def test_verify_requires_signatures_when_asked(db, settings, admin):
    with db.session() as s:
        verify_signatures(s, RECORD, settings)
        with pytest.raises(NoSignatures, match="has no signature"):
            verify_signatures(s, RECORD, settings, required=True)


@pytest.mark.req("URS-SIG-003", "P11-200a1")
def test_continuous_session_ceremony(db, settings, make_user, frozen_clock):
    olga = make_user("olga")
    frozen_clock.advance(seconds=60)
    auth = login(db, settings, olga)
    # first signing after login: password alone is not enough
    with pytest.raises(MissingComponent, match="first in session.*TOTP"):
        do_sign(db, settings, olga, auth=auth, with_totp=False)
    refused = last_entry(db, "signature.refused")
    assert refused.object_id == "T-1" and refused.reason.startswith("missing component")
    first = do_sign(db, settings, olga, auth=auth)
    assert json.loads(first.components)["ceremony"] == "first_in_session"
    # later signing in the same continuous session: the password suffices
    frozen_clock.advance(minutes=settings.session_timeout_minutes - 1)
    second = do_sign(db, settings, olga, SimpleRecord("task_completion", "T-2", 1, {}), auth=auth, with_totp=False)
    assert json.loads(second.components) == {"ceremony": "continuous_session", "user_id": "session",
                                             "password": True, "totp": False}
    # the signing was activity: the session is still alive 14 minutes later
    frozen_clock.advance(minutes=settings.session_timeout_minutes - 1)
    do_sign(db, settings, olga, SimpleRecord("task_completion", "T-3", 1, {}), auth=auth, with_totp=False)
    # after the session has expired, every component again
    frozen_clock.advance(minutes=settings.session_timeout_minutes)
    with pytest.raises(MissingComponent, match="session expired"):
        do_sign(db, settings, olga, SimpleRecord("task_completion", "T-4", 1, {}), auth=auth, with_totp=False)
    late = do_sign(db, settings, olga, SimpleRecord("task_completion", "T-4", 1, {}), auth=auth)
    assert json.loads(late.components)["ceremony"] == "session_expired"


@pytest.mark.req("URS-SIG-003", "P11-200a1", "P11-200a2")
def test_second_signer_at_another_terminal(db, settings, make_user, frozen_clock):
    olga = make_user("olga")
    victor = make_user("victor", roles=["operator"])
    frozen_clock.advance(seconds=60)
    auth = login(db, settings, olga)
    do_sign(db, settings, olga, auth=auth)
    with pytest.raises(MissingComponent, match="second signer"):
        do_sign(db, settings, victor, meaning=Meaning.VERIFIED, auth=auth, with_totp=False)
    row = do_sign(db, settings, victor, meaning=Meaning.VERIFIED, auth=auth)
    assert row.signer_id == "victor" and json.loads(row.components)["ceremony"] == "second_signer"
    assert row.auth_session_id is None
    with db.session() as s:
        assert s.get(AuthSession, auth.id).user_id == "olga"


@pytest.mark.req("URS-SIG-003", "P11-200a2", "P11-300a")
def test_cannot_sign_with_someone_elses_password(db, settings, make_user, frozen_clock):
    olga = make_user("olga")
    make_user("victor")
    with pytest.raises(AuthenticationFailed, match="wrong"):
        with UnitOfWork(db, olga.actor) as uow:
            sign(uow, RECORD, Meaning.PERFORMED, Credentials("victor", olga.password, testing.next_totp(db, olga)),
                 None, settings)
    with db.session() as s:
        assert s.execute(select(Signature)).first() is None


@pytest.mark.req("URS-SIG-008", "A11-6", "CN-3")
def test_four_eyes_same_person_cannot_sign_twice(db, settings, make_user, frozen_clock):
    olga = make_user("olga")
    do_sign(db, settings, olga)
    frozen_clock.advance(seconds=60)
    with pytest.raises(FourEyesViolation, match="must be by another person"):
        do_sign(db, settings, olga, meaning=Meaning.VERIFIED)
    assert last_entry(db, "signature.refused").reason.startswith("olga has signed task_completion/T-1")


@pytest.mark.req("URS-SIG-009", "P11-10g", "CN-1")
def test_admin_and_audit_kinds_never_sign(db, settings, admin, make_user, frozen_clock):
    audrey = make_user("audrey", roles=["auditor"])
    frozen_clock.advance(seconds=60)
    with pytest.raises(RoleNotPermitted, match="administrator accounts never sign"):
        do_sign(db, settings, admin)
    with pytest.raises(RoleNotPermitted, match="audit-kind roles never sign GMP records"):
        do_sign(db, settings, audrey)


@pytest.mark.req("URS-SIG-009", "A11-15", "CN-8", "P11-10g")
def test_only_qp_releases_a_batch(db, settings, make_user, frozen_clock):
    quinn = make_user("quinn", roles=["qa"])
    petra = make_user("petra", roles=["qp"])
    batch = SimpleRecord("batch_record", "B-001", 1, {"product": "P", "yield": "98.2"})
    with pytest.raises(RoleNotPermitted, match="needs one of the roles qp"):
        do_sign(db, settings, quinn, batch, Meaning.RELEASED)
    row = do_sign(db, settings, petra, batch, Meaning.RELEASED)
    assert row.meaning == "released"


@pytest.mark.req("URS-SIG-009", "P11-10g")
def test_role_rules_are_configuration(db, settings, make_user, frozen_clock):
    (settings.instance / "signing_rules.yaml").write_text(
        "batch_record_types: []\nnon_gmp_record_types: []\n"
        "extra_meanings: {witnessed: {en: Witnessed, zh: 见证}}\n"
        "rules:\n"
        "  - {record_type: sop, meaning: approved, roles: [qa]}\n"
        "  - {record_type: '*', meaning: witnessed, roles: [operator]}\n", encoding="utf-8")
    olga = make_user("olga")
    sop = SimpleRecord("sop", "SOP-1", 1, {"title": "Cleaning"})
    with pytest.raises(RoleNotPermitted, match="needs one of the roles qa"):
        do_sign(db, settings, olga, sop, Meaning.APPROVED)
    with pytest.raises(RoleNotPermitted, match="no role may sign 'performed'"):
        do_sign(db, settings, olga, sop, Meaning.PERFORMED)
    assert do_sign(db, settings, olga, sop, "witnessed").meaning == "witnessed"
    frozen_clock.advance(seconds=60)
    with pytest.raises(UnknownMeaning, match="unknown signature meaning 'blessed'"):
        do_sign(db, settings, olga, sop, "blessed")


@pytest.mark.req("URS-SIG-007", "P11-10j")
def test_accountability_statement_before_first_signature(db, settings, make_user, frozen_clock):
    from signatures.accountability import export_statement, sign_statement

    nora = make_user("nora", accountability=False)
    with pytest.raises(AccountabilityNotSigned, match="accountability statement"):
        do_sign(db, settings, nora)
    with UnitOfWork(db, nora.actor) as uow:
        sign_statement(uow, testing.credentials(db, nora), settings)
        uow.commit()
    frozen_clock.advance(seconds=60)
    do_sign(db, settings, nora)
    with db.session() as s:
        exported = export_statement(s, "nora")
    assert "legally binding" in exported["statement_en"] and "同等法律约束力" in exported["statement_zh"]
    import base64

    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    load_pem_public_key(exported["public_key_pem"].encode()).verify(
        base64.b64decode(exported["signature_b64"]), base64.b64decode(exported["message_b64"]))


@pytest.mark.req("URS-SIG-007", "P11-10j")
def test_accountability_statement_errors(db, settings, make_user, frozen_clock):
    from signatures.accountability import export_statement, sign_statement
    from signatures.errors import AccountStateError

    olga = make_user("olga")
    with UnitOfWork(db, olga.actor) as uow:
        with pytest.raises(AccountStateError, match="already"):
            sign_statement(uow, testing.credentials(db, olga), settings)
    with UnitOfWork(db, olga.actor) as uow:
        with pytest.raises(MissingComponent, match="TOTP"):
            sign_statement(uow, Credentials("olga", olga.password), settings)
    with db.session() as s:
        with pytest.raises(AccountStateError, match="has not signed"):
            export_statement(s, "admin")


@pytest.mark.req("URS-IDN-005", "P11-100b")
def test_identity_verification_needed_before_signing(db, settings, make_user, frozen_clock):
    nora = make_user("nora", verify_identity=False)
    with pytest.raises(IdentityNotVerified, match="has not been verified"):
        do_sign(db, settings, nora)
    assert last_entry(db, "signature.refused").actor_id == "nora"


@pytest.mark.req("URS-SIG-010", "P11-300d", "CN-2")
def test_failed_signing_attempts_lock_the_account(db, settings, make_user, frozen_clock):
    olga = make_user("olga")
    for attempt in range(settings.lockout_threshold):
        with pytest.raises(AuthenticationFailed):
            with UnitOfWork(db, olga.actor) as uow:
                sign(uow, RECORD, Meaning.PERFORMED, Credentials("olga", f"wrong password {attempt}", "000000"), None,
                     settings)
    with pytest.raises(AccountLocked, match="locked"):
        do_sign(db, settings, olga)
    trail = actions(db)
    assert trail.count("signature.refused") == settings.lockout_threshold + 1 and "user.locked" in trail
    with db.session() as s:
        assert s.execute(select(Signature)).first() is None


@pytest.mark.req("URS-SIG-005", "CN-4", "P11-70")
def test_correction_is_a_new_version_with_reason(db, settings, make_user, frozen_clock):
    olga = make_user("olga")
    victor = make_user("victor")
    do_sign(db, settings, olga)
    v2 = SimpleRecord("task_completion", "T-1", 2, {"weight_kg": "12.550", "lot": "L-7"})
    frozen_clock.advance(seconds=60)
    with UnitOfWork(db, olga.actor) as uow:
        row = sign_correction(uow, RECORD, v2, testing.credentials(db, olga), "transcription error", None, settings)
        uow.commit()
    assert row.meaning == "corrected" and row.reason == "transcription error" and row.record_version == 2
    with db.session() as s:
        verify_signatures(s, RECORD, settings)  # the old signature stays with the old version
        verify_signatures(s, v2, settings)
        assert [r.record_version for r in signatures_for(s, "task_completion", "T-1")] == [1, 2]
    # the new version needs its own signatures; the old version can no longer be signed
    assert do_sign(db, settings, victor, v2, Meaning.VERIFIED).record_version == 2
    frozen_clock.advance(seconds=60)
    with pytest.raises(RecordVersionError, match="superseded by signed version 2"):
        do_sign(db, settings, victor, RECORD, Meaning.VERIFIED)
    assert last_entry(db, "signature.created").reason is None


@pytest.mark.req("URS-SIG-005", "CN-4")
def test_correction_errors(db, settings, make_user, frozen_clock):
    olga = make_user("olga")
    v2 = SimpleRecord("task_completion", "T-1", 2, {"weight_kg": "1"})
    with UnitOfWork(db, olga.actor) as uow:
        with pytest.raises(InvalidRecord, match="is not signed"):
            sign_correction(uow, RECORD, v2, testing.credentials(db, olga), "why", None, settings)
    do_sign(db, settings, olga)
    frozen_clock.advance(seconds=60)
    with UnitOfWork(db, olga.actor) as uow:
        with pytest.raises(InvalidRecord, match="must be version 2, not 3"):
            sign_correction(uow, RECORD, SimpleRecord("task_completion", "T-1", 3, {}), testing.credentials(db, olga),
                            "why", None, settings)
        with pytest.raises(InvalidRecord, match="same content"):
            sign_correction(uow, RECORD, SimpleRecord("task_completion", "T-1", 2, dict(RECORD.content)),
                            testing.credentials(db, olga), "why", None, settings)
    with pytest.raises(RecordVersionError, match="needs a reason"):
        do_sign(db, settings, olga, v2, Meaning.CORRECTED)


@pytest.mark.req("URS-SIG-002")
@pytest.mark.parametrize("record,match", [
    (object(), "lacks record_type"),
    (SimpleRecord("", "X", 1), "invalid record_type"),
    (SimpleRecord("t", "", 1), "invalid record_id"),
    (SimpleRecord("t", "X", 0), "invalid record_version"),
])
def test_invalid_records_refused(db, settings, make_user, record, match):
    olga = make_user("olga")
    with pytest.raises(InvalidRecord, match=match):
        do_sign(db, settings, olga, record)


@pytest.mark.req("URS-SIG-001", "P11-200a3", "CN-9")
def test_private_key_only_wrapped_and_admin_cannot_sign_as_user(db, settings, admin, make_user, frozen_clock):
    from signatures.credentials import reset_credentials
    from signatures.keys import unwrap_private_key

    olga = make_user("olga")
    with db.session() as s:
        key = s.execute(select(SigningKey).where(SigningKey.user_id == "olga")).scalar_one()
        assert json.loads(key.kdf)["alg"] == "argon2id" and len(key.wrapped_private_key) == 32 + 16
        with pytest.raises(SigningKeyError, match="cannot be unwrapped"):
            unwrap_private_key(key, "an administrator's guess")
    old = do_sign(db, settings, olga)
    # an administrator can only revoke and reissue: the old key is destroyed, the old signature still verifies
    with UnitOfWork(db, admin.actor) as uow:
        reset_credentials(uow, "olga", "suspected compromise", settings)
        uow.commit()
    with db.session() as s:
        verify_signatures(s, RECORD, settings)
        assert s.get(SigningKey, old.key_id).wrapped_private_key is None
    frozen_clock.advance(seconds=60)
    from signatures.errors import NotEnrolled
    with pytest.raises(NotEnrolled):
        do_sign(db, settings, olga, SimpleRecord("task_completion", "T-9", 1, {}))


@pytest.mark.req("URS-SIG-002", "URS-SIG-008", "P11-70", "CN-3")
def test_one_ceremony_signs_several_records_each_bound(db, settings, make_user, frozen_clock):
    from signatures.service import sign_many

    quinn = make_user("quinn", roles=["qa"])
    records = [SimpleRecord("deviation", f"D-{n}", 1, {"n": n}) for n in range(3)]
    with UnitOfWork(db, quinn.actor) as uow:
        rows = sign_many(uow, records, Meaning.ASSESSED, testing.credentials(db, quinn), None, settings)
        uow.commit()
    assert [r.record_id for r in rows] == ["D-0", "D-1", "D-2"] and len({r.seq for r in rows}) == 3
    with db.session() as s:
        for record in records:
            verify_signatures(s, record, settings, required=True)
    frozen_clock.advance(seconds=60)
    fresh = SimpleRecord("deviation", "D-9", 1, {})
    with UnitOfWork(db, quinn.actor) as uow:
        with pytest.raises(FourEyesViolation, match="D-1 version 1 already"):
            sign_many(uow, [fresh, records[1]], Meaning.ASSESSED, testing.credentials(db, quinn), None, settings)
    creds = testing.credentials(db, quinn)
    with UnitOfWork(db, quinn.actor) as uow:
        with pytest.raises(FourEyesViolation, match="D-9 version 1 already"):
            sign_many(uow, [fresh, fresh], Meaning.ASSESSED, creds, None, settings)
    with UnitOfWork(db, quinn.actor) as uow:
        with pytest.raises(InvalidRecord, match="nothing to sign"):
            sign_many(uow, [], Meaning.ASSESSED, creds, None, settings)
    with db.session() as s:
        assert signatures_for(s, "deviation", "D-9") == []


@pytest.mark.req("URS-SIG-004", "P11-10a", "P11-70")
def test_verification_trusts_only_the_server_keys_of_the_instance(db, settings, make_user):
    """A row re-countersigned by a key of the forger's own, with that key stored in the row, is refused;
    and there is no way to verify without the trusted keys (no fallback to the key in the row)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from audit.server_key import key_id_of
    from signatures.documents import countersignature_document
    from signatures.records import canonical_json
    from signatures.verify import verify_many

    olga = make_user("olga")
    row = do_sign(db, settings, olga)
    forger = Ed25519PrivateKey.generate()
    with db.session() as s:
        forged = s.get(Signature, row.seq)
        s.expunge(forged)
        forged.server_public_key = forger.public_key().public_bytes(serialization.Encoding.Raw,
                                                                    serialization.PublicFormat.Raw)
        forged.server_key_id = key_id_of(forger.public_key())
        forged.countersignature_message = b"GMP-COUNTERSIGNATURE-v1\x00" + canonical_json(
            countersignature_document(forged))
        forged.countersignature = forger.sign(forged.countersignature_message)
        with pytest.raises(CountersignatureInvalid, match=f"server key {forged.server_key_id} is not a key of "
                                                          "this server"):
            verify_signature(s, forged, RECORD, settings)
        for call in (lambda: verify_signature(s, forged, RECORD), lambda: verify_signatures(s, RECORD),
                     lambda: verify_many(s, [RECORD], required=True)):
            with pytest.raises(TypeError, match="needs settings: the trusted server public keys"):
                call()
        verify_signatures(s, RECORD, settings, required=True)  # the stored row itself is intact
