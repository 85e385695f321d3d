"""The sample process runs end to end, surviving a restart between every step."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from audit.models import AuditEntry
from audit.verify import verify_trail
from engine import instances, persistence, tasks
from store.db import Database
from store.uow import UnitOfWork
from tests.engine.conftest import actor, deploy, sig


def restart(db: Database) -> Database:
    """A fresh process: new Database handle, empty workflow cache."""
    url = db.url
    db.dispose()
    persistence.CACHE.clear()
    return Database(url)


def ready(db: Database, instance_id: int) -> dict[str, str]:
    with db.session() as s:
        view = instances.inspect(s, instance_id)
    return {t["bpmn_id"]: t["id"] for t in view["tasks"] if t["state"] == "ready" and t["manual"]}


def complete(db: Database, user: str, task_id: str, data: dict, signatures, services) -> tasks.Completion:
    with UnitOfWork(db, actor(user)) as uow:
        result = tasks.complete_task(uow, task_id, data, signatures, services=services)
        uow.commit()
    return result


@pytest.mark.req("URS-ENG-008", "URS-ENG-007", "URS-ENG-005", "P11-10e", "A11-7.1")
def test_line_clearance_released_with_restart_between_every_step(db, settings, services, frozen_clock):
    deploy(db, services)
    db = restart(db)
    with UnitOfWork(db, actor("alice")) as uow:
        instance = instances.start(uow, "line_clearance", title="Batch B-001 line clearance")
        uow.commit()
    iid = instance.id
    db = restart(db)
    assert list(ready(db, iid)) == ["record_clearance"]

    complete(db, "alice", ready(db, iid)["record_clearance"],
             {"room": "G-101", "previous_product_removed": True, "line_clear": True},
             [sig("alice", "performed"), sig("bob", "verified")], services)
    db = restart(db)
    assert sorted(ready(db, iid)) == ["check_equipment", "review_documents"]

    complete(db, "sam", ready(db, iid)["review_documents"], {"documents_complete": True},
             [sig("sam", "reviewed")], services)
    db = restart(db)
    assert sorted(ready(db, iid)) == ["check_equipment"]

    complete(db, "bob", ready(db, iid)["check_equipment"], {"equipment_id": "GRAN-01", "status": "clean"},
             [], services)
    db = restart(db)
    assert sorted(ready(db, iid)) == ["qa_approval"]

    result = complete(db, "quinn", ready(db, iid)["qa_approval"], {"decision": "released"},
                      [sig("quinn", "approved")], services)
    assert result.instance_status == "completed"
    db = restart(db)
    with db.session() as s:
        view = instances.inspect(s, iid)
        assert view["status"] == "completed"
        assert view["data"]["decision"] == "released" and view["data"]["room"] == "G-101"
        done = [t["bpmn_id"] for t in view["tasks"] if t["state"] == "completed"]
        assert {"record_clearance", "review_documents", "check_equipment", "qa_approval", "split", "join",
                "end_released"} <= set(done)
        assert "record_deviation" not in done
        entries = s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars().all()
    actions = [e.action for e in entries]
    assert actions.count("task.completed") == 4
    assert "instance.started" in actions and "instance.completed" in actions
    first = next(e for e in entries if e.action == "task.completed")
    assert json.loads(first.changes) == [["line_clear", None, True], ["previous_product_removed", None, True],
                                         ["room", None, "G-101"]]
    details = json.loads(first.details)
    assert [s["meaning"] for s in details["signatures"]] == ["performed", "verified"]
    assert first.actor_id == "alice"
    states = [json.loads(e.changes)[0] for e in entries if e.action == "task.state_changed"]
    assert ["state", "ready", "completed"] in states
    report = verify_trail(db, settings)
    assert report is not None
    db.dispose()


@pytest.mark.req("URS-ENG-008", "P11-10f")
def test_exclusive_gateway_takes_the_deviation_branch(db, services, frozen_clock):
    deploy(db, services)
    with UnitOfWork(db, actor("alice")) as uow:
        iid = instances.start(uow, "line_clearance").id
        uow.commit()
    complete(db, "alice", ready(db, iid)["record_clearance"],
             {"room": "G-101", "previous_product_removed": False, "line_clear": False},
             [sig("alice", "performed"), sig("bob", "verified")], services)
    db = restart(db)
    assert list(ready(db, iid)) == ["record_deviation"]
    result = complete(db, "quinn", ready(db, iid)["record_deviation"], {"description": "residue found"},
                      [sig("quinn", "reviewed")], services)
    assert result.instance_status == "completed"
    db.dispose()
