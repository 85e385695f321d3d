"""Enrolment, password policy, login with TOTP, lockout, credential reset, sessions."""
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select

from audit.canonical import Actor
from signatures import credentials, enrolment, identities, lockout, sessions, testing
from signatures.errors import (
    AccountDisabled,
    AccountExpired,
    AccountLocked,
    AuthenticationFailed,
    EnrolmentError,
    NotEnrolled,
    PasswordExpired,
    PasswordPolicyError,
    SessionExpired,
    UnknownSession,
)
from signatures.models import SecurityAlert, SigningKey, UserAccount
from store.uow import UnitOfWork
from tests.signatures.helpers import actions, last_entry

PASSWORD = "a long enough passphrase"


def create(db, settings, admin, user_id="olga", roles=("operator",), **kwargs):
    with UnitOfWork(db, admin.actor) as uow:
        _, secret = identities.create_user(uow, user_id, user_id.title() + " Example", list(roles), settings, **kwargs)
        uow.commit()
    return secret


def do_login(db, settings, person, totp_code=None, password=None):
    with UnitOfWork(db) as uow:
        auth = credentials.login(uow, person.user_id, password or person.password,
                                 totp_code or testing.next_totp(db, person), settings, client="127.0.0.1")
        uow.commit()
    return auth


@pytest.mark.req("URS-IDN-004", "P11-200a3", "P11-300e")
def test_enrolment_sets_own_password_and_totp(db, settings, admin, frozen_clock):
    secret = create(db, settings, admin)
    with db.session() as s:
        view = enrolment.start_enrolment(s, "olga", secret)
        assert enrolment.provisioning_uri(s, "olga", secret).startswith("otpauth://totp/")
    assert "olga" in view.provisioning_uri and "issuer=GMP" in view.provisioning_uri
    code = pyotp.TOTP(view.totp_secret).at(frozen_clock.value)
    with UnitOfWork(db) as uow:
        enrolment.enrol(uow, "olga", secret, PASSWORD, code, settings)
        uow.commit()
    with db.session() as s:
        user = identities.get_user(s, "olga")
        assert user.status == "active" and user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash
        assert s.execute(select(SigningKey).where(SigningKey.user_id == "olga")).scalar_one().retired_at is None
    entry = last_entry(db, "user.enrolled")
    assert entry.actor_id == "olga" and PASSWORD not in entry.changes
    # one-time: the secret cannot be used again
    with db.session() as s:
        with pytest.raises(EnrolmentError, match="used already"):
            enrolment.start_enrolment(s, "olga", secret)


@pytest.mark.req("URS-IDN-004", "P11-300e")
def test_enrolment_needs_a_valid_totp_code(db, settings, admin, frozen_clock):
    secret = create(db, settings, admin)
    with pytest.raises(EnrolmentError, match="code is wrong"):
        with UnitOfWork(db) as uow:
            enrolment.enrol(uow, "olga", secret, PASSWORD, "000000", settings)
    with db.session() as s:
        assert identities.get_user(s, "olga").status == "pending_enrolment"
    assert actions(db, "olga")[-1] == "enrolment.refused"


@pytest.mark.req("URS-IDN-004", "P11-300e", "P11-300d")
def test_enrolment_secret_revoked_after_repeated_wrong_codes(db, settings, admin, frozen_clock):
    secret = create(db, settings, admin)
    for _ in range(settings.lockout_threshold):
        with pytest.raises(EnrolmentError, match="code is wrong"):
            with UnitOfWork(db) as uow:
                enrolment.enrol(uow, "olga", secret, PASSWORD, "000000", settings)
    with db.session() as s:
        with pytest.raises(EnrolmentError, match="revoked"):
            enrolment.start_enrolment(s, "olga", secret)
    assert actions(db, "olga")[-2:] == ["enrolment.revoked", "enrolment.refused"]


@pytest.mark.req("URS-IDN-004", "P11-200a3")
def test_enrolment_secret_expires_and_is_bound_to_user(db, settings, admin, frozen_clock):
    secret = create(db, settings, admin)
    with db.session() as s:
        with pytest.raises(EnrolmentError, match="not valid for this user"):
            enrolment.start_enrolment(s, "admin", secret)
        with pytest.raises(EnrolmentError, match="not valid for this user"):
            enrolment.start_enrolment(s, "olga", "AAAA-BBBB")
    frozen_clock.advance(hours=settings.enrolment_ttl_hours)
    with db.session() as s:
        with pytest.raises(EnrolmentError, match="expired"):
            enrolment.start_enrolment(s, "olga", secret)


