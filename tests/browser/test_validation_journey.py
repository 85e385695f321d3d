"""A validation user builds the pack from the web application, watches its progress, signs it as
executor and downloads it; a second validation user reviews and signs it (Chromium)."""
from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from signatures import kdf, testing
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_journeys import sign_in

SEED_PACK = "VP-20260101-000000-0000"


@pytest.fixture
def validation_people(live_db, live_settings, live_server, frozen_clock):  # type: ignore[no-untyped-def]
    from validation_pack.oq import run_oq

    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(live_db, live_settings)
        vera = testing.enrolled_user(live_db, live_settings, admin, "vera", "Vera Validation 王验证", ["validation"])
        rob = testing.enrolled_user(live_db, live_settings, admin, "rob", "Rob Reviewer", ["validation"])
    frozen_clock.advance(seconds=31)
    # an earlier OQ run of this installation, reused by the build (the journey tests the pages, the OQ has its own test)
    seed = Path(live_settings.instance_path) / "validation" / SEED_PACK / "oq"
    run_oq(seed, live_settings, select=["tests/validation_pack/test_catalogue.py"])
    return vera, rob


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"validation-{name}.png"), full_page=True)


def wait_until_done(page) -> None:  # type: ignore[no-untyped-def]
    expect(page.locator("#state")).to_have_text("done", timeout=240_000)


@pytest.mark.slow
@pytest.mark.req("URS-VAL-009", "URS-VAL-007", "P11-10g", "A11-6")
def test_build_sign_and_review_the_pack_in_the_browser(page, live_server, live_db, live_settings, validation_people,
                                                      frozen_clock, oq_evidence):
    vera, rob = validation_people
    sign_in(page, live_server, live_db, vera)
    page.get_by_role("link", name="Validation").first.click()
    expect(page.get_by_role("heading", name="Validation packs")).to_be_visible()
    page.get_by_label("Or reuse the OQ run of an earlier pack").select_option(SEED_PACK)
    page.get_by_label("Run the performance qualification (declared load)").uncheck()
    oq_evidence.step("vera builds a pack from the web, reusing an earlier OQ run", "the pack page shows its progress")
    page.get_by_role("button", name="Build the pack").click()
    expect(page.locator("#progress")).to_be_visible()
    shot(page, "1-building")
    oq_evidence.screenshot(page, "build in progress")
    wait_until_done(page)
    expect(page.locator("#results")).to_contain_text("OQ.pdf")
    pack_id = re.search(r"VP-\d{8}-\d{6}-[0-9A-F]{4}", page.url).group(0)  # type: ignore[union-attr]
    oq_evidence.step("vera signs every document as executor", "the signature shows; the documents are re-issued")
    page.get_by_label("Password").fill(vera.password)
    page.get_by_label(re.compile("Code from your authenticator app")).fill(testing.next_totp(live_db, vera))
    page.get_by_role("button", name="Sign as executor").click()
    wait_until_done(page)
    expect(page.locator("li[data-meaning=executed]")).to_contain_text("Vera Validation 王验证")
    expect(page.locator("#await-review")).to_be_visible()  # the executor cannot review her own pack
    shot(page, "2-executed")
    page.get_by_role("button", name="Sign out").click()

    frozen_clock.advance(seconds=31)
    sign_in(page, live_server, live_db, rob)
    page.goto(f"{live_server.url}/validation/{pack_id}")
    oq_evidence.step("rob, a second validation user, reviews and signs", "both signatures on every document")
    page.get_by_label("Password").fill(rob.password)
    page.get_by_label(re.compile("Code from your authenticator app")).fill(testing.next_totp(live_db, rob))
    page.get_by_role("button", name="Sign as reviewer").click()
    wait_until_done(page)
    expect(page.locator("li[data-meaning=reviewed]")).to_contain_text("Rob Reviewer")
    expect(page.locator("#sign-form")).to_have_count(0)
    shot(page, "3-reviewed")
    oq_evidence.screenshot(page, "pack executed and reviewed")

    href = page.get_by_role("link", name="SUMMARY.pdf").first.get_attribute("href")
    cookies = "; ".join(f"{c['name']}={c['value']}" for c in page.context.cookies())
    request = urllib.request.Request(live_server.url + href, headers={"Cookie": cookies})
    with urllib.request.urlopen(request, timeout=30) as response:
        data = response.read()
    assert data.startswith(b"%PDF-1.7") and response.headers["Content-Type"] == "application/pdf"

    from validation_pack.jobs import pack_folder
    from validation_pack.pack import verify_pack

    lines = verify_pack(live_settings, pack_folder(live_settings, pack_id))
    assert sum("2 Part 11 signature(s) verify" in line for line in lines) == 6
