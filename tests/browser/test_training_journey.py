"""Training qualification in the browser: the trainee signs read and understood, takes the exam on
its own page (questions and choices in the paper's shuffled order) and sees her result; the
trainer assesses the practical; the coordinator approves; the training gate admits the trainee."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from masterdata import changes, checks
from masterdata.changes import ChangeCatalogue
from masterdata.kinds import register_kinds
from signatures import kdf, testing
from store.uow import UnitOfWork
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_journeys import sign_in
from tests.processes.training.conftest import DOCUMENTS


def _setup(db, settings, clock, runtime):  # type: ignore[no-untyped-def]
    from bpmn.glue import extend
    from bpmn.training import bundle
    from bpmn.training.triggers import start_training
    from engine import definitions
    from engine.ports import SignatureInput, default_services

    extend(runtime, db, settings)
    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(db, settings)
        people = {uid: testing.enrolled_user(db, settings, admin, uid, name, [role]) for uid, name, role in [
            ("alice", "Alice Operator", "operator"), ("tess", "Tess Trainer", "trainer"),
            ("cora", "Cora Coordinator", "training_coordinator"), ("quinn", "Quinn QA", "qa"),
            ("quentin", "Quentin QA", "qa")]}
    catalogue = register_kinds(ChangeCatalogue()).freeze()
    with UnitOfWork(db, people["quinn"].actor) as uow:
        found = changes.draft_set(uow, catalogue, "document", [
            (key, {"code": key, **data}, "create") for key, data in DOCUMENTS.items()], "register", settings=settings)
        uow.commit()
    clock.advance(seconds=31)
    with UnitOfWork(db, people["quentin"].actor) as uow:
        changes.approve_set(uow, catalogue, found.id, credentials=testing.credentials(db, people["quentin"]),
                            settings=settings, reason="checked")
        uow.commit()
    services = default_services(settings)
    with UnitOfWork(db, people["quinn"].actor) as uow:
        version_id = definitions.upload(uow, bundle(), reason="training", services=services).id
        uow.commit()
    clock.advance(seconds=31)
    with UnitOfWork(db, people["quentin"].actor) as uow:
        definitions.approve(uow, version_id, SignatureInput("approved", "quentin", {
            "password": people["quentin"].password, "totp": testing.next_totp(db, people["quentin"])}),
            services=services)
        uow.commit()
    with UnitOfWork(db, people["cora"].actor) as uow:
        trn = start_training(uow, {"trainee": "alice", "documents": [{"code": "SOP-PRD-012"}], "trigger": "manual",
                                   "reason": "new in granulation"}, settings=settings)
        uow.commit()
    return people, trn


def _sign(page, db, clock, person):  # type: ignore[no-untyped-def]
    page.locator("#sig_password").fill(person.password)
    clock.advance(seconds=31)
    page.locator("#sig_totp").fill(testing.next_totp(db, person))


def _open(page, server, name):  # type: ignore[no-untyped-def]
    page.goto(server.url + "/tasks/")
    page.locator("[data-task]", has_text=name).locator("a").first.click()


def _sign_out(page):  # type: ignore[no-untyped-def]
    page.get_by_role("button", name="Sign out").click()


@pytest.mark.req("URS-TRN-001", "URS-TRN-002", "URS-TRN-003", "URS-TRN-004", "P11-10i", "A11-12")
def test_a_trainee_reads_takes_the_exam_is_assessed_and_qualified(page, live_server, live_db, live_settings,
                                                                  frozen_clock, runtime):
    from bpmn.training.triggers import latest_data

    ARTIFACTS.mkdir(exist_ok=True)
    people, trn = _setup(live_db, live_settings, frozen_clock, runtime)
    frozen_clock.advance(seconds=31)
    sign_in(page, live_server, live_db, people["alice"])
    page.goto(live_server.url + "/tasks/")
    expect(page.locator("[data-task]", has_text="Read and understand the document")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "training-1-inbox.png"), full_page=True)
    _open(page, live_server, "Read and understand the document")
    page.locator("#f-document_read").fill("SOP-PRD-012 v5")
    page.locator("#f-read_and_understood").check()
    _sign(page, live_db, frozen_clock, people["alice"])
    page.screenshot(path=str(ARTIFACTS / "training-2-read.png"), full_page=True)
    page.locator(".task-form button[type=submit]").click()
    expect(page.locator("body")).to_contain_text("read and understood", ignore_case=True)
    # the exam: its own page, the paper's order
    _open(page, live_server, "Take the exam")
    expect(page.get_by_role("heading", name="Exam: SOP-PRD-012 v5 · Granulation")).to_be_visible()
    expect(page.get_by_test_id("exam-rules")).to_contain_text("attempt 1 of 2")
    with live_db.session() as session:
        paper = latest_data(session, trn)["paper"]
    questions = page.get_by_test_id("question")
    expect(questions).to_have_count(4)
    bank = DOCUMENTS["SOP-PRD-012"]["questions"]
    for item in paper["questions"]:
        question = bank[item["q"]]
        fieldset = page.locator(f"[data-testid=question][data-n='{item['n']}']")
        expect(fieldset.locator("legend")).to_have_text(f"{item['n']}. {question['text']}")
        right = question["choices"][question["answer"]]
        fieldset.get_by_label(right, exact=True).check()
    page.screenshot(path=str(ARTIFACTS / "training-3-exam.png"), full_page=True)
    page.get_by_test_id("submit-exam").click()
    result = page.get_by_test_id("exam-result")
    expect(result).to_have_attribute("data-passed", "yes")
    expect(result).to_contain_text("4 / 4 (100.0 %)")
    expect(page.locator("[data-testid=answer][data-correct=yes]")).to_have_count(4)
    page.screenshot(path=str(ARTIFACTS / "training-4-result.png"), full_page=True)
    _sign_out(page)
    # the trainer assesses the practical
    frozen_clock.advance(seconds=31)
    sign_in(page, live_server, live_db, people["tess"])
    _open(page, live_server, "Assess the practical")
    page.locator("#f-assessment").select_option("competent")
    page.locator("#f-observations").fill("Granulated a batch per SOP; cleaned the bowl.")
    _sign(page, live_db, frozen_clock, people["tess"])
    page.screenshot(path=str(ARTIFACTS / "training-5-practical.png"), full_page=True)
    page.locator(".task-form button[type=submit]").click()
    _sign_out(page)
    # the coordinator approves: the qualification is granted
    frozen_clock.advance(seconds=31)
    sign_in(page, live_server, live_db, people["cora"])
    _open(page, live_server, "Approve the qualification")
    page.locator("#f-validity_months").fill("12")
    _sign(page, live_db, frozen_clock, people["cora"])
    page.locator(".task-form button[type=submit]").click()
    with live_db.session() as session:
        assert checks.training_problems(session, "alice", ["SOP-PRD-012"]) == []
    page.goto(live_server.url + f"/records/{trn}")
    expect(page.locator("body")).to_contain_text("TRN-0001")
    page.screenshot(path=str(ARTIFACTS / "training-6-record.png"), full_page=True)
    with live_db.session() as session:
        from masterdata.record_models import QualificationRow

        assert session.scalars(select(QualificationRow.sop)).all() == ["SOP-PRD-012"]
