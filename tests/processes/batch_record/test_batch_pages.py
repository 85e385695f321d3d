"""The batch pages: a planner orders a batch from an effective recipe; the list shows each batch
with its status; a batch's page shows its steps with signatures, bill of materials with PPE,
set-points with read-back, samplings, exceptions and linked deviations."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.processes.batch_record import flow
from tests.web.test_access_matrix import open_session


@pytest.fixture
def web(plant):  # type: ignore[no-untyped-def]
    from app import create_app

    settings = plant.settings
    application = create_app({"instance_path": settings.instance_path, "database_url": settings.database_url,
                              "secret_key": settings.secret_key, "server_key_passphrase": settings.server_key_passphrase,
                              "modbus_port": settings.modbus_port, "opcua_port": settings.opcua_port},
                             runtime=plant.runtime)
    application.config["TESTING"] = True
    client = application.test_client()
    try:
        yield client
    finally:
        application.extensions["gmp.db"].dispose()


def sign_in(plant, client, user):  # type: ignore[no-untyped-def]
    open_session(plant.db, client, SimpleNamespace(user_id=user, actor=plant.actor(user)))


@pytest.mark.req("URS-EBR-001", "URS-EBR-007", "P11-10g", "CN-8")
def test_a_planner_orders_a_batch_and_everyone_sees_its_status(plant, web):
    sign_in(plant, web, "sam")
    page = web.get("/batches/").get_data(as_text=True)
    assert 'data-testid="order-form"' in page and "RCP-PARA-500" in page
    form = {"recipe": "RCP-PARA-500", "batch_number": "b-2026-0101", "planned_date": "2026-12-04", "quantity": "",
            "csrf_token": "walk-token"}
    reply = web.post("/batches/order", data=form)
    assert reply.status_code == 302 and reply.headers["Location"].endswith("/batches/B-2026-0101")
    page = web.get("/batches/B-2026-0101").get_data(as_text=True)
    assert 'data-status="planned"' in page and 'data-step="sign_order" data-state="ready"' in page
    assert "FFP2 mask, nitrile gloves" in page and "50.000 kg" in page  # paracetamol: OEB 2 PPE, its target
    again = web.post("/batches/order", data=form)  # the batch number is the unique business key
    assert again.status_code == 422 and "B-2026-0101" in again.get_data(as_text=True)
    unknown = web.post("/batches/order", data={**form, "batch_number": "B-2026-0102", "recipe": "RCP-NONE"})
    assert unknown.status_code == 422 and "RCP-NONE" in unknown.get_data(as_text=True)
    bad = web.post("/batches/order", data={**form, "batch_number": "B 1"})
    assert bad.status_code == 422 and "batch number" in bad.get_data(as_text=True)
    listing = web.get("/batches/").get_data(as_text=True)
    assert '<tr data-batch="B-2026-0101" data-status="planned">' in listing and "B-2026-0102" not in listing
    sign_in(plant, web, "alice")  # operators see batches but do not order them
    assert web.get("/batches/").status_code == 200
    assert 'data-testid="order-form"' not in web.get("/batches/").get_data(as_text=True)
    assert web.post("/batches/order", data={**form, "batch_number": "B-2026-0103"}).status_code == 403
    assert web.get("/batches/B-2026-9999").status_code == 404


@pytest.mark.req("URS-EBR-004", "URS-EBR-006", "A11-8", "ALCOA-ATTRIBUTABLE")
def test_the_batch_page_shows_set_points_samples_exceptions_and_deviations(plant, web):
    plant.calibrate("PT-102")
    batch = plant.order("B-2026-0110")
    flow.sign_order_and_clear_line(plant, batch)
    flow.dispense(plant, batch)
    flow.phase(plant, batch, "granulation", 150)
    plant.sim.force("dryer.inlet_temp", 66.0)
    try:
        flow.phase(plant, batch, "drying", 60)
    finally:
        plant.sim.release("dryer.inlet_temp")
    sign_in(plant, web, "quinn")
    page = web.get("/batches/B-2026-0110").get_data(as_text=True)
    assert 'data-status="on_hold"' in page
    assert 'data-phase="granulation" data-state="confirmed"' in page and "FBD-01.ua.impeller_speed_sp" in page
    assert 'data-kind="dispensing_tolerance"' in page and 'data-kind="cpp_excursion"' in page
    assert 'data-status="running"' in page and "DEV-" in page
    assert "Sam Supervisor · approved" in page and "Victor Verifier · verified" in page
    listing = web.get("/batches/").get_data(as_text=True)
    assert '<tr data-batch="B-2026-0110" data-status="on_hold">' in listing
