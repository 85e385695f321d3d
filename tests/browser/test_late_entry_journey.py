"""Business continuity in the browser: the operator prints the blank record of her step, the
system goes down, the work is done on paper, and afterwards she transcribes it as a late entry;
the record page shows it as late (Chromium, production server)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS
from tests.browser.test_journeys import sign_in
from tests.browser.test_work import code, plant  # noqa: F401  (fixture)
from tests.web.test_operator import deploy_and_start


@pytest.mark.req("URS-OPS-006", "A11-16", "ALCOA-CONTEMPORANEOUS")
def test_paper_work_is_transcribed_as_a_late_entry(page, live_server, live_db, live_settings, plant):  # noqa: F811
    people = plant
    alice, bob = people["alice"], people["bob"]
    deploy_and_start(live_db, live_settings, people["quinn"], people["quentin"])
    sign_in(page, live_server, live_db, alice)
    page.goto(live_server.url + "/tasks/")
    page.locator("[data-task] a").first.click()
    href = page.get_by_test_id("blank-record").get_attribute("href")
    blank = page.request.get(live_server.url + href, timeout=90_000)  # the browser's session prints the blank record
    assert blank.ok and blank.body()[:4] == b"%PDF" and 'filename="blank-1-weigh.pdf"' in blank.headers["content-disposition"]
    (ARTIFACTS / "late-entry-0-blank.pdf").write_bytes(blank.body())
    # the system is down from 08:05 to 11:00; the weighing is done on paper at 09:15 by bob
    clock = people["clock"]
    clock.advance(seconds=(datetime(2026, 1, 5, 11, 0, tzinfo=timezone.utc) - clock.value).total_seconds())
    sign_in(page, live_server, live_db, alice)
    page.goto(live_server.url + "/tasks/")
    page.locator("[data-task] a").first.click()
    page.locator("#f-lot").fill("L-001")
    page.locator("#f-gross").fill("12.1")
    page.locator("#f-tare").fill("2.0")
    page.get_by_text("Late entry: the work was done on paper while the system was down").click()
    page.get_by_label("Enter this task as a late entry, transcribed from the paper record").check()
    page.get_by_label("Date and time the work was done (UTC)").fill("2026-01-05T09:15")
    page.get_by_label("Done on paper by (user ID)").fill("bob")
    page.get_by_label("Reason for the late entry").fill("system outage 08:05–11:00; paper record BR-17")
    page.screenshot(path=str(ARTIFACTS / "late-entry-1-form.png"), full_page=True)
    page.locator("#sig_password").fill(alice.password)
    page.locator("#sig_totp").fill(code(live_db, people, "alice"))
    page.locator("#sig2_user_id").fill("bob")
    page.locator("#sig2_password").fill(bob.password)
    page.locator("#sig2_totp").fill(code(live_db, people, "bob"))
    page.locator(".task-form button[type=submit]").click()
    expect(page.get_by_test_id("task-completed")).to_be_visible()
    page.goto(live_server.url + "/records/1")
    late = page.get_by_test_id("late-entry")
    expect(late).to_contain_text("Late entry")
    expect(late).to_contain_text("2026-01-05 09:15 UTC by Bob Verifier (bob)")
    expect(late).to_contain_text("paper record BR-17")
    page.screenshot(path=str(ARTIFACTS / "late-entry-2-record.png"), full_page=True)
