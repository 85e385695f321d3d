"""The document lifecycle in the browser: document control starts a revision, uploads the content
file (its SHA-256 shown) and drafts it; the named reviewer accepts; QA approves with a signature and an
effective date; training starts for the operators; on the effective date (timer) the version is in
force and the Documents page shows it, in English and Chinese."""
from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from signatures import kdf, testing
from store.uow import UnitOfWork
from tests.browser.conftest import ARTIFACTS, no_horizontal_scroll
from tests.browser.test_journeys import sign_in

TRAINING_STUB = Path(__file__).resolve().parents[1] / "processes" / "document_lifecycle" / "training_stub"
CONTENT = "SOP-BR-001 批记录审核\n1. Review every entry of the batch record.\n2. 双人复核关键步骤。\n"


@pytest.fixture
def site(live_db, live_settings, live_server, frozen_clock):  # type: ignore[no-untyped-def]
    from bpmn import document_lifecycle
    from bpmn.glue import install
    from engine import definitions
    from engine.ports import SignatureInput, default_services
    from engine.runtime import using
    from masterdata import changes

    people = {}
    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(live_db, live_settings)
        for uid, name, roles in [("dora", "Dora Document-Control", ["document_control"]),
                                 ("rex", "Rex Reviewer", ["reviewer"]), ("quinn", "Quinn QA", ["qa"]),
                                 ("rita", "Rita QA", ["qa"]), ("olga", "Olga Operator", ["operator"]),
                                 ("tess", "Tess Trainer", ["trainer"])]:
            people[uid] = testing.enrolled_user(live_db, live_settings, admin, uid, name, roles)
    runtime = install(live_db, live_settings, freeze=False)
    services = default_services(live_settings)

    def creds(user):  # type: ignore[no-untyped-def]
        frozen_clock.advance(seconds=31)
        return testing.credentials(live_db, people[user])

    with using(runtime):
        for files in (document_lifecycle.files_of(document_lifecycle.LIFECYCLE),
                      {p.name: p.read_bytes() for p in TRAINING_STUB.glob("*.bpmn")}):
            with UnitOfWork(live_db, people["quinn"].actor) as uow:
                version = definitions.upload(uow, files, reason="journey", services=services, runtime=runtime)
                uow.commit()
            c = creds("rita")
            with UnitOfWork(live_db, people["rita"].actor) as uow:
                definitions.approve(uow, version.id, SignatureInput("approved", "rita", {
                    "password": c.password, "totp": c.totp}), services=services, runtime=runtime)
                uow.commit()
        with UnitOfWork(live_db, people["quinn"].actor) as uow:
            found = changes.draft(uow, runtime.changes, "training_matrix", "operator",
                                  {"role": "operator", "sops": ["SOP-BR-001"]}, "operators read batch records",
                                  action="create", settings=live_settings)
            uow.commit()
        c = creds("rita")
        with UnitOfWork(live_db, people["rita"].actor) as uow:
            changes.approve(uow, runtime.changes, found.id, credentials=c, settings=live_settings)
            uow.commit()
    people["clock"], people["runtime"] = frozen_clock, runtime
    return people


def sign_and_submit(page, db, people, user):  # type: ignore[no-untyped-def]
    people["clock"].advance(seconds=31)
    page.locator("#sig_password").fill(people[user].password)
    page.locator("#sig_totp").fill(testing.next_totp(db, people[user]))
    page.locator(".task-form button[type=submit]").click()
    expect(page.get_by_test_id("task-completed")).to_be_visible()


def choose(page, path: str, value: str) -> None:  # type: ignore[no-untyped-def]
    field = page.locator(f"#f-{path.replace('.', '-')}")
    if field.count() and field.evaluate("e => e.tagName") == "SELECT":
        field.select_option(value)
    else:
        page.locator(f"input[type=radio][name='{path}'][value='{value}']").check()


