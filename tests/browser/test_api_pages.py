"""The API's pages in Chromium: an administrator creates a system account, issues a token (shown once)
and revokes it; the API reference page renders on its own (no script, nothing from another site)."""
from __future__ import annotations

import json

import pytest

from signatures import kdf, testing
from tests.browser.conftest import ARTIFACTS, no_horizontal_scroll
from tests.browser.test_journeys import sign_in


@pytest.fixture
def admin(live_db, live_settings, live_server):  # type: ignore[no-untyped-def]
    from tests.api.conftest import add_system_role

    with kdf.unsafe_fast_kdf():
        person = testing.bootstrap_admin(live_db, live_settings)
    add_system_role(live_db, person)
    return person


@pytest.mark.req("URS-API-002", "P11-10g", "A11-12")
def test_administrator_issues_and_revokes_a_token_in_the_browser(page, live_server, live_db, admin):
    import requests

    sign_in(page, live_server, live_db, admin)
    page.get_by_role("navigation").get_by_role("link", name="System accounts").click()
    page.get_by_label("Account ID").fill("mes-line1")
    page.get_by_label("Name", exact=True).fill("MES line 1")
    page.get_by_label("Description").fill("Weighing and dispensing, line 1")
    page.get_by_label("System roles").select_option("mes")
    page.locator("#new-account-reason").fill("line 1 go-live")
    page.get_by_role("button", name="Create system account").click()
    card = page.locator('[data-account="mes-line1"]')
    assert "System roles: mes" in " ".join(card.locator("p").first.inner_text().split())
    card.get_by_text("Issue a token").click()
    card.get_by_label("tasks:read").check()
    card.get_by_label("tasks:complete:").check()
    from datetime import timedelta

    from core import clock

    card.get_by_label("Expires on").fill((clock.now().date() + timedelta(days=60)).isoformat())
    card.get_by_label("Purpose").fill("weighing interface")
    card.locator("input[name=reason]").first.fill("line 1 go-live")
    card.get_by_role("button", name="Issue token").click()
    token = page.get_by_test_id("api-token").inner_text()
    assert token.startswith("gmp_") and page.get_by_text("It is shown only once").is_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "api-token-shown-once.png"), full_page=True)
    me = requests.get(live_server.url + "/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert me.status_code == 200 and me.json()["scopes"] == ["tasks:complete", "tasks:read"]

    page.get_by_role("link", name="Back to system accounts").click()
    assert token not in page.content()
    row = page.locator(f'[data-token="{token.split("_")[1]}"]')
    row.get_by_label("Reason").fill("interface test finished")
    row.get_by_role("button", name="Revoke token").click()
    assert page.locator(f'[data-token="{token.split("_")[1]}"] [data-testid="token-state"]').inner_text().startswith(
        "revoked")
    assert no_horizontal_scroll(page)
    page.screenshot(path=str(ARTIFACTS / "api-system-accounts.png"), full_page=True)
    gone = requests.get(live_server.url + "/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert gone.status_code == 401 and gone.json()["field"] == "Authorization"


@pytest.mark.req("URS-API-001", "CN-6")
def test_the_api_reference_renders_without_scripts(page, live_server):
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    response = page.goto(live_server.url + "/api/v1/docs")
    assert response is not None and response.status == 200
    assert page.get_by_role("heading", name="GMP workflow engine API").is_visible()
    assert page.locator('[data-operation="complete_task"]').is_visible()
    assert all(url.startswith(live_server.url) for url in requested)
    assert no_horizontal_scroll(page)
    page.screenshot(path=str(ARTIFACTS / "api-reference.png"))
    document = json.loads(page.goto(live_server.url + "/api/v1/openapi.json").text())
    assert document["openapi"] == "3.1.0"
