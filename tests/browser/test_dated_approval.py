"""QA approves a new process version to take effect on a later date, in Chromium: a date in the past
is held by the browser and refused by the server with words for the person (nothing stored); the library then shows the version as
"approved, effective from <date>" beside the one still in force (dated-approval.png)."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import no_horizontal_scroll
from tests.browser.test_first_hour import people, shot, sign_out  # noqa: F401  (fixture)
from tests.browser.test_journeys import sign_in
from tests.browser.test_work import code
from tests.engine.conftest import bundle_files


@pytest.mark.req("URS-ENG-003", "P11-10k", "A11-10")
def test_qa_approves_a_version_to_take_effect_on_a_later_date(page, live_server, live_db, live_settings,
                                                              people):  # noqa: F811
    from engine import definitions
    from engine.ports import SignatureInput, default_services
    from store.uow import UnitOfWork

    quinn, quentin = people["quinn"], people["quentin"]
    files = bundle_files("line_clearance")
    with UnitOfWork(live_db, quinn.actor) as uow:
        v1 = definitions.upload(uow, files, reason="CC-070 first issue", services=default_services(live_settings))
        uow.commit()
    with UnitOfWork(live_db, quentin.actor) as uow:
        definitions.approve(uow, v1.id, SignatureInput("approved", "quentin", {
            "password": quentin.password, "totp": code(live_db, people, "quentin")}),
            services=default_services(live_settings))
        uow.commit()
    files["line_clearance.bpmn"] = files["line_clearance.bpmn"].replace(b"<bpmn:definitions",
                                                                        b"<!-- v2 -->\n<bpmn:definitions", 1)
    with UnitOfWork(live_db, quinn.actor) as uow:
        v2 = definitions.upload(uow, files, reason="CC-071 from 1 February", services=default_services(live_settings))
        uow.commit()
    sign_in(page, live_server, live_db, quentin)
    page.goto(live_server.url + f"/library/versions/{v2.id}/approve")
    page.get_by_label("Effective from (empty: at once)").fill("2026-01-02")
    page.locator("#sig_password").fill(quentin.password)
    page.locator("#sig_totp").fill(code(live_db, people, "quentin"))
    page.get_by_role("button", name="Sign and approve").click()  # the browser holds it: before the earliest day
    expect(page.locator("#effective_from:invalid")).to_have_count(1)
    page.evaluate("document.getElementById('effective_from').removeAttribute('min')")  # the server refuses too
    page.get_by_role("button", name="Sign and approve").click()
    expect(page.locator("#approve-message")).to_have_text(
        "The version cannot take effect on 2026-01-02: that day is in the past. Choose today or a later date, "
        "or leave the date empty for at once.")
    expect(page.get_by_test_id("version-status")).to_have_attribute("data-status", "draft")
    page.get_by_label("Effective from (empty: at once)").fill("2026-02-01")
    page.locator("#sig_password").fill(quentin.password)
    page.locator("#sig_totp").fill(code(live_db, people, "quentin"))
    page.get_by_role("button", name="Sign and approve").click()
    expect(page.get_by_test_id("version-status")).to_have_attribute("data-status", "scheduled")
    expect(page.get_by_test_id("version-status")).to_have_text("approved, effective from 2026-02-01 00:00:00 UTC")
    page.goto(live_server.url + "/library/line_clearance")
    expect(page.locator('tr[data-version="1"]')).to_have_attribute("data-status", "approved")
    expect(page.locator('tr[data-version="2"] .badge')).to_have_text("approved, effective from 2026-02-01 00:00:00 UTC")
    assert no_horizontal_scroll(page)
    shot(page, "dated-approval.png", full_page=False)
    sign_out(page)
