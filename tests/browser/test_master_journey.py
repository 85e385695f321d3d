"""Master data in the browser: one person drafts a change with a reason, another approves it with their
electronic signature; the history and the comparison read in English and Chinese."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from signatures import kdf, testing
from tests.browser.conftest import ARTIFACTS, no_horizontal_scroll
from tests.browser.test_journeys import sign_in


@pytest.fixture
def runtime_hook() -> str:
    return "tests.browser.runtime_hooks:widget_kind"  # the server's catalogue has the test kind


@pytest.fixture
def people(live_db, live_settings, live_server, frozen_clock):  # type: ignore[no-untyped-def]
    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(live_db, live_settings)
        eng = testing.enrolled_user(live_db, live_settings, admin, "eng.li", "Li Engineer", ["validation"])
        quinn = testing.enrolled_user(live_db, live_settings, admin, "quinn", "Quinn QA", ["qa"])
    frozen_clock.advance(seconds=31)
    return {"eng": eng, "quinn": quinn}


@pytest.mark.req("URS-MD-020", "URS-MD-023", "A11-10", "CN-3", "P11-10k")
def test_a_draft_by_one_person_is_approved_by_another_with_a_signature(page, browser, live_server, live_db, people,
                                                                        frozen_clock):
    ARTIFACTS.mkdir(exist_ok=True)
    sign_in(page, live_server, live_db, people["eng"])
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Master data").click()
    page.get_by_role("link", name="Widget").click()
    page.get_by_role("link", name="New Widget").click()
    page.get_by_label("code").fill("W-001")
    page.get_by_label("Name").fill("Lactose")
    page.get_by_label("oeb").fill("7")
    page.get_by_label("Reason for the change").fill("new excipient for product P-100")
    page.get_by_role("button", name="Save as draft").click()
    expect(page.get_by_test_id("draft-error")).to_contain_text("oeb: 7 is greater than the maximum of 5")
    expect(page.get_by_label("Name")).to_have_value("Lactose")  # what was typed is kept
    page.get_by_label("oeb").fill("1")
    page.get_by_label("storage").fill("min_c: 2\nmax_c: 8")
    page.get_by_role("button", name="Save as draft").click()
    expect(page.get_by_test_id("draft")).to_contain_text("Draft revision 1 (create) waiting for approval")
    expect(page.get_by_text("Another person with an approver role approves this draft.")).to_be_visible()
    expect(page.get_by_role("button", name="Sign and approve")).to_have_count(0)  # never the drafter
    page.screenshot(path=str(ARTIFACTS / "master-draft-en.png"), full_page=True)

    context = browser.new_context(viewport={"width": 1024, "height": 768}, locale="en-GB")
    qa = context.new_page()
    try:
        frozen_clock.advance(seconds=31)
        sign_in(qa, live_server, live_db, people["quinn"])
        qa.goto(live_server.url + "/master/widget?status=draft")
        qa.get_by_role("link", name="W-001").click()
        expect(qa.locator('[data-diff="storage.max_c"]')).to_contain_text("8")
        frozen_clock.advance(seconds=31)
        qa.get_by_label("Reason (optional)").fill("checked against the supplier specification")
        qa.get_by_label("Password").fill(people["quinn"].password)
        qa.get_by_label("Code from your authenticator app").fill(testing.next_totp(live_db, people["quinn"]))
        qa.get_by_role("button", name="Sign and approve").click()
        expect(qa.get_by_test_id("in-force")).to_contain_text("Revision 1 in force since")
        expect(qa.locator('[data-revision="1"]')).to_have_attribute("data-status", "effective")
        expect(qa.locator('[data-revision="1"] .manifest')).to_contain_text("Quinn QA")
        assert no_horizontal_scroll(qa)
        qa.screenshot(path=str(ARTIFACTS / "master-approved-en.png"), full_page=True)

        qa.get_by_label("Language").select_option("zh")
        qa.get_by_role("button", name="Switch").click()
        qa.goto(live_server.url + "/master/widget/W-001")
        expect(qa.get_by_role("heading", name="历史")).to_be_visible()
        expect(qa.locator('[data-revision="1"]')).to_contain_text("现行")
        qa.screenshot(path=str(ARTIFACTS / "master-approved-zh.png"), full_page=True)
    finally:
        context.close()
