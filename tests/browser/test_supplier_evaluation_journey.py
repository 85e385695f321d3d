"""Supplier evaluation in Chromium: the requester sees supplier and material the evaluation was
started for (read-only; a tampered page is refused) and names scope and criticality;
purchasing records the questionnaire; the risk from the decision table is shown beside the
auditor's task; the auditor records a finding that raises a CAPA; QC tests the qualification
lots; QA signs the decision; a second QA person approves the approved supplier list entry under
Master data; the list shows the entry with its scope and expiry. And the refusal a dispensing
operator sees for a lot of a rejected supplier."""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from masterdata import lots
from signatures import kdf, testing
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_journeys import sign_in
from tests.processes.calibration.conftest import HERE as CAL_HERE
from tests.processes.supplier_evaluation.conftest import HERE, SupplierPlant
from tests.processes.supplier_evaluation.test_supplier_evaluation import approve_asl, qualified, requested


def plant_with_evaluation(db: Any, settings: Any, clock: Any, runtime: Any) -> SupplierPlant:
    """The masterdata plant with the new supplier SUP-C, the evaluation, the stand-in deviation
    process and the dispensing step behind the supplier gate approved."""
    from bpmn.glue import extend
    from bpmn.supplier_evaluation import DIAGRAM

    extend(runtime, db, settings)
    with kdf.unsafe_fast_kdf():
        plant = SupplierPlant(db, settings, clock)
        plant.seed_master_data()
        plant.put_in_force("supplier", {"SUP-C": {"name": "Gamma Excipients", "country": "IN"}})
        for folder in (DIAGRAM, CAL_HERE / "processes" / "deviation_stub", HERE / "processes" / "dispense_stub"):
            plant.deploy(folder)
    return plant


def latest_instance(plant: SupplierPlant) -> int:
    from sqlalchemy import func, select

    from engine.models import ProcessInstance

    with plant.db.session() as session:
        return int(session.scalar(select(func.max(ProcessInstance.id))))


def sign(page: Any, plant: SupplierPlant, user_id: str) -> None:
    person = plant[user_id]
    page.locator("#sig_password").fill(person.password)
    plant.clock.advance(seconds=31)
    page.locator("#sig_totp").fill(testing.next_totp(plant.db, person))


def submit(page: Any) -> None:
    page.locator(".task-form button[type=submit]").last.click()
    expect(page.get_by_test_id("task-completed")).to_be_visible()


def open_task(page: Any, server: Any, name: str) -> None:
    page.goto(server.url + "/tasks/")
    page.get_by_role("link", name=name).first.click()


def sign_out(page: Any) -> None:
    page.get_by_role("button", name="Sign out").click()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"supplier-{name}.png"), full_page=True)


