"""Browser journey: an operator captures a weight from the scale (plant simulator, Modbus TCP on
127.0.0.1), sees it marked as captured from equipment, and signs and completes the task."""
from __future__ import annotations

from pathlib import Path

import pytest

from connectors import registry
from signatures import kdf, testing
from store.uow import UnitOfWork
from tests.browser.test_journeys import sign_in
from tests.web.test_equipment import PLANT_TAGS, SCALE, simulator  # noqa: F401  (fixture)


@pytest.mark.req("URS-FRM-004", "P11-10h", "ALCOA-ORIGINAL")
def test_operator_completes_a_task_with_an_equipment_captured_value(page, live_server, live_db, live_settings,
                                                                     frozen_clock, simulator):  # noqa: F811
    from engine import definitions, instances
    from engine.ports import SignatureInput, default_services

    db, settings = live_db, live_settings
    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(db, settings)
        eng = testing.enrolled_user(db, settings, admin, "eng", "Li Engineer", ["validation"])
        quinn = testing.enrolled_user(db, settings, admin, "quinn", "Quinn QA", ["qa"])
        quentin = testing.enrolled_user(db, settings, admin, "quentin", "Quentin QA", ["qa"])
        alice = testing.enrolled_user(db, settings, admin, "alice", "Alice Operator", ["operator"])
    frozen_clock.advance(seconds=31)
    with UnitOfWork(db, eng.actor) as uow:
        number = registry.import_revision(uow, PLANT_TAGS.read_bytes(), "plant_tags.yaml", reason="simulator",
                                          endpoint_overrides={"plant-modbus": f"modbus://127.0.0.1:{simulator.modbus_port}",
                                                              "plant-opcua": "opc.tcp://127.0.0.1:1/none"}).number
        uow.commit()
    with UnitOfWork(db, quinn.actor) as uow:
        registry.approve_revision(uow, number, credentials=testing.credentials(db, quinn), settings=settings, reason="ok")
        uow.commit()
    files = {str(p.relative_to(SCALE)): p.read_bytes() for p in sorted(Path(SCALE).rglob("*")) if p.is_file()}
    with UnitOfWork(db, quinn.actor) as uow:
        version = definitions.upload(uow, files, reason="scale", services=default_services(settings))
        uow.commit()
    frozen_clock.advance(seconds=31)
    with UnitOfWork(db, quentin.actor) as uow:
        definitions.approve(uow, version.id, SignatureInput("approved", "quentin", {
            "password": quentin.password, "totp": testing.next_totp(db, quentin)}), services=default_services(settings))
        uow.commit()
    with UnitOfWork(db, quinn.actor) as uow:
        instances.start(uow, "scale_weigh", title="Batch B-9", settings=settings)
        uow.commit()
    simulator.model.force("scale.net_weight", 10.02)
    try:
        frozen_clock.advance(seconds=31)
        sign_in(page, live_server, db, alice)
        page.goto(live_server.url + "/tasks/")
        page.locator("[data-task] a").first.click()
        page.get_by_role("button", name="Capture from equipment now").click()
        assert "Captured from equipment" in page.locator("#f-net-source").inner_text()
        assert page.locator("#f-net").get_attribute("readonly") is not None
        assert page.locator("#f-net").input_value() == "10.02"
        page.locator("#f-lot").fill("L-009")
        page.locator("#sig_password").fill(alice.password)
        frozen_clock.advance(seconds=31)
        page.locator("#sig_totp").fill(testing.next_totp(db, alice))
        page.locator(".task-form button[type=submit]").click()
        assert page.get_by_test_id("task-completed").is_visible()
    finally:
        simulator.model.release()
