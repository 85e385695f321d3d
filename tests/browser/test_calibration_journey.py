"""The calibration work order in Chromium with the simulated plant: the technician is refused an
overdue reference standard, applies the three test points on the bench (the server reads the
calibrator and PT-102 over Modbus), the verifier reviews, the metrology lead approves, and the
instrument status board turns PT-102 from overdue to in calibration."""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Iterator

import pytest
from playwright.sync_api import expect

from masterdata import calibration
from signatures import kdf
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_journeys import sign_in
from tests.processes.calibration.conftest import CalPlant, seed_cal


@pytest.fixture
def simulator() -> Iterator[Any]:
    from connectors.simulator.plant import PlantSimulator, free_port

    sim = PlantSimulator(modbus_port=free_port(), opcua_port=None, noise=False).start()
    try:
        yield sim
    finally:
        sim.stop()


def submit(page: Any, person: Any = None, plant: Any = None) -> None:
    if person is not None:
        page.locator("#sig_password").fill(person.password)
        plant.clock.advance(seconds=31)
        from signatures import testing

        page.locator("#sig_totp").fill(testing.next_totp(plant.db, person))
    page.locator(".task-form button[type=submit]").click()


def open_task(page: Any, server: Any, name: str) -> None:
    page.goto(server.url + "/tasks/")
    page.locator("[data-task]", has_text=name).locator("a").first.click()


@pytest.mark.req("URS-CAL-001", "URS-CAL-003", "URS-CAL-004", "URS-CAL-005", "P11-10h", "A11-5")
def test_a_technician_calibrates_pt_102_on_the_bench_and_the_board_turns_green(
        page, live_server, live_db, live_settings, frozen_clock, runtime, simulator):
    from bpmn.calibration import service
    from bpmn.glue import extend
    from engine import instances
    from store.uow import UnitOfWork

    extend(runtime, live_db, live_settings)
    with kdf.unsafe_fast_kdf():
        plant = CalPlant(live_db, live_settings, frozen_clock, simulator)
        seed_cal(plant)
    today = frozen_clock().date()
    plant.act("mike", calibration.record_calibration, "REF-P-01", calibrated_on=(today - timedelta(days=30)).isoformat(),
              result="pass", note="external")
    plant.act("mike", calibration.record_calibration, "REF-P-02", calibrated_on=(today - timedelta(days=400)).isoformat(),
              result="pass", note="external")
    plant.act("mike", calibration.record_calibration, "PT-102", calibrated_on=(today - timedelta(days=370)).isoformat(),
              result="pass", note="last year", reference="REF-P-01")
    with UnitOfWork(live_db, plant["mia"].actor) as uow:
        work_order = instances.start(uow, "calibration", title="Calibration PT-102 Filter differential pressure",
                                     data=service.start_data(uow.session, "PT-102"), settings=live_settings).id
        uow.commit()
    ARTIFACTS.mkdir(exist_ok=True)

    tom = plant["tom"]
    sign_in(page, live_server, live_db, tom)
    page.goto(live_server.url + "/calibration/")
    expect(page.locator('tr[data-instrument="PT-102"]')).to_have_attribute("data-status", "overdue")
    page.screenshot(path=str(ARTIFACTS / "calibration-board-before.png"), full_page=True)

    open_task(page, live_server, "Choose the reference standard")
    page.locator("#f-reference_standard").fill("REF-P-02")
    submit(page)
    expect(page.get_by_text("reference standard REF-P-02 is overdue")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "calibration-reference-refused.png"), full_page=True)
    page.locator("#f-reference_standard").fill("REF-P-01")
    submit(page)
    expect(page.get_by_test_id("task-completed")).to_be_visible()

    simulator.set("cal.dp_transmitter_offset", 7.5)
    open_task(page, live_server, "Apply a test point")
    for number, nominal in enumerate((500, 2500, 4500), start=1):
        simulator.set("cal.dp_reference", float(nominal))
        if number > 1:  # the completed page leads to the next point: no detour through the inbox
            page.get_by_test_id("next-task").click()
        # the planned points of the round, those read and the next one; the instrument's unit at the entry
        plan = page.locator('[data-section="points_to_apply"] tbody tr')
        expect(plan).to_have_count(3)
        expect(plan.nth(number - 1)).to_contain_text(f"{nominal}NEXT: apply now")
        for earlier in range(number - 1):
            expect(plan.nth(earlier)).to_contain_text("read (已读取)")
        expect(page.locator("#f-nominal-field")).to_contain_text("Pa")
        expect(page.locator('[data-section="work_order"]')).to_contain_text("0 – 5000 Pa")
        if number == 2:
            page.screenshot(path=str(ARTIFACTS / "calibration-apply-point.png"), full_page=True)
        page.locator("#f-nominal").fill(str(nominal))
        submit(page)
        expect(page.get_by_test_id("task-completed")).to_be_visible()
        if number < 3:
            expect(page.get_by_test_id("next-tasks")).to_contain_text("Next for you in this instance: Apply a test point")
        else:  # the review is the verifier's: nothing next for the technician
            expect(page.get_by_test_id("next-tasks")).to_have_count(0)
    page.goto(live_server.url + f"/records/{work_order}")  # the finished round: no points left to apply
    expect(page.locator('[data-section="test_points"]')).to_be_visible()
    expect(page.locator('[data-section="points_to_apply"]')).to_have_count(0)
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, live_server, live_db, plant["vic"])
    open_task(page, live_server, "Review the calibration")
    page.locator("#f-decision").select_option("accepted")
    page.locator("#f-review_comment").fill("errors +7.5 Pa at each point, within ±25 Pa")
    submit(page, plant["vic"], plant)
    expect(page.get_by_test_id("task-completed")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, live_server, live_db, plant["mia"])
    open_task(page, live_server, "Approve the calibration")
    page.screenshot(path=str(ARTIFACTS / "calibration-approve.png"), full_page=True)
    submit(page, plant["mia"], plant)
    expect(page.get_by_test_id("task-completed")).to_be_visible()
    page.goto(live_server.url + "/calibration/")
    row = page.locator('tr[data-instrument="PT-102"]')
    expect(row).to_have_attribute("data-status", "in_calibration")
    expect(row).to_contain_text((today + timedelta(days=365)).isoformat())
    page.screenshot(path=str(ARTIFACTS / "calibration-board-after.png"), full_page=True)
    with live_db.session() as session:
        newest = calibration.calibrations(session, "PT-102")[-1]
    assert (newest.result, newest.reference, newest.certificate) == ("pass", "REF-P-01", "CAL-PT-102-0001")
    page.goto(live_server.url + f"/records/{work_order}")  # the record reads as a calibration, not as task data
    expect(page.locator('[data-section="work_order"]')).to_contain_text("±25 Pa")
    expect(page.locator('[data-section="test_points"]')).to_contain_text("equipment (设备): PT-102.dp")
    page.screenshot(path=str(ARTIFACTS / "calibration-record.png"), full_page=True)


