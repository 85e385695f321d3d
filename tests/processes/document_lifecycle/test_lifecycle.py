"""The document lifecycle end to end on the engine: draft with the content's SHA-256, parallel
review (a comment sends it back), QA approval signed into the register, training instances for
every user whose role needs the document, effective on its date (timer), the previous version
superseded and the training gate requiring the new version, periodic review, withdrawal."""
from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from audit.models import AuditEntry
from engine import business_keys, links
from engine.errors import GateRefused, OperatorTaskError
from masterdata import changes, checks
from tests.processes.document_lifecycle.conftest import CONTENT

CODE = "SOP-DSP-001"


def register(docs, code=CODE):  # type: ignore[no-untyped-def]
    with docs.db.session() as session:
        return changes.effective(session, "document", code)


def history(docs, code=CODE):  # type: ignore[no-untyped-def]
    with docs.db.session() as session:
        return [(c.revision, c.data.get("version"), c.status) for c in changes.history(session, "document", code)]


def gate_problems(docs, user):  # type: ignore[no-untyped-def]
    with docs.db.session() as session:
        return [(p.code, p.params.get("version"), p.params.get("held")) for p in
                checks.training_problems(session, user, [CODE])]


def actions(docs, action):  # type: ignore[no-untyped-def]
    with docs.db.session() as session:
        return session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)).all()


def effective_version(docs, effective="2026-01-10", trainees=("alice", "bob", "olga"), months=24):  # type: ignore[no-untyped-def]
    """A version through review, approval and training, approved for `effective`."""
    instance, version = docs.through_review(effective=effective, months=months)
    docs.approve(instance, effective=effective)
    for user in trainees:
        docs.grant(user, version)
    return instance, version


@pytest.mark.req("URS-DOC-001", "URS-DOC-002", "P11-10k", "P11-10i", "A11-10", "CN-3")
def test_a_version_goes_from_draft_to_effective_and_supersedes_the_previous_one(docs):
    first, v1 = effective_version(docs)
    assert v1 == 1
    data = docs.data(first)
    assert data["submission"]["content_sha256"] == hashlib.sha256(CONTENT).hexdigest()
    assert register(docs) is None  # approved for 10 January, not yet in force
    assert history(docs) == [(1, 1, "approved")]
    docs.clock.advance(days=5)  # 2026-01-10 08:00: training check (9th) and effective date (10th) due
    docs.fire_timers()
    assert register(docs).data["version"] == 1 and register(docs).data["sha256"] == hashlib.sha256(CONTENT).hexdigest()
    assert docs.status(first) == "running" and docs.ready(first, "periodic_review") == []
    with docs.db.session() as session:
        assert business_keys.key_of(session, first) == "SOP-DSP-001/1"

    # version 2: the register holds it approved for 1 February; training starts for every operator
    second, v2 = docs.through_review(effective="2026-02-01")
    assert v2 == 2
    docs.approve(second, effective="2026-02-01")
    assert history(docs) == [(1, 1, "effective"), (2, 2, "approved")]
    with docs.db.session() as session:
        started = links.related(session, second, relation="started", process="training")
        assert [(r.status, r.relation) for r in started] == [("running", "started")] * 3
    approval = [a for a in actions(docs, "md_change.approved") if a.object_id == CODE][-1]
    assert approval.actor_id == "quinn" and "task/" in approval.details
    assert docs.data(second)["training"]["trainees"] == ["alice", "bob", "olga"]
    assert gate_problems(docs, "olga") == []  # v1 in force, she holds it
    docs.grant("sam", 1)  # a supervisor trained on v1 only

    for user in ("alice", "bob", "olga"):
        docs.grant(user, 2)
    docs.clock.advance(days=27)  # 2026-02-01 08:00
    docs.fire_timers()
    assert register(docs).data["version"] == 2
    assert history(docs) == [(1, 1, "superseded"), (2, 2, "effective")]
    assert docs.status(first) == "completed"  # ended as superseded
    assert docs.data(first)["superseded_by"]["by"] == "SOP-DSP-001/2"
    assert docs.data(second)["effective"]["superseded"] == ["SOP-DSP-001/1"]
    assert docs.data(second)["effective"]["review_due"].startswith("2028-02-01")
    # the training gate now asks for v2: olga holds it; someone holding only v1 is refused
    assert gate_problems(docs, "olga") == []
    assert gate_problems(docs, "sam") == [("old_version", 2, 1)]


