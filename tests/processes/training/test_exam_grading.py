"""Grading trusts nothing the client sends: answers outside the choices shown, questions the paper
does not ask, second answers and extra fields count for nothing; the form refuses what it can."""
from __future__ import annotations

import pytest

from bpmn.training import exam
from engine.errors import FormDataInvalid
from masterdata.question_bank import bank_of
from tests.processes.training.conftest import DOCUMENTS

BANK = bank_of("SOP-PRD-012", DOCUMENTS["SOP-PRD-012"], 1)


def _right(paper, n):  # type: ignore[no-untyped-def]
    item = next(q for q in paper["questions"] if q["n"] == n)
    return item["order"].index(BANK.questions[item["q"]].answer)


@pytest.mark.req("URS-TRN-003", "P11-10i")
def test_papers_shuffle_questions_and_choices_and_hold_no_answers():
    papers = [exam.draw_paper(BANK, 1) for _ in range(30)]
    assert all(sorted(q["q"] for q in p["questions"]) == [0, 1, 2, 3] for p in papers)
    assert len({tuple(q["q"] for q in p["questions"]) for p in papers}) > 1  # question order varies
    orders = {tuple(q["order"]) for p in papers for q in p["questions"] if q["q"] == 3}
    assert len(orders) > 1  # answer order varies (24 orders of 4 choices)
    assert all("answer" not in q for p in papers for q in p["questions"])
    shown = exam.shown(BANK, papers[0], "zh")
    first = BANK.questions[papers[0]["questions"][0]["q"]]
    assert shown[0]["text"] == first.text_zh and shown[0]["choices"] == [first.choices_zh[i]
                                                                         for i in papers[0]["questions"][0]["order"]]


@pytest.mark.req("URS-TRN-003", "P11-10i")
def test_tampered_answers_count_for_nothing_and_are_reported():
    paper = exam.draw_paper(BANK, 1)
    answers = [{"question": 1, "choice": _right(paper, 1), "correct": True},       # extra field: ignored
               {"question": 1, "choice": (_right(paper, 1) + 1) % 3},              # second answer: ignored
               {"question": 2, "choice": 7},                                      # not a choice shown
               {"question": 3, "choice": "1"},                                    # not a whole number
               {"question": 9, "choice": 0},                                      # no such question
               "all correct",                                                     # not an answer
               {"question": True, "choice": 0}]                                   # a boolean is no number
    result = exam.grade(BANK, paper, answers)
    assert (result["correct"], result["total"], result["score_pct"], result["passed"]) == (1, 4, 25.0, False)
    lines = {line["n"]: line for line in result["answers"]}
    assert lines[1]["correct"] and lines[1]["problem"] is None
    assert (lines[2]["correct"], lines[2]["problem"], lines[2]["chosen"]) == (False, "not one of the choices shown", 7)
    assert (lines[3]["correct"], lines[3]["problem"]) == (False, "not one of the choices shown")
    assert (lines[4]["correct"], lines[4]["problem"]) == (False, "not answered")
    assert result["ignored"] == ["answer 1: fields correct ignored", "answer 2: question 1 was answered already",
                                 "answer 5: the paper has no question 9", "answer 6: not a question and a choice",
                                 "answer 7: the paper has no question True"]
    assert exam.grade(BANK, paper, "everything")["ignored"] == ["the answers were not a list"]
    assert exam.grade(BANK, paper, None)["correct"] == 0


@pytest.mark.req("URS-TRN-003", "P11-10i")
def test_the_exam_form_refuses_extra_fields_and_never_lets_the_client_write_the_paper_or_the_score(site):
    trn = site.start({"trainee": "alice", "documents": [{"code": "SOP-PRD-012"}], "trigger": "manual"})
    site.study(trn)
    paper = site.task_data(trn, "exam")["paper"]
    for bad in ({"answers": site.answer(trn), "exam_result": {"passed": True}},
                {"answers": site.answer(trn), "paper": {**paper, "questions": paper["questions"][:1]}},
                {"answers": [{"question": 1, "choice": 0, "correct": True}]},
                {"answers": [{"question": 1, "choice": 8}]}):
        with pytest.raises(FormDataInvalid):
            site.complete(trn, "exam", "alice", bad)
    assert site.ready(trn) == ["exam"]
    # within the form's bounds but outside the question's choices: graded wrong, not an error
    answers = site.answer(trn)
    wrong = [{**a, "choice": 5} if a["question"] == 1 else a for a in answers]
    site.complete(trn, "exam", "alice", {"answers": wrong})
    result = site.data(trn)["exam_result"]
    assert (result["correct"], result["score_pct"], result["passed"]) == (3, 75.0, True)
    assert [a["problem"] for a in result["answers"] if a["n"] == 1] == ["not one of the choices shown"]
