"""Gate registry behaviour, and a 1000-task process driven from an ordinary thread."""
from __future__ import annotations

import threading

import pytest

from engine import gates, instances, tasks
from engine.errors import GateNotRegistered, GateRefused
from store.uow import UnitOfWork
from tests.engine.conftest import actor, bundle_files, chain_bpmn, deploy, sig

CLEAR = {"room": "G-101", "previous_product_removed": True, "line_clear": True}


@pytest.fixture
def batch_gate():
    seen = []

    def batch_open(ctx: gates.GateContext) -> None:
        seen.append(ctx)
        if ctx.instance_data.get("batch_status") != "open":
            raise GateRefused(f"batch is {ctx.instance_data.get('batch_status')!r}, not open")
    gates.register_gate("batch_open", batch_open)
    yield seen
    gates.unregister_gate("batch_open")


def with_gate(name: str) -> dict[str, bytes]:
    files = bundle_files("line_clearance")
    files["line_clearance.bpmn"] = files["line_clearance.bpmn"].replace(
        b'value="four_eyes_previous"', f'value="four_eyes_previous, {name}"'.encode())
    return files


@pytest.mark.req("URS-ENG-005", "P11-10i")
def test_registered_gate_runs_and_refuses(db, services, frozen_clock, batch_gate):
    deploy(db, services, files=with_gate("batch_open"))
    for status, expected in (("held", "refused"), ("open", "completed")):
        with UnitOfWork(db, actor("alice")) as uow:
            iid = instances.start(uow, "line_clearance", data={"batch_status": status}).id
            uow.commit()
        for user, bpmn_id, data, signatures in (
                ("alice", "record_clearance", CLEAR, [sig("alice", "performed"), sig("bob", "verified")]),
                ("sam", "review_documents", {"documents_complete": True}, [sig("sam", "reviewed")]),
                ("bob", "check_equipment", {"equipment_id": "E1", "status": "clean"}, [])):
            with UnitOfWork(db, actor(user)) as uow:
                task_id = next(t.id for t in tasks.inbox(uow, services=services)
                               if t.instance_id == iid and t.bpmn_id == bpmn_id)
                tasks.complete_task(uow, task_id, data, signatures, services=services)
                uow.commit()
        with UnitOfWork(db, actor("quinn")) as uow:
            task_id = next(t.id for t in tasks.inbox(uow, services=services) if t.instance_id == iid)
        if expected == "refused":
            with pytest.raises(GateRefused, match="batch is 'held', not open"):
                with UnitOfWork(db, actor("quinn")) as uow:
                    tasks.complete_task(uow, task_id, {"decision": "released"}, [sig("quinn", "approved")],
                                        services=services)
        else:
            with UnitOfWork(db, actor("quinn")) as uow:
                done = tasks.complete_task(uow, task_id, {"decision": "released"}, [sig("quinn", "approved")],
                                           services=services)
                uow.commit()
            assert done.instance_status == "completed"
    ctx = batch_gate[-1]
    assert (ctx.user_id, ctx.bpmn_id, ctx.lane) == ("quinn", "qa_approval", "qa")
    assert ctx.rules.all_gates == ("four_eyes_previous", "batch_open")


@pytest.mark.req("URS-ENG-005")
def test_gate_missing_at_completion_refuses(db, services, frozen_clock):
    gates.register_gate("short_lived", lambda ctx: None)
    try:
        deploy(db, services, files=with_gate("short_lived"))
    finally:
        gates.unregister_gate("short_lived")
    with UnitOfWork(db, actor("alice")) as uow:
        instances.start(uow, "line_clearance")
        uow.commit()
    for user, bpmn_id, data, signatures in (
            ("alice", "record_clearance", CLEAR, [sig("alice", "performed"), sig("bob", "verified")]),
            ("sam", "review_documents", {"documents_complete": True}, [sig("sam", "reviewed")]),
            ("bob", "check_equipment", {"equipment_id": "E1", "status": "clean"}, [])):
        with UnitOfWork(db, actor(user)) as uow:
            task_id = next(t.id for t in tasks.inbox(uow, services=services) if t.bpmn_id == bpmn_id)
            tasks.complete_task(uow, task_id, data, signatures, services=services)
            uow.commit()
    with pytest.raises(GateNotRegistered, match="requires gate 'short_lived', which is not registered"):
        with UnitOfWork(db, actor("quinn")) as uow:
            task_id = tasks.inbox(uow, services=services)[0].id
            tasks.complete_task(uow, task_id, {"decision": "released"}, [sig("quinn", "approved")], services=services)


def test_register_twice_is_refused():
    with pytest.raises(ValueError, match="gate 'four_eyes' is already registered"):
        gates.register_gate("four_eyes", lambda ctx: None)


@pytest.mark.req("URS-ENG-008")
def test_thousand_task_process_runs_from_an_ordinary_thread(db, services, frozen_clock):
    outcome: list = []

    def request() -> None:
        try:
            deploy(db, services, files={"chain.bpmn": chain_bpmn(1000)})
            with UnitOfWork(db, actor("alice")) as uow:
                iid = instances.start(uow, "chain").id
                uow.commit()
            for _ in range(2):
                with UnitOfWork(db, actor("alice")) as uow:
                    task_id = tasks.inbox(uow, services=services)[0].id
                    tasks.complete_task(uow, task_id, {}, [], services=services)
                    uow.commit()
            with db.session() as s:
                outcome.append([t["bpmn_id"] for t in instances.inspect(s, iid)["tasks"] if t["state"] == "ready"])
        except BaseException as exc:  # reported below
            outcome.append(exc)
    thread = threading.Thread(target=request)
    thread.start()
    thread.join()
    assert outcome == [["t2"]], outcome