@pytest.mark.req("URS-SUP-001", "URS-SUP-002", "URS-GATE-003", "P11-10f", "P11-50a", "A11-10", "CN-3")
def test_a_high_risk_supplier_is_evaluated_audited_and_listed_with_scope_and_expiry(
        page, live_server, live_db, live_settings, frozen_clock, runtime):
    plant = plant_with_evaluation(live_db, live_settings, frozen_clock, runtime)
    until = (frozen_clock().date() + timedelta(days=365)).isoformat()
    # the requester starts it on its page from the home page: supplier and material from master data by name
    sign_in(page, live_server, live_db, plant["rob"])
    page.goto(live_server.url + "/")
    page.locator('[data-start="supplier_evaluation"] a').click()
    expect(page.get_by_test_id("evaluate-form")).to_be_visible()
    page.locator("#e-supplier").select_option(label="Gamma Excipients (SUP-C)")
    page.locator("#e-material").select_option(label="Lactose monohydrate (MAT-LAC)")
    page.locator("#e-trigger").select_option("new_supplier")
    page.locator("#e-reason").fill("   ")  # blank: the browser lets it through, the server refuses it
    page.get_by_role("button", name="Start the evaluation").click()
    expect(page.get_by_test_id("evaluate-refused")).to_have_text("Give the reason for this evaluation.")
    expect(page.locator("#e-supplier")).to_have_value("SUP-C")  # the choices are kept
    shot(page, "start-page")
    # in Chinese: the page and its refusal in the reader's language
    page.locator("form[action$='/language'] select").select_option("zh")
    page.locator("form[action$='/language'] button").click()
    page.goto(live_server.url + "/suppliers/evaluate")
    expect(page.locator("h1")).to_have_text("启动供应商评估")
    page.locator("#e-supplier").select_option("SUP-C")
    page.locator("#e-material").select_option("MAT-LAC")
    page.locator("#e-trigger").select_option("quality_issue")
    page.locator("#e-reason").fill("  ")
    page.locator("[data-testid=evaluate-form] button[type=submit]").click()
    expect(page.get_by_test_id("evaluate-refused")).to_have_text("请说明本次评估的理由。")
    shot(page, "start-page-zh")
    page.goto(live_server.url + "/suppliers/evaluate")
    page.locator("form[action$='/language'] select").select_option("en")
    page.locator("form[action$='/language'] button").click()
    expect(page.locator("h1")).to_have_text("Start a supplier evaluation")
    page.locator("#e-supplier").select_option("SUP-C")
    page.locator("#e-material").select_option("MAT-LAC")
    page.locator("#e-trigger").select_option("new_supplier")
    page.locator("#e-reason").fill("Second source for lactose: the approved supplier's capacity is short")
    page.get_by_role("button", name="Start the evaluation").click()
    expect(page.locator(".flash")).to_contain_text("started")
    instance = latest_instance(plant)

    # the requester: supplier and material come with the evaluation (shown, not entered); scope, criticality
    open_task(page, live_server, "Request: supplier, material, criticality")
    expect(page.locator("main")).to_contain_text("Gamma Excipients (SUP-C)")  # the record beside the task
    for field, value in (("supplier", "SUP-C"), ("material", "MAT-LAC")):
        expect(page.locator(f"#f-{field}")).to_have_value(value)
        expect(page.locator(f"#f-{field}")).to_have_attribute("readonly", "")
    page.locator("#f-scope").fill("Lactose monohydrate, all grades, site Pune")
    page.locator("#f-criticality").select_option("high")
    shot(page, "request")
    # a tampered page posting another supplier is refused with the form's words, nothing stored
    page.evaluate("""() => { const i = document.createElement('input'); i.type = 'hidden'; i.name = 'f:supplier';
        i.value = 'SUP-A'; i.id = 'tampered'; document.querySelector('.task-form').appendChild(i); }""")
    page.locator(".task-form button[type=submit]").last.click()
    expect(page.locator("main")).to_contain_text("This value is set by the form and cannot be changed.")
    expect(page.locator("#f-supplier")).to_have_value("SUP-C")
    assert "criticality" not in plant.inspect(instance)["data"]
    page.locator("#f-scope").fill("Lactose monohydrate, all grades, site Pune")
    page.locator("#f-criticality").select_option("high")
    submit(page)
    assert plant.inspect(instance)["data"]["supplier"] == "SUP-C"
    sign_out(page)

    # purchasing: the questionnaire (no certified quality system)
    sign_in(page, live_server, live_db, plant["paula"])
    open_task(page, live_server, "Record the questionnaire")
    page.locator("#f-quality_system").fill("Documented QMS; internal audits yearly; no external certificate")
    page.locator("#f-certification").select_option("none")
    page.locator("#f-change_notification").check()
    sign(page, plant, "paula")
    submit(page)
    sign_out(page)

    # the auditor sees why an audit is needed: the risk from the decision table
    sign_in(page, live_server, live_db, plant["sue"])
    open_task(page, live_server, "Audit the supplier")
    context = page.locator('[data-section="evaluation"]')
    expect(context).to_contain_text("Lactose monohydrate, all grades, site Pune")
    expect(context).to_contain_text("new supplier")
    expect(context).to_contain_text("HIGH: audit required")
    shot(page, "audit-risk")
    page.locator("#f-audit_date").fill(frozen_clock().date().isoformat())
    page.locator("#f-audit_outcome").select_option("satisfactory")
    page.get_by_role("button", name="Add a row").first.click()
    page.locator("#f-findings-0-finding").fill("No change control for raw material sources")
    page.locator("#f-findings-0-classification").select_option("major")
    page.locator("#f-findings-0-capa").check()
    sign(page, plant, "sue")
    shot(page, "audit-finding")
    submit(page)
    sign_out(page)
    capas = plant.inspect(instance)["data"]["capas"]["deviations"]
    assert len(capas) == 1
    assert plant.inspect(int(capas[0]))["data"]["deviation"]["context"]["source_kind"] == "audit_finding"

    # QC: the qualification lots
    sign_in(page, live_server, live_db, plant["cora"])
    open_task(page, live_server, "Test the qualification lots")
    expect(page.locator('[data-section="audit"]')).to_contain_text("No change control for raw material sources")
    page.locator("#f-lots-0-lot").fill("QL-C-01")
    page.locator("#f-lots-0-report").fill("QC-R-2026-117")
    page.locator("#f-lots-0-result").select_option("pass")
    page.locator("#f-qualification_result").select_option("pass")
    sign(page, plant, "cora")
    submit(page)
    sign_out(page)

    # QA: the signed decision; a conditional approval without conditions is refused first
    sign_in(page, live_server, live_db, plant["quinn"])
    open_task(page, live_server, "Decide: approve, approve with conditions, reject")
    page.locator("#f-decision").select_option("conditional")
    page.locator("#f-valid_until").fill(until)
    sign(page, plant, "quinn")
    page.locator(".task-form button[type=submit]").last.click()
    expect(page.locator("main")).to_contain_text("a conditional approval names its conditions")
    page.locator("#f-decision").select_option("approved")
    page.locator("#f-valid_until").fill(until)
    page.locator("#f-rationale").fill("Audit satisfactory, CAPA raised for the finding, qualification lots comply")
    sign(page, plant, "quinn")
    shot(page, "decision")
    submit(page)
    sign_out(page)

    # a second QA person approves the list entry under Master data, then confirms it in the task
    sign_in(page, live_server, live_db, plant["rita"])
    page.goto(live_server.url + "/master/approved_supplier/SUP-C:MAT-LAC")
    page.get_by_label("Reason (optional)").fill("evaluation SE-0001 reviewed")
    sign(page, plant, "rita")
    page.get_by_role("button", name="Sign and approve").click()
    expect(page.get_by_test_id("in-force")).to_contain_text("Revision 1 in force since")
    open_task(page, live_server, "Confirm the entry is approved")
    page.locator("#f-asl_comment").fill("in force")
    submit(page)

    # the approved supplier list: scope and expiry
    page.goto(live_server.url + "/master/approved_supplier")
    row = page.locator('tr[data-key="SUP-C:MAT-LAC"]')
    expect(row).to_contain_text("approved")
    expect(row).to_contain_text("Lactose monohydrate, all grades, site Pune")
    expect(row).to_contain_text(until)
    shot(page, "approved-list")
    page.goto(live_server.url + f"/records/{instance}")
    expect(page.locator('[data-section="decision"]')).to_contain_text(f"SUP-C:MAT-LAC (approved, valid until {until})")
    shot(page, "record")
    assert plant.ready(instance) == []  # waiting for the re-evaluation


