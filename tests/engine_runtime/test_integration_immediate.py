"""The engine core runs the runtime's work in the request: short operators, message routing,
due-timer rows, all in the unit of work of the step that reached them (no scheduler poll)."""
from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from audit.models import AuditEntry
from core import clock
from engine import instances, tasks
from engine.links import links_of
from engine.models import InstanceTask, ProcessInstance
from engine.operators import OperatorFailed, Param
from engine.runtime_models import DueTimer, OperatorJob, RoutedMessage
from engine.scheduler import Scheduler
from store.uow import UnitOfWork
from tests.engine.conftest import deploy
from tests.engine_runtime.conftest import actor

NS = ('xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
      'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" targetNamespace="http://gmp.example/it"')


def _net_weight(context: Any, gross: float, tare: float) -> float:
    return round(gross - tare, 3)




def _process(process_id: str, body: str, nodes: list[str], head: str = "") -> bytes:
    refs = "".join(f"<bpmn:flowNodeRef>{n}</bpmn:flowNodeRef>" for n in nodes)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions {NS} id="defs_{process_id}">{head}'
            f'<bpmn:process id="{process_id}" name="{process_id}" isExecutable="true">'
            f'<bpmn:laneSet id="lanes"><bpmn:lane id="lane_operator" name="operator">{refs}</bpmn:lane></bpmn:laneSet>'
            f'{body}</bpmn:process></bpmn:definitions>').encode()


def _flow(n: int, source: str, target: str) -> str:
    return f'<bpmn:sequenceFlow id="f{n}" sourceRef="{source}" targetRef="{target}" />'


def _user(task_id: str, incoming: int, outgoing: int) -> str:
    return (f'<bpmn:userTask id="{task_id}" name="{task_id}"><bpmn:incoming>f{incoming}</bpmn:incoming>'
            f'<bpmn:outgoing>f{outgoing}</bpmn:outgoing></bpmn:userTask>')


WEIGH_THEN_NET = _process("weigh_then_net", (
    '<bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>' + _flow(1, "start", "weigh")
    + _user("weigh", 1, 2) + _flow(2, "weigh", "net")
    + '<bpmn:serviceTask id="net" name="Net weight"><bpmn:extensionElements>'
      '<spiffworkflow:serviceTaskOperator id="test.net_weight" resultVariable="net"><spiffworkflow:parameters>'
      '<spiffworkflow:parameter id="gross" type="float" value="gross" />'
      '<spiffworkflow:parameter id="tare" type="float" value="tare" />'
      '</spiffworkflow:parameters></spiffworkflow:serviceTaskOperator></bpmn:extensionElements>'
      '<bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing></bpmn:serviceTask>'
    + _flow(3, "net", "review") + _user("review", 3, 4) + _flow(4, "review", "end")
    + '<bpmn:endEvent id="end"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>'),
    ["start", "weigh", "net", "review", "end"])

MESSAGE = '<bpmn:message id="msg_halt" name="line_halt" />'
HALT_LINE = _process("halt_line", (
    '<bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>' + _flow(1, "start", "stop")
    + _user("stop", 1, 2) + _flow(2, "stop", "announce")
    + '<bpmn:intermediateThrowEvent id="announce" name="Announce"><bpmn:incoming>f2</bpmn:incoming>'
      '<bpmn:outgoing>f3</bpmn:outgoing><bpmn:messageEventDefinition messageRef="msg_halt"><bpmn:extensionElements>'
      "<spiffworkflow:messagePayload>{'line': line}</spiffworkflow:messagePayload>"
      '</bpmn:extensionElements></bpmn:messageEventDefinition></bpmn:intermediateThrowEvent>'
    + _flow(3, "announce", "end") + '<bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>'),
    ["start", "stop", "announce", "end"], MESSAGE)
