"""The question bank on the `document` kind (training exams): its cross-field checks refuse
bad banks naming the field, and masterdata.question_bank reads a version's bank."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from masterdata import changes, question_bank
from masterdata.errors import ChangeInvalid, RecordNotFound
from masterdata.models import ChangeRow
from store.uow import UnitOfWork

DOC = {"title": "Granulation", "type": "sop", "version": 1, "effective_date": "2026-01-01"}
Q1 = {"text": "Maximum impeller speed?", "text_zh": "叶轮最大转速？", "choices": ["120 rpm", "180 rpm", "250 rpm"],
      "choices_zh": ["120 转/分", "180 转/分", "250 转/分"], "answer": 1}
Q2 = {"text": "Who releases the granulator?", "choices": ["Operator", "Supervisor"], "answer": 1}


def _draft(plant, key, data):  # type: ignore[no-untyped-def]
    with UnitOfWork(plant.db, plant["quinn"].actor) as uow:
        changes.draft(uow, plant.catalogue, "document", key, {"code": key, **data}, "question bank", action="create",
                      settings=plant.settings)
        uow.commit()


BAD = [
    ({**DOC, "questions": [{**Q1, "answer": 3}]}, "questions.1.answer",
     "choice 3 does not exist: the question has 3 choices (0 to 2)"),
    ({**DOC, "questions": [{**Q1, "answer": -1}]}, "questions.1.answer", "less than the minimum of 0"),
    ({**DOC, "questions": [{**Q1, "choices": ["Yes"], "answer": 0, "choices_zh": ["是"]}]},
     "questions.1.choices", "is too short"),
    ({**DOC, "questions": [{**Q1, "choices_zh": ["120 转/分"]}]}, "questions.1.choices_zh",
     "has 1 choices; the English question has 3"),
    ({**DOC, "questions": [{**Q1, "choices": ["120 rpm", "120 RPM ", "250 rpm"]}]}, "questions.1.choices",
     "'120 RPM ' is offered twice"),
    ({**DOC, "questions": [Q1, {**Q2, "text": "maximum impeller speed?"}]}, "questions.2.text",
     "the same question is asked as number 1"),
    ({**DOC, "pass_mark_pct": 80}, "pass_mark_pct", "a document without questions has no exam"),
    ({**DOC, "max_attempts": 2, "questions": []}, "max_attempts", "a document without questions has no exam"),
    ({**DOC, "questions": [Q1], "pass_mark_pct": 0}, "pass_mark_pct", "less than the minimum of 1"),
    ({**DOC, "questions": [Q1], "pass_mark_pct": 101}, "pass_mark_pct", "greater than the maximum of 100"),
    ({**DOC, "questions": [Q1], "max_attempts": 0}, "max_attempts", "less than the minimum of 1"),
    ({**DOC, "practical": "yes"}, "practical", "is not of type 'boolean'"),
    ({**DOC, "questions": [{**Q1, "hint": "the middle one"}]}, "questions.1", "Additional properties"),
    ({**DOC, "questions": [{"text": "", "choices": ["a", "b"], "answer": 0}]}, "questions.1.text", "should be non-empty"),
]


@pytest.mark.req("URS-MD-007", "A11-5")
@pytest.mark.parametrize("data,field,message", BAD, ids=[b[1] + ":" + b[2][:20] for b in BAD])
def test_a_bad_question_bank_is_refused_naming_the_field_and_nothing_is_stored(plant, data, field, message):
    with pytest.raises(ChangeInvalid) as caught:
        _draft(plant, "SOP-Q", data)
    assert any(f == field and message in m for f, m in caught.value.errors), caught.value.errors
    with plant.db.session() as session:
        assert session.scalar(select(func.count()).select_from(ChangeRow)) == 0


@pytest.mark.req("URS-MD-007", "URS-MD-003")
def test_the_reader_gives_the_bank_of_the_version_in_force_or_of_a_version_approved_for_later(plant):
    plant.put_in_force("document", {"SOP-Q": {**DOC, "questions": [Q1, Q2], "pass_mark_pct": 100, "max_attempts": 2,
                                              "practical": True}})
    plant.put_in_force("document", {"SOP-Q": {**DOC, "version": 2, "questions": [Q2]}}, action="change",
                       effective_from="2099-01-01")
    plant.put_in_force("document", {"SOP-N": DOC})
    with plant.db.session() as session:
        now = question_bank.question_bank(session, "SOP-Q")
        assert (now.version, now.pass_mark_pct, now.max_attempts, now.practical, now.has_exam) == (1, 100, 2, True, True)
        assert now.questions[0].choices == ("120 rpm", "180 rpm", "250 rpm") and now.questions[0].answer == 1
        assert now.questions[0].wording("zh") == "叶轮最大转速？" and now.questions[0].choice(2, "zh") == "250 转/分"
        assert now.questions[1].wording("zh") == "Who releases the granulator?"  # no translation: the English
        assert now.questions[1].choice(0, "zh") == "Operator"
        later = question_bank.question_bank(session, "SOP-Q", 2)
        assert (later.version, len(later.questions), later.pass_mark_pct, later.max_attempts, later.practical) == (
            2, 1, question_bank.DEFAULT_PASS_MARK_PCT, question_bank.DEFAULT_MAX_ATTEMPTS, False)
        plain = question_bank.question_bank(session, "SOP-N")
        assert not plain.has_exam and plain.questions == ()
        with pytest.raises(RecordNotFound, match=r"SOP-Q v3 is not in the document register \(approved versions: "
                                                 r"v1, v2\)"):
            question_bank.question_bank(session, "SOP-Q", 3)
        with pytest.raises(RecordNotFound, match="document SOP-X is not in force in the document register"):
            question_bank.question_bank(session, "SOP-X")


@pytest.mark.req("URS-MD-007")
def test_a_drafted_bank_is_not_read_until_it_is_approved(plant):
    plant.put_in_force("document", {"SOP-Q": DOC})
    with UnitOfWork(plant.db, plant["quinn"].actor) as uow:
        changes.draft(uow, plant.catalogue, "document", "SOP-Q", {"code": "SOP-Q", **DOC, "version": 2,
                                                                  "questions": [Q1]}, "v2", action="change",
                      settings=plant.settings)
        uow.commit()
    with plant.db.session() as session:
        assert not question_bank.question_bank(session, "SOP-Q").has_exam
        with pytest.raises(RecordNotFound, match=r"SOP-Q v2 is not in the document register \(approved versions: v1\)"):
            question_bank.question_bank(session, "SOP-Q", 2)
