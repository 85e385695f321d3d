"""Gate registry behaviour, and a 1000-task process driven from an ordinary thread."""
from __future__ import annotations

import threading

import pytest

from engine import gates, instances, tasks
from engine.errors import GateNotRegistered, GateRefused, RegistrationError
from engine.install import build_runtime
from engine.runtime import using
from store.uow import UnitOfWork
from tests.engine.conftest import actor, bundle_files, chain_bpmn, deploy, sig

CLEAR = {"room": "G-101", "previous_product_removed": True, "line_clear": True}


@pytest.fixture
def batch_gate(runtime):
    seen = []

    def batch_open(ctx: gates.GateContext) -> None:
        seen.append(ctx)
        if ctx.instance_data.get("batch_status") != "open":
            raise ctx.refuse("batch_not_open", status=ctx.instance_data.get("batch_status"))
    runtime.gates.register(gates.Gate("batch_open", batch_open,
                                      codes={"batch_not_open": "batch is %(status)r, not open"}))
    return seen


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
    assert (ctx.user_id, ctx.bpmn_id, ctx.lane, ctx.stage) == ("quinn", "qa_approval", "qa", "complete")
    assert ctx.rules.all_gates == ("four_eyes_previous", "batch_open")


@pytest.mark.req("URS-ENG-005")
def test_gate_missing_at_completion_refuses(db, services, frozen_clock, runtime):
    """A definition approved where a gate was registered, run where it is not: fail closed."""
    with_short_lived = build_runtime(name="with short_lived")
    with_short_lived.gates.register(gates.Gate("short_lived", lambda ctx: None, codes={"never": "never"}))
    with using(with_short_lived):
        deploy(db, services, files=with_gate("short_lived"))
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


def test_register_twice_is_refused(runtime):
    with pytest.raises(RegistrationError, match="gate 'four_eyes' is already registered"):
        runtime.gates.register(gates.Gate("four_eyes", lambda ctx: None, codes={"x": "x"}))
    with pytest.raises(RegistrationError, match="declares no refusal codes"):
        gates.Gate("nameless_codes", lambda ctx: None, codes={})
    with pytest.raises(RegistrationError, match="stages must be among claim, open, complete"):
        gates.Gate("odd", lambda ctx: None, codes={"x": "x"}, stages=("lunch",))
    frozen = build_runtime().freeze()
    with pytest.raises(RegistrationError, match="this runtime is frozen"):
        frozen.gates.register(gates.Gate("late", lambda ctx: None, codes={"x": "x"}))


@pytest.mark.req("URS-ENG-008")
def test_thousand_task_process_runs_from_an_ordinary_thread(db, services, frozen_clock, runtime):
    outcome: list = []

    def request() -> None:  # a web request thread makes the application's runtime current first
        try:
            with using(runtime):
                work()
        except BaseException as exc:  # reported below
            outcome.append(exc)

    def work() -> None:
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
    thread = threading.Thread(target=request)
    thread.start()
    thread.join()
    assert outcome == [["t2"]], outcome