@pytest.mark.req("URS-SUP-001", "URS-GATE-003", "P11-10f", "CN-6")
def test_the_dispensing_operator_sees_why_a_rejected_suppliers_lot_is_refused(
        page, live_server, live_db, live_settings, frozen_clock, runtime):
    plant = plant_with_evaluation(live_db, live_settings, frozen_clock, runtime)
    instance = requested(plant, criticality="low", certification="none")
    qualified(plant, instance, "fail")
    plant.complete(instance, "decide", "quinn", {"decision": "rejected", "rationale": "qualification lots failed"},
                   ("approved",))
    approve_asl(plant, instance)
    expiry = (date.fromisoformat(frozen_clock().date().isoformat()) + timedelta(days=400)).isoformat()
    plant.act("cora", lots.receive_lot, lot="L-C2", material="MAT-LAC", supplier="SUP-C", quantity="25", unit="kg",
              expiry=expiry)
    plant.start("dispense_stub", {"lot": "L-C2"})

    sign_in(page, live_server, live_db, plant["alice"])
    page.goto(live_server.url + "/tasks/")
    refusal = page.get_by_test_id("gate-refusal")
    expected = "lot L-C2: supplier SUP-C is rejected for MAT-LAC"
    expect(refusal).to_contain_text(expected)
    expect(refusal).to_have_attribute("data-gate", "supplier")
    expect(refusal).to_have_attribute("data-code", "supplier_rejected")
    page.locator("[data-task]").get_by_role("button", name="Claim").click()
    expect(page.get_by_text(f"The task was not claimed: {expected}")).to_be_visible()
    shot(page, "dispensing-refused")
    page.goto(live_server.url + "/master/approved_supplier/SUP-C:MAT-LAC")
    expect(page.locator("main")).to_contain_text("rejected")
    shot(page, "rejected-entry")
