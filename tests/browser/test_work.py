"""Browser journeys over the engine: an operator completes a task with a second-person
verification; a QA user edits a diagram in the modeler and saves it, a second QA user approves;
an auditor filters the trail, verifies it and downloads the PDF; a Chinese-language operator."""
from __future__ import annotations

import pytest

from signatures import kdf, testing
from tests.browser.conftest import no_horizontal_scroll
from tests.browser.test_journeys import sign_in
from tests.web.test_operator import deploy_and_start


@pytest.fixture
def plant(live_db, live_settings, live_server, frozen_clock):  # type: ignore[no-untyped-def]
    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(live_db, live_settings)
        people = {name: testing.enrolled_user(live_db, live_settings, admin, name, full, [role])
                  for name, full, role in [("alice", "Alice Operator", "operator"), ("bob", "Bob Verifier", "operator"),
                                           ("quinn", "Quinn QA", "qa"), ("quentin", "Quentin QA", "qa"),
                                           ("audrey", "Audrey Auditor", "auditor")]}
    people["clock"] = frozen_clock
    return people


def code(db, people, name: str) -> str:  # type: ignore[no-untyped-def]
    """A fresh TOTP code: the frozen clock moves on one 30-second step first (no waiting)."""
    people["clock"].advance(seconds=31)
    return testing.next_totp(db, people[name])


def complete_weighing(page, server, db, people, *, zh: bool = False) -> None:  # type: ignore[no-untyped-def]
    alice, bob = people["alice"], people["bob"]
    sign_in(page, server, db, alice)
    if zh:
        page.get_by_label("Language").select_option("zh")
        page.get_by_role("button", name="Switch").click()
    page.goto(server.url + "/tasks/")
    page.locator("[data-task] a").first.click()
    page.locator("#f-lot").fill("L-001")
    page.locator("#f-gross").fill("13.0")
    page.locator("#f-tare").fill("2.0")
    assert no_horizontal_scroll(page)
    page.locator("#sig_password").fill(alice.password)
    page.locator("#sig_totp").fill(code(db, people, "alice"))
    page.locator(".task-form button[type=submit]").click()
    assert page.locator("#f-net-error").is_visible()  # 11 kg is outside 9.5 – 10.5 kg
    page.locator("#f-net-exc").fill("scale checked, deviation DEV-1 raised")
    page.locator("#f-tare").fill("2.0")
    page.locator("#sig_password").fill(alice.password)
    page.locator("#sig_totp").fill(code(db, people, "alice"))
    page.locator("#sig2_user_id").fill("bob")
    page.locator("#sig2_password").fill(bob.password)
    page.locator("#sig2_totp").fill(code(db, people, "bob"))
    page.locator(".task-form button[type=submit]").click()
    assert page.get_by_test_id("task-completed").is_visible()
    assert "Bob Verifier" in page.content() and "Alice Operator" in page.content()
    assert page.get_by_test_id("user-name").inner_text().startswith("Alice Operator")  # the session stays Alice's


@pytest.mark.req("URS-FRM-003", "URS-FRM-005", "P11-200a1", "A11-6")
def test_operator_completes_a_task_with_a_verifier(page, live_server, live_db, live_settings, plant):
    deploy_and_start(live_db, live_settings, plant["quinn"], plant["quentin"])
    complete_weighing(page, live_server, live_db, plant)


@pytest.mark.req("URS-WEB-003", "URS-FRM-008")
def test_chinese_operator_completes_a_task(page, live_server, live_db, live_settings, plant):
    deploy_and_start(live_db, live_settings, plant["quinn"], plant["quentin"])
    complete_weighing(page, live_server, live_db, plant, zh=True)
    assert "任务已完成" in page.content()


def require_sop_in_the_modeler(page, server) -> None:  # type: ignore[no-untyped-def]
    page.goto(server.url + "/library/dispense/v1/modeler")
    page.wait_for_selector("#modeler[data-ready=true]")
    assert page.locator(".bjs-powered-by").is_visible()  # the bpmn.io watermark stays visible
    page.locator('[data-element-id="weigh"]').click()
    field = page.locator('[data-group-id="group-gmp"]').get_by_label("Required SOP qualifications")
    field.fill("SOP-DISP-001")
    field.press("Tab")
    page.locator("#modeler-reason").fill("dispensing needs SOP-DISP-001")
    page.get_by_role("button", name="Save as new draft").click()
    page.wait_for_selector('#modeler[data-saved-version="2"]')  # the modeler stays open on the new draft