@pytest.mark.req("URS-IDN-006", "P11-300b")
def test_password_policy_length(db, settings, admin, frozen_clock):
    secret = create(db, settings, admin)
    with db.session() as s:
        view = enrolment.start_enrolment(s, "olga", secret)
    code = pyotp.TOTP(view.totp_secret).at(frozen_clock.value)
    with UnitOfWork(db) as uow:
        with pytest.raises(PasswordPolicyError, match="at least 12 characters"):
            enrolment.enrol(uow, "olga", secret, "short", code, settings)
    with UnitOfWork(db) as uow:
        with pytest.raises(PasswordPolicyError, match="user ID or the name"):
            enrolment.enrol(uow, "olga", secret, "Olga Example", code, settings)


@pytest.mark.req("URS-IDN-006", "URS-SIG-001", "P11-300b", "CN-9")
def test_password_change_history_and_rewrap(db, settings, make_user, frozen_clock):
    olga = make_user("olga", accountability=False)
    frozen_clock.advance(seconds=30)
    with db.session() as s:
        key_before = s.execute(select(SigningKey).where(SigningKey.user_id == "olga")).scalar_one()
    with UnitOfWork(db) as uow:
        credentials.change_password(uow, "olga", olga.password, testing.next_totp(db, olga), "second long passphrase",
                                    settings)
        uow.commit()
    with db.session() as s:
        key_after = s.execute(select(SigningKey).where(SigningKey.user_id == "olga")).scalar_one()
        assert key_after.key_id == key_before.key_id and key_after.wrapped_private_key != key_before.wrapped_private_key
        from signatures.errors import SigningKeyError
        from signatures.keys import unwrap_private_key
        unwrap_private_key(key_after, "second long passphrase")
        with pytest.raises(SigningKeyError, match="cannot be unwrapped"):
            unwrap_private_key(key_after, olga.password)
    frozen_clock.advance(seconds=30)
    with UnitOfWork(db) as uow:
        with pytest.raises(PasswordPolicyError, match="last 5 passwords"):
            credentials.change_password(uow, "olga", "second long passphrase", testing.next_totp(db, olga),
                                        olga.password, settings)


@pytest.mark.req("URS-IDN-006", "P11-300b")
def test_password_ageing_forces_change(db, settings, make_user, frozen_clock):
    olga = make_user("olga", accountability=False)
    frozen_clock.advance(days=settings.password_max_age_days)
    with pytest.raises(PasswordExpired, match="older than 90 days"):
        do_login(db, settings, olga)
    frozen_clock.advance(seconds=30)
    with UnitOfWork(db) as uow:
        credentials.change_password(uow, "olga", olga.password, testing.next_totp(db, olga), "a fresh passphrase!",
                                    settings)
        uow.commit()
    olga.password = "a fresh passphrase!"
    frozen_clock.advance(seconds=30)
    assert do_login(db, settings, olga).user_id == "olga"


@pytest.mark.req("URS-IDN-007", "P11-10d", "P11-200a1")
def test_login_needs_password_and_totp(db, settings, make_user, frozen_clock):
    olga = make_user("olga", accountability=False)
    with pytest.raises(AuthenticationFailed, match="wrong"):
        do_login(db, settings, olga, password="not the password")
    with pytest.raises(AuthenticationFailed, match="wrong"):
        with UnitOfWork(db) as uow:
            credentials.login(uow, "olga", olga.password, None, settings)
    with pytest.raises(AuthenticationFailed, match="wrong"):
        do_login(db, settings, olga, totp_code="12345x")
    auth = do_login(db, settings, olga)
    assert auth.user_id == "olga" and not auth.signed_in_session
    assert actions(db, "olga")[-4:] == ["user.login_refused"] * 3 + ["user.login"]
    with db.session() as s:
        assert identities.get_user(s, "olga").failed_attempts == 0


