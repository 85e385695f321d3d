"""Sign-in with password and TOTP, lockout, timeout, sign-out, enrolment with a QR code, password change."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from audit.models import AuditEntry
from signatures import kdf, testing
from signatures.models import UserAccount
from tests.web.conftest import csrf_of

pytestmark = pytest.mark.req("URS-WEB-005", "P11-10d")


@pytest.fixture
def people(db, settings, frozen_clock):  # type: ignore[no-untyped-def]
    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(db, settings)
        alice = testing.enrolled_user(db, settings, admin, "alice", "Alice Operator", ["operator"], accountability=False)
        yield {"admin": admin, "alice": alice}


def sign_in(client, db, person, password=None, code=None):  # type: ignore[no-untyped-def]
    token = csrf_of(client)
    return client.post("/sign-in", data={"csrf_token": token, "user_id": person.user_id,
                                         "password": password or person.password,
                                         "totp": code or testing.next_totp(db, person), "next": "/"})


def actions(db) -> list[str]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return list(s.execute(select(AuditEntry.action).order_by(AuditEntry.seq)).scalars())


def test_sign_in_with_password_and_totp_then_sign_out(client, db, people):
    response = sign_in(client, db, people["alice"])
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "Alice Operator (alice)" in client.get("/").get_data(as_text=True)
    assert "user.login" in actions(db)
    token = csrf_of(client)
    response = client.post("/sign-out", data={"csrf_token": token})
    assert response.status_code == 302 and "user.logout" in actions(db)
    assert "Alice Operator" not in client.get("/").get_data(as_text=True)


@pytest.mark.req("P11-300d")
def test_wrong_password_is_refused_recorded_and_locks_after_threshold(client, db, people, settings):
    alice = people["alice"]
    for _ in range(settings.lockout_threshold - 1):
        response = sign_in(client, db, alice, password="wrong password!!")
        assert response.status_code == 401
        assert "User ID, password or code is wrong. The attempt was recorded." in response.get_data(as_text=True)
    response = sign_in(client, db, alice, password="wrong password!!")
    response = sign_in(client, db, alice)
    assert response.status_code == 423 and "This account is locked" in response.get_data(as_text=True)
    assert actions(db).count("user.login_refused") == settings.lockout_threshold + 1
    with db.session() as s:
        assert s.get(UserAccount, "alice").status == "locked"


def test_missing_totp_is_refused(client, db, people):
    token = csrf_of(client)
    response = client.post("/sign-in", data={"csrf_token": token, "user_id": "alice", "password": people["alice"].password})
    assert response.status_code == 401


@pytest.mark.req("P11-200a1")
def test_session_times_out_after_inactivity(client, db, people, settings, frozen_clock):
    sign_in(client, db, people["alice"])
    frozen_clock.advance(minutes=settings.session_timeout_minutes - 1)
    assert "Alice Operator" in client.get("/").get_data(as_text=True)  # activity keeps it alive
    frozen_clock.advance(minutes=settings.session_timeout_minutes + 1)
    page = client.get("/").get_data(as_text=True)
    assert "Alice Operator" not in page
    response = client.get("/sign-in?expired=1")
    assert "Your session ended after 15 minutes without activity" in response.get_data(as_text=True)


def test_signed_in_only_page_redirects_to_sign_in(client):
    token = csrf_of(client)
    response = client.post("/sign-out", data={"csrf_token": token})
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]


def test_enrolment_shows_a_qr_code_and_sets_password_and_totp(client, db, settings, people):
    from core import clock
    from signatures import totp
    from signatures.identities import create_user
    from store.uow import UnitOfWork

    with UnitOfWork(db, people["admin"].actor) as uow:
        _, secret = create_user(uow, "bob", "Bob Verifier", ["verifier"], settings)
        uow.commit()
    token = csrf_of(client)
    wrong = client.post("/enrol", data={"csrf_token": token, "user_id": "bob", "secret": "not-the-secret"})
    assert wrong.status_code == 422
    page = client.post("/enrol", data={"csrf_token": token, "user_id": "bob", "secret": secret}).get_data(as_text=True)
    assert "<svg" in page and 'class="segno"' in page
    key = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', page).group(1)
    code = totp.code_at_step(key, totp.current_step(key, clock.now()))
    form = {"csrf_token": token, "step": "2", "user_id": "bob", "secret": secret, "totp": code}
    differ = client.post("/enrol", data={**form, "password": "a long password 1", "password_repeat": "other"})
    assert differ.status_code == 422 and "The two passwords differ." in differ.get_data(as_text=True)
    short = client.post("/enrol", data={**form, "password": "short", "password_repeat": "short"})
    assert short.status_code == 422 and "at least" in short.get_data(as_text=True)
    done = client.post("/enrol", data={**form, "password": "a long password 1", "password_repeat": "a long password 1"})
    assert done.status_code == 302 and done.headers["Location"].endswith("/sign-in")
    with db.session() as s:
        assert s.get(UserAccount, "bob").status == "active"


@pytest.mark.req("P11-300b")
def test_password_change(client, db, people):
    alice = people["alice"]
    token = csrf_of(client)
    base = {"csrf_token": token, "user_id": "alice", "password": alice.password}
    differ = client.post("/password", data={**base, "totp": "000000", "new_password": "x", "new_password_repeat": "y"})
    assert differ.status_code == 422 and "The two new passwords differ." in differ.get_data(as_text=True)
    new = "another long password 2"
    done = client.post("/password", data={**base, "totp": testing.next_totp(db, alice), "new_password": new,
                                          "new_password_repeat": new})
    assert done.status_code == 302
    alice.password = new
    assert sign_in(client, db, alice).status_code == 302


def test_chinese_sign_in_page(client, db, people):
    token = csrf_of(client)
    client.post("/language", data={"language": "zh", "csrf_token": token})
    response = sign_in(client, db, people["alice"], password="wrong password!!")
    assert "用户名、密码或验证码错误" in response.get_data(as_text=True)


@pytest.mark.req("P11-300b")
def test_aged_password_leads_to_the_password_page(client, db, people, settings, frozen_clock):
    frozen_clock.advance(days=settings.password_max_age_days + 1)
    response = sign_in(client, db, people["alice"])
    assert response.status_code == 302 and "/password?user_id=alice" in response.headers["Location"]
    assert "Your password has expired" in client.get(response.headers["Location"]).get_data(as_text=True)


@pytest.mark.req("P11-200a1")
def test_polling_is_not_activity(client, db, people, settings, frozen_clock):
    from signatures.models import AuthSession

    sign_in(client, db, people["alice"])
    with db.session() as s:
        before = s.query(AuthSession).one().last_activity_at
    frozen_clock.advance(minutes=1)
    from web.current_user import PASSIVE

    assert "tasks.live" in PASSIVE
    client.get("/tasks/not-a-task/live")
    with db.session() as s:
        assert s.query(AuthSession).one().last_activity_at == before
    client.get("/")
    with db.session() as s:
        assert s.query(AuthSession).one().last_activity_at > before


# Open redirect: every form a tester or a browser quirk can turn into another site must fall back home.
OFFSITE = [
    "//evil.example/x", "///evil.example/x", "/\t/evil.example/x", "/\n/evil.example/x", "/\r/evil.example/x",
    "/ /evil.example/x", " //evil.example/x", "\t//evil.example/x", "/\\evil.example/x", "\\\\evil.example/x",
    "\\/evil.example/x", "/%09/evil.example/x", "/%2F/evil.example/x", "/%2f%2fevil.example/x",
    "/%252F/evil.example/x", "/%5Cevil.example/x", "/%5C%5Cevil.example/x", "https://evil.example/x",
    "http:evil.example", "HTTPS://evil.example", "javascript:alert(1)", "data:text/html,<script>1</script>",
    "evil.example/x", "/./evil.example/x", "/.//evil.example/x", "/../evil.example", "/%2e%2e/evil.example",
    "/\u3002evil.example", "\uff0f\uff0fevil.example", "/\u2028/evil.example", "/x\x00/evil", "/x?y=\\z", "",
]
SAME_SITE = ["/", "/tasks/", "/records/12?tab=signatures#sig-3", "/audit/?action=signature&user=alice",
             "/records/%E7%8E%8B", "/x?next=//not-a-host-here"]


@pytest.mark.req("URS-WEB-002", "URS-WEB-005")
@pytest.mark.parametrize("target", OFFSITE)
def test_redirect_targets_off_this_site_are_refused(target):
    from web.security import safe_next

    assert safe_next(target) is None


@pytest.mark.req("URS-WEB-002", "URS-WEB-005")
@pytest.mark.parametrize("target", SAME_SITE)
def test_redirect_targets_on_this_site_pass(target):
    from web.security import safe_next

    assert safe_next(target) == target


@pytest.mark.req("URS-WEB-002", "URS-WEB-005")
def test_sign_in_and_language_never_redirect_off_site(client, db, people, frozen_clock):
    """The reported case end to end (`/sign-in?next=/%09/evil.example/x` led to `Location: //evil.example/x`),
    then every tricky form through the language switch, which redirects to `next` without a sign-in."""
    from urllib.parse import quote

    page = client.get("/sign-in?next=/%09/evil.example/x").get_data(as_text=True)
    assert '<input type="hidden" name="next" value="">' in page
    alice = people["alice"]
    for target in ("/%09/evil.example/x", "/\t/evil.example/x", "//evil.example/x", "/records/?status=running"):
        frozen_clock.advance(seconds=31)
        token = csrf_of(client)
        response = client.post("/sign-in", data={"csrf_token": token, "user_id": "alice", "password": alice.password,
                                                  "totp": testing.next_totp(db, alice), "next": target})
        assert response.status_code == 302
        location = response.headers["Location"]
        assert location == (target if target.startswith("/records") else "/"), (target, location)
        client.post("/sign-out", data={"csrf_token": csrf_of(client)})
    token = csrf_of(client)
    for target in OFFSITE:
        response = client.post("/language", data={"language": "en", "csrf_token": token, "next": target})
        assert response.headers["Location"] == "/", (target, response.headers["Location"])
    page = client.get("/sign-in?next=" + quote("/records/?x=1")).get_data(as_text=True)
    assert '<input type="hidden" name="next" value="/records/?x=1">' in page
