"""Browser journeys over task forms with repeating groups: an operator adds and removes rows of a
dispensing table, a row outside its limits is refused and then accepted as an exception, the
task is signed with a second person, and the record page and its PDF show the rows with their
exact decimals; a bad manual override never clears another field nor hides its error."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.browser.conftest import ARTIFACTS, no_horizontal_scroll
from tests.browser.test_journeys import sign_in
from tests.browser.test_work import code, plant  # noqa: F401  (fixture)
from tests.web.test_form_rows import deploy


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_with_verifier(page, db, people) -> None:  # type: ignore[no-untyped-def]
    page.locator("#sig_password").fill(people["alice"].password)
    page.locator("#sig_totp").fill(code(db, people, "alice"))
    page.locator("#sig2_user_id").fill("bob")
    page.locator("#sig2_password").fill(people["bob"].password)
    page.locator("#sig2_totp").fill(code(db, people, "bob"))
    page.locator(".task-form button[type=submit]").last.click()


@pytest.mark.req("URS-FRM-002", "URS-FRM-003", "URS-FRM-008", "URS-FRM-009", "URS-FRM-010", "P11-200a1", "ALCOA-ACCURATE")
def test_operator_fills_a_dispensing_table_with_rows_and_exact_decimals(page, live_server, live_db, live_settings,
                                                                        plant):  # noqa: F811
    from playwright.sync_api import expect

    deploy(live_db, live_settings, plant["quinn"], plant["quentin"])
    sign_in(page, live_server, live_db, plant["alice"])
    page.goto(live_server.url + "/tasks/")
    page.locator("[data-task] a").first.click()
    expect(page.get_by_role("heading", name="Weigh the materials")).to_be_visible()
    page.get_by_label("Batch number").fill("B-042")
    rows = page.locator("#f-materials .gmp-row-list > li")
    expect(rows).to_have_count(1)
    page.locator("#f-materials-0-material").select_option("API-001")
    page.locator("#f-materials-0-lot").fill("A-17")
    page.locator("#f-materials-0-target").fill("10.1")
    page.locator("#f-materials-0-net").fill("10.1")
    add = page.get_by_role("button", name="Add a row")
    add.click()
    add.click()
    expect(rows).to_have_count(3)
    expect(page.locator("#f-materials-2 legend").first).to_have_text("Row 3")
    page.get_by_role("button", name="Remove Row 2").click()  # rows after it are numbered again on screen
    expect(rows).to_have_count(2)
    expect(page.locator("#f-materials-2 legend").first).to_have_text("Row 2")
    page.locator("#f-materials-2-material").select_option("LAC-200")
    page.locator("#f-materials-2-lot").fill("L-88")
    page.locator("#f-materials-2-target").fill("2.5")
    page.locator("#f-materials-2-net").fill("2.513")  # outside 2.5 kg ± 0.5 %
    # previewed while typing (the server computes the record): the deviation, the row's limits, the exception box
    expect(page.locator("#f-materials-2-deviation")).to_have_text("0.52")
    expect(page.locator("#f-materials-2-net-limits")).to_have_text("Limits: 2.4875 – 2.5125 kg")
    expect(page.locator("#f-materials-2-net-field details.gmp-exception")).to_have_attribute("open", "")
    expect(page.locator("#f-materials-0-net-field details.gmp-exception")).not_to_have_attribute("open", "")
    expect(page.locator("#f-total_net")).to_have_text("12.613")  # sum(materials.net) over the rows shown
    expect(page.locator("#f-material_count")).to_have_text("2")
    page.locator("#f-balance_check-0-reading").fill("1.001")
    page.locator("#f-balance_check-1-reading").fill("9.999")
    page.get_by_label("Remarks").fill("EQ-" + "7" * 3990)  # a long value without a space: it must wrap
    assert no_horizontal_scroll(page)
    shot(page, "form-rows-filled")
    sign_with_verifier(page, live_db, plant)
    error = page.locator("#f-materials-1-net-error")
    expect(error).to_contain_text("2.513 kg is outside the limits 2.4875 – 2.5125 kg")
    expect(page.locator("#form-errors")).to_contain_text("Materials dispensed › row 2 › Net weight")
    expect(page.locator("#f-materials-1-lot")).to_have_value("L-88")  # rows renumbered by the server, nothing lost
    expect(page.locator("#f-materials-0-net")).to_have_value("10.1")
    shot(page, "form-rows-exception-needed")
    page.locator("#f-materials-1-net-exc").fill("within SOP-WD-002 tolerance, DEV-2026-017")
    sign_with_verifier(page, live_db, plant)
    expect(page.get_by_test_id("task-completed")).to_be_visible()

    page.goto(live_server.url + "/records/1")
    table = page.locator("table.record-rows[data-rows=materials]")
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table.locator("tbody tr").nth(1)).to_contain_text("2.513")
    expect(table.locator("td.outside")).to_have_count(1)
    expect(page.locator(".record-row-notes")).to_contain_text("DEV-2026-017")
    remarks = page.locator("table.record-values tr[data-field=remarks] td.value")
    expect(remarks.locator("summary")).to_contain_text("(3993 characters, show all)")  # long values folded ...
    assert remarks.bounding_box()["height"] < 300
    remarks.locator("summary").click()
    assert no_horizontal_scroll(page) and remarks.bounding_box()["height"] < 3993  # ... and wrapped when shown
    shot(page, "form-rows-record")
    with page.expect_download(timeout=60_000) as download:  # WeasyPrint on a busy machine
        page.get_by_role("link", name="Export PDF").click(timeout=60_000)
    pdf = Path(download.value.path()).read_bytes()
    (ARTIFACTS / "form-rows-record.pdf").write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    lines = [line for line in text.splitlines() if "API-001" in line or "LAC-200" in line]
    assert len(lines) == 2 and "10.100" in lines[0] and "2.513" in lines[1] and "0.52" in lines[1]
    assert "Materials dispensed" in text and "DEV-2026-017" in text and "10.099" not in text
    assert text.count("7777777") > 50  # the PDF prints the long value in full, wrapped


@pytest.mark.req("URS-WEB-003", "URS-FRM-012", "CN-6")
def test_chinese_operator_sees_chinese_labels_and_messages(page, live_server, live_db, live_settings,
                                                           plant):  # noqa: F811
    from playwright.sync_api import expect

    deploy(live_db, live_settings, plant["quinn"], plant["quentin"])
    sign_in(page, live_server, live_db, plant["alice"])
    page.get_by_label("Language").select_option("zh")
    page.get_by_role("button", name="Switch").click()
    page.goto(live_server.url + "/tasks/")
    page.locator("[data-task] a").first.click()
    expect(page.locator("#f-materials > legend")).to_contain_text("配料明细")
    page.locator("#f-batch").fill("B-042")
    page.locator("#f-materials-0-target").fill("ten")
    page.locator("#f-balance_check-1-reading").fill("10.5")
    page.locator("#sig_password").fill(plant["alice"].password)
    page.locator("#sig_totp").fill(code(live_db, plant, "alice"))
    page.locator(".task-form button[type=submit]").last.click()
    expect(page.locator("#f-materials-0-target-error")).to_have_text("请输入数字。")
    expect(page.locator("#f-balance_check-1-reading-error")).to_contain_text("超出限度 9.998 – 10.002 kg：请填写异常说明")
    expect(page.locator("#f-batch")).to_have_value("B-042")
    shot(page, "form-rows-zh-errors")


@pytest.mark.req("URS-FRM-002", "URS-FRM-004", "URS-FRM-012")
def test_a_bad_override_never_clears_another_field_in_the_browser(page, live_server, live_db, live_settings,
                                                                  plant):  # noqa: F811
    from playwright.sync_api import expect

    from tests.web.test_equipment import SCALE

    deploy(live_db, live_settings, plant["quinn"], plant["quentin"], SCALE, "scale_weigh", "Batch B-9")
    sign_in(page, live_server, live_db, plant["alice"])
    page.goto(live_server.url + "/tasks/")
    page.locator("[data-task] a").first.click()
    page.get_by_label("Lot").fill("L9")
    page.locator("details.gmp-override summary").click()
    page.get_by_label("Manual value (kg)").fill("ten kg")
    page.get_by_label("Reason for the override").fill("scale offline")
    page.locator(".task-form button[type=submit]").last.click()
    expect(page.locator("#f-net-error")).to_have_text("Enter a number.")
    expect(page.locator("#f-lot")).to_have_value("L9")
    expect(page.locator("#f-lot-error")).to_have_text("Enter at least 3 characters.")
    expect(page.get_by_label("Manual value (kg)")).to_have_value("ten kg")
    shot(page, "form-override-errors")