@pytest.mark.req("URS-IDN-007", "P11-200a1")
def test_replayed_totp_code_refused(db, settings, make_user, frozen_clock):
    olga = make_user("olga", accountability=False)
    code = testing.next_totp(db, olga)
    do_login(db, settings, olga, totp_code=code)
    with pytest.raises(AuthenticationFailed, match="used already"):
        do_login(db, settings, olga, totp_code=code)
    assert last_entry(db, "user.login_refused").reason == "TOTP code replayed"


@pytest.mark.req("URS-IDN-007", "P11-10d")
def test_unknown_user_refused_and_logged(db, settings, admin):
    with pytest.raises(AuthenticationFailed, match="wrong"):
        with UnitOfWork(db) as uow:
            credentials.login(uow, "nobody", "x" * 12, "123456", settings)
    entry = last_entry(db, "user.login_refused")
    assert entry.object_id == "nobody" and entry.reason == "unknown user ID"


@pytest.mark.req("URS-IDN-007", "P11-10d")
def test_disabled_expired_and_unenrolled_accounts_cannot_log_in(db, settings, admin, make_user, frozen_clock):
    olga = make_user("olga", accountability=False)
    pete = make_user("pete", accountability=False)
    create(db, settings, admin, "nina")
    with UnitOfWork(db, admin.actor) as uow:
        identities.deactivate_user(uow, "olga", "left")
        identities.set_expiry(uow, "pete", frozen_clock.value.date() - timedelta(days=1), "contract ended")
        uow.commit()
    with pytest.raises(AccountDisabled, match="deactivated"):
        do_login(db, settings, olga)
    with pytest.raises(AccountExpired, match="expired on"):
        do_login(db, settings, pete)
    with pytest.raises(NotEnrolled, match="not completed enrolment"):
        with UnitOfWork(db) as uow:
            credentials.login(uow, "nina", PASSWORD, "123456", settings)
    assert [e for e in actions(db) if e == "user.login_refused"] == ["user.login_refused"] * 3


@pytest.mark.req("URS-IDN-001", "P11-10d")
def test_expiry_date_is_last_valid_day(db, settings, admin, make_user, frozen_clock):
    olga = make_user("olga", accountability=False)
    with UnitOfWork(db, admin.actor) as uow:
        identities.set_expiry(uow, "olga", frozen_clock.value.date(), "fixed-term contract")
        uow.commit()
    assert do_login(db, settings, olga).user_id == "olga"


@pytest.mark.req("URS-IDN-008", "P11-300d", "CN-2")
def test_lockout_after_threshold_with_alert(db, settings, admin, make_user, frozen_clock):
    olga = make_user("olga", accountability=False)
    for attempt in range(settings.lockout_threshold):
        with pytest.raises(AuthenticationFailed):
            do_login(db, settings, olga, password=f"wrong password {attempt}")
    with db.session() as s:
        user = identities.get_user(s, "olga")
        assert user.status == "locked" and user.failed_attempts == settings.lockout_threshold
        alerts = lockout.list_alerts(s)
        assert [(a.kind, a.user_id) for a in alerts] == [("account_locked", "olga")]
    with pytest.raises(AccountLocked, match="locked"):
        do_login(db, settings, olga)
    trail = actions(db, "olga")
    assert trail.count("user.login_refused") == settings.lockout_threshold + 1 and "user.locked" in trail
    # an administrator unlocks with a reason; the alert is acknowledged
    with UnitOfWork(db, admin.actor) as uow:
        identities.unlock_user(uow, "olga", "user confirmed the failed attempts were theirs")
        lockout.acknowledge_alert(uow, alerts[0].id, "checked with the user")
        uow.commit()
    frozen_clock.advance(seconds=30)
    assert do_login(db, settings, olga).user_id == "olga"
    with db.session() as s:
        assert lockout.list_alerts(s) == []


@pytest.mark.req("URS-IDN-008", "P11-300d")
def test_failed_attempt_changes_nothing_but_count_and_trail(db, settings, make_user, frozen_clock):
    olga = make_user("olga", accountability=False)
    with db.session() as s:
        before = identities.get_user(s, "olga").totp_last_step
    with pytest.raises(AuthenticationFailed):
        do_login(db, settings, olga, password="wrong password!")
    with db.session() as s:
        user = identities.get_user(s, "olga")
        assert user.failed_attempts == 1 and user.totp_last_step == before
        assert s.execute(select(SecurityAlert)).first() is None


