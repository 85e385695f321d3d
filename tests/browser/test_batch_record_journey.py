"""Browser journey (Chromium): a batch from order to QP release on the simulated plant.

Sam orders a batch of RCP-PARA-500 on the Batches page and signs the order; Alice clears the
line and Victor verifies it; Alice dispenses the four lines of the bill of materials, each net
weight captured from the simulated scale over Modbus (magnesium stearate out of tolerance,
accepted with a comment as an exception) with Victor as second person; Alice signs the
granulation and drying set-points, which the scheduler (a thread here, `gmp scheduler` in
production) writes over OPC UA, reads back, and then samples the critical parameters; Alice
records the in-process control and the yield; Sam reviews; Quinn reviews by exception; Peter
releases. A screenshot of each stage goes to test-artifacts/batch-*.png."""
from __future__ import annotations

import dataclasses
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS
from tests.processes.batch_record.conftest import NAMES, _seed, batch_plant_sim  # noqa: F401  (fixture)

PASSWORD = "gmp-demo-password"


class Codes:
    """A fresh TOTP code per use: the shared clock moves to the next step first."""

    def __init__(self, secrets: dict[str, str], shared: Any) -> None:
        self.secrets, self.shared = secrets, shared

    def __call__(self, user: str) -> str:
        from core import clock
        from signatures import totp
        from signatures.testing import fresh_totp_step

        fresh_totp_step(self.shared)  # one step apart: a performer's and a verifier's codes both verify
        secret = self.secrets[user]
        return totp.code_at_step(secret, totp.current_step(secret, clock.now()))


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"batch-{name}.png"), full_page=True)


def sign_in_as(page, server, codes: Codes, user: str) -> None:  # type: ignore[no-untyped-def]
    page.context.clear_cookies()
    page.goto(server.url + "/sign-in")
    page.get_by_label("User ID").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Code from your authenticator app").fill(codes(user))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("user-name")).to_contain_text(f"({user})")