HALT_REPORT = _process("halt_report", (
    '<bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing><bpmn:messageEventDefinition messageRef="msg_halt">'
    '<bpmn:extensionElements><spiffworkflow:messageVariable>halt</spiffworkflow:messageVariable>'
    '</bpmn:extensionElements></bpmn:messageEventDefinition></bpmn:startEvent>' + _flow(1, "start", "report")
    + _user("report", 1, 2) + _flow(2, "report", "end")
    + '<bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>'),
    ["start", "report", "end"], MESSAGE)

CONFIRM_THEN_HOLD = _process("confirm_then_hold", (
    '<bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>' + _flow(1, "start", "confirm")
    + _user("confirm", 1, 2) + _flow(2, "confirm", "hold")
    + '<bpmn:intermediateCatchEvent id="hold" name="Hold"><bpmn:incoming>f2</bpmn:incoming>'
      '<bpmn:outgoing>f3</bpmn:outgoing><bpmn:timerEventDefinition><bpmn:timeDuration>"PT15M"</bpmn:timeDuration>'
      '</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>'
    + _flow(3, "hold", "end") + '<bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>'),
    ["start", "confirm", "hold", "end"])


def _start(db: Any, key: str, data: dict[str, Any] | None = None) -> int:
    with UnitOfWork(db, actor("alice")) as uow:
        instance_id = instances.start(uow, key, data=data).id
        uow.commit()
    return instance_id


def _complete(uow: Any, services: Any, instance_id: int, bpmn_id: str, data: dict[str, Any]) -> Any:
    view = next(t for t in tasks.inbox(uow, "alice", services=services)
                if t.instance_id == instance_id and t.bpmn_id == bpmn_id)
    return tasks.complete_task(uow, view.id, data, services=services)


def _state(db: Any, instance_id: int) -> dict[str, Any]:
    with db.session() as s:
        return instances.inspect(s, instance_id)


def _count(db: Any, model: Any) -> int:
    with db.session() as s:
        return len(s.execute(select(model)).scalars().all())


@pytest.mark.req("URS-RUN-006")
def test_short_operator_after_a_user_task_runs_within_complete_task(db: Any, services: Any,
                                                                    frozen_clock: Any) -> None:
    deploy(db, services, files={"weigh_then_net.bpmn": WEIGH_THEN_NET})
    instance_id = _start(db, "weigh_then_net", {"gross": 12.5, "tare": 2.25})
    assert "net" not in _state(db, instance_id)["data"]
    with UnitOfWork(db, actor("alice")) as uow:
        done = _complete(uow, services, instance_id, "weigh", {})
        uow.commit()
    state = _state(db, instance_id)  # right after the commit, no scheduler run
    with db.session() as s:  # the instance's current data: what the next (ready) task carries
        (review,) = s.execute(select(InstanceTask).where(InstanceTask.instance_id == instance_id,
                                                         InstanceTask.bpmn_id == "review")).scalars()
        assert json.loads(review.body)["data"]["net"] == 10.25
    assert {t["bpmn_id"]: t["state"] for t in state["tasks"]}["net"] == "completed"
    assert [t["bpmn_id"] for t in state["tasks"] if t["state"] == "ready"] == ["review"]
    assert len(done.ready) == 1
    assert _count(db, OperatorJob) == 0  # nothing was left for the scheduler
    assert Scheduler(db).run_once().operations == 0
    with UnitOfWork(db, actor("alice")) as uow:
        _complete(uow, services, instance_id, "review", {})
        uow.commit()
    assert _state(db, instance_id)["data"]["net"] == 10.25  # and the ended instance's data
    with db.session() as s:
        changed = [(e.object_id, e.changes) for e in s.execute(
            select(AuditEntry).where(AuditEntry.action == "task.state_changed")).scalars()]
    assert any('"completed"' in changes for _task, changes in changed)  # the service task's transitions audited
    with db.session() as s:
        (call,) = s.execute(select(AuditEntry).where(AuditEntry.action == "operator.completed")).scalars()
    assert json.loads(call.changes) == [["net", None, 10.25]]
    assert json.loads(call.details)["operator"] == "test.net_weight"


