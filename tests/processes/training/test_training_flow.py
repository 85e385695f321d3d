"""The training process end to end on both databases: plan from the start data or the training
matrix, read-and-understood signatures per document, the exam from the question bank graded on
the server, the practical assessed by a trainer (not the trainee), the approval, and the
qualifications granted with their validity: the training gate admits the trainee from then on."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from audit.models import AuditEntry
from core import clock
from engine import tasks
from engine.errors import GateRefused, LaneRoleRefused, OperatorTaskError, TaskStateError
from masterdata import checks, qualifications
from signatures.models import Signature
from store.uow import UnitOfWork

GRANULATION = {"code": "SOP-PRD-012", "version": 5}


def _gate(site, user, sops):  # type: ignore[no-untyped-def]
    with site.db.session() as session:
        return [p.code for p in checks.training_problems(session, user, sops)]


@pytest.mark.req("URS-TRN-001", "URS-TRN-002", "P11-10i", "A11-12")
def test_happy_path_qualifies_the_trainee_and_the_gate_admits_her(site):
    assert _gate(site, "alice", ["SOP-PRD-012", "SOP-GMP-001"]) == ["not_qualified", "not_qualified"]
    trn = site.start({"trainee": "alice", "role": "operator", "trigger": "manual", "reason": "new starter"})
    assert site.inspect(trn)["business_key"] == "TRN-0001"
    curriculum = site.data(trn)["curriculum"]
    assert [(d["code"], d["version"], d["exam"], d["practical"]) for d in curriculum["documents"]] == [
        ("SOP-PRD-012", 5, True, True), ("SOP-GMP-001", 2, False, False)]
    # the study step is alice's (assigned by the process): in her inbox, nobody else's
    assert (trn, "study") in site.inbox("alice") and (trn, "study") not in site.inbox("bob")
    with pytest.raises(LaneRoleRefused, match="task 'study' is assigned to alice; bob may not take it"):
        site.claim(trn, "study", "bob")
    site.study(trn)
    paper = site.task_data(trn, "exam")["paper"]
    assert paper["attempt"] == 1 and len(paper["questions"]) == 4 and "answer" not in str(paper)
    result = site.take_exam(trn)
    assert (result["correct"], result["total"], result["score_pct"], result["passed"]) == (4, 4, 100.0, True)
    assert [a["correct"] for a in result["answers"]] == [True] * 4 and result["answers"][0]["chosen_text"]
    # practical: a trainer, signed 'assessed'
    assert site.ready(trn) == ["practical"]
    site.complete(trn, "practical", "tess", {"assessment": "competent", "observations": "granulated a batch per SOP"},
                  ("assessed",))
    # second document: no exam, no practical
    site.study(trn)
    assert site.ready(trn) == ["approve"]
    assert _gate(site, "alice", ["SOP-PRD-012"]) == ["not_qualified"]  # nothing granted before the approval
    site.complete(trn, "approve", "cora", {"validity_months": 12, "comment": "qualified"}, ("approved",))
    assert _gate(site, "alice", ["SOP-PRD-012", "SOP-GMP-001"]) == []  # the gate admits her from this moment
    granted = site.data(trn)["granted"]
    today = clock.now().date()
    assert granted["valid_until"] == today.replace(year=today.year + 1).isoformat()
    with site.db.session() as session:
        held = qualifications.qualifications_of(session, "alice")
        assert [(q.sop, q.version, q.valid_until, q.granted_by) for q in held] == [
            ("SOP-GMP-001", 2, granted["valid_until"], "cora"), ("SOP-PRD-012", 5, granted["valid_until"], "cora")]
        signature = session.get(Signature, int(held[0].signature_id))
        assert (signature.signer_id, signature.meaning, signature.record_type) == ("cora", "approved", "task")
        reads = session.scalars(select(Signature).where(Signature.meaning == "read_and_understood")).all()
        assert [s.signer_id for s in reads] == ["alice", "alice"]
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "md_qualification.granted")).all()
        assert len(entry) == 2
    assert site.status(trn) == "running"  # waiting for the requalification timer


@pytest.mark.req("URS-TRN-003", "P11-10i")
def test_a_failed_exam_returns_to_study_and_a_new_paper_is_drawn(site):
    trn = site.start({"trainee": "alice", "documents": [GRANULATION], "trigger": "manual"})
    site.study(trn)
    first = site.take_exam(trn, right=2)
    assert (first["score_pct"], first["passed"], first["attempt"]) == (50.0, False, 1)
    assert site.ready(trn) == ["study"]  # failure returns to study
    site.study(trn)
    assert site.task_data(trn, "exam")["paper"]["attempt"] == 2
    second = site.take_exam(trn, right=3)
    assert (second["score_pct"], second["passed"]) == (75.0, True)  # pass mark 75 %
    exams = site.data(trn)["exams"]
    assert [(e["attempt"], e["score_pct"]) for e in exams] == [(1, 50.0), (2, 75.0)]
    assert all(len(e["answers"]) == 4 for e in exams)  # every answer is kept


@pytest.mark.req("URS-TRN-003", "P11-10i", "A11-13")
def test_exhausted_attempts_go_to_the_coordinator_who_closes_or_retrains(site):
    trn = site.start({"trainee": "alice", "documents": [GRANULATION], "trigger": "manual"})
    for _ in range(2):  # max_attempts 2
        site.study(trn)
        site.take_exam(trn, right=0)
    assert site.ready(trn) == ["review"]
    with site.db.session() as session:
        from engine.messages import exceptions_of

        found = exceptions_of(session, trn)
        assert [e["kind"] for e in found] == ["exam_attempts_exhausted"]
        assert found[0]["message"] == "Alice Operator failed the exam on SOP-PRD-012 v5 2 times"
    with pytest.raises(LaneRoleRefused, match="task 'review' belongs to role 'training_coordinator'"):
        _review(site, trn, "alice")
    site.complete(trn, "review", "cora", {"decision": "retrain", "comment": "one more course"})
    assert site.ready(trn) == ["study"]
    for _ in range(2):
        site.study(trn)
        site.take_exam(trn, right=1)
    site.complete(trn, "review", "cora", {"decision": "close", "comment": "not suited for granulation"})
    assert site.status(trn) == "completed"
    assert _gate(site, "alice", ["SOP-PRD-012"]) == ["not_qualified"]
    assert len(site.data(trn)["exams"]) == 4


def _review(site, trn, user):  # type: ignore[no-untyped-def]
    with UnitOfWork(site.db, site[user].actor) as uow:
        tasks.complete_task(uow, site.task_id(trn, "review"), {"decision": "close", "comment": "x"},
                            services=site.services)


@pytest.mark.req("URS-TRN-004", "P11-10i", "A11-12")
def test_the_practical_is_assessed_by_a_trainer_who_is_not_the_trainee(site):
    trn = site.start({"trainee": "tom", "documents": [GRANULATION], "trigger": "manual"})
    site.study(trn, "tom")
    site.take_exam(trn, user="tom")
    with pytest.raises(GateRefused, match="Tom Trainer is the trainee of this training: another person must do"):
        site.claim(trn, "practical", "tom")
    with pytest.raises(LaneRoleRefused, match="belongs to role 'trainer'"):
        site.claim(trn, "practical", "alice")
    site.complete(trn, "practical", "tess", {"assessment": "not_yet_competent", "observations": "bowl not cleaned"},
                  ("assessed",))
    assert site.ready(trn) == ["study"]  # not yet competent: back to study
    site.study(trn, "tom")
    site.take_exam(trn, user="tom")
    site.complete(trn, "practical", "tess", {"assessment": "competent", "observations": "per SOP"}, ("assessed",))
    assert site.ready(trn) == ["approve"]
    assessments = site.data(trn)["assessments"]
    assert [(a["document"], a["assessment"]) for a in assessments] == [("SOP-PRD-012", "competent")]


@pytest.mark.req("URS-TRN-004", "P11-10i", "A11-12")
def test_a_coordinator_in_training_neither_approves_her_own_qualification_nor_decides_her_failure(site):
    trn = site.start({"trainee": "cleo", "documents": [{"code": "SOP-GMP-001"}], "trigger": "manual"})
    site.study(trn, "cleo")
    with pytest.raises(GateRefused, match="Cleo Coordinator is the trainee of this training: another person must do "
                                          "'approve'"):
        site.complete(trn, "approve", "cleo", {"validity_months": 12}, ("approved",))
    with site.db.session() as session:
        refused = session.scalars(select(AuditEntry).where(AuditEntry.action == "task.refused")).all()[-1]
        assert refused.actor_id == "cleo" and "trainee" in refused.reason
    site.complete(trn, "approve", "cora", {"validity_months": 6}, ("approved",))
    with site.db.session() as session:
        held = qualifications.qualifications_of(session, "cleo")
        assert [(q.sop, q.granted_by) for q in held] == [("SOP-GMP-001", "cora")]


@pytest.mark.req("URS-TRN-002", "P11-10i", "A11-12")
def test_the_read_and_understood_signature_names_the_version_studied(site):
    trn = site.start({"trainee": "alice", "documents": [GRANULATION], "trigger": "manual"})
    with pytest.raises(GateRefused, match=r"this step is for SOP-PRD-012 v5: confirm that version \(SOP-PRD-012 v4"):
        site.complete(trn, "study", "alice", {"document_read": "SOP-PRD-012 v4", "read_and_understood": True},
                      ("read_and_understood",))
    from engine.errors import SignatureRequired

    with pytest.raises(SignatureRequired, match="read_and_understood"):
        site.complete(trn, "study", "alice", {"document_read": "SOP-PRD-012 v5", "read_and_understood": True})
    assert site.ready(trn) == ["study"]
    with UnitOfWork(site.db, site["alice"].actor) as uow:
        with pytest.raises(TaskStateError, match="task 'study' is assigned to alice by its process: it cannot be "
                                                 "released"):
            tasks.release(uow, site.task_id(trn, "study"), reason="not me")


@pytest.mark.req("URS-TRN-001", "P11-10i")
@pytest.mark.parametrize("training,message", [
    ({"trainee": "nobody", "documents": [GRANULATION]}, "no user 'nobody': a training is for a person with an account"),
    ({"trainee": "alice", "documents": [{"code": "SOP-XXX"}]}, "document SOP-XXX is not in force"),
    ({"trainee": "alice", "documents": [{"code": "SOP-PRD-012", "version": 9}]},
     r"SOP-PRD-012 v9 is not in the document register \(approved versions: v5\)"),
    ({"trainee": "alice", "documents": [{"code": "SOP-PRD-012", "version": "5"}]}, "version '5' is not a whole number"),
    ({"trainee": "alice", "documents": [{"version": 5}]}, "document 1: give its code"),
    ({"trainee": "alice", "documents": "SOP-PRD-012"}, "documents must be a list"),
    ({"trainee": "alice", "documents": [GRANULATION], "trigger": "whim"}, "trigger 'whim' is not one of"),
    ({"trainee": "alice", "role": "qp"}, "nothing to train alice on"),
])
def test_a_bad_start_is_refused_with_its_reason_and_stores_nothing(site, training, message):
    from engine.models import ProcessInstance

    with pytest.raises(OperatorTaskError, match=message):
        site.start(training)
    with site.db.session() as session:
        assert session.scalars(select(ProcessInstance)).all() == []
