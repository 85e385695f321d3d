"""Browser journey: an operator signs a set-point on a task form; the scheduler (its own thread
here, as `gmp scheduler` is its own process) writes it to the plant simulator over Modbus TCP
and reads it back; the operator's page follows it from requested to confirmed, and the
record shows it."""
from __future__ import annotations

import threading

import pytest
from playwright.sync_api import expect

from connectors import registry
from signatures import kdf, testing
from store.uow import UnitOfWork
from tests.browser.test_journeys import sign_in
from tests.connectors.test_signed_setpoint import files
from tests.web.test_equipment import PLANT_TAGS, simulator  # noqa: F401  (fixture)

TAG = "FBD-01.inlet_temp_sp"  # Modbus holding registers of the dryer


@pytest.mark.req("URS-CON-009", "P11-10g", "P11-50b")
def test_an_operator_signs_a_set_point_and_sees_it_confirmed(page, live_server, live_db, live_settings,
                                                             frozen_clock, simulator):  # noqa: F811
    from bpmn.glue import install
    from engine import definitions, instances
    from engine.ports import SignatureInput, default_services
    from engine.scheduler import Scheduler

    db, settings = live_db, live_settings
    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(db, settings)
        eng = testing.enrolled_user(db, settings, admin, "eng", "Li Engineer", ["validation"])
        quinn = testing.enrolled_user(db, settings, admin, "quinn", "Quinn QA", ["qa"])
        quentin = testing.enrolled_user(db, settings, admin, "quentin", "Quentin QA", ["qa"])
        chen = testing.enrolled_user(db, settings, admin, "chen", "Chen Operator", ["operator"])
    frozen_clock.advance(seconds=31)
    with UnitOfWork(db, eng.actor) as uow:
        number = registry.import_revision(uow, PLANT_TAGS.read_bytes(), "plant_tags.yaml", reason="simulator",
                                          endpoint_overrides={"plant-modbus": f"modbus://127.0.0.1:{simulator.modbus_port}",
                                                              "plant-opcua": "opc.tcp://127.0.0.1:1/none"}).number
        uow.commit()
    with UnitOfWork(db, quinn.actor) as uow:
        registry.approve_revision(uow, number, credentials=testing.credentials(db, quinn), settings=settings, reason="ok")
        uow.commit()
    with UnitOfWork(db, quinn.actor) as uow:
        version = definitions.upload(uow, files(TAG), reason="dryer set-up", services=default_services(settings))
        uow.commit()
    frozen_clock.advance(seconds=31)
    with UnitOfWork(db, quentin.actor) as uow:
        definitions.approve(uow, version.id, SignatureInput("approved", "quentin", {
            "password": quentin.password, "totp": testing.next_totp(db, quentin)}), services=default_services(settings))
        uow.commit()
    with UnitOfWork(db, quinn.actor) as uow:
        instance_id = instances.start(uow, "set_dryer_inlet_temp", title="Batch B-12 drying", settings=settings).id
        uow.commit()
    simulator.set("dryer.inlet_temp_sp", 60.0)

    stop = threading.Event()
    scheduler = Scheduler(db, settings, name="browser-test", runtime=install(db, settings))
    worker = threading.Thread(target=scheduler.run_forever, args=(0.3, stop), daemon=True)
    frozen_clock.advance(seconds=31)
    sign_in(page, live_server, db, chen)
    page.goto(live_server.url + "/tasks/")
    page.locator("[data-task] a").first.click()
    notice = page.get_by_test_id("setpoint-notice")
    expect(notice).to_contain_text(TAG)
    expect(notice).to_contain_text("Allowed range: 30.0 to 80.0 degC")
    page.locator("#f-inlet_temp").fill("55.5")
    page.locator("#sig_password").fill(chen.password)
    frozen_clock.advance(seconds=31)
    page.locator("#sig_totp").fill(testing.next_totp(db, chen))
    page.screenshot(path="test-artifacts/setpoint-sign.png", full_page=True)
    page.locator(".task-form button[type=submit]").click()
    box = page.get_by_test_id("setpoint")
    expect(box).to_have_attribute("data-state", "requested")  # the web request wrote nothing
    page.screenshot(path="test-artifacts/setpoint-requested.png", full_page=True)
    assert simulator.value("dryer.inlet_temp_sp") == 60.0
    worker.start()
    try:
        expect(page.get_by_test_id("setpoint")).to_have_attribute("data-state", "confirmed", timeout=30_000)
    finally:
        stop.set()
        worker.join(timeout=30)
    try:
        assert simulator.value("dryer.inlet_temp_sp") == 55.5
    finally:
        simulator.set("dryer.inlet_temp_sp", 60.0)
    expect(page.get_by_test_id("setpoint-state")).to_have_text("confirmed by read-back")
    expect(page.get_by_test_id("setpoint-readback")).to_contain_text("55.5 degC")
    page.screenshot(path="test-artifacts/setpoint-confirmed.png", full_page=True)
    page.get_by_role("link", name="Record of this instance").click()
    expect(page.get_by_test_id("record-status")).to_have_text("completed")
    expect(page.get_by_test_id("setpoint")).to_have_attribute("data-state", "confirmed")
    expect(page.get_by_test_id("setpoint-signature")).to_contain_text("Chen Operator (chen) · performed")
    page.screenshot(path="test-artifacts/setpoint-record.png", full_page=True)
    assert instance_id
