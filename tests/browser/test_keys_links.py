"""Browser journey: QA starts a batch with its batch number, links a deviation to the batches it
concerns from the deviation's record, and both records show the link; an operator finds the
batch's task in the inbox by its number; the record list finds records by business key."""
from __future__ import annotations

import pytest

from signatures import kdf, testing
from tests.browser.conftest import ARTIFACTS, no_horizontal_scroll
from tests.browser.test_journeys import sign_in
from tests.engine.keys_support import BATCH, DEVIATION
from tests.web.test_keys_and_links import _deploy, _start


@pytest.fixture
def site(live_db, live_settings, live_server, frozen_clock):  # type: ignore[no-untyped-def]
    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(live_db, live_settings)
        people = {name: testing.enrolled_user(live_db, live_settings, admin, name, full, [role])
                  for name, full, role in [("alice", "Alice Operator", "operator"), ("quinn", "Quinn QA", "qa"),
                                           ("quentin", "Quentin QA", "qa"), ("lin", "林晓 Lin Xiao", "qa")]}
    frozen_clock.advance(seconds=31)
    _deploy(live_db, live_settings, people["quinn"], people["quentin"], "batch", BATCH)
    frozen_clock.advance(seconds=31)
    _deploy(live_db, live_settings, people["quinn"], people["quentin"], "deviation", DEVIATION)
    frozen_clock.advance(seconds=31)
    _start(live_db, people["quinn"], "batch", business_key="B-2024-007", title="Paracetamol 500 mg")
    deviation = _start(live_db, people["quinn"], "deviation", data={"deviation": {"number": "DEV-0001"}},
                       title="Powder spill at weighing booth 2")
    people["deviation"] = deviation
    return people


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"keys-{name}.png"), full_page=True)


@pytest.mark.req("URS-KEY-002", "URS-LNK-001")
def test_qa_links_a_deviation_to_batches_and_both_records_show_it(page, live_server, live_db, site):
    sign_in(page, live_server, live_db, site["quinn"])
    page.goto(live_server.url + "/library/batch")
    page.locator("#start-title").fill("Ibuprofen 400 mg")
    page.locator("#start-key").fill("B-2024-008")
    page.get_by_role("button", name="Start an instance").click()
    assert "started with business key B-2024-008" in page.content()

    page.goto(live_server.url + f"/records/{site['deviation']}")
    assert page.get_by_test_id("record-business-key").inner_text() == "DEV-0001"
    page.locator("#link-relation").select_option("raised_from")
    page.locator("#link-other").fill("B-2024-007")
    page.locator("#link-reason").fill("found during dispensing of B-2024-007")
    page.get_by_role("button", name="Link the records").click()
    page.locator("#link-relation").select_option("affects")
    page.locator("#link-other").fill("B-2024-999")
    page.get_by_role("button", name="Link the records").click()
    assert "no instance has the number or business key 'B-2024-999'" in page.get_by_test_id("link-error").inner_text()
    page.locator("#link-other").fill("batch:B-2024-008")
    page.locator("#link-reason").fill("same API lot L-77")
    page.get_by_role("button", name="Link the records").click()
    rows = page.locator("table.record-links tbody tr")
    assert rows.count() == 2
    assert [rows.nth(i).get_attribute("data-relation") for i in range(2)] == ["raised_from", "affects"]
    assert no_horizontal_scroll(page)
    shot(page, "deviation-record")

    page.locator("table.record-links a", has_text="#1").click()
    assert page.get_by_test_id("record-business-key").inner_text() == "B-2024-007"
    link = page.locator("table.record-links tbody tr")
    assert link.count() == 1 and link.get_attribute("data-relation") == "raised"
    assert "DEV-0001" in link.inner_text() and "found during dispensing" in link.inner_text()
    shot(page, "batch-record")

    page.goto(live_server.url + "/records/?q=b-2024")
    assert page.locator("tbody tr[data-instance]").count() == 2
    shot(page, "record-search")


@pytest.mark.req("URS-KEY-002")
def test_operator_finds_a_task_by_batch_number(page, live_server, live_db, site):
    _start(live_db, site["quinn"], "batch", business_key="B-2024-009", title="Aspirin 100 mg")
    sign_in(page, live_server, live_db, site["alice"])
    page.goto(live_server.url + "/tasks/")
    assert page.locator("[data-task]").count() == 2
    page.locator("#t-search").fill("2024-009")
    page.get_by_role("button", name="Filter").click()
    assert page.locator("[data-task]").count() == 1
    assert page.get_by_test_id("business-key").inner_text() == "B-2024-009"
    assert no_horizontal_scroll(page)
    shot(page, "inbox-search")


@pytest.mark.req("URS-KEY-002", "URS-WEB-003")
def test_linked_records_in_chinese(page, live_server, live_db, site):
    from engine import links
    from store.uow import UnitOfWork

    with UnitOfWork(live_db, site["quinn"].actor) as uow:
        links.link(uow, site["deviation"], "raised_from", 1, reason="称量时发现")
        uow.commit()
    sign_in(page, live_server, live_db, site["lin"])
    page.get_by_label("Language").select_option("zh")
    page.get_by_role("button", name="Switch").click()
    page.goto(live_server.url + f"/records/{site['deviation']}")
    assert "关联记录" in page.content() and "源自" in page.locator("table.record-links").inner_text()
    assert no_horizontal_scroll(page)
    shot(page, "deviation-record-zh")
