"""The exam page: only the trainee sees her paper (in her language) and submits positions; the
server grades; others are refused; a task that is not an exam is not found."""
from __future__ import annotations

import re

import pytest

from tests.processes.training.conftest import DOCUMENTS


@pytest.fixture
def client_of(site):  # type: ignore[no-untyped-def]
    from app import create_app
    from tests.conftest import TEST_PASSPHRASE, TEST_SECRET
    from tests.web.test_access_matrix import open_session

    app = create_app({"instance_path": site.settings.instance_path, "database_url": site.settings.database_url,
                      "secret_key": TEST_SECRET, "server_key_passphrase": TEST_PASSPHRASE}, runtime=site.runtime)
    app.config["TESTING"] = True

    def client(user):  # type: ignore[no-untyped-def]
        found = app.test_client()
        open_session(site.db, found, site[user])
        return found
    yield client
    app.extensions["gmp.db"].dispose()


@pytest.mark.req("URS-TRN-003", "P11-10i", "CN-6")
def test_the_trainee_takes_the_exam_on_its_page_and_nobody_else_sees_the_paper(site, client_of):
    trn = site.start({"trainee": "alice", "documents": [{"code": "SOP-PRD-012"}], "trigger": "manual"})
    study = site.task_id(trn, "study")
    alice = client_of("alice")
    assert alice.get(f"/training/exam/{study}").status_code == 404  # not an exam
    site.study(trn)
    exam = site.task_id(trn, "exam")
    page = alice.get(f"/tasks/{exam}")
    assert page.status_code == 302 and page.headers["Location"].endswith(f"/training/exam/{exam}")
    bob = client_of("bob")
    refused = bob.get(f"/training/exam/{exam}")
    assert refused.status_code == 403 and "What is the maximum impeller speed?" not in refused.get_data(as_text=True)
    with alice.session_transaction() as sess:
        sess["lang"] = "zh"
    html = alice.get(f"/training/exam/{exam}").get_data(as_text=True)
    paper = site.task_data(trn, "exam")["paper"]
    assert len(re.findall(r'data-testid="question"', html)) == 4
    first = DOCUMENTS["SOP-PRD-012"]["questions"][paper["questions"][0]["q"]]
    assert f"1. {first['text_zh']}" in html and "提交我的答案" in html  # her language, the paper's order
    assert [first["choices_zh"][i] for i in paper["questions"][0]["order"]] == re.findall(
        r'name="q-1" value="\d" required> ([^<]+?)</label>', html)
    answers = {f"q-{a['question']}": str(a["choice"]) for a in site.answer(trn, right=3)}
    done = alice.post(f"/training/exam/{exam}", data={"csrf_token": "walk-token", **answers, "q-9": "0",
                                                      "score": "100"})
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/training/{trn}/result")
    result = site.data(trn)["exam_result"]
    assert (result["correct"], result["score_pct"], result["passed"]) == (3, 75.0, True)
    assert result["ignored"] == ["answer 5: the paper has no question 9"]
    shown = alice.get(f"/training/{trn}/result").get_data(as_text=True)
    assert 'data-passed="yes"' in shown and shown.count('data-correct="yes"') == 3
    assert bob.get(f"/training/{trn}/result").status_code == 403
    assert client_of("tess").get(f"/training/{trn}/result").status_code == 200


@pytest.mark.req("URS-TRN-001", "URS-UX-003", "P11-10g")
def test_a_coordinator_assigns_a_training_on_its_page_and_a_bad_assignment_starts_nothing(site, client_of):
    from sqlalchemy import func, select

    from engine.models import ProcessInstance

    def instances() -> int:
        with site.db.session() as session:
            return session.scalar(select(func.count()).select_from(ProcessInstance))

    cora = client_of("cora")
    home = cora.get("/").get_data(as_text=True)
    card = home[home.index('data-start="training"'):]
    assert 'href="/training/assign"' in card[:card.index("</li>")]
    assert cora.post("/start/training", data={"title": "ad hoc", "csrf_token": "walk-token"}).status_code == 409
    page = cora.get("/training/assign").get_data(as_text=True)
    assert 'data-testid="assign-form"' in page and '<option value="alice"' in page
    before = instances()
    form = {"trainee": "alice", "documents": "SOP-PRD-012", "reason": "new granulator", "csrf_token": "walk-token"}
    for bad, words in [({"documents": "SOP-NONE"}, "SOP-NONE"), ({"documents": "bad code!"}, "bad code!"),
                       ({"documents": ""}, "Name at least one document"), ({"trainee": ""}, "Choose the trainee"),
                       ({"reason": ""}, "Give the reason"), ({"trainee": "nobody"}, "nobody")]:
        refused = cora.post("/training/assign", data={**form, **bad})
        assert refused.status_code == 422 and words in refused.get_data(as_text=True), bad
        assert 'data-testid="assign-refused"' in refused.get_data(as_text=True)
    wrong = cora.post("/training/assign", data={**form, "documents": "SOP-PRD-012 v4"})  # not a version it has
    assert wrong.status_code == 422 and "SOP-PRD-012" in wrong.get_data(as_text=True)
    unknown = cora.post("/training/assign", data={**form, "documents": "SOP-NONE"}).get_data(as_text=True)
    assert "SOP-NONE" in unknown and "service task" not in unknown  # the plan step's words, not the engine's
    assert instances() == before  # nothing started by a refused assignment
    assert client_of("alice").post("/training/assign", data=form).status_code == 403  # coordinators only
    done = cora.post("/training/assign", data={**form, "documents": "SOP-PRD-012 v5\n"})
    assert done.status_code == 302 and instances() == before + 1
    trn = int(done.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
    plan = site.data(trn)["training"]
    assert (plan["trainee"], plan["trigger"], plan["documents"]) == ("alice", "manual", [{"code": "SOP-PRD-012", "version": 5}])
