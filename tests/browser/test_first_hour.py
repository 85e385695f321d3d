"""The first hour of each user group, in Chromium, with a screenshot of each page in test-artifacts/:

- an operator's first signature goes through the accountability statement and back to the task
  with the entries kept, and a second person verifies (operator-form.png);
- QA imports a diagram from another modeler holding two pools, picks the process, finishes it in
  the modeler (problems marked on the elements, known choices, Chinese name) and submits it; a
  failed save keeps the modeler open with the edits (modeler.png); a second QA user is notified,
  reviews both versions side by side with the changes listed, and approves (qa-review.png);
- QA starts a new process from the library; the starter role starts it from the home page;
- a Chinese-speaking operator reads the diagram's Chinese names and translated codes; an auditor
  reads the trail in Chinese (audit.png).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from signatures import kdf, testing
from tests.browser.conftest import ARTIFACTS, no_horizontal_scroll
from tests.browser.test_journeys import sign_in
from tests.browser.test_work import code
from tests.web.test_operator import deploy_and_start

IMPORTED = Path(__file__).resolve().parents[1] / "engine" / "processes" / "imported"
DEMO_SCALE = Path(__file__).resolve().parents[2] / "bpmn" / "demo_processes" / "scale"


@pytest.fixture
def people(live_db, live_settings, live_server, frozen_clock):  # type: ignore[no-untyped-def]
    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(live_db, live_settings)
        found = {name: testing.enrolled_user(live_db, live_settings, admin, name, full, roles, accountability=signed)
                 for name, full, roles, signed in [
                     ("alice", "Alice Operator", ["operator"], False), ("bob", "Bob Verifier", ["operator"], True),
                     ("sam", "Sam Supervisor", ["supervisor", "planner"], True),
                     ("quinn", "Quinn QA", ["qa"], True), ("quentin", "Quentin QA", ["qa"], True),
                     ("lin", "林晓 Lin Xiao", ["operator"], True), ("audrey", "Audrey Auditor", ["auditor"], True)]}
    found["clock"] = frozen_clock
    return found


def shot(page, name: str, full_page: bool = True) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=full_page)


def sign_out(page) -> None:  # type: ignore[no-untyped-def]
    page.locator("form[action$='/sign-out'] button").click()  # in either language


@pytest.mark.req("URS-UX-002", "URS-UX-001", "P11-10j", "A11-6")
def test_first_signature_goes_through_the_statement_and_back_with_the_entries(page, live_server, live_db, live_settings,
                                                                              people):
    deploy_and_start(live_db, live_settings, people["quinn"], people["quentin"])
    alice, bob = people["alice"], people["bob"]
    sign_in(page, live_server, live_db, alice)
    page.goto(live_server.url + "/tasks/")
    page.locator("[data-task] a").first.click()
    page.locator("#f-lot").fill("L-2041")
    page.locator("#f-gross").fill("12.1")
    page.locator("#f-tare").fill("2.0")
    page.locator("#sig_password").fill(alice.password)
    page.locator("#sig_totp").fill(code(live_db, people, "alice"))
    page.locator(".task-form button[type=submit]").click()
    expect(page.get_by_test_id("accountability-detour")).to_contain_text("Weigh the material")
    page.locator("#sig_password").fill(alice.password)
    page.locator("#sig_totp").fill(code(live_db, people, "alice"))
    page.get_by_role("button", name="Sign the statement").click()
    page.wait_for_url(re.compile(r"/tasks/[^/]+/resume$"))
    expect(page.locator("#f-lot")).to_have_value("L-2041")  # what Alice typed came back with her
    expect(page.locator("#f-gross")).to_have_value("12.1")
    expect(page.get_by_role("status").first).to_contain_text("The accountability statement is signed")
    # the second person made a mistake: worded for the person at the screen, entries still there
    page.locator("#sig_password").fill(alice.password)
    page.locator("#sig_totp").fill(code(live_db, people, "alice"))
    page.locator("#sig2_user_id").fill("bob")
    page.locator("#sig2_password").fill("not-bobs-password")
    page.locator("#sig2_totp").fill(code(live_db, people, "bob"))
    page.locator(".task-form button[type=submit]").click()
    expect(page.locator("#task-message")).to_contain_text("second person (bob) is not right")
    expect(page.locator("#f-lot")).to_have_value("L-2041")
    assert no_horizontal_scroll(page)
    shot(page, "operator-form.png")
    page.locator("#sig_password").fill(alice.password)
    page.locator("#sig_totp").fill(code(live_db, people, "alice"))
    page.locator("#sig2_user_id").fill("bob")
    page.locator("#sig2_password").fill(bob.password)
    page.locator("#sig2_totp").fill(code(live_db, people, "bob"))
    page.locator(".task-form button[type=submit]").click()
    expect(page.get_by_test_id("task-completed")).to_be_visible()
    signatures = page.locator(".signature-manifestations").inner_text()
    assert "Alice Operator" in signatures and "Bob Verifier" in signatures
    assert signatures.count("UTC") == 2  # site zone UTC: each time once


@pytest.mark.req("URS-LIB-001", "URS-LIB-003", "URS-LIB-004", "URS-LIB-005", "URS-UX-004", "P11-10k", "A11-10")
def test_qa_imports_finishes_submits_and_a_second_qa_reviews_and_approves(page, live_server, live_db, people):
    quinn, quentin = people["quinn"], people["quentin"]
    sign_in(page, live_server, live_db, quinn)
    page.goto(live_server.url + "/library/")
    page.set_input_files("#upload-files", str(IMPORTED / "two_pools.bpmn"))
    page.locator("#upload-reason").fill("material receipt drawn in another modeler")
    page.get_by_role("button", name="Import as draft").click()
    expect(page.get_by_role("heading", name="Choose the process to import")).to_be_visible()
    page.get_by_label(re.compile("Material receipt")).check()
    page.get_by_role("button", name="Import as draft").click()
    page.wait_for_selector("#modeler[data-ready=true]")
    # the problem is named by the element's name and marked on its pool
    expect(page.locator("#problem-list")).to_contain_text("Material receipt: The process is not marked executable: tick")
    expect(page.locator('.djs-element.gmp-problem[data-element-id="pool_site"]')).to_have_count(1)
    # finish it: executable, the performer signs (a known choice), a changed Chinese name
    page.locator("#problem-list button.problem-link").first.click()  # selects the pool of the process
    page.locator('[data-group-id="group-general"] .bio-properties-panel-group-header').click()
    page.get_by_role("checkbox", name="Executable").check()
    page.locator('[data-element-id="receive_goods"]').first.click()
    gmp = page.locator('[data-group-id="group-gmp"]')
    expect(gmp.get_by_label("Chinese name (中文名称)")).to_have_value("接收货物")
    gmp.get_by_label("Chinese name (中文名称)").fill("接收并检查货物")
    gmp.get_by_label("Chinese name (中文名称)").press("Tab")
    gmp.locator('select[data-gmp-add="signature.meaning"]').select_option("performed")
    expect(gmp.get_by_label("Signature meaning(s)")).to_have_value("performed")
    expect(gmp.get_by_label("Verifier signature meaning").locator("option[value=verified]")).to_have_count(1)
    # a save the server refuses keeps the modeler open and the edits in it
    page.evaluate("() => { const r = document.getElementById('modeler-reason'); r.removeAttribute('maxlength'); "
                  "r.value = 'x'.repeat(2001); }")
    page.get_by_role("button", name="Save as new draft").click()
    expect(page.locator("#modeler-status")).to_contain_text("longer than 2000 characters")
    assert page.locator("#modeler").get_attribute("data-dirty") == "true"
    page.locator("#modeler-reason").fill("executable; the receipt is signed; Chinese name")
    page.get_by_role("button", name="Save as new draft").click()
    page.wait_for_selector('#modeler[data-saved-version="2"]')
    expect(page.locator("#modeler-status")).to_contain_text("Saved as draft v2. It passes every check.")
    assert page.locator("#modeler").get_attribute("data-problem-count") == "0"
    assert page.url.endswith("/library/material_receipt/v2/modeler?file=two_pools.bpmn")
    page.get_by_role("button", name="Submit for approval").click()
    expect(page.locator("#modeler-status")).to_contain_text("1 user(s) who can approve it were notified")
    assert no_horizontal_scroll(page)
    shot(page, "modeler.png")
    sign_out(page)
    people["clock"].advance(seconds=31)
    sign_in(page, live_server, live_db, quentin)
    page.goto(live_server.url + "/notifications/")
    page.locator("li", has_text="material_receipt v2: waiting for your approval").get_by_role("link", name="Open").click()
    page.wait_for_selector(".review[data-ready=true]")
    expect(page.get_by_test_id("version-status")).to_have_text("submitted for approval")
    changes = page.get_by_test_id("process-changes")
    expect(changes).to_contain_text("user task “Receive the goods”")
    expect(changes).to_contain_text("Signature meaning(s): (none) → “performed”")
    expect(changes).to_contain_text("name (zh): “接收货物” → “接收并检查货物”")
    expect(changes).to_contain_text("isExecutable: “false” → “true”")
    assert page.locator("#review-new .djs-element.diff-changed").count() >= 2
    assert page.locator("#review-old .djs-element.diff-changed").count() >= 2
    assert no_horizontal_scroll(page)
    shot(page, "qa-review.png")
    page.locator("#sig_password").fill(quentin.password)
    page.locator("#sig_totp").fill(code(live_db, people, "quentin"))
    page.get_by_role("button", name="Sign and approve").click()
    expect(page.get_by_test_id("version-status")).to_have_attribute("data-status", "approved")


@pytest.mark.req("URS-LIB-003", "URS-UX-003", "P11-10g")
def test_a_new_process_from_the_library_is_started_by_its_starter_role(page, live_server, live_db, people):
    quinn, quentin, sam = people["quinn"], people["quentin"], people["sam"]
    sign_in(page, live_server, live_db, quinn)
    page.goto(live_server.url + "/library/")
    expect(page.locator("table.library-table th").first).to_have_css("white-space", "nowrap")
    page.get_by_test_id("new-process-link").click()
    page.get_by_label("Name", exact=True).fill("Room cleaning")
    page.get_by_label("Role of the first lane").select_option("supervisor")
    page.get_by_role("button", name="Create and open in the modeler").click()
    page.wait_for_selector("#modeler[data-ready=true]")
    assert page.url.endswith("/library/room_cleaning/v1/modeler")
    expect(page.locator("#problem-list")).to_contain_text("No problems")
    box = page.locator("#canvas").bounding_box()
    assert box["width"] >= 600  # the canvas takes the page, the properties stay beside it
    page.get_by_role("button", name="Submit for approval").click()
    expect(page.locator("#modeler-status")).to_contain_text("is submitted for approval")
    sign_out(page)
    people["clock"].advance(seconds=31)
    sign_in(page, live_server, live_db, quentin)
    page.goto(live_server.url + "/library/room_cleaning")
    page.locator('tr[data-version="1"]').get_by_role("link", name="Review and approve").click()
    expect(page.locator(".review-diagram[data-ready=true]")).to_have_count(1)  # the first version: one diagram
    page.locator("#sig_password").fill(quentin.password)
    page.locator("#sig_totp").fill(code(live_db, people, "quentin"))
    page.get_by_role("button", name="Sign and approve").click()
    expect(page.get_by_test_id("version-status")).to_have_attribute("data-status", "approved")
    page.goto(live_server.url + "/")
    expect(page.locator("[data-start]")).to_have_count(0)  # QA is not the starter role of this process
    sign_out(page)
    people["clock"].advance(seconds=31)
    sign_in(page, live_server, live_db, sam)
    page.goto(live_server.url + "/")
    start = page.locator('[data-start="room_cleaning"]')
    start.get_by_label("Title of the new instance (e.g. batch number)").fill("Room 2.14")
    start.get_by_role("button", name="Start").click()
    expect(page.locator(".flash").first).to_contain_text("Started: Room 2.14")
    expect(page.locator("[data-task]").first).to_contain_text("First step")  # sam's supervisor lane holds it


@pytest.mark.req("URS-UX-004", "URS-WEB-003", "CN-6")
def test_chinese_names_and_codes_for_a_chinese_speaking_user(page, live_server, live_db, live_settings, people):
    from engine import definitions, instances
    from engine.ports import SignatureInput, default_services
    from store.uow import UnitOfWork

    files = {str(p.relative_to(DEMO_SCALE)): p.read_bytes() for p in sorted(DEMO_SCALE.rglob("*")) if p.is_file()}
    quinn, quentin = people["quinn"], people["quentin"]
    with UnitOfWork(live_db, quinn.actor) as uow:
        version = definitions.upload(uow, files, reason="demo scale", services=default_services(live_settings))
        uow.commit()
    with UnitOfWork(live_db, quentin.actor) as uow:
        definitions.approve(uow, version.id, SignatureInput("approved", "quentin", {
            "password": quentin.password, "totp": code(live_db, people, "quentin")}), services=default_services(live_settings))
        uow.commit()
    with UnitOfWork(live_db, people["sam"].actor) as uow:
        instance = instances.start(uow, "scale_weigh", title="B-77", settings=live_settings)
        uow.commit()
    sign_in(page, live_server, live_db, people["lin"])
    page.get_by_label("Language").select_option("zh")
    page.get_by_role("button", name="Switch").click()
    page.goto(live_server.url + "/tasks/")
    task = page.locator("[data-task]").first
    expect(task).to_contain_text("称量物料")  # the diagram's Chinese name of "Weigh the material"
    expect(task).to_contain_text("操作员")  # the role's Chinese label
    page.goto(live_server.url + f"/records/{instance.id}")
    expect(page.get_by_test_id("record-status")).to_have_text("运行中")
    expect(page.locator("td[data-action='instance.started']").first).to_have_text("流程实例：已启动")
    sign_out(page)
    page.context.clear_cookies()  # the sign-in page in English again
    people["clock"].advance(seconds=31)
    sign_in(page, live_server, live_db, people["audrey"])
    page.get_by_label("Language").select_option("zh")
    page.get_by_role("button", name="Switch").click()
    page.goto(live_server.url + "/audit/")
    expect(page.locator("td[data-action='definition_version.approved']").first).to_have_text("流程版本：已批准")
    assert no_horizontal_scroll(page)
    shot(page, "audit.png", full_page=False)
