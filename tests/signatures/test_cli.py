"""`gmp admin`, `gmp user`, `gmp role` through click's CliRunner on real databases."""
import re

import pyotp
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from cli import gmp
from signatures.models import Enrolment, Role, UserAccount
from tests.conftest import TEST_PASSPHRASE, TEST_SECRET
from tests.signatures.helpers import actions, last_entry

PASSWORD = "the administrator's own passphrase"


@pytest.fixture
def cli(settings, frozen_clock):
    env = {"GMP_INSTANCE_PATH": str(settings.instance), "GMP_DATABASE_URL": settings.database_url,
           "GMP_SECRET_KEY": TEST_SECRET, "GMP_SERVER_KEY_PASSPHRASE": TEST_PASSPHRASE}

    def run(*args, input=None, admin=None):
        extra = dict(env)
        if admin is not None:
            frozen_clock.advance(seconds=30)
            extra.update({"GMP_ADMIN_USER": admin[0], "GMP_ADMIN_PASSWORD": admin[1],
                          "GMP_ADMIN_TOTP": pyotp.TOTP(admin[2]).at(frozen_clock.value) if admin[2] else "000000"})
        return CliRunner(env=extra).invoke(gmp, list(args), input=input)
    return run


def secret_of(output):
    return re.search(r"enrolment secret for \S+: (\S+)", output).group(1)


def enrol_via_cli(cli, db, frozen_clock, username, secret, password, qr=False):
    with db.session() as s:
        totp_secret = s.execute(select(Enrolment.totp_secret).where(Enrolment.user_id == username)
                                .order_by(Enrolment.id.desc())).scalars().first()
    code = pyotp.TOTP(totp_secret).at(frozen_clock.value)
    result = cli("user", "enrol", username, "--qr" if qr else "--no-qr",
                 input=f"{secret}\n{password}\n{password}\n{code}\n")
    assert result.exit_code == 0, result.output
    if qr:
        assert "\u2588" in result.output or "\u2580" in result.output  # the QR code drawn in the terminal
    assert totp_secret in result.output and "otpauth://totp/" in result.output
    return totp_secret


@pytest.fixture
def boss(cli, db, frozen_clock):
    result = cli("admin", "bootstrap", "boss", "--name", "Bea Boss")
    assert result.exit_code == 0, result.output
    totp_secret = enrol_via_cli(cli, db, frozen_clock, "boss", secret_of(result.output), PASSWORD, qr=True)
    return ("boss", PASSWORD, totp_secret)


@pytest.mark.req("URS-IDN-012", "URS-IDN-004", "P11-200a3", "P11-10d")
def test_bootstrap_enrol_and_user_admin(cli, db, boss, frozen_clock):
    again = cli("admin", "bootstrap", "other", "--name", "Other Admin")
    assert again.exit_code == 1 and "exists already" in again.output
    result = cli("user", "add", "olga", "--name", "Olga Operator", "--role", "operator", "--expires", "2027-06-30",
                 admin=boss)
    assert result.exit_code == 0, result.output
    secret = secret_of(result.output)
    with db.session() as s:
        olga = s.get(UserAccount, "olga")
        assert olga.status == "pending_enrolment" and str(olga.expires_on) == "2027-06-30"
        assert olga.password_hash is None  # the administrator never sets a password
    enrol_via_cli(cli, db, frozen_clock, "olga", secret, "olga's own passphrase")
    result = cli("user", "verify-identity", "olga", "--method", "passport checked in person", "--reason", "new starter",
                 admin=boss)
    assert result.exit_code == 0, result.output
    listing = cli("user", "list", admin=boss)
    assert listing.exit_code == 0 and re.search(r"olga\s+active\s+expires 2027-06-30\s+operator", listing.output)
    assert "identity verified" in listing.output
    assert cli("user", "grant", "olga", "verifier", "--reason", "trained", admin=boss).exit_code == 0
    assert cli("user", "revoke", "olga", "verifier", "--reason", "moved", admin=boss).exit_code == 0
    assert cli("user", "deactivate", "olga", "--reason", "left", admin=boss).exit_code == 0
    trail = actions(db, "olga")
    for action in ("user.created", "user.enrolled", "user.identity_verified", "role.granted", "role.revoked",
                   "user.deactivated"):
        assert action in trail
    assert last_entry(db, "user.deactivated").actor_id == "boss"
    assert last_entry(db, "user.login").details == '{"client":"cli"}'


