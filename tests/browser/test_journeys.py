"""Browser journeys in Chromium: sign-in with TOTP, a user without the role is refused, admin at 1024x768."""
from __future__ import annotations

import pytest

from signatures import kdf, testing
from tests.browser.conftest import no_horizontal_scroll


@pytest.fixture
def people(live_db, live_settings, live_server):  # type: ignore[no-untyped-def]
    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(live_db, live_settings)
        alice = testing.enrolled_user(live_db, live_settings, admin, "alice", "Alice Operator", ["operator"],
                                      accountability=False)
    return {"admin": admin, "alice": alice}


def sign_in(page, server, db, person) -> None:  # type: ignore[no-untyped-def]
    page.goto(server.url + "/sign-in")
    page.get_by_label("User ID").fill(person.user_id)
    page.get_by_label("Password").fill(person.password)
    page.get_by_label("Code from your authenticator app").fill(testing.next_totp(db, person))
    page.get_by_role("button", name="Sign in").click()


@pytest.mark.req("URS-WEB-005", "P11-10d")
def test_sign_in_with_totp_and_sign_out(page, live_server, live_db, people):
    sign_in(page, live_server, live_db, people["alice"])
    assert page.get_by_test_id("user-name").inner_text() == "Alice Operator (alice)"
    assert no_horizontal_scroll(page)
    page.get_by_role("button", name="Sign out").click()
    assert page.get_by_role("heading", name="Sign in").is_visible()


@pytest.mark.req("URS-WEB-005", "P11-300d")
def test_wrong_code_is_refused_with_a_clear_message(page, live_server, people):
    page.goto(live_server.url + "/sign-in")
    page.get_by_label("User ID").fill("alice")
    page.get_by_label("Password").fill(people["alice"].password)
    page.get_by_label("Code from your authenticator app").fill("000000")
    page.get_by_role("button", name="Sign in").click()
    assert "User ID, password or code is wrong" in page.locator("#login-message").inner_text()


@pytest.mark.req("URS-WEB-004", "P11-10g", "CN-1")
def test_user_without_the_role_is_refused(page, live_server, live_db, people):
    sign_in(page, live_server, live_db, people["alice"])
    response = page.goto(live_server.url + "/admin/users")
    assert response is not None and response.status == 403
    assert page.get_by_role("heading", name="Access refused").is_visible()
    assert "Users" not in [a.inner_text() for a in page.locator("nav a").all()]


@pytest.mark.req("URS-WEB-004", "URS-WEB-003")
def test_admin_pages_at_1024_in_chinese(page, live_server, live_db, people):
    sign_in(page, live_server, live_db, people["admin"])
    page.get_by_label("Language").select_option("zh")
    page.get_by_role("button", name="Switch").click()
    page.goto(live_server.url + "/admin/users")
    assert page.get_by_role("heading", name="用户").first.is_visible()
    assert page.locator('tr[data-user="alice"]').is_visible()
    assert no_horizontal_scroll(page)
