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


@pytest.mark.req("URS-EBR-001", "URS-UX-003")
def test_the_home_page_sends_the_planner_to_the_order_form_and_a_title_only_start_is_refused(plant, web):
    from sqlalchemy import func, select

    from engine.models import ProcessInstance

    sign_in(plant, web, "sam")
    home = web.get("/").get_data(as_text=True)
    card = home[home.index('data-start="batch_record"'):]
    card = card[:card.index("</li>")]
    assert 'href="/batches/"' in card and "Start on its page" in card and 'name="title"' not in card
    with plant.db.session() as session:
        before = session.scalar(select(func.count()).select_from(ProcessInstance))
    refused = web.post("/start/batch_record", data={"title": "B-2026-0199", "csrf_token": "walk-token"})
    assert refused.status_code == 409 and "/batches/" in refused.get_data(as_text=True)
    with plant.db.session() as session:
        assert session.scalar(select(func.count()).select_from(ProcessInstance)) == before  # nothing started


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
    assert "Sam Supervisor · Approved" in page and "Victor Verifier · Verified" in page
    listing = web.get("/batches/").get_data(as_text=True)
    assert '<tr data-batch="B-2026-0110" data-status="on_hold">' in listing


@pytest.mark.req("URS-EBR-003", "URS-FRM-009", "CN-3")
def test_the_dispensing_page_presets_the_bill_of_materials_and_refuses_a_tampered_post(plant, web):
    batch = plant.order("B-2026-0120")
    flow.sign_order_and_clear_line(plant, batch)
    task_id = plant.task_id(batch, "dispense")
    bom = plant.data(batch)["bom"]
    sign_in(plant, web, "alice")  # she signed the accountability statement with the line clearance
    page = web.get(f"/tasks/{task_id}").get_data(as_text=True)
    for index, line in enumerate(bom):  # one row per BOM line, preset and read-only
        assert f'id="f-dispensing-{index}-material" readonly aria-readonly="true" value="{line["material"]}"' in page
        assert f'id="f-dispensing-{index}-name" readonly aria-readonly="true" value="{line["name"]}"' in page
        assert f'name="f:dispensing.{index}.lot"' in page and f'name="f:dispensing.{index}.target"' not in page
    assert 'readonly aria-readonly="true" rows="2">FFP2 mask, nitrile gloves</textarea>' in page  # paracetamol's PPE (OEB 2)
    assert "gmp-row-remove" not in page and "<template" not in page  # no rows added or removed
    posted = {"csrf_token": "walk-token"}
    for index, lot in enumerate(flow.LOTS.values()):
        posted.update({f"r:dispensing.{index}": "", f"f:dispensing.{index}.lot": lot})
    reply = web.post(f"/tasks/{task_id}", data={**posted, "f:dispensing.0.target": "60"})
    text = reply.get_data(as_text=True)
    assert reply.status_code == 422 and "This value is set by the form and cannot be changed." in text
    reply = web.post(f"/tasks/{task_id}", data={**posted, "r:dispensing.4": "", "f:dispensing.4.lot": "L-PARA-2601"})
    assert reply.status_code == 422 and "rows cannot be added or removed" in reply.get_data(as_text=True)
    assert plant.ready(batch) == ["dispense"]


@pytest.mark.req("URS-EBR-007", "CN-8")
def test_a_chinese_reader_sees_the_batch_page_in_chinese(plant, web):
    batch = plant.order("B-2026-0130")
    flow.sign_order_and_clear_line(plant, batch)
    flow.dispense(plant, batch)
    flow.phase(plant, batch, "granulation", 150)
    sign_in(plant, web, "lin")
    web.post("/language", data={"language": "zh", "csrf_token": "walk-token"})
    page = web.get("/batches/B-2026-0130").get_data(as_text=True)
    assert "签署批生产指令" in page and "称量配料" in page and "制粒：签署设定值" in page  # the diagram's step names
    for english in (">Sign the batch order<", ">Dispense the materials<", ">completed<", "· approved ·",
                    ">granulation<", ">confirmed<", ">dispensing_tolerance<", ">value_out_of_limits<"):
        assert english not in page, english
    assert "已完成" in page and "· 批准 ·" in page and ">制粒<" in page and ">已确认<" in page
    assert ">称量超出允差<" in page and ">数值超出限度<" in page
    web.post("/language", data={"language": "en", "csrf_token": "walk-token"})  # the same page in English
    page = web.get("/batches/B-2026-0130").get_data(as_text=True)
    assert ">Dispense the materials<" in page and ">completed<" in page and "· Approved ·" in page
    assert ">Granulation<" in page and ">dispensing tolerance<" in page


@pytest.mark.req("URS-OPS-006", "A11-16", "ALCOA-CONTEMPORANEOUS")
def test_a_step_entered_late_from_paper_is_shown_as_late_on_the_batch_page(plant, web):
    """The system was down: the supervisor signed the order on the printed blank record and
    transcribes it afterwards as a late entry; the batch page marks that step as late, with the
    original time, who did it on paper, who transcribed it and why (as the record and its PDF do)."""
    from datetime import timedelta

    from core import clock

    batch = plant.order("B-2026-0140")
    ready_at = clock.now()
    plant.creds.frozen.advance(hours=2)  # the outage: the order was signed on paper meanwhile
    on_paper = (ready_at + timedelta(minutes=30)).astimezone(plant.settings.tz())
    credentials = plant.creds("sam")
    sign_in(plant, web, "sam")
    done = web.post(f"/tasks/{plant.task_id(batch, 'sign_order')}", data={
        "csrf_token": "walk-token", "f:planned_date": "2026-12-04", "sig_password": credentials.password,
        "sig_totp": credentials.totp, "late_entry": "1", "late_at": on_paper.strftime("%Y-%m-%dT%H:%M"),
        "late_by": "sam", "late_reason": "network outage, paper batch order BR-20"})
    assert done.status_code == 200, done.get_data(as_text=True)
    page = web.get("/batches/B-2026-0140").get_data(as_text=True)
    row = page[page.index('data-step="sign_order"'):]
    row = row[:row.index("</tr>")]
    paper_utc = (ready_at + timedelta(minutes=30)).strftime("%Y-%m-%d %H:%M")
    assert 'data-testid="late-entry"' in row and "Late entry" in row and "BR-20" in row
    assert f"on paper at {paper_utc} UTC by Sam Supervisor (sam)" in row
    other = page[page.index('data-step="line_clearance"'):]
    assert 'data-testid="late-entry"' not in other[:other.index("</tr>")]  # only the step entered late
    web.post("/language", data={"language": "zh", "csrf_token": "walk-token"})
    page = web.get("/batches/B-2026-0140").get_data(as_text=True)
    assert "补录" in page and f"于 {paper_utc} UTC 在纸面上完成" in page