@pytest.mark.req("URS-IDN-012", "P11-10d", "P11-10g")
def test_admin_commands_need_an_authenticated_administrator(cli, db, boss, frozen_clock):
    wrong = cli("user", "add", "olga", "--name", "Olga", "--role", "operator",
                admin=("boss", "not the password", boss[2]))
    assert wrong.exit_code == 1 and "wrong" in wrong.output
    with db.session() as s:
        assert s.get(UserAccount, "olga") is None
        assert s.get(UserAccount, "boss").failed_attempts == 1
    # prompts when the environment does not carry the credentials
    frozen_clock.advance(seconds=30)
    code = pyotp.TOTP(boss[2]).at(frozen_clock.value)
    prompted = cli("role", "add", "brewer", "--kind", "business", "--label-en", "Brewer", "--label-zh", "酿造师",
                   "--reason", "new process", input=f"boss\n{PASSWORD}\n{code}\n")
    assert prompted.exit_code == 0, prompted.output
    with db.session() as s:
        assert s.get(Role, "brewer").created_by == "boss"
    listing = cli("role", "list")
    assert "brewer" in listing.output and "qp" in listing.output


@pytest.mark.req("URS-IDN-012", "URS-IDN-002", "CN-1")
def test_business_user_cannot_administer(cli, db, boss, frozen_clock):
    result = cli("user", "add", "olga", "--name", "Olga", "--role", "operator", admin=boss)
    totp_secret = enrol_via_cli(cli, db, frozen_clock, "olga", secret_of(result.output), "olga's own passphrase")
    refused = cli("user", "list", admin=("olga", "olga's own passphrase", totp_secret))
    assert refused.exit_code == 1 and "is not an administrator" in refused.output
    assert last_entry(db, "user.login_refused").reason == "administrative command by a non-administrator"
    mixed = cli("user", "add", "max", "--name", "Max", "--role", "admin", "--role", "qa", admin=boss)
    assert mixed.exit_code == 1 and "CN-1" in mixed.output


@pytest.mark.req("URS-IDN-009", "URS-IDN-008", "URS-IDN-010", "P11-300c", "P11-300d", "P11-300b")
def test_reset_unlock_alerts_and_access_review(cli, db, boss, frozen_clock, settings):
    result = cli("user", "add", "olga", "--name", "Olga", "--role", "operator", admin=boss)
    enrol_via_cli(cli, db, frozen_clock, "olga", secret_of(result.output), "olga's own passphrase")
    for attempt in range(settings.lockout_threshold):
        bad = cli("user", "list", admin=("olga", f"wrong {attempt}", None))
        assert bad.exit_code == 1
    alerts = cli("user", "alerts", admin=boss)
    assert "account_locked" in alerts.output and "olga" in alerts.output
    not_locked = cli("user", "unlock", "boss", "--reason", "x", admin=boss)
    assert not_locked.exit_code == 1 and "unlock themselves" in not_locked.output
    assert cli("user", "unlock", "olga", "--reason", "confirmed with the user", admin=boss).exit_code == 0
    reset = cli("user", "reset-credentials", "olga", "--reason", "phone lost", admin=boss)
    assert reset.exit_code == 0 and "credentials of olga revoked" in reset.output
    enrol_via_cli(cli, db, frozen_clock, "olga", secret_of(reset.output), "a new passphrase for olga")
    review = cli("user", "access-review", "--comment", "quarterly: no findings", admin=boss)
    assert review.exit_code == 0 and "access review 1 recorded" in review.output


@pytest.mark.req("URS-SIG-007", "P11-10j")
def test_accountability_from_the_terminal(cli, db, boss, frozen_clock):
    result = cli("user", "add", "olga", "--name", "Olga", "--role", "operator", admin=boss)
    totp_secret = enrol_via_cli(cli, db, frozen_clock, "olga", secret_of(result.output), "olga's own passphrase")
    frozen_clock.advance(seconds=30)
    code = pyotp.TOTP(totp_secret).at(frozen_clock.value)
    signed = cli("user", "accountability", "olga", input=f"olga's own passphrase\n{code}\n")
    assert signed.exit_code == 0, signed.output
    assert "legally binding" in signed.output and "accountability statement signed" in signed.output


@pytest.mark.req("URS-IDN-004")
def test_enrol_with_bad_secret(cli, boss):
    result = cli("user", "enrol", "boss", "--no-qr", input="WRONG-SECRET\n")
    assert result.exit_code == 1 and "not valid for this user" in result.output
    prompted = cli("user", "enrol", "--no-qr", input="boss\nWRONG-SECRET\n")
    assert prompted.exit_code == 1 and "not valid for this user" in prompted.output
