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