def open_step(page, server, number: str, step: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{server.url}/batches/{number}")
    page.locator(f'[data-step="{step}"][data-state="ready"] a').click()


def sign(page, codes: Codes, user: str, verifier: str | None = None) -> None:  # type: ignore[no-untyped-def]
    page.locator("#sig_password").fill(PASSWORD)
    page.locator("#sig_totp").fill(codes(user))
    if verifier:
        page.locator("#sig2_user_id").fill(verifier)
        page.locator("#sig2_password").fill(PASSWORD)
        page.locator("#sig2_totp").fill(codes(verifier))
    submit(page)


def submit(page) -> None:  # type: ignore[no-untyped-def]
    """Submit the task form and wait for the answer page: a next step that signs someone else in
    must not clear the cookies while this request is still on its way (its answer would set the
    previous user's session cookie again)."""
    with page.expect_navigation(timeout=60_000):
        page.locator(".task-form button[type=submit]").last.click()


def reload_until(page, url: str, selector: str, timeout_s: float = 150) -> None:  # type: ignore[no-untyped-def]
    """Reload the page until `selector` shows (the scheduler works in the background)."""
    deadline = time.monotonic() + timeout_s
    while True:
        page.goto(url)
        try:
            expect(page.locator(selector).first).to_be_visible(timeout=3_000)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise


def status_is(page, server, number: str, status: str) -> None:  # type: ignore[no-untyped-def]
    reload_until(page, f"{server.url}/batches/{number}", f'[data-testid="batch-status"][data-status="{status}"]', 60)


@pytest.mark.slow
@pytest.mark.req("URS-EBR-001", "URS-EBR-002", "URS-EBR-003", "URS-EBR-004", "URS-EBR-005", "URS-EBR-006",
                 "URS-EBR-007", "A11-15", "CN-8", "P11-10f", "P11-10h")
def test_a_batch_from_order_to_qp_release_in_the_browser(page, live_server, live_db, live_settings, frozen_clock,
                                                         batch_plant_sim):  # noqa: F811
    from bpmn.glue import install
    from engine.scheduler import Scheduler
    from masterdata import calibration
    from store.uow import UnitOfWork

    sim = batch_plant_sim
    settings = dataclasses.replace(live_settings, modbus_port=sim.modbus_port, opcua_port=sim.opcua_test_port)
    secrets, seeded_until = _seed(settings)
    if seeded_until > frozen_clock():
        frozen_clock.advance(seconds=(seeded_until - frozen_clock()).total_seconds())
    codes = Codes(secrets, frozen_clock)
    # the dryer's overdue pressure instrument is calibrated first (its own process in the demo)
    from audit.canonical import Actor
    from signatures.credentials import Credentials

    with UnitOfWork(live_db, Actor("quinn", NAMES["quinn"])) as uow:
        calibration.record_calibration(uow, "PT-102", calibrated_on=frozen_clock().date().isoformat(), result="pass",
                                       certificate="CAL-PT-102-J", note="annual calibration",
                                       credentials=Credentials("quinn", PASSWORD, codes("quinn")), settings=settings)
        uow.commit()
    for point, value in (("dryer.impeller_speed", 150.0), ("dryer.impeller_speed_sp", 150.0),
                         ("dryer.inlet_temp", 60.0), ("dryer.inlet_temp_sp", 60.0)):
        sim.set(point, value)
    stop = threading.Event()
    scheduler = Scheduler(live_db, settings, name="journey", runtime=install(live_db, settings))
    worker = threading.Thread(target=scheduler.run_forever, args=(0.3, stop), daemon=True)
    worker.start()
    number = "B-2026-0042"
    server = live_server
    try:
        # 1. the planner orders from the recipe in force and signs the order
        sign_in_as(page, server, codes, "sam")
        page.goto(server.url + "/batches/")
        page.locator("#o-recipe").select_option("RCP-PARA-500")
        page.locator("#o-number").fill(number)
        page.locator("#o-date").fill((frozen_clock().date() + timedelta(days=1)).isoformat())
        shot(page, "01-order")
        page.get_by_role("button", name="Order the batch").click()
        expect(page.get_by_test_id("batch-status")).to_have_attribute("data-status", "planned")
        expect(page.get_by_test_id("batch-bom")).to_contain_text("FFP2 mask, nitrile gloves")
        open_step(page, server, number, "sign_order")
        page.locator("#f-planned_date").fill((frozen_clock().date() + timedelta(days=1)).isoformat())
        sign(page, codes, "sam")
        status_is(page, server, number, "in_progress")
        shot(page, "02-ordered")

        # 2. line clearance by Alice, verified by Victor
        sign_in_as(page, server, codes, "alice")
        open_step(page, server, number, "line_clearance")
        page.locator("#f-room").fill("Dispensary 001")
        for box in ("previous_product_removed", "previous_documents_removed", "equipment_clean", "area_clean"):
            page.locator(f"#f-{box}").check()
        sign(page, codes, "alice")
        sign_in_as(page, server, codes, "victor")
        open_step(page, server, number, "verify_clearance")
        page.locator("#f-line_clear").check()
        sign(page, codes, "victor")
        shot(page, "03-line-cleared")

        # 3. dispensing: the four lines of the bill of materials come preset (material, target, tolerance,
        # OEB and protective equipment, read-only); Alice enters each lot and captures the weight from the scale,
        # one out of tolerance
        sign_in_as(page, server, codes, "alice")
        open_step(page, server, number, "dispense")
        lines = [("MAT-PARA", "L-PARA-2601", "50.000", "0.250", 50.1), ("MAT-LAC", "L-LAC-2603", "45.000", "0.450", 44.8),
                 ("MAT-PVP", "L-PVP-2601", "4.000", "0.040", 4.01), ("MAT-MGST", "L-MGST-2601", "1.000", "0.020", 1.05)]
        expect(page.get_by_role("button", name="Add a row")).to_have_count(0)
        expect(page.locator("#f-dispensing-0-ppe")).to_have_value("FFP2 mask, nitrile gloves")  # a read-only text area
        for index, (material, lot, target, tolerance, kg) in enumerate(lines):
            expect(page.locator(f"#f-dispensing-{index}-material")).to_have_value(material)
            expect(page.locator(f"#f-dispensing-{index}-material")).to_have_attribute("readonly", "")
            expect(page.locator(f"#f-dispensing-{index}-target")).to_have_value(target)
            expect(page.locator(f"#f-dispensing-{index}-tolerance")).to_have_value(tolerance)
            page.locator(f"#f-dispensing-{index}-lot").fill(lot)
            sim.set("scale.load", kg)
            sim.set("scale.net_weight", kg)
            page.locator(f'[data-capture="dispensing.{index}.net"]').click()
            expect(page.locator(f"#f-dispensing-{index}-net")).to_have_value(f"{kg:.3f}", timeout=15_000)
        details = page.locator("#f-dispensing-3-net-field details.gmp-exception")
        if details.get_attribute("open") is None:
            details.locator("summary").click()
        page.locator("#f-dispensing-3-net-exc").fill("residue in the container; QA to assess")
        shot(page, "04-dispensing")
        sign(page, codes, "alice", verifier="victor")
        page.goto(f"{server.url}/batches/{number}")
        expect(page.locator('[data-kind="dispensing_tolerance"]')).to_be_visible()
        shot(page, "05-dispensed")

        # 4. granulation and drying: signed set-points, written and read back, samples taken
        for step, field, value in (("set_granulation", "impeller_speed", "150"), ("set_drying", "inlet_temp", "60")):
            open_step(page, server, number, step)
            page.locator(f"#f-{field}").fill(value)
            sign(page, codes, "alice")
            expect(page.get_by_test_id("setpoint")).to_have_attribute("data-state", "confirmed", timeout=60_000)
            shot(page, f"06-{step}")
            phase = step.removeprefix("set_")
            reload_until(page, f"{server.url}/batches/{number}", f'[data-testid="batch-samplings"] [data-phase="{phase}"]')
        reload_until(page, f"{server.url}/batches/{number}", '[data-step="ipc"][data-state="ready"]')
        shot(page, "07-samples")

        # 5. in-process control and yield
        open_step(page, server, number, "ipc")
        page.locator("#f-ipc_results-loss_on_drying").fill("1.20")
        page.locator("#f-ipc_results-sample_id").fill("IPC-0042-1")
        sign(page, codes, "alice")
        open_step(page, server, number, "yield_entry")
        page.locator("#f-output_kg").fill("98.50")
        sign(page, codes, "alice")

        # 6. production review
        sign_in_as(page, server, codes, "sam")
        open_step(page, server, number, "production_review")
        page.locator("#f-record_complete").check()
        sign(page, codes, "sam")
        status_is(page, server, number, "completed")
        shot(page, "08-production-reviewed")

        # 7. QA review by exception: every exception on the batch page assessed
        sign_in_as(page, server, codes, "quinn")
        page.goto(f"{server.url}/batches/{number}")
        references = page.locator('[data-testid="batch-exceptions"] tr[data-reference]').evaluate_all(
            "rows => rows.map(r => r.getAttribute('data-reference'))")
        assert len(references) == 2  # the weight outside its limits (F:) and the recorded exception (E:)
        open_step(page, server, number, "qa_review")
        for index, reference in enumerate(references):  # one row per item, preset with its reference
            expect(page.locator(f"#f-assessments-{index}-exception_ref")).to_have_value(reference)
            page.locator(f"#f-assessments-{index}-assessment").fill("0.03 kg over on a 1 kg lubricant line: no impact")
            page.locator(f"#f-assessments-{index}-decision").select_option("accepted")
        page.locator("#f-changes_reviewed").check()
        shot(page, "09-qa-review")
        sign(page, codes, "quinn")
        status_is(page, server, number, "qa_approved")

        # 8. the QP releases
        sign_in_as(page, server, codes, "peter")
        open_step(page, server, number, "qp_decision")
        page.locator("#f-decision").select_option("release")
        page.locator("#f-decision_reason").fill("Manufactured per the recipe; one exception assessed by QA.")
        submit(page)
        open_step(page, server, number, "qp_release")
        sign(page, codes, "peter")
        status_is(page, server, number, "released")
        shot(page, "10-released")
    finally:
        stop.set()
        worker.join(timeout=60)