@pytest.mark.req("URS-CAL-002", "URS-CAL-004", "P11-10h", "A11-5")
def test_after_an_adjustment_the_as_left_readings_are_read_back_in_the_browser(
        page, live_server, live_db, live_settings, frozen_clock, runtime, simulator):
    from bpmn.calibration import service
    from bpmn.glue import extend
    from engine import instances
    from store.uow import UnitOfWork

    extend(runtime, live_db, live_settings)
    with kdf.unsafe_fast_kdf():
        plant = CalPlant(live_db, live_settings, frozen_clock, simulator)
        seed_cal(plant)
    today = frozen_clock().date()
    plant.act("mike", calibration.record_calibration, "REF-P-01", calibrated_on=(today - timedelta(days=30)).isoformat(),
              result="pass", note="external")
    with UnitOfWork(live_db, plant["mia"].actor) as uow:
        work_order = instances.start(uow, "calibration", title="Calibration PT-102 Filter differential pressure",
                                     data=service.start_data(uow.session, "PT-102"), settings=live_settings).id
        uow.commit()
    ARTIFACTS.mkdir(exist_ok=True)
    sign_in(page, live_server, live_db, plant["tom"])
    open_task(page, live_server, "Choose the reference standard")
    page.locator("#f-reference_standard").fill("REF-P-01")
    submit(page)
    simulator.set("cal.dp_transmitter_offset", 40.0)  # found out of tolerance (±25 Pa)
    for nominal in (500, 2500, 4500):
        simulator.set("cal.dp_reference", float(nominal))
        open_task(page, live_server, "Apply a test point")
        page.locator("#f-nominal").fill(str(nominal))
        submit(page)
        expect(page.get_by_test_id("task-completed")).to_be_visible()

    open_task(page, live_server, "Adjust the instrument")
    page.locator("#f-adjustment").fill("zero offset corrected by -38 Pa")
    submit(page, plant["tom"], plant)
    expect(page.get_by_test_id("task-completed")).to_be_visible()
    simulator.set("cal.dp_transmitter_offset", 2.0)  # what the adjustment did on the bench
    for nominal in (500, 2500, 4500):
        simulator.set("cal.dp_reference", float(nominal))
        open_task(page, live_server, "Apply a test point (as left)")
        expect(page.locator('[data-section="points_to_apply"]')).to_contain_text(f"{nominal}NEXT: apply now")
        expect(page.locator('[data-section="points_to_apply"]')).to_contain_text("As left (校后)")
        page.locator("#f-left_nominal").fill(str(nominal))
        if nominal == 500:
            page.screenshot(path=str(ARTIFACTS / "calibration-as-left.png"), full_page=True)
        submit(page)
        expect(page.get_by_test_id("task-completed")).to_be_visible()
    assert plant.ready(work_order) == ["review"]
    page.goto(live_server.url + f"/records/{work_order}")
    points = page.locator('[data-section="test_points"]')
    expect(points).to_contain_text("as left 1")
    expect(points).to_contain_text("4502")
    expect(page.locator('[data-section="work_order"]')).to_contain_text("zero offset corrected by -38 Pa")
    page.locator('[data-section="test_points"]').screenshot(path=str(ARTIFACTS / "calibration-as-left-record.png"))
