"""Browser journey (Chromium) through the deviation process's happy path: an operator reports a
deviation against a batch on the Quality page; the QP finds the batch's release refused; QA
triages and signs; the investigator investigates and plans the CAPA; QA reviews and approves
it by signature; the owner carries out the action; after the effectiveness period QA checks
it and closes the deviation with its disposition; the release is admitted. Screenshots go to
test-artifacts/deviation-*.png."""
from __future__ import annotations

import pytest

from bpmn.deviation_capa import bundle as deviation_bundle
from engine.scheduler import Scheduler
from signatures import kdf, testing
from tests.browser.conftest import ARTIFACTS, no_horizontal_scroll
from tests.browser.test_journeys import sign_in
from tests.processes.deviation_capa.conftest import PEOPLE, STUBS, Site, bundle

pytestmark = pytest.mark.req("URS-DEV-001", "URS-DEV-002", "URS-DEV-003", "URS-DEV-004", "URS-DEV-005", "A11-13")


@pytest.fixture
def plant(live_db, live_settings, live_server, frozen_clock, runtime):  # type: ignore[no-untyped-def]
    from bpmn.glue import extend

    extend(runtime, live_db, live_settings)
    with kdf.unsafe_fast_kdf():
        site = Site.__new__(Site)
        site.db, site.settings, site.clock = live_db, live_settings, frozen_clock
        site.admin = testing.bootstrap_admin(live_db, live_settings)
        site.people = {uid: testing.enrolled_user(live_db, live_settings, site.admin, uid, name, roles)
                       for uid, name, roles in PEOPLE}
        from engine.ports import default_services

        site.services = default_services(live_settings)
    site.deploy(bundle(STUBS / "gate_batch"))
    site.deploy(deviation_bundle())
    batch = site.start("gate_batch", business_key="B-2026-0001", title="Batch B-2026-0001")
    site.complete(batch, "make", "alice")
    site.batch = batch
    return site


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"deviation-{name}.png"), full_page=True)


def as_user(page, server, plant, user: str) -> None:  # type: ignore[no-untyped-def]
    page.context.clear_cookies()
    plant.clock.advance(seconds=31)
    sign_in(page, server, plant.db, plant[user])


def sign_and_complete(page, plant, user: str) -> None:  # type: ignore[no-untyped-def]
    plant.clock.advance(seconds=31)
    page.locator("#sig_password").fill(plant[user].password)
    page.locator("#sig_totp").fill(testing.next_totp(plant.db, plant[user]))
    page.locator(".task-form button[type=submit]").click()
    page.get_by_test_id("task-completed").wait_for()


