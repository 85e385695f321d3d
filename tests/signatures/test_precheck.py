"""The signing ceremony's credential work happens before the write transaction, once per signature:
a precheck (one argon2id derivation, read-only) that the write transaction uses only while the key
or password hash it was computed from is unchanged; refusals are recorded and counted as before."""
from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from signatures import credentials as creds_mod
from signatures import testing
from signatures.credentials import Credentials
from signatures.errors import AuthenticationFailed, SigningKeyError
from signatures.meanings import Meaning
from signatures.models import UserAccount
from signatures.precheck import precheck_login, precheck_signing
from signatures.records import SimpleRecord
from signatures.service import sign
from store.uow import UnitOfWork
from tests.signatures.helpers import counted_derivations, last_entry

pytestmark = pytest.mark.req("URS-OPS-003", "P11-200a1")
RECORD = SimpleRecord("task_completion", "T-9", 1, {"lot": "L-9"})


def sign_with(db, settings, person, credentials, record=RECORD):  # type: ignore[no-untyped-def]
    with UnitOfWork(db, person.actor) as uow:
        row = sign(uow, record, Meaning.PERFORMED, credentials, None, settings)
        uow.commit()
    return row


def failed_attempts(db, user_id: str) -> int:  # type: ignore[no-untyped-def]
    with db.read_session() as session:
        return session.execute(select(UserAccount.failed_attempts).where(UserAccount.user_id == user_id)).scalar_one()


def test_one_derivation_per_signature_and_none_in_the_write_transaction(db, settings, make_user, monkeypatch,
                                                                      frozen_clock):
    olga = make_user("olga")
    plain = testing.credentials(db, olga)
    with counted_derivations(monkeypatch) as count:
        checked = precheck_signing(db, plain)
        assert count["n"] == 1 and checked.prechecked.ok
        row = sign_with(db, settings, olga, checked)
        assert count["n"] == 1  # the write transaction derived nothing
    assert row.signer_id == "olga"
    frozen_clock.advance(seconds=31)
    unchecked = dataclasses.replace(testing.credentials(db, olga), prechecked=None)
    with counted_derivations(monkeypatch) as count:  # without a precheck: still one derivation, not two
        sign_with(db, settings, olga, unchecked,
                  SimpleRecord("task_completion", "T-10", 1, {"lot": "L-10"}))
        assert count["n"] == 1


def test_a_wrong_password_prechecked_is_refused_and_counted(db, settings, make_user, monkeypatch):
    olga = make_user("olga")
    wrong = precheck_signing(db, Credentials("olga", "not the password", testing.next_totp(db, olga)))
    assert wrong.prechecked is not None and not wrong.prechecked.ok
    with counted_derivations(monkeypatch) as count:
        with pytest.raises(AuthenticationFailed, match="wrong"):
            sign_with(db, settings, olga, wrong)
        assert count["n"] == 0
    assert failed_attempts(db, "olga") == 1
    assert last_entry(db, "signature.refused").reason == "wrong password"


def test_a_precheck_made_before_a_password_change_is_not_used(db, settings, make_user, frozen_clock):
    olga = make_user("olga")
    stale = precheck_signing(db, testing.credentials(db, olga, with_totp=False))
    frozen_clock.advance(seconds=31)
    with UnitOfWork(db, olga.actor) as uow:
        creds_mod.change_password(uow, "olga", olga.password, testing.next_totp(db, olga), "a brand new passphrase 42",
                                  settings)
        uow.commit()
    frozen_clock.advance(seconds=31)
    # the old password unwrapped the old wrapping; the key is re-wrapped now: derived again, refused
    with pytest.raises(AuthenticationFailed):
        sign_with(db, settings, olga, dataclasses.replace(stale, totp=testing.next_totp(db, olga)))
    assert failed_attempts(db, "olga") == 1
    frozen_clock.advance(seconds=31)
    fresh = precheck_signing(db, Credentials("olga", "a brand new passphrase 42", testing.next_totp(db, olga)))
    assert sign_with(db, settings, olga, fresh).signer_id == "olga"


def test_a_precheck_of_another_person_is_not_used(db, settings, make_user):
    olga, pete = make_user("olga"), make_user("pete")
    petes = precheck_signing(db, testing.credentials(db, pete))
    forged = Credentials("olga", "not olga's password", testing.next_totp(db, olga), prechecked=petes.prechecked)
    with pytest.raises(AuthenticationFailed):
        sign_with(db, settings, olga, forged)
    assert failed_attempts(db, "olga") == 1


def test_nothing_to_precheck_leaves_the_ceremony_to_refuse(db, settings, make_user):
    from signatures.keys import retire_keys

    olga = make_user("olga")
    unknown = precheck_signing(db, Credentials("nobody", "whatever password"))
    assert unknown.prechecked is None
    with UnitOfWork(db) as uow:
        retire_keys(uow.session, "olga")
        uow.commit()
    keyless = precheck_signing(db, testing.credentials(db, olga))
    assert keyless.prechecked is None
    with pytest.raises(SigningKeyError, match="no current signing key"):
        sign_with(db, settings, olga, keyless)


def test_login_precheck_is_used_only_for_the_same_password_hash(db, settings, make_user, frozen_clock, monkeypatch):
    olga = make_user("olga")
    checked = precheck_login(db, Credentials("olga", olga.password))
    assert checked.prechecked.ok
    with counted_derivations(monkeypatch) as count:
        with UnitOfWork(db) as uow:
            creds_mod.login(uow, "olga", olga.password, testing.next_totp(db, olga), settings,
                            prechecked=checked.prechecked)
            uow.commit()
        assert count["n"] == 0
    frozen_clock.advance(seconds=31)
    wrong = precheck_login(db, Credentials("olga", "not the password")).prechecked
    with pytest.raises(AuthenticationFailed):
        with UnitOfWork(db) as uow:
            creds_mod.login(uow, "olga", "not the password", testing.next_totp(db, olga), settings, prechecked=wrong)
    assert failed_attempts(db, "olga") == 1
    assert precheck_login(db, Credentials("nobody", "x")).prechecked is None
