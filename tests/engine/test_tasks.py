"""Task inbox, claim/release, and complete_task's checks: role, gates, form, signatures."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from audit.models import AuditEntry
from engine import instances, tasks
from engine.errors import (
    FormDataInvalid,
    GateRefused,
    InstanceStateError,
    LaneRoleRefused,
    SignatureRefused,
    SignatureRequired,
    TaskNotFound,
    TaskStateError,
)
from engine.models import InstanceTask, ProcessInstance
from store.uow import UnitOfWork
from tests.engine.conftest import actor, deploy, sig

CLEAR = {"room": "G-101", "previous_product_removed": True, "line_clear": True}


@pytest.fixture
def running(db, services, frozen_clock):
    deploy(db, services)
    with UnitOfWork(db, actor("alice")) as uow:
        iid = instances.start(uow, "line_clearance").id
        uow.commit()
    return iid


def ready(db, iid):
    with db.session() as s:
        return {t["bpmn_id"]: t["id"] for t in instances.inspect(s, iid)["tasks"]
                if t["state"] == "ready" and t["manual"]}


def snapshot(db):
    with db.session() as s:
        rows = s.execute(select(InstanceTask.id, InstanceTask.state, InstanceTask.body, InstanceTask.claimed_by)
                         .order_by(InstanceTask.seq)).all()
        inst = s.execute(select(ProcessInstance.lock_version, ProcessInstance.workflow_json)).all()
        count = s.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
    return rows, inst, count


def last_entry(db):
    with db.session() as s:
        return s.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).scalar_one()


REFUSALS = [
    ("sam", CLEAR, [], LaneRoleRefused, "belongs to role 'operator'; sam holds supervisor"),
    ("alice", CLEAR, [sig("alice", "performed"), sig("alice", "verified")], GateRefused,
     "four-eyes: the 'verified' signature on 'record_clearance' must come from a second person"),
    ("alice", {"room": "", "line_clear": "yes"}, [sig("alice", "performed"), sig("bob", "verified")],
     FormDataInvalid, "form data does not match the form: .*line_clear: 'yes' is not of type 'boolean'"),
    ("alice", dict(CLEAR, extra=1), [sig("alice", "performed"), sig("bob", "verified")], FormDataInvalid,
     "Additional properties are not allowed"),
    ("alice", CLEAR, [sig("bob", "verified")], SignatureRequired,
     "requires alice's electronic signature with meaning 'performed'"),
    ("alice", CLEAR, [sig("alice", "performed")], SignatureRequired,
     "requires a second person's signature with meaning 'verified'"),
    ("alice", CLEAR, [sig("bob", "performed"), sig("bob", "verified")], SignatureRefused,
     "the 'performed' signature must be made by alice"),
    ("alice", CLEAR, [sig("alice", "performed"), sig("bob", "verified", pw="wrong")], SignatureRefused,
     "wrong password for bob"),
    ("alice", CLEAR, [sig("alice", "performed"), sig("bob", "verified"), sig("alice", "approved")],
     SignatureRefused, "does not ask for signature"),
]


@pytest.mark.req("URS-ENG-005", "URS-ENG-006", "P11-10g", "P11-10f", "A11-6", "CN-2")
def test_refusals_change_nothing_but_a_refusal_entry(db, services, running):
    task_id = ready(db, running)["record_clearance"]
    for user, data, signatures, error, match in REFUSALS:
        before_rows, before_inst, before_count = snapshot(db)
        with pytest.raises(error, match=match):
            with UnitOfWork(db, actor(user)) as uow:
                tasks.complete_task(uow, task_id, data, signatures, services=services)
                uow.commit()
        rows, inst, count = snapshot(db)
        assert (rows, inst) == (before_rows, before_inst)
        assert count == before_count + 1
        entry = last_entry(db)
        assert (entry.action, entry.actor_id, entry.object_id) == ("task.refused", user, task_id)
        assert json.loads(entry.details)["check"] == error.check
    # and the task can still be completed properly afterwards
    with UnitOfWork(db, actor("alice")) as uow:
        tasks.complete_task(uow, task_id, CLEAR, [sig("alice", "performed"), sig("bob", "verified")],
                            services=services)
        uow.commit()
    assert sorted(ready(db, running)) == ["check_equipment", "review_documents"]


@pytest.mark.req("URS-ENG-005", "URS-ENG-007", "A11-12")
def test_inbox_claim_release(db, services, running):
    with UnitOfWork(db, actor("bob")) as uow:
        assert [t.bpmn_id for t in tasks.inbox(uow, services=services)] == ["record_clearance"]
        assert tasks.inbox(uow, "sam", services=services) == []
        task_id = tasks.inbox(uow, services=services)[0].id
        tasks.claim(uow, task_id, services=services)
        uow.commit()
    with UnitOfWork(db, actor("alice")) as uow:
        assert tasks.inbox(uow, services=services) == []
    with pytest.raises(TaskStateError, match="claimed by bob"):
        with UnitOfWork(db, actor("alice")) as uow:
            tasks.claim(uow, task_id, services=services)
    with pytest.raises(TaskStateError, match="claimed by bob"):
        with UnitOfWork(db, actor("alice")) as uow:
            tasks.complete_task(uow, task_id, CLEAR, [sig("alice", "performed"), sig("bob", "verified")],
                                services=services)
    with pytest.raises(TaskStateError, match="only they can release it"):
        with UnitOfWork(db, actor("alice")) as uow:
            tasks.release(uow, task_id)
    with pytest.raises(LaneRoleRefused, match="belongs to role 'operator'"):
        with UnitOfWork(db, actor("quinn")) as uow:
            tasks.claim(uow, task_id, services=services)
    with UnitOfWork(db, actor("bob")) as uow:
        tasks.release(uow, task_id, reason="shift ends")
        uow.commit()
    with pytest.raises(TaskStateError, match="is not claimed"):
        with UnitOfWork(db, actor("bob")) as uow:
            tasks.release(uow, task_id)
    with UnitOfWork(db, actor("alice")) as uow:
        assert [t.id for t in tasks.inbox(uow, services=services)] == [task_id]
    with db.session() as s:
        acts = [(e.action, e.actor_id) for e in s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars()
                if e.object_id == task_id]
    assert ("task.claimed", "bob") in acts and ("task.released", "bob") in acts
    assert ("task.claim_refused", "alice") in acts and ("task.release_refused", "alice") in acts


@pytest.mark.req("URS-ENG-005")
def test_completed_and_unknown_tasks(db, services, running):
    task_id = ready(db, running)["record_clearance"]
    with UnitOfWork(db, actor("alice")) as uow:
        tasks.complete_task(uow, task_id, CLEAR, [sig("alice", "performed"), sig("bob", "verified")],
                            services=services)
        uow.commit()
    with pytest.raises(TaskStateError, match="not ready to be completed \\(state completed\\)"):
        with UnitOfWork(db, actor("alice")) as uow:
            tasks.complete_task(uow, task_id, CLEAR, [sig("alice", "performed"), sig("bob", "verified")],
                                services=services)
    with pytest.raises(TaskNotFound, match="no task nope"):
        with UnitOfWork(db, actor("alice")) as uow:
            tasks.complete_task(uow, "nope", {}, [], services=services)


@pytest.mark.req("URS-ENG-005", "P11-10f")
def test_four_eyes_previous_gate(db, services, running):
    ids = ready(db, running)
    with UnitOfWork(db, actor("alice")) as uow:
        tasks.complete_task(uow, ids["record_clearance"], CLEAR, [sig("alice", "performed"), sig("bob", "verified")],
                            services=services)
        uow.commit()
    ids = ready(db, running)
    with UnitOfWork(db, actor("sam")) as uow:
        tasks.complete_task(uow, ids["review_documents"], {"documents_complete": True}, [sig("sam", "reviewed")],
                            services=services)
        uow.commit()
    with UnitOfWork(db, actor("olga")) as uow:
        tasks.complete_task(uow, ready(db, running)["check_equipment"], {"equipment_id": "E1", "status": "clean"},
                            [], services=services)
        uow.commit()
    qa_task = ready(db, running)["qa_approval"]
    with pytest.raises(GateRefused, match="olga completed the previous step 'check_equipment' and may not also"):
        with UnitOfWork(db, actor("olga")) as uow:
            tasks.complete_task(uow, qa_task, {"decision": "released"}, [sig("olga", "approved")],
                                services=services)
    with UnitOfWork(db, actor("quentin")) as uow:
        assert tasks.complete_task(uow, qa_task, {"decision": "released"}, [sig("quentin", "approved")],
                                   services=services).instance_status == "completed"
        uow.commit()


@pytest.mark.req("URS-ENG-009", "P11-10e")
def test_cancel_needs_reason_and_is_final(db, services, running):
    with pytest.raises(InstanceStateError, match="needs a reason"):
        with UnitOfWork(db, actor("quinn")) as uow:
            instances.cancel(uow, running, " ")
    with UnitOfWork(db, actor("quinn")) as uow:
        instances.cancel(uow, running, "batch withdrawn")
        uow.commit()
    with db.session() as s:
        view = instances.inspect(s, running)
        assert view["status"] == "cancelled" and view["cancel_reason"] == "batch withdrawn"
        assert instances.list_instances(s, status="cancelled")[0]["id"] == running
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "instance.cancelled")).scalar_one()
        assert entry.reason == "batch withdrawn" and entry.actor_id == "quinn"
    assert ready(db, running) == {}
    with pytest.raises(InstanceStateError, match="is cancelled; only a running instance can be cancelled"):
        with UnitOfWork(db, actor("quinn")) as uow:
            instances.cancel(uow, running, "again")