@pytest.mark.req("URS-RUN-008", "P11-10f")
def test_message_thrown_on_completion_starts_the_catching_instance_in_the_same_unit_of_work(
        db: Any, services: Any, frozen_clock: Any) -> None:
    deploy(db, services, files={"halt_report.bpmn": HALT_REPORT})
    deploy(db, services, files={"halt_line.bpmn": HALT_LINE})
    source = _start(db, "halt_line", {"line": "L-2"})

    with UnitOfWork(db, actor("alice")) as uow:  # not committed: the new instance goes with the step
        _complete(uow, services, source, "stop", {})
        assert uow.session.execute(select(RoutedMessage)).scalars().all() != []
    assert _count(db, RoutedMessage) == 0 and _count(db, ProcessInstance) == 1

    with UnitOfWork(db, actor("alice")) as uow:
        _complete(uow, services, source, "stop", {})
        uow.commit()
    assert _state(db, source)["status"] == "completed"
    with db.session() as s:
        (message,) = s.execute(select(RoutedMessage)).scalars()
        (link,) = links_of(s, source)
    assert (message.name, message.outcome, message.from_instance_id) == ("line_halt", "started", source)
    started = _state(db, message.to_instance_id)
    assert started["process"] == "halt_report" and started["status"] == "running"
    assert json.loads(message.payload_json) == {"line": "L-2"}
    assert [t["bpmn_id"] for t in started["tasks"] if t["state"] == "ready"] == ["report"]
    assert (link.source_id, link.kind, link.target_id) == (message.to_instance_id, "started_by", source)
    assert Scheduler(db).run_once().routed == 0  # nothing left pending


@pytest.mark.req("URS-RUN-007", "P11-10f")
def test_waiting_timer_has_its_due_row_right_after_the_step(db: Any, services: Any, frozen_clock: Any) -> None:
    deploy(db, services, files={"confirm_then_hold.bpmn": CONFIRM_THEN_HOLD})
    instance_id = _start(db, "confirm_then_hold")
    assert _count(db, DueTimer) == 0  # no timer waits yet
    with UnitOfWork(db, actor("alice")) as uow:
        _complete(uow, services, instance_id, "confirm", {})
        uow.commit()
    with db.session() as s:
        (row,) = s.execute(select(DueTimer)).scalars()
    assert (row.instance_id, row.element_id, row.state) == (instance_id, "hold", "waiting")
    assert row.due_at == clock.isoformat(clock.now() + timedelta(minutes=15))
    frozen_clock.advance(minutes=15)
    report = Scheduler(db).run_once()
    assert report.fired == 1
    assert _state(db, instance_id)["status"] == "completed"


@pytest.mark.req("URS-RUN-008")
def test_events_left_unrouted_stay_saved_and_the_scheduler_routes_them(db: Any, services: Any, frozen_clock: Any,
                                                                        monkeypatch: Any) -> None:
    from engine import messages

    deploy(db, services, files={"halt_report.bpmn": HALT_REPORT})
    deploy(db, services, files={"halt_line.bpmn": HALT_LINE})
    source = _start(db, "halt_line", {"line": "L-3"})
    monkeypatch.setattr(messages, "MAX_ROUTING_ROUNDS", 0)  # as if the routing chain were already too deep
    with UnitOfWork(db, actor("alice")) as uow:
        _complete(uow, services, source, "stop", {})
        uow.commit()
    assert _count(db, RoutedMessage) == 0
    with db.session() as s:
        assert messages.instances_with_pending_events(s) == [source]
    monkeypatch.undo()
    assert Scheduler(db).run_once().routed == 1
    with db.session() as s:
        (message,) = s.execute(select(RoutedMessage)).scalars()
        assert messages.instances_with_pending_events(s) == []
    assert (message.outcome, message.from_instance_id) == ("started", source)


