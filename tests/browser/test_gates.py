"""Gates refuse at claim, and the inbox says why, in the user's language.

The test registers its own gate in the application's engine runtime (the real training
and equipment gates come with the master data)."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from engine.gates import Gate
from engine.install import build_runtime
from engine.runtime import using
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_journeys import sign_in
from tests.browser.test_work import plant  # noqa: F401 - fixture
from tests.web.test_operator import deploy_and_start, gated_bundle, register_scale_gate


@pytest.fixture
def runtime_hook() -> str:
    return "tests.browser.runtime_hooks:scale_gate"  # the server's runtime has the test gate


@pytest.mark.req("P11-10i", "P11-10g", "URS-WEB-003")
def test_gates_refuse_at_claim_with_the_reason_in_the_inbox(page, live_server, live_db, live_settings, plant,  # noqa: F811
                                                            runtime):
    register_scale_gate(runtime)  # here (the upload check) as in the server: alice is not certified on the scale
    deploy_and_start(live_db, live_settings, plant["quinn"], plant["quentin"], gated_bundle("scale_certified"))
    sign_in(page, live_server, live_db, plant["alice"])
    page.goto(live_server.url + "/tasks/")
    refusal = page.get_by_test_id("gate-refusal")
    expect(refusal).to_contain_text("alice is not certified on scale SC-01")
    expect(refusal).to_have_attribute("data-gate", "scale_certified")
    expect(refusal).to_have_attribute("data-code", "not_certified")
    page.locator("[data-task]").get_by_role("button", name="Claim").click()
    expect(page.get_by_text("The task was not claimed: alice is not certified on scale SC-01")).to_be_visible()
    expect(page.locator("[data-task] .badge")).to_have_count(0)  # not claimed
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "gate-refused-at-claim-en.png"), full_page=True)

    # a definition approved where another gate was registered, run by this application, which
    # lacks it: refused (fail closed), and the refusal reads in Chinese
    elsewhere = build_runtime(name="elsewhere")
    elsewhere.gates.register(Gate("line_released", lambda ctx: None, codes={"held": "line held"}))
    plant["clock"].advance(seconds=31)
    with using(elsewhere):
        deploy_and_start(live_db, live_settings, plant["quinn"], plant["quentin"], gated_bundle("line_released"))
    page.get_by_label("Language").select_option("zh")
    page.get_by_role("button", name="Switch").click()
    page.goto(live_server.url + "/tasks/")
    expect(page.locator('[data-testid="gate-refusal"][data-code="not_registered"]')).to_contain_text(
        "此步骤需要本系统不具备的检查（line_released）：请告知负责该流程的 QA。")
    expect(page.locator('[data-testid="gate-refusal"][data-code="not_certified"]')).to_contain_text(
        "alice is not certified on scale SC-01")  # a test gate's message has no translation: English
    page.screenshot(path=str(ARTIFACTS / "gate-refused-at-claim-zh.png"), full_page=True)