def open_task(page, server, name: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(server.url + "/tasks/")
    page.get_by_role("link", name=name).first.click()


@pytest.mark.req("URS-DOC-001", "URS-DOC-003", "URS-DOC-004", "URS-DOC-008", "P11-10k", "A11-10", "CN-1")
def test_a_document_version_from_draft_to_effective_in_the_browser(page, browser, live_server, live_db,
                                                                     live_settings, site, tmp_path):
    from engine import links
    from engine.runtime import using
    from engine.scheduler import Scheduler
    from masterdata import qualifications

    ARTIFACTS.mkdir(exist_ok=True)
    sign_in(page, live_server, live_db, site["dora"])
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Documents").click()
    page.get_by_label("Document number").fill("SOP-BR-001")
    page.get_by_label("Reason for the change").fill("new SOP for batch record review")
    page.get_by_role("button", name="Start the revision").click()
    expect(page.locator('[data-key="SOP-BR-001/1"]')).to_have_attribute("data-status", "running")
    content = tmp_path / "SOP-BR-001.txt"
    content.write_text(CONTENT, encoding="utf-8")
    page.get_by_label("Content file of SOP-BR-001/1").set_input_files(str(content))
    page.get_by_role("button", name="Upload").click()
    import hashlib

    digest = hashlib.sha256(CONTENT.encode()).hexdigest()
    expect(page.get_by_test_id("sha256").first).to_have_text(digest)
    page.screenshot(path=str(ARTIFACTS / "documents-draft-en.png"), full_page=True)

    open_task(page, live_server, "Draft the document")
    page.locator("#f-code").fill("SOP-BR-001")
    page.locator("#f-title").fill("Batch record review")
    page.locator("#f-title_zh").fill("批记录审核")
    choose(page, "type", "sop")
    page.locator("#f-department").fill("Quality assurance")
    page.locator("#f-change_reason").fill("new SOP for batch record review")
    page.locator("#f-effective_date").fill("2026-01-10")
    page.locator("#f-review_months").fill("24")
    page.locator("#f-reviewers").fill("rex")
    assert no_horizontal_scroll(page)
    sign_and_submit(page, live_db, site, "dora")

    context = browser.new_context(viewport={"width": 1024, "height": 768}, locale="en-GB")
    other = context.new_page()
    try:
        sign_in(other, live_server, live_db, site["rex"])
        open_task(other, live_server, "Review the document")
        choose(other, "review.decision", "accept")
        other.locator("#f-review-comment").fill("clear and complete")
        sign_and_submit(other, live_db, site, "rex")
        other.get_by_role("button", name="Sign out").click()

        sign_in(other, live_server, live_db, site["quinn"])
        open_task(other, live_server, "Approve the document")
        choose(other, "decision", "approve")
        other.locator("#f-effective_date").fill("2026-01-10")
        other.locator("#f-comment").fill("approved for use from 10 January")
        other.screenshot(path=str(ARTIFACTS / "documents-approve-en.png"), full_page=True)
        sign_and_submit(other, live_db, site, "quinn")
    finally:
        context.close()

    # training started for the operator; she qualifies; the effective date comes (timer)
    with live_db.session() as session:
        from engine.business_keys import find

        instance = find(session, "document_lifecycle", "SOP-BR-001/1")
        started = links.related(session, instance, relation="started", process="training")
        assert len(started) == 1
    site["clock"].advance(seconds=31)
    c = testing.credentials(live_db, site["tess"])
    with UnitOfWork(live_db, site["tess"].actor) as uow:
        qualifications.grant_qualification(uow, "olga", "SOP-BR-001", 1, basis="read and understood",
                                           credentials=c, settings=live_settings)
        uow.commit()
    site["clock"].advance(days=5)
    with using(site["runtime"]):
        Scheduler(live_db, live_settings, runtime=site["runtime"]).run_once()

    sign_in(page, live_server, live_db, site["dora"])  # five days later: a new session
    page.goto(live_server.url + "/documents/d/SOP-BR-001")
    expect(page.get_by_test_id("in-force")).to_contain_text("Version in force: v1, effective since 2026-01-10")
    expect(page.locator('[data-revision="1"]')).to_have_attribute("data-state", "effective")
    assert no_horizontal_scroll(page)
    page.screenshot(path=str(ARTIFACTS / "documents-effective-en.png"), full_page=True)
    page.get_by_label("Language").select_option("zh")
    page.get_by_role("button", name="Switch").click()
    page.goto(live_server.url + "/documents/")
    expect(page.get_by_role("heading", name="文件", exact=True)).to_be_visible()
    expect(page.locator('[data-document="SOP-BR-001"]')).to_contain_text("批记录审核")
    page.screenshot(path=str(ARTIFACTS / "documents-register-zh.png"), full_page=True)