def test_advance_refused_by_accept_changes_nothing(db: Any, services: Any, frozen_clock: Any) -> None:
    deploy(db, services, files={"confirm_then_hold.bpmn": CONFIRM_THEN_HOLD})
    instance_id = _start(db, "confirm_then_hold")
    with db.session() as s:
        before = s.get(ProcessInstance, instance_id).lock_version
    with UnitOfWork(db, actor("alice")) as uow:
        assert instances.advance(uow, instance_id, lambda wf: wf.cancel(), accept=lambda wf: False) is None
        uow.commit()
    with db.session() as s:
        assert s.get(ProcessInstance, instance_id).lock_version == before
    assert _state(db, instance_id)["status"] == "running"


def test_advance_of_an_unknown_instance_is_refused(db: Any) -> None:
    from engine.errors import InstanceNotFound

    with UnitOfWork(db, actor("alice")) as uow:
        with pytest.raises(InstanceNotFound, match="no process instance 999999"):
            instances.advance(uow, 999999)


def _unstable(context: Any, reading: float) -> float:
    raise OperatorFailed("scale_unstable", f"reading {reading} kg did not settle", {"reading": reading})


@pytest.fixture(autouse=True)
def _test_operators(runtime: Any) -> None:
    """This module's operators, in the test's own runtime."""
    runtime.operators.register("test.net_weight", _net_weight, [Param("gross", "float"), Param("tare", "float")],
                               description="test operator: net weight from gross and tare (short: runs in the request)")
    runtime.operators.register("test.unstable_scale", _unstable, [Param("reading", "float")],
                               description="test operator: always fails with code scale_unstable")

WEIGH_OR_HANDLE = _process("weigh_or_handle", (
    '<bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>' + _flow(1, "start", "weigh")
    + _user("weigh", 1, 2) + _flow(2, "weigh", "read")
    + '<bpmn:serviceTask id="read" name="Read scale"><bpmn:extensionElements>'
      '<spiffworkflow:serviceTaskOperator id="test.unstable_scale" resultVariable="net"><spiffworkflow:parameters>'
      '<spiffworkflow:parameter id="reading" type="float" value="gross" />'
      '</spiffworkflow:parameters></spiffworkflow:serviceTaskOperator></bpmn:extensionElements>'
      '<bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing></bpmn:serviceTask>'
    + '<bpmn:boundaryEvent id="caught" attachedToRef="read"><bpmn:outgoing>f5</bpmn:outgoing>'
      '<bpmn:errorEventDefinition errorRef="err_unstable" /></bpmn:boundaryEvent>'
    + _flow(3, "read", "end") + _flow(5, "caught", "handle") + _user("handle", 5, 6) + _flow(6, "handle", "end2")
    + '<bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>'
    + '<bpmn:endEvent id="end2"><bpmn:incoming>f6</bpmn:incoming></bpmn:endEvent>'),
    ["start", "weigh", "read", "caught", "handle", "end", "end2"],
    '<bpmn:error id="err_unstable" name="unstable" errorCode="scale_unstable" />')


@pytest.mark.req("URS-RUN-006", "P11-10e")
def test_a_caught_operator_failure_in_the_request_is_audited_and_takes_the_error_path(
        db: Any, services: Any, frozen_clock: Any) -> None:
    deploy(db, services, files={"weigh_or_handle.bpmn": WEIGH_OR_HANDLE})
    instance_id = _start(db, "weigh_or_handle", {"gross": 12.5})
    with UnitOfWork(db, actor("alice")) as uow:
        _complete(uow, services, instance_id, "weigh", {})
        uow.commit()
    state = _state(db, instance_id)
    assert [t["bpmn_id"] for t in state["tasks"] if t["state"] == "ready"] == ["handle"]
    with db.session() as s:
        (failed,) = s.execute(select(AuditEntry).where(AuditEntry.action == "operator.failed")).scalars()
    assert json.loads(failed.changes)[0][2]["code"] == "scale_unstable"
    assert json.loads(failed.details)["element"] == "read"
