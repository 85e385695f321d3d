"""The runtime sample through the engine core, on SQLite and PostgreSQL, with its audit trail.

batch_record (script, parallel multi-instance user task per bill-of-material line, call
activity into another file of the same approved version, DMN table beside the diagram,
gateway, operator `record_exception`, message to the deviation process which a message
start event starts, the outcome message back with correlation by batch number, a timer)
and deviation (message start, QA assessment, outcome message).
"""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from audit.models import AuditEntry
from audit.verify import verify_trail
from engine import instances, tasks
from engine.links import related
from engine.messages import exceptions_of
from engine.runtime_models import RoutedMessage
from engine.scheduler import Scheduler
from store.uow import UnitOfWork
from tests.engine_runtime.conftest import actor, deploy_bundle
from tests.engine_runtime.support import PROCESSES, render


def _bundle(*names: str, sequential: bool = False) -> dict[str, bytes]:
    files = {}
    for name in names:
        if name.endswith(".json"):
            files[name] = (PROCESSES / "sample" / name).read_bytes()
        else:
            files[name] = render(f"sample/{name}", {"SEQUENTIAL": "true" if sequential else "false"}).encode("utf-8")
    return files


def _complete(db: Any, services: Any, user: str, instance_id: int, bpmn_id: str, data: dict[str, Any]) -> None:
    with UnitOfWork(db, actor(user)) as uow:
        view = next(t for t in tasks.inbox(uow, user, services=services)
                    if t.instance_id == instance_id and t.bpmn_id == bpmn_id)
        tasks.complete_task(uow, view.id, data, services=services)
        uow.commit()


def _state(db: Any, instance_id: int) -> dict[str, Any]:
    with db.session() as s:
        return instances.inspect(s, instance_id)


@pytest.mark.req("URS-RUN-008", "A11-13")
@pytest.mark.req("URS-RUN-007", "P11-10e")
def test_sample_batch_with_deviation_round_trip(db: Any, services: Any, frozen_clock: Any) -> None:
    assert PROCESSES.is_dir()
    deploy_bundle(db, services, _bundle("batch_record.bpmn", "yield_calculation.bpmn", "yield_check.dmn",
                                         "forms/weigh_line.json"), "batch_record")
    deploy_bundle(db, services, _bundle("deviation.bpmn", "forms/assess.json"), "deviation")
    scheduler = Scheduler(db, name="sched")

    with UnitOfWork(db, actor("alice")) as uow:
        batch_id = instances.start(uow, "batch_record", data={"batch_number": "B-7"}).id
        uow.commit()
    ready = [t["bpmn_id"] for t in _state(db, batch_id)["tasks"] if t["state"] == "ready"]
    assert ready == ["weigh_line", "weigh_line"]  # parallel: one task per bill-of-material line
    _complete(db, services, "alice", batch_id, "weigh_line", {"net_weight": 10.0})
    _complete(db, services, "bob", batch_id, "weigh_line", {"net_weight": 80.0})

    # The short operator runs within bob's completion, and the deviation request it throws is
    # routed in the same unit of work (no instance waits for it: the deviation process's
    # message start event starts one). The scheduler finds nothing left to do.
    report = scheduler.run_once()
    assert (report.operations, report.routed) == (0, 0)
    with db.session() as s:
        (started,) = related(s, batch_id, relation="started")
        recorded = [e["kind"] for e in exceptions_of(s, batch_id)]
    deviation_id = started.instance_id
    deviation = _state(db, deviation_id)
    assert deviation["process"] == "deviation" and deviation["status"] == "running"
    assert recorded == ["yield_out_of_range"]

    _complete(db, services, "quinn", deviation_id, "assess", {"classification": "minor"})
    assert _state(db, deviation_id)["status"] == "completed"
    assert scheduler.run_once().routed == 0          # the outcome went back to batch B-7 at once
    assert _state(db, batch_id)["status"] == "running"  # cooling hold
    frozen_clock.advance(minutes=10)
    assert scheduler.run_once().fired == 1
    batch = _state(db, batch_id)
    assert batch["status"] == "completed"
    assert batch["data"]["deviation_outcome"] == {"batch_number": "B-7", "classification": "minor"}
    assert (batch["data"]["yield_pct"], batch["data"]["yield_verdict"]) == (90.0, "deviation")

    with db.session() as s:
        routed = [(m.name, m.outcome, m.from_instance_id, m.to_instance_id)
                  for m in s.execute(select(RoutedMessage).order_by(RoutedMessage.id)).scalars()]
        actions = [e.action for e in s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars()]
    assert routed == [("deviation_request", "started", batch_id, deviation_id),
                      ("deviation_outcome", "delivered", deviation_id, batch_id)]
    for action in ("instance.started", "task.completed", "instance.exception_recorded", "message.started", "message.delivered", "timer.fired",  # noqa: E501
                   "instance.completed"):
        assert action in actions, action
    report = verify_trail(db)  # the trail verifies end to end
    assert report.entries == len(actions)


@pytest.mark.req("URS-RUN-008", "P11-10k")
def test_call_activity_stays_pinned_to_the_version_the_instance_started_on(db: Any, services: Any,
                                                                            frozen_clock: Any) -> None:
    files = _bundle("batch_record.bpmn", "yield_calculation.bpmn", "yield_check.dmn", "forms/weigh_line.json")
    deploy_bundle(db, services, files, "batch_record")
    with UnitOfWork(db, actor("alice")) as uow:
        old_id = instances.start(uow, "batch_record", data={"batch_number": "B-1"}).id
        uow.commit()
    changed = dict(files)
    changed["yield_calculation.bpmn"] = files["yield_calculation.bpmn"].replace(
        b"yield_pct = round(sum(weights) / target_total * 100, 2)", b"yield_pct = 100.0")
    deploy_bundle(db, services, changed, "batch_record")
    with UnitOfWork(db, actor("alice")) as uow:
        new_id = instances.start(uow, "batch_record", data={"batch_number": "B-2"}).id
        uow.commit()
    for instance_id in (old_id, new_id):
        _complete(db, services, "alice", instance_id, "weigh_line", {"net_weight": 10.0})
        _complete(db, services, "bob", instance_id, "weigh_line", {"net_weight": 80.0})
    frozen_clock.advance(minutes=10)
    Scheduler(db).run_once()
    old, new = _state(db, old_id), _state(db, new_id)
    assert (old["version"], new["version"]) == (1, 2)
    with db.session() as s:
        (exception,) = exceptions_of(s, old_id)  # v1's calculation: 90 %, out of range
        assert exceptions_of(s, new_id) == []
    assert exception["details"] == {"yield_pct": 90.0, "batch_number": "B-1"}
    assert old["status"] == "running"  # waits for the deviation outcome (no deviation process here)
    assert new["status"] == "completed" and new["data"]["yield_pct"] == 100.0