@pytest.mark.req("P11-10k", "A11-10")
def test_qa_edits_in_the_modeler_and_a_second_qa_approves(page, live_server, live_db, live_settings, plant):
    """The server's runtime has the library's training gate, so a diagram naming an SOP is accepted."""
    deploy_and_start(live_db, live_settings, plant["quinn"], plant["quentin"])
    quinn, quentin = plant["quinn"], plant["quentin"]
    sign_in(page, live_server, live_db, quinn)
    require_sop_in_the_modeler(page, live_server)
    page.goto(live_server.url + "/library/dispense")
    page.wait_for_selector('tr[data-version="2"][data-status="draft"]')
    page.get_by_role("button", name="Sign out").click()
    plant["clock"].advance(seconds=31)
    sign_in(page, live_server, live_db, quentin)
    page.goto(live_server.url + "/library/dispense")
    page.locator('tr[data-version="2"]').get_by_role("link", name="Review and approve").click()
    page.locator("#sig_password").fill(quentin.password)
    page.locator("#sig_totp").fill(code(live_db, plant, "quentin"))
    page.get_by_role("button", name="Sign and approve").click()
    assert page.get_by_test_id("version-status").inner_text() == "approved"
    assert "Quentin QA" in page.locator(".signature-manifestations").inner_text()
    xml = page.request.get(live_server.url + "/library/dispense/v2/files/dispense.bpmn").text()
    assert 'name="qualification.sops" value="SOP-DISP-001"' in xml


def test_qa_sets_a_gmp_property_in_the_properties_panel(page, live_server, live_db, live_settings, plant):
    """The GMP group of the bpmn-js properties panel shows the task's spiffworkflow properties
    and an edit made there is saved in the new draft's XML."""
    deploy_and_start(live_db, live_settings, plant["quinn"], plant["quentin"])
    sign_in(page, live_server, live_db, plant["quinn"])
    page.goto(live_server.url + "/library/dispense/v1/modeler")
    page.wait_for_selector("#modeler[data-ready=true]")
    page.locator('[data-element-id="start"]').click()
    start_group = page.locator('[data-group-id="group-gmp"]')  # an event has its Chinese name only
    assert start_group.locator("[data-gmp-property]").evaluate_all("els => els.map(e => e.dataset.gmpProperty)") == [
        "name.zh"]
    page.locator('[data-element-id="weigh"]').click()
    group = page.locator('[data-group-id="group-gmp"]')
    meaning = group.get_by_label("Signature meaning(s)")
    assert meaning.input_value() == "performed"  # read from the diagram's spiffworkflow:property
    assert group.get_by_label("Verifier signature meaning").input_value() == "verified"
    meaning.fill("performed, reviewed")
    meaning.press("Tab")
    page.locator("#modeler-reason").fill("the weighing is also reviewed")
    page.get_by_role("button", name="Save as new draft").click()
    page.wait_for_selector('#modeler[data-saved-version="2"]')
    xml = page.request.get(live_server.url + "/library/dispense/v2/files/dispense.bpmn").text()
    assert 'name="signature.meaning" value="performed, reviewed"' in xml
    assert 'name="signature.verifier" value="verified"' in xml


SERVICE_TASK_XML = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="site" isExecutable="true">
    <bpmn:serviceTask id="sample" name="Sample temperature"><bpmn:extensionElements>
      <spiffworkflow:serviceTaskOperator id="test.sample_temperature" resultVariable="samples">
        <spiffworkflow:parameters><spiffworkflow:parameter id="count" type="int" value="count" /></spiffworkflow:parameters>
      </spiffworkflow:serviceTaskOperator>
    </bpmn:extensionElements></bpmn:serviceTask>
  </bpmn:process>
  <bpmndi:BPMNDiagram id="diagram"><bpmndi:BPMNPlane id="plane" bpmnElement="site">
    <bpmndi:BPMNShape id="sample_di" bpmnElement="sample"><dc:Bounds x="100" y="100" width="100" height="80" /></bpmndi:BPMNShape>
  </bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