@pytest.mark.req("URS-IDN-008", "P11-300d")
def test_unlock_errors(db, settings, admin, make_user):
    make_user("olga", accountability=False)
    with UnitOfWork(db, admin.actor) as uow:
        from signatures.errors import AccountStateError, InvalidIdentityData
        with pytest.raises(AccountStateError, match="not locked"):
            identities.unlock_user(uow, "olga", "why")
        with pytest.raises(InvalidIdentityData, match="needs a reason"):
            identities.unlock_user(uow, "olga", "")
        with pytest.raises(AccountStateError, match="no security alert"):
            lockout.acknowledge_alert(uow, 999, "x")


@pytest.mark.req("URS-IDN-009", "URS-SIG-001", "P11-300c")
def test_credential_reset_revokes_at_once_and_reissues(db, settings, admin, make_user, frozen_clock):
    olga = make_user("olga", accountability=False)
    auth = do_login(db, settings, olga)
    with db.session() as s:
        old_key = s.execute(select(SigningKey).where(SigningKey.user_id == "olga")).scalar_one().key_id
    with UnitOfWork(db, admin.actor) as uow:
        secret = credentials.reset_credentials(uow, "olga", "phone with authenticator lost", settings)
        uow.commit()
    with db.session() as s:
        with pytest.raises(SessionExpired, match="credentials reset"):
            sessions.get_active_session(s, auth.id, settings)
        user = s.get(UserAccount, "olga")
        assert user.status == "pending_enrolment" and user.password_hash is None and user.totp_secret is None
        retired = s.get(SigningKey, old_key)
        assert retired.retired_at is not None and retired.wrapped_private_key is None and retired.public_key
    frozen_clock.advance(seconds=30)
    with pytest.raises(NotEnrolled):
        do_login(db, settings, olga)
    with db.session() as s:
        view = enrolment.start_enrolment(s, "olga", secret)
    with UnitOfWork(db) as uow:
        enrolment.enrol(uow, "olga", secret, "brand new passphrase", pyotp.TOTP(view.totp_secret).at(frozen_clock.value),
                        settings)
        uow.commit()
    with db.session() as s:
        keys = s.execute(select(SigningKey).where(SigningKey.user_id == "olga")).scalars().all()
        assert len(keys) == 2 and sum(k.retired_at is None for k in keys) == 1
    assert "user.credentials_revoked" in actions(db, "olga")


@pytest.mark.req("URS-IDN-011", "P11-200a1", "P11-10d")
def test_session_expires_after_inactivity(db, settings, make_user, frozen_clock):
    olga = make_user("olga", accountability=False)
    auth = do_login(db, settings, olga)
    frozen_clock.advance(minutes=settings.session_timeout_minutes - 1)
    with UnitOfWork(db) as uow:
        live = sessions.get_active_session(uow.session, auth.id, settings)
        sessions.touch(uow.session, live)
        uow.commit()
    frozen_clock.advance(minutes=settings.session_timeout_minutes - 1)
    with db.session() as s:
        assert sessions.get_active_session(s, auth.id, settings).user_id == "olga"
    frozen_clock.advance(minutes=1)
    with db.session() as s:
        with pytest.raises(SessionExpired, match="inactivity"):
            sessions.get_active_session(s, auth.id, settings)
        with pytest.raises(UnknownSession, match="unknown session"):
            sessions.get_active_session(s, "nope", settings)


@pytest.mark.req("URS-IDN-011", "P11-10d")
def test_logout_ends_session(db, settings, make_user, frozen_clock):
    olga = make_user("olga", accountability=False)
    auth = do_login(db, settings, olga)
    with UnitOfWork(db, Actor("olga", "Olga")) as uow:
        sessions.logout(uow, uow.session.merge(auth))
        uow.commit()
    with db.session() as s:
        with pytest.raises(SessionExpired, match="logout"):
            sessions.get_active_session(s, auth.id, settings)
    assert actions(db, "olga")[-1] == "user.logout"