@pytest.mark.req("URS-DOC-003", "P11-10k")
def test_a_reviewers_comment_sends_the_version_back_to_draft(docs):
    instance = docs.start()
    docs.upload(instance, CODE, 1)
    docs.draft(instance)
    docs.review(instance, "rex", "comment", "step 2 names the wrong balance")
    docs.review(instance, "ria")
    assert docs.ready(instance, "draft_document") and not docs.ready(instance, "approve")
    assert history(docs) == [(1, 1, "withdrawn")]
    assert docs.data(instance)["sent_back"]["reason"] == "step 2 names the wrong balance"
    # the author uploads the corrected content and submits again: a new register draft
    corrected = CONTENT + b"3. Check the balance before use.\n"
    docs.upload(instance, CODE, 1, corrected)
    docs.draft(instance)
    assert history(docs) == [(1, 1, "withdrawn"), (2, 1, "draft")]
    assert docs.data(instance)["submission"]["content_sha256"] == hashlib.sha256(corrected).hexdigest()
    docs.review(instance, "rex")
    docs.review(instance, "ria")
    # QA sends it back too
    docs.approve(instance, decision="send_back", comment="effective date too close to the audit")
    assert docs.ready(instance, "draft_document")
    assert docs.data(instance)["sent_back"]["reason"] == "QA: effective date too close to the audit"
    assert history(docs) == [(1, 1, "withdrawn"), (2, 1, "withdrawn")]


@pytest.mark.req("URS-DOC-003", "P11-10d", "P11-10g", "A11-12")
def test_every_refusal_of_the_lifecycle_tasks_names_what_is_missing(docs):
    instance = docs.start()
    with pytest.raises(GateRefused, match="upload the content file of SOP-DSP-001 v1 before submitting it"):
        docs.draft(instance)
    docs.upload(instance, CODE, 1)
    with pytest.raises(GateRefused, match="this revision is SOP-DSP-001/1: the document number must stay SOP-DSP-001"):
        docs.draft(instance, code="SOP-QA-009")
    with pytest.raises(GateRefused, match="olga is not an active user with the reviewer role"):
        docs.draft(instance, reviewers="rex, olga")
    with pytest.raises(GateRefused, match="dora wrote this version and cannot review or approve it"):
        docs.draft(instance, reviewers="dora")
    with pytest.raises(GateRefused, match="name at least one reviewer"):
        docs.draft(instance, reviewers=" , ")
    with pytest.raises(GateRefused, match="the effective date 2026-01-05 must be after today"):
        docs.draft(instance, effective="2026-01-05")
    assert history(docs) == []  # nothing drafted by the refusals
    docs.draft(instance)
    with pytest.raises(GateRefused, match="this review is rex's; ria was not named for it"):
        docs.complete(instance, "review_document", "ria", {"review": {"decision": "accept"}}, "reviewed",
                      task_id=docs.review_task(instance, "rex"))
    docs.review(instance, "rex")
    docs.review(instance, "ria")
    with pytest.raises(GateRefused, match="the effective date 2026-01-05 must be after today"):
        docs.approve(instance, effective="2026-01-05")
    refused = actions(docs, "task.refused")
    assert len(refused) >= 7
    # a second revision of the same document while this one runs is refused at its start
    with pytest.raises(OperatorTaskError, match="SOP-DSP-001 has a revision in progress: SOP-DSP-001/1"):
        docs.start()


