"""Equipment-captured fields on the task page: a reading from the registered tag (plant simulator over
Modbus TCP on 127.0.0.1) is stored and becomes the field's value, marked as captured from equipment."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from connectors import registry
from signatures import kdf, testing
from store.uow import UnitOfWork
from tests.web.test_access_matrix import open_session

SCALE = Path(__file__).parent / "processes" / "scale"
PLANT_TAGS = Path(__file__).resolve().parents[2] / "connectors" / "plant_tags.yaml"


@pytest.fixture(scope="module")
def simulator():  # type: ignore[no-untyped-def]
    from connectors.simulator.plant import PlantSimulator, free_port

    sim = PlantSimulator(modbus_port=free_port(), opcua_port=None, noise=False).start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def scale_task(app, db, settings, frozen_clock, simulator):  # type: ignore[no-untyped-def]
    from engine import definitions, instances
    from engine.ports import SignatureInput, default_services

    settings_ = app.extensions["gmp.settings"]
    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(db, settings)
        eng = testing.enrolled_user(db, settings, admin, "eng", "Li Engineer", ["validation"])
        quinn = testing.enrolled_user(db, settings, admin, "quinn", "Quinn QA", ["qa"])
        quentin = testing.enrolled_user(db, settings, admin, "quentin", "Quentin QA", ["qa"])
        alice = testing.enrolled_user(db, settings, admin, "alice", "Alice Operator", ["operator"])
    frozen_clock.advance(seconds=31)
    with UnitOfWork(db, eng.actor) as uow:
        number = registry.import_revision(uow, PLANT_TAGS.read_bytes(), "plant_tags.yaml", reason="simulator", endpoint_overrides={
            "plant-modbus": f"modbus://127.0.0.1:{simulator.modbus_port}", "plant-opcua": "opc.tcp://127.0.0.1:1/none"}).number
        uow.commit()
    with UnitOfWork(db, quinn.actor) as uow:
        registry.approve_revision(uow, number, credentials=testing.credentials(db, quinn), settings=settings_,
                                  reason="checked")
        uow.commit()
    files = {str(p.relative_to(SCALE)): p.read_bytes() for p in sorted(SCALE.rglob("*")) if p.is_file()}
    with UnitOfWork(db, quinn.actor) as uow:
        version = definitions.upload(uow, files, reason="scale", services=default_services(settings_))
        uow.commit()
    frozen_clock.advance(seconds=31)
    with UnitOfWork(db, quentin.actor) as uow:
        definitions.approve(uow, version.id, SignatureInput("approved", "quentin", {
            "password": quentin.password, "totp": testing.next_totp(db, quentin)}), services=default_services(settings_))
        uow.commit()
    with UnitOfWork(db, quinn.actor) as uow:
        instances.start(uow, "scale_weigh", title="Batch B-9", settings=settings_)
        uow.commit()
    client = app.test_client()
    open_session(db, client, alice)
    tid = re.search(r'data-task="([^"]+)"', client.get("/tasks/").get_data(as_text=True)).group(1)
    return client, alice, tid


@pytest.mark.req("URS-FRM-004", "P11-10h", "ALCOA-ORIGINAL")
def test_capture_from_equipment_and_complete(scale_task, db, simulator, frozen_clock):
    client, alice, tid = scale_task
    page = client.get(f"/tasks/{tid}").get_data(as_text=True)
    assert "To be captured from equipment" in page and "Capture from equipment now" in page
    simulator.model.force("scale.net_weight", 10.02)
    assert client.post(f"/tasks/{tid}/capture", data={"csrf_token": "walk-token"}).status_code == 302
    page = client.get(f"/tasks/{tid}").get_data(as_text=True)
    assert "Captured from equipment <code>SCALE-01.net_weight</code>" in page and 'value="10.02"' in page
    live = client.get(f"/tasks/{tid}/live").get_json()
    assert live["net"]["unit"] == "kg" and live["net"]["quality"] == "good"
    typed = client.post(f"/tasks/{tid}", data={"csrf_token": "walk-token", "f:lot": "L-009", "ovv:net": "10.0",
                                                "sig_password": alice.password})
    assert typed.status_code == 422 and "captured from equipment (SCALE-01.net_weight)" in typed.get_data(as_text=True)
    frozen_clock.advance(seconds=31)
    done = client.post(f"/tasks/{tid}", data={"csrf_token": "walk-token", "f:lot": "L-009",
                                               "sig_password": alice.password, "sig_totp": testing.next_totp(db, alice)})
    assert done.status_code == 200, done.get_data(as_text=True)
    record = json.loads(client.get("/records/1.json").get_data(as_text=True))
    net = {v["field"]: v for v in record["tasks"][0]["values"]}["net"]
    assert net["source"] == "equipment" and net["capture"]["tag"] == "SCALE-01.net_weight"
    assert net["value"] == "10.02"  # the float32 reading as the decimal the balance showed
    simulator.model.release()

