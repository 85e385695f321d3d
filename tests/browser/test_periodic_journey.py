"""QA generates the periodic evaluation report of a period in the browser, reads it, signs it and
downloads the PDF (Chromium, production server)."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from signatures import kdf, testing
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_journeys import sign_in


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"periodic-{name}.png"), full_page=True)


@pytest.mark.req("URS-OPS-005", "A11-11", "P11-50a")
def test_qa_generates_signs_and_downloads_the_periodic_report(page, live_server, live_db, live_settings, frozen_clock):
    from signatures.credentials import login
    from signatures.errors import SignatureError
    from signatures.identities import record_access_review
    from store.uow import UnitOfWork

    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(live_db, live_settings)
        qin = testing.enrolled_user(live_db, live_settings, admin, "qin", "秦质量 Qin QA", ["qa"])
        testing.enrolled_user(live_db, live_settings, admin, "olaf", "Olaf Operator", ["operator"])
    with UnitOfWork(live_db, admin.actor) as uow:
        record_access_review(uow, "季度权限审核：无发现")
        uow.commit()
    with pytest.raises(SignatureError):
        with UnitOfWork(live_db) as uow:
            login(uow, "olaf", "a wrong password", None, live_settings)
    frozen_clock.advance(seconds=31)
    sign_in(page, live_server, live_db, qin)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Periodic evaluation").click()
    expect(page.get_by_role("heading", name="Periodic evaluation", exact=True)).to_be_visible()
    page.get_by_label("First day").fill("2026-01-01")
    page.get_by_label("Last day").fill("2026-01-31")
    page.get_by_role("button", name="Generate the report").click()
    expect(page.get_by_role("heading", name="Periodic evaluation report 1")).to_be_visible()
    expect(page.locator("#trail-status")).to_contain_text("intact")
    expect(page.locator('tr[data-section="access_reviews"] td').nth(1)).to_have_text("1")
    expect(page.locator('tr[data-section="security"] td').nth(1)).to_have_text("1")
    expect(page.get_by_text("季度权限审核：无发现")).to_be_visible()
    shot(page, "1-generated")
    page.get_by_label("Conclusion of the evaluation").fill("系统保持受控状态 / the system stays in control")
    page.get_by_label("Password").fill(qin.password)
    page.get_by_label(re.compile("Code from your authenticator app")).fill(testing.next_totp(live_db, qin))
    page.get_by_role("button", name="Sign the report").click()
    expect(page.locator(".signature-manifestations").first).to_contain_text("秦质量 Qin QA")
    expect(page.locator("#sign-form")).to_have_count(0)
    shot(page, "2-signed")
    with page.expect_download(timeout=60_000) as download:  # the signed PDF is rendered on request
        page.get_by_role("link", name="Download the report (PDF)").click(timeout=60_000)
    path = download.value.path()
    assert download.value.suggested_filename == "periodic-report-1.pdf"
    assert path is not None and open(path, "rb").read(5) == b"%PDF-"
    download.value.save_as(ARTIFACTS / "periodic-3-report.pdf")