@pytest.mark.req("URS-DOC-003", "A11-10")
def test_the_author_never_approves_the_version(docs):
    docs.plant.people["qara"] = __import__("signatures.testing", fromlist=["x"]).enrolled_user(
        docs.db, docs.settings, docs.plant.admin, "qara", "Qara QA-Author", ["qa", "document_control"])
    instance = docs.start(user="qara")
    docs.upload(instance, CODE, 1, user="qara")
    data = {"code": CODE, "title": "Dispensing", "type": "sop", "department": "Production", "change_reason": "x",
            "effective_date": "2026-02-01", "review_months": 12, "reviewers": "rex"}
    docs.complete(instance, "draft_document", "qara", data)
    docs.review(instance, "rex")
    with pytest.raises(GateRefused, match="qara wrote this version and cannot review or approve it"):
        docs.approve(instance, user="qara")


@pytest.mark.req("URS-DOC-004", "CN-6")
def test_training_not_complete_before_the_date_is_postponed_or_excepted(docs):
    first, _ = effective_version(docs)
    docs.clock.advance(days=5)
    docs.fire_timers()
    second, _ = docs.through_review(effective="2026-02-01")
    docs.approve(second, effective="2026-02-01")
    docs.grant("alice", 2)
    docs.grant("bob", 2)
    docs.clock.advance(days=21)  # 2026-01-31 08:00: the check (31 January 00:00) is due, olga has not trained
    docs.fire_timers()
    assert docs.data(second)["training_status"]["missing"] == ["olga"]
    assert docs.ready(second, "training_decision")
    with pytest.raises(GateRefused, match="a postponement needs a new effective date later than 2026-02-01"):
        docs.complete(second, "training_decision", "quinn", {"choice": "postpone", "new_effective_date": "2026-01-20",
                                                             "reason": "olga on leave"}, "approved")
    docs.complete(second, "training_decision", "quinn", {"choice": "postpone", "new_effective_date": "2026-02-15",
                                                         "reason": "olga on leave until 10 February"}, "approved")
    with docs.db.session() as session:
        change = [c for c in changes.history(session, "document", CODE) if c.data["version"] == 2][-1]
        assert change.effective_from.startswith("2026-02-15")
    postponed = actions(docs, "md_change.postponed")[-1]
    assert "2026-02-15" in postponed.changes and postponed.reason == "olga on leave until 10 February"
    docs.clock.advance(days=2)  # 2 February: v1 still in force (the date waited)
    docs.fire_timers()
    assert register(docs).data["version"] == 1
    docs.clock.advance(days=12)  # 14 February: the second check; still not trained -> a documented exception
    docs.fire_timers()
    docs.complete(second, "training_decision", "quinn", {"choice": "exception",
                                                         "reason": "olga's training booked for 16 February"}, "approved")
    docs.clock.advance(days=1)
    docs.fire_timers()
    assert register(docs).data["version"] == 2
    with docs.db.session() as session:
        from engine.messages import exceptions_of

        found = exceptions_of(session, second)
        assert [(e["kind"], e["details"]["missing"]) for e in found] == [("training_incomplete", ["olga"])]
    assert docs.status(first) == "completed"


