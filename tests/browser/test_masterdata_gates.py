"""The training gate on real master data, in the browser: the document register moves an SOP
to a new version, the operator holds the old one, the inbox says so and the claim is
refused, in English and in Chinese."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from masterdata import changes, qualifications
from masterdata.changes import ChangeCatalogue
from masterdata.kinds import register_kinds
from signatures import kdf, testing
from store.uow import UnitOfWork
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_journeys import sign_in
from tests.web.test_operator import bundle, deploy_and_start

SOP = {"code": "SOP-PRD-012", "title": "Weighing", "type": "sop", "version": 3, "effective_date": "2025-06-01"}


def _in_force(db, settings, clock, people, data, action):  # type: ignore[no-untyped-def]
    catalogue = register_kinds(ChangeCatalogue()).freeze()
    with UnitOfWork(db, people["quinn"].actor) as uow:
        draft = changes.draft(uow, catalogue, "document", data["code"], data, "new version of the SOP",
                              action=action, settings=settings)
        uow.commit()
    clock.advance(seconds=31)
    with UnitOfWork(db, people["quentin"].actor) as uow:
        changes.approve(uow, catalogue, draft.id, credentials=testing.credentials(db, people["quentin"]),
                        settings=settings, reason="reviewed")
        uow.commit()


@pytest.mark.req("URS-GATE-001", "URS-GATE-005", "P11-10i", "CN-6")
def test_an_operator_on_an_old_sop_version_is_refused_at_claim_with_the_reason_in_the_inbox(
        page, live_server, live_db, live_settings, frozen_clock, runtime):
    from bpmn.glue import extend

    extend(runtime)  # the upload check in this process, as in the server
    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(live_db, live_settings)
        people = {uid: testing.enrolled_user(live_db, live_settings, admin, uid, name, [role]) for uid, name, role in [
            ("alice", "Alice Operator", "operator"), ("quinn", "Quinn QA", "qa"), ("quentin", "Quentin QA", "qa"),
            ("tess", "Tess Trainer", "trainer")]}
    _in_force(live_db, live_settings, frozen_clock, people, SOP, "create")
    frozen_clock.advance(seconds=31)
    with UnitOfWork(live_db, people["tess"].actor) as uow:
        qualifications.grant_qualification(uow, "alice", "SOP-PRD-012", 3, basis="read and understood",
                                           credentials=testing.credentials(live_db, people["tess"]),
                                           settings=live_settings)
        uow.commit()
    today = frozen_clock().date().isoformat()
    _in_force(live_db, live_settings, frozen_clock, people, {**SOP, "version": 4, "effective_date": today}, "change")
    files = bundle()
    files["dispense.bpmn"] = files["dispense.bpmn"].replace(
        b'<spiffworkflow:property name="signature.verifier" value="verified"/>',
        b'<spiffworkflow:property name="signature.verifier" value="verified"/>'
        b'<spiffworkflow:property name="qualification.sops" value="SOP-PRD-012"/>')
    frozen_clock.advance(seconds=31)
    deploy_and_start(live_db, live_settings, people["quinn"], people["quentin"], files)

    sign_in(page, live_server, live_db, people["alice"])
    page.goto(live_server.url + "/tasks/")
    refusal = page.get_by_test_id("gate-refusal")
    expected = f"Alice Operator holds SOP-PRD-012 v3; the task needs v4, effective since {today}"
    expect(refusal).to_contain_text(expected)
    expect(refusal).to_have_attribute("data-gate", "training")
    expect(refusal).to_have_attribute("data-code", "old_version")
    page.locator("[data-task]").get_by_role("button", name="Claim").click()
    expect(page.get_by_text(f"The task was not claimed: {expected}")).to_be_visible()
    expect(page.locator("[data-task] .badge")).to_have_count(0)  # not claimed
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "training-gate-refused-en.png"), full_page=True)

    page.get_by_label("Language").select_option("zh")
    page.get_by_role("button", name="Switch").click()
    page.goto(live_server.url + "/tasks/")
    expect(page.get_by_test_id("gate-refusal")).to_contain_text(
        f"Alice Operator 持有 SOP-PRD-012 第 3 版资质；该任务需要第 4 版（自 {today} 起生效）")
    page.screenshot(path=str(ARTIFACTS / "training-gate-refused-zh.png"), full_page=True)

    # the plant status page shows why: the qualification Alice holds is on v3
    page.goto(live_server.url + "/plant/?user=alice")
    expect(page.locator('tr[data-user="alice"][data-sop="SOP-PRD-012"]')).to_contain_text("v3")
    page.screenshot(path=str(ARTIFACTS / "plant-status-zh.png"), full_page=True)