def open_task(page, server, name: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(server.url + "/tasks/")
    page.get_by_role("link", name=name).first.click()


@pytest.mark.slow
def test_a_reported_deviation_holds_the_batch_until_its_signed_closure(page, live_server, plant):
    server = live_server
    as_user(page, server, plant, "alice")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Quality").click()
    page.get_by_test_id("report-deviation").click()
    page.locator("#f-deviation-title").fill("Granulator bowl temperature above 70 °C")
    page.locator("#f-deviation-description").fill("The bowl reached 72.4 °C for 6 minutes during granulation.")
    page.locator("#f-deviation-occurred_on").fill("2026-01-05")
    page.locator("#f-deviation-location").fill("Room 101")
    page.locator("#f-deviation-batch").fill("B-2026-0001")
    page.locator("#f-deviation-immediate_action").fill("Granulation paused, cooling checked")
    assert no_horizontal_scroll(page)
    shot(page, "1-report")
    page.get_by_role("button", name="Report the deviation").click()
    assert "Deviation DEV-2026-0001 reported" in page.content()
    shot(page, "2-record")

    as_user(page, server, plant, "peter")
    page.goto(server.url + "/tasks/")
    shot(page, "3-release-refused-inbox")
    open_task(page, server, "Release the batch")
    refusal = page.get_by_test_id("gate-refusal")
    assert refusal.get_attribute("data-code") == "deviation_open"
    assert "DEV-2026-0001 is open" in refusal.inner_text()
    shot(page, "4-release-refused")

    as_user(page, server, plant, "quinn")
    open_task(page, server, "Triage and classify")
    page.locator('input[name="f:severity"][value="medium"]').check()
    page.locator('input[name="f:occurrence"][value="occasional"]').check()
    page.locator('input[name="f:detectability"][value="medium"]').check()
    page.locator("#f-investigation_owner").fill("ivan")
    page.locator("#f-investigation_due").fill("2026-01-12")
    page.locator("#f-triage_note").fill("Excursion above the limit; dissolution at risk")
    shot(page, "5-triage")
    sign_and_complete(page, plant, "quinn")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Quality").click()
    assert page.locator('tr[data-key="DEV-2026-0001"]').get_attribute("data-class") == "major"
    shot(page, "6-quality-overview")

    as_user(page, server, plant, "ivan")
    open_task(page, server, "Investigate: root cause and product impact")
    page.locator("#f-why_1").fill("The bowl overheated")
    page.locator("#f-why_2").fill("The jacket cooling valve stuck")
    page.locator("#f-fishbone-machine").fill("Valve V-12 sticks when cold")
    page.locator("#f-root_cause").fill("Valve V-12 worn")
    page.locator("#f-root_cause_category").select_option("machine")
    if page.locator("#f-product_impact-1-batch").count() == 0:
        page.get_by_role("button", name="Add a batch").click()
    page.locator("#f-product_impact-1-batch").fill("B-2026-0001")
    page.locator("#f-product_impact-1-impact").select_option("possible")
    page.locator("#f-product_impact-1-assessment").fill("Dissolution tested: within specification")
    shot(page, "7-investigation")
    sign_and_complete(page, plant, "ivan")
    open_task(page, server, "Plan the CAPA actions")
    if page.locator("#f-actions-1-description").count() == 0:
        page.get_by_role("button", name="Add an action").click()
    page.locator("#f-actions-1-kind").select_option("corrective")
    page.locator("#f-actions-1-description").fill("Replace valve V-12")
    page.locator("#f-actions-1-owner").fill("ivan")
    page.locator("#f-actions-1-due").fill("2026-01-20")
    page.locator("#f-actions-1-starts").select_option("none")
    shot(page, "8-capa-plan")
    page.locator(".task-form button[type=submit]").click()
    page.get_by_test_id("task-completed").wait_for()

    as_user(page, server, plant, "quinn")
    open_task(page, server, "Review the CAPA plan")
    page.locator('input[name="f:decision"][value="approve"]').check()
    page.locator("#f-effectiveness_days").fill("30")
    page.locator(".task-form button[type=submit]").click()
    page.get_by_test_id("task-completed").wait_for()
    as_user(page, server, plant, "rita")
    open_task(page, server, "Approve the CAPA plan")
    sign_and_complete(page, plant, "rita")

    as_user(page, server, plant, "ivan")
    open_task(page, server, "Carry out the CAPA action")
    page.locator("#f-result-evidence").fill("Valve replaced, work order WO-991")
    page.locator("#f-result-done_on").fill("2026-01-06")
    sign_and_complete(page, plant, "ivan")

    plant.clock.advance(days=30)
    Scheduler(plant.db, plant.settings).run_once()
    as_user(page, server, plant, "quinn")
    open_task(page, server, "Check the effectiveness")
    page.locator('input[name="f:effective"][value="yes"]').check()
    page.locator("#f-effectiveness_evidence").fill("No excursion in 30 days")
    sign_and_complete(page, plant, "quinn")
    open_task(page, server, "Close the deviation")
    if page.locator("#f-dispositions-1-batch").count() == 0:
        page.get_by_role("button", name="Add a batch").click()
    page.locator("#f-dispositions-1-batch").fill("B-2026-0001")
    page.locator("#f-dispositions-1-disposition").select_option("release")
    page.locator("#f-dispositions-1-rationale").fill("No impact on the product")
    page.locator("#f-closure_summary").fill("Valve replaced; effective")
    shot(page, "9-closure")
    sign_and_complete(page, plant, "quinn")
    assert plant.status(plant.batch) == "running" and plant.refusal(plant.batch, "release", "peter") is None

    as_user(page, server, plant, "peter")
    open_task(page, server, "Release the batch")
    assert page.get_by_test_id("gate-refusal").count() == 0
    shot(page, "10-release-admitted")