@pytest.mark.req("URS-DOC-005", "URS-LNK-001")
def test_a_capa_action_starts_a_linked_revision_with_its_data(docs):
    from engine import instances
    from engine.messages import DbOperatorActions
    from store.uow import UnitOfWork

    effective_version(docs)
    docs.clock.advance(days=5)
    docs.fire_timers()
    with UnitOfWork(docs.db, docs["quinn"].actor) as uow:  # a stand-in for the CAPA action's step
        capa = instances.start(uow, "training", title="CAPA action stand-in", settings=docs.settings,
                               runtime=docs.runtime)
        actions_ = DbOperatorActions(uow, capa.id, "capa_action", docs.settings, runtime=docs.runtime)
        started = int(actions_.start_linked_process("document_lifecycle", {"document": {
            "code": CODE, "reason": "CAPA: add a balance check", "capa": "DEV-2026-0001"}}, "started_by"))
        uow.commit()
    request = docs.data(started)["request"]
    assert (request["code"], request["version"], request["capa"]) == (CODE, 2, "DEV-2026-0001")
    with docs.db.session() as session:
        assert business_keys.key_of(session, started) == "SOP-DSP-001/2"
        assert [(r.instance_id, r.relation) for r in links.related(session, started, relation="started_by")] == \
            [(capa.id, "started_by")]
    assert [a.object_id for a in actions(docs, "document.revision_requested")] == [str(started)]
    assert docs.ready(started, "draft_document")


@pytest.mark.req("URS-DOC-006", "CN-3")
def test_the_periodic_review_is_due_on_its_date_and_confirms_or_revises(docs):
    instance, _ = effective_version(docs, months=1)
    docs.clock.advance(days=5)
    docs.fire_timers()
    assert docs.ready(instance, "periodic_review") == []
    docs.clock.advance(days=31)  # 2026-02-10: a month after 10 January
    docs.fire_timers()
    assert docs.ready(instance, "periodic_review")
    docs.complete(instance, "periodic_review", "quinn", {"outcome": "confirm", "comment": "still current"}, "reviewed")
    effective = docs.data(instance)["effective"]
    assert effective["review_due"].startswith("2026-03-10")
    assert effective["last_review"]["outcome"] == "confirm"
    docs.clock.advance(days=28)
    docs.fire_timers()
    docs.complete(instance, "periodic_review", "quinn", {"outcome": "revise", "comment": "new balance type"}, "reviewed")
    revision = int(docs.data(instance)["revision"]["instance_id"])
    with docs.db.session() as session:
        assert business_keys.key_of(session, revision) == "SOP-DSP-001/2"
        assert [r.instance_id for r in links.related(session, revision, relation="started_by")] == [instance]
    assert register(docs).data["version"] == 1  # in force until the revision takes over
    assert docs.data(instance)["effective"]["review_due"].startswith("2026-04-10")


@pytest.mark.req("URS-DOC-007", "A11-10")
def test_withdrawal_makes_the_document_obsolete_or_keeps_it(docs):
    from engine.inbound import receive_message
    from store.uow import UnitOfWork

    instance, _ = effective_version(docs)
    docs.clock.advance(days=5)
    docs.fire_timers()

    def request_withdrawal(reason: str, user: str = "dora") -> None:
        with UnitOfWork(docs.db, docs[user].actor) as uow:
            receive_message(uow, "document_withdrawal", {"instance_id": instance}, {"reason": reason},
                            settings=docs.settings, runtime=docs.runtime)
            uow.commit()

    request_withdrawal("replaced by the site-wide procedure")
    assert history(docs)[-1] == (2, 1, "draft")
    docs.complete(instance, "approve_withdrawal", "quinn", {"decision": "keep", "comment": "still needed"}, "approved")
    assert history(docs)[-1] == (2, 1, "withdrawn") and register(docs) is not None
    request_withdrawal("replaced by SOP-DSP-100", user="rita")
    with pytest.raises(GateRefused, match="rita asked for this withdrawal and cannot approve it"):
        docs.complete(instance, "approve_withdrawal", "rita", {"decision": "withdraw"}, "approved")
    docs.complete(instance, "approve_withdrawal", "quinn", {"decision": "withdraw", "comment": "agreed"}, "approved")
    assert register(docs) is None  # obsolete: retired from the register
    assert docs.status(instance) == "completed"
    retire = [a for a in actions(docs, "md_change.approved") if a.object_id == CODE][-1]
    assert retire.actor_id == "quinn"
    assert gate_problems(docs, "olga") == [("unknown_sop", None, None)]
