"""Browser journey through a hot-work permit with the simulated plant (Modbus TCP): the
requester asks for it, the isolation authority's points are read from the plant (an energised
breaker sends the task back), the EHS officer's issue is refused while the breaker reads
energised again and signed once it is off, the board shows the permit active (en and zh), the
area owner inspects and accepts the hand-back, and the record lists every reading."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from signatures import testing
from tests.browser.test_journeys import sign_in
from tests.processes.work_permit.conftest import Site, simulator  # noqa: F401  (fixture)
from tests.processes.work_permit.test_work_permit import GAS, HOT, POINTS, isolate

SHOTS = "test-artifacts/"


def sign(page, site, user_id: str) -> None:  # type: ignore[no-untyped-def]
    person = site[user_id]
    page.locator("#sig_password").fill(person.password)
    site.clock.advance(seconds=31)
    page.locator("#sig_totp").fill(testing.next_totp(site.db, person))


def open_task(page, server, name: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(server.url + "/tasks/")
    page.get_by_role("link", name=name).first.click()


def sign_out(page) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("button", name="Sign out").click()


@pytest.mark.req("URS-PTW-001", "URS-PTW-002", "URS-PTW-005", "P11-10h", "P11-50a", "A11-5")
def test_a_hot_work_permit_in_the_browser_with_the_plant_read(page, live_server, live_db, live_settings, frozen_clock,
                                                              simulator, runtime):  # noqa: F811
    from bpmn.glue import extend
    from signatures import kdf
    from tests.processes.work_permit.conftest import SOPS

    extend(runtime)
    with kdf.unsafe_fast_kdf():
        site = Site(live_db, live_settings, frozen_clock, simulator)
        site.put_in_force("document", {sop: {"title": t, "type": "sop", "version": 1, "effective_date": "2025-06-01"}
                                       for sop, t in SOPS.items()})
        site.register_tags()
        site.deploy()
        site.grant("tom", "SOP-EHS-001", "SOP-EHS-002")
    pid = site.start()

    # the requester fills the request
    sign_in(page, live_server, live_db, site["rose"])
    open_task(page, live_server, "Request the permit")
    page.locator("#f-work_type").select_option("hot_work")
    page.locator("#f-location").fill("Room 101, vessel V-101")
    page.locator("#f-equipment").fill("V-101")
    page.locator("#f-scope").fill("Weld a support bracket to the agitator frame")
    page.locator("#f-valid_from").fill("2026-01-05 08:00")
    page.locator("#f-valid_until").fill("2026-01-05 16:00")
    page.locator("#f-crew-0-member").fill("tom")
    page.locator("#f-crew-0-duty").fill("welder")
    sign(page, site, "rose")
    page.screenshot(path=SHOTS + "permit-request.png", full_page=True)
    page.locator(".task-form button[type=submit]").last.click()
    expect(page.locator("main")).to_contain_text("Task completed")
    sign_out(page)
    site.complete(pid, "hazards_hot_work", "owen", HOT)

    # the isolation authority lists the points; the MCC breaker is still on: the task comes back
    site.sim.set("isolation.n2_valve_open", False)
    sign_in(page, live_server, live_db, site["ivan"])
    open_task(page, live_server, "Apply isolations and locks")
    page.locator("#f-points-0-tag").fill("ISO-BRK-02.closed")
    page.locator("#f-points-0-lock_number").fill("L-101")
    page.get_by_role("button", name="Add a row").first.click()
    page.locator("#f-points-1-tag").fill("ISO-VLV-02.open")
    page.locator("#f-points-1-lock_number").fill("L-102")
    sign(page, site, "ivan")
    page.screenshot(path=SHOTS + "permit-isolations.png", full_page=True)
    page.locator(".task-form button[type=submit]").last.click()
    expect(page.locator("main")).to_contain_text("Task completed")
    page.goto(live_server.url + "/tasks/")
    expect(page.get_by_role("link", name="Apply isolations and locks")).to_be_visible()  # sent back
    sign_out(page)
    isolate(site)
    site.complete(pid, "apply_isolations", "ivan", POINTS)
    site.complete(pid, "gas_test", "ella", GAS)
    site.complete(pid, "area_approval", "owen", {})

    # the EHS officer: refused while the breaker reads energised now, issued once it is off
    site.sim.set("isolation.mcc_breaker_closed", True)
    sign_in(page, live_server, live_db, site["ella"])
    open_task(page, live_server, "EHS approval: issue the permit")
    expect(page.locator("main")).to_contain_text("isolation point ISO-BRK-02.closed reads True now")
    page.screenshot(path=SHOTS + "permit-issue-refused.png", full_page=True)
    site.sim.set("isolation.mcc_breaker_closed", False)
    open_task(page, live_server, "EHS approval: issue the permit")
    sign(page, site, "ella")
    page.locator(".task-form button[type=submit]").last.click()
    expect(page.locator("main")).to_contain_text("Task completed")
    page.goto(live_server.url + "/permits/")
    expect(page.locator('[data-permit="PTW-0001"]')).to_have_attribute("data-status", "active")
    page.screenshot(path=SHOTS + "permit-board.png", full_page=True)
    page.get_by_label("Language").select_option("zh")
    page.get_by_role("button", name="Switch").click()
    page.goto(live_server.url + "/permits/")
    expect(page.locator("main")).to_contain_text("作业中")
    page.screenshot(path=SHOTS + "permit-board-zh.png", full_page=True)
    page.context.clear_cookies()

    # work, removal read back as restored, hand-back
    site.complete(pid, "work", "tom", {"work_complete": True, "work_report": "bracket welded"})
    isolate(site, on=False)
    site.complete(pid, "remove_isolations", "ivan", {"locks_removed": True})
    site.complete(pid, "handback_requester", "rose", {"work_status": "completed"})
    sign_in(page, live_server, live_db, site["owen"])
    open_task(page, live_server, "Inspect the area and accept the hand-back")
    page.get_by_label("Area inspected: safe to return to operation").check()
    page.get_by_label("Tools, materials and waste removed").check()
    sign(page, site, "owen")
    page.locator(".task-form button[type=submit]").last.click()
    expect(page.locator("main")).to_contain_text("Task completed")
    page.goto(live_server.url + f"/records/{pid}")
    expect(page.locator("main")).to_contain_text("Isolation points read from the plant")
    expect(page.locator("main")).to_contain_text("ISO-VLV-02.open")
    page.screenshot(path=SHOTS + "permit-record.png", full_page=True)
    assert site.status(pid) == "completed"


@pytest.mark.req("URS-PTW-002", "P11-10h", "A11-5")
def test_a_failed_re_check_suspends_the_work_in_the_browser_until_a_re_test_passes(
        page, live_server, live_db, live_settings, frozen_clock, simulator, runtime):  # noqa: F811
    from bpmn.glue import extend
    from engine.scheduler import Scheduler
    from signatures import kdf
    from tests.processes.work_permit.conftest import SOPS
    from tests.processes.work_permit.test_work_permit import to_work

    extend(runtime)
    with kdf.unsafe_fast_kdf():
        site = Site(live_db, live_settings, frozen_clock, simulator)
        site.put_in_force("document", {sop: {"title": t, "type": "sop", "version": 1, "effective_date": "2025-06-01"}
                                       for sop, t in SOPS.items()})
        site.register_tags()
        site.deploy()
        site.grant("tom", "SOP-EHS-001", "SOP-EHS-002")
    pid = to_work(site)
    site.sim.set("gas.co", 60.0)  # carbon monoxide builds up: the hourly re-check fails
    frozen_clock.advance(hours=1, minutes=1)
    Scheduler(live_db, live_settings).run_once()

    # the crew: the work task is gone, the notification says why
    sign_in(page, live_server, live_db, site["tom"])
    page.goto(live_server.url + "/tasks/")
    expect(page.get_by_role("link", name="Carry out the work")).to_have_count(0)
    page.goto(live_server.url + "/notifications/")
    expect(page.locator("main")).to_contain_text("Stop work and leave the area")
    page.goto(live_server.url + "/permits/")
    row = page.locator('[data-permit="PTW-0001"]')
    expect(row).to_have_attribute("data-status", "suspended_recheck")
    expect(row).to_contain_text("Suspended: re-check failed")
    page.screenshot(path=SHOTS + "permit-suspended-board.png", full_page=True)
    sign_out(page)

    # the EHS officer: cause, action, re-test; still CO -> still suspended; ventilated -> the work resumes
    sign_in(page, live_server, live_db, site["ella"])
    for co, expected in ((60.0, "suspended_recheck"), (0.0, "active")):
        site.sim.set("gas.co", co)
        open_task(page, live_server, "Work suspended: remove the cause, re-test")
        page.locator("#f-cause").fill("Exhaust fan off: welding fumes accumulated in V-101")
        page.locator("#f-action_taken").fill("Fan restarted, vessel ventilated for 20 minutes")
        page.locator("#f-next_step").select_option("retest")
        sign(page, site, "ella")
        if co:
            page.screenshot(path=SHOTS + "permit-resume.png", full_page=True)
        page.locator(".task-form button[type=submit]").last.click()
        expect(page.locator("main")).to_contain_text("Task completed")
        page.goto(live_server.url + "/permits/")
        expect(page.locator('[data-permit="PTW-0001"]')).to_have_attribute("data-status", expected)
    assert site.ready(pid) == ["work"]
    page.goto(live_server.url + f"/records/{pid}")
    section = page.locator('[data-section="suspensions"]')
    expect(section).to_contain_text("re-check passed: work resumes")
    expect(section).to_contain_text("gas out of range: co")
    section.screenshot(path=SHOTS + "permit-suspensions-record.png")
