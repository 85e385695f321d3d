"""QC receives a lot and releases it in the browser, each step signed in the signature dialog; a bad
entry is refused with its reason and the form keeps what was typed; the lot page reads in Chinese."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from signatures import kdf, testing
from tests.browser.conftest import ARTIFACTS, no_horizontal_scroll
from tests.browser.test_journeys import sign_in
from tests.masterdata.conftest import Plant


@pytest.fixture
def plant(live_db, live_settings, live_server, frozen_clock):  # type: ignore[no-untyped-def]
    with kdf.unsafe_fast_kdf():
        found = Plant(live_db, live_settings, frozen_clock)
        found.seed_master_data()
    frozen_clock.advance(seconds=31)
    return found


def sign(page, plant, user) -> None:  # type: ignore[no-untyped-def]
    plant.clock.advance(seconds=31)
    page.get_by_label("Password").fill(plant[user].password)
    code = page.get_by_label("Code from your authenticator app")
    if code.get_attribute("required") is not None:
        code.fill(testing.next_totp(plant.db, plant[user]))


@pytest.mark.req("URS-MD-004", "P11-10g", "P11-70", "CN-3")
def test_qc_receives_and_releases_a_lot_in_the_browser(page, live_server, plant):  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(exist_ok=True)
    sign_in(page, live_server, plant.db, plant["cora"])
    page.goto(live_server.url + "/plant/")
    page.get_by_test_id("receive-lot-link").click()
    page.locator("#lot").fill("L-2601")
    page.locator("#material").select_option("MAT-API")
    page.locator("#supplier").select_option("SUP-A")
    page.locator("#quantity").fill("25,5")
    page.locator("#expiry").fill("2027-06-30")
    sign(page, plant, "cora")
    page.get_by_role("button", name="Sign and receive").click()
    expect(page.get_by_test_id("record-error")).to_be_visible()  # "25,5" is not a quantity
    expect(page.locator("#lot")).to_have_value("L-2601")  # what was typed is kept
    page.screenshot(path=str(ARTIFACTS / "plant-receive-refused-en.png"), full_page=True)
    page.locator("#quantity").fill("25.5")
    sign(page, plant, "cora")
    page.get_by_role("button", name="Sign and receive").click()
    expect(page.get_by_test_id("lot-status")).to_have_text("Quarantine")
    page.locator('[data-action="released"]').click()
    page.locator("#reason").fill("COA reviewed, identity test passed")
    sign(page, plant, "cora")
    page.get_by_role("button", name="Sign", exact=True).click()
    expect(page.get_by_test_id("lot-status")).to_have_text("Released")
    expect(page.get_by_test_id("lot-history")).to_contain_text("COA reviewed, identity test passed")
    assert no_horizontal_scroll(page)
    page.screenshot(path=str(ARTIFACTS / "plant-lot-released-en.png"), full_page=True)
    page.get_by_label("Language").select_option("zh")
    page.get_by_role("button", name="Switch").click()
    expect(page.get_by_test_id("lot-status")).to_have_text("放行")
    page.screenshot(path=str(ARTIFACTS / "plant-lot-released-zh.png"), full_page=True)