</bpmn:definitions>"""


def test_a_service_task_operator_round_trips_through_the_modeler(page, live_server, live_db, live_settings, plant):
    """The modeler knows spiffworkflow:serviceTaskOperator, so saving keeps the operator and its
    parameters unchanged, and a service task has the GMP group too."""
    deploy_and_start(live_db, live_settings, plant["quinn"], plant["quentin"])
    sign_in(page, live_server, live_db, plant["quinn"])
    page.goto(live_server.url + "/library/dispense/v1/modeler")
    page.wait_for_selector("#modeler[data-ready=true]")
    xml = page.evaluate("""async (xml) => {
        const modeler = window.gmpModeler;
        await modeler.importXML(xml);
        const element = modeler.get("elementRegistry").get("sample");
        modeler.get("selection").select(element);
        return (await modeler.saveXML({ format: true })).xml;
    }""", SERVICE_TASK_XML)
    assert '<spiffworkflow:serviceTaskOperator id="test.sample_temperature" resultVariable="samples">' in xml
    assert '<spiffworkflow:parameters>' in xml
    assert '<spiffworkflow:parameter id="count" type="int" value="count" />' in xml
    assert page.locator('[data-group-id="group-gmp"]').get_by_label("Gates").is_visible()


@pytest.mark.req("URS-AUD-004", "URS-AUD-008", "A11-9", "P11-10e")
def test_auditor_filters_verifies_and_downloads_the_pdf(page, live_server, live_db, live_settings, plant):
    """The auditor's hour: filter by choices and action prefix, read records by name with engine steps folded,
    export the PDF in the background and download it when the page says it is ready, verify the chain."""
    from playwright.sync_api import expect

    from tests.browser.conftest import ARTIFACTS

    ARTIFACTS.mkdir(exist_ok=True)
    deploy_and_start(live_db, live_settings, plant["quinn"], plant["quentin"])
    complete_weighing(page, live_server, live_db, plant)
    page.get_by_role("button", name="Sign out").click()
    plant["clock"].advance(seconds=31)
    sign_in(page, live_server, live_db, plant["audrey"])
    page.goto(live_server.url + "/audit/")
    page.get_by_label("User", exact=True).fill("alice")
    page.get_by_label("Action", exact=True).fill("task")  # a prefix: task.completed, task.claimed, ...
    page.get_by_role("button", name="Filter").click()
    cells = page.locator("table.audit-entries tbody tr td:nth-child(4)")
    actions = cells.evaluate_all("els => els.map(e => e.dataset.action)")
    assert actions and all(a.startswith("task.") for a in actions)
    assert "Task: state changed" in cells.all_inner_texts()  # shown as object: verb (web.codes)
    weighing = page.get_by_test_id("record-name").filter(has_text="Weigh the material — Batch B-001 #1")
    expect(weighing.first).to_be_visible()
    assert no_horizontal_scroll(page)
    page.screenshot(path=str(ARTIFACTS / "auditor-trail.png"), full_page=True)
    weighing.first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("History of Weigh the material — Batch B-001 #1")
    steps = page.get_by_test_id("engine-steps").first
    expect(steps.locator("tr.engine-step, tr[data-seq]").first).to_be_hidden()
    steps.locator("summary").click()
    expect(steps.locator("tr[data-seq]").first).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "auditor-record-history.png"), full_page=True)
    page.goto(live_server.url + "/audit/?user=alice")
    page.get_by_role("button", name="Export PDF").click()
    job = page.get_by_test_id("export-job")
    expect(job).to_have_attribute("data-state", "ready", timeout=90_000)
    page.screenshot(path=str(ARTIFACTS / "auditor-export-ready.png"), full_page=True)
    with page.expect_download() as info:
        page.get_by_role("link", name="Download audit-trail.pdf").click()
    assert info.value.suggested_filename == "audit-trail.pdf"
    page.goto(live_server.url + "/audit/")
    page.get_by_role("button", name="Verify the whole trail").click()
    assert page.get_by_test_id("verify-result").get_attribute("data-ok") == "true"
    # on a narrow screen entry numbers stay whole (they broke as "5" above "9") and a UTC site shows one time
    from sqlalchemy import select

    from engine.models import ProcessInstance

    wrapped = ("els => els.filter(e => { const r = document.createRange(); r.selectNodeContents(e); "
               "return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size > 1; }).map(e => e.textContent)")
    page.set_viewport_size({"width": 560, "height": 900})
    page.goto(live_server.url + "/audit/")
    numbers = page.locator("table.audit-entries tbody tr[data-seq] td.num")
    expect(numbers.first).to_be_visible()
    assert numbers.evaluate_all(wrapped) == []
    assert page.locator("table.audit-entries .site-time").count() == 0
    with live_db.session() as session:
        instance_id = session.execute(select(ProcessInstance.id)).scalars().first()
    page.goto(live_server.url + f"/records/{instance_id}")
    timeline = page.locator("tr[data-seq] td.num")
    expect(timeline.first).to_be_visible()
    assert timeline.count() > 5 and timeline.evaluate_all(wrapped) == []
    page.screenshot(path=str(ARTIFACTS / "auditor-record-narrow.png"), full_page=True)
