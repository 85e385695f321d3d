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
    client.people = {"quinn": quinn, "quentin": quentin}  # type: ignore[attr-defined]
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



@pytest.mark.req("URS-FRM-004", "URS-FRM-009", "P11-10h", "ALCOA-ORIGINAL")
def test_each_row_captures_its_own_reading(scale_task, app, db, simulator, frozen_clock):
    from tests.web.test_form_rows import deploy

    client, alice, first_task = scale_task
    frozen_clock.advance(seconds=31)
    instance_id = deploy(db, app.extensions["gmp.settings"], client.people["quinn"], client.people["quentin"],
                         SCALE.parent / "scale_rows", "scale_rows", "Batch B-10")
    tid = [t for t in re.findall(r'data-task="([^"]+)"', client.get("/tasks/").get_data(as_text=True)) if t != first_task][0]
    page = client.get(f"/tasks/{tid}").get_data(as_text=True)
    assert 'data-capture="containers.0.net"' in page and 'name="cap:containers.0.net"' in page
    readings = []
    for value in (10.02, 10.61):
        simulator.model.force("scale.net_weight", value)
        answer = client.post(f"/tasks/{tid}/capture-field", json={"field": "containers.0.net"},
                             headers={"X-CSRF-Token": "walk-token"}).get_json()
        assert answer["ok"] and answer["unit"] == "kg"
        readings.append(answer)
    assert [r["text"] for r in readings] == ["10.02", "10.61"]
    refused = client.post(f"/tasks/{tid}/capture-field", json={"field": "containers.0.container"},
                          headers={"X-CSRF-Token": "walk-token"})
    assert refused.status_code == 422 and "not captured from equipment" in refused.get_json()["error"]
    base = {"csrf_token": "walk-token", "r:containers.0": "1", "f:containers.0.container": "C-1",
            "r:containers.1": "1", "f:containers.1.container": "C-2", "sig_password": alice.password}
    # a reading named twice, or one from another task, does not count: the second row has no capture
    other = client.post(f"/tasks/{tid}", data={**base, "cap:containers.0.net": str(readings[0]["reading_id"]),
                                               "cap:containers.1.net": str(readings[0]["reading_id"])})
    html = other.get_data(as_text=True)
    assert other.status_code == 422 and "Containers › row 2 › Net weight" in html
    assert "No value has been captured from SCALE-01.net_weight yet." in html and 'value="C-2"' in html
    frozen_clock.advance(seconds=31)
    done = client.post(f"/tasks/{tid}", data={
        **base, "cap:containers.0.net": str(readings[0]["reading_id"]), "cap:containers.1.net": str(readings[1]["reading_id"]),
        "exc:containers.1.net": "container overfilled, DEV-3", "sig_totp": testing.next_totp(db, alice)})
    assert done.status_code == 200, done.get_data(as_text=True)
    record = json.loads(client.get(f"/records/{instance_id}.json").get_data(as_text=True))
    [table] = record["tasks"][0]["tables"]
    cells = [r["cells"][1] for r in table["rows"]]
    assert [c["value"] for c in cells] == ["10.02", "10.61"] and [c["source"] for c in cells] == ["equipment"] * 2
    assert [c["capture"]["reading_id"] for c in cells] == [r["reading_id"] for r in readings]
    assert cells[1]["out_of_limits"] and cells[1]["exception_comment"] == "container overfilled, DEV-3"
    simulator.model.release()


@pytest.mark.req("URS-FRM-002", "URS-FRM-004", "URS-FRM-012")
def test_a_bad_override_never_clears_another_field_nor_hides_its_error(scale_task):
    client, alice, tid = scale_task
    response = client.post(f"/tasks/{tid}", data={"csrf_token": "walk-token", "f:lot": "L9", "ovv:net": "ten kg",
                                                  "ovr:net": "scale offline", "sig_password": alice.password})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert re.search(r'id="f-lot" name="f:lot"[^>]*value="L9"', html)  # the other field keeps its value ...
    assert 'id="f-lot-error" role="alert"><p>Enter at least 3 characters.</p>' in html  # ... and its error
    assert 'id="f-net-error" role="alert"><p>Enter a number.</p>' in html
    assert 'name="ovv:net" inputmode="decimal" value="ten kg"' in html and ">scale offline</textarea>" in html
    assert '<details class="gmp-override" open>' in html
