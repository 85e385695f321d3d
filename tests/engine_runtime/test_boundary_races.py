"""Several boundary events of one activity (or several events after an event-based gateway) falling due in
the same scheduler pass: an interrupting event ends the activity, so only one may fire."""
from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from audit.models import AuditEntry
from engine import instances
from engine.inbound import receive_message
from engine.models import ProcessInstance
from engine.runtime_models import DueTimer
from engine.scheduler import Scheduler
from store.uow import UnitOfWork
from tests.engine.conftest import deploy
from tests.engine_runtime.conftest import actor
from tests.engine_runtime.support import render

REQ = pytest.mark.req("URS-RUN-004", "URS-RUN-007")

MESSAGE_BOUNDARY = """
    <bpmn:boundaryEvent id="aborted" name="Aborted" attachedToRef="work"><bpmn:outgoing>f_abort</bpmn:outgoing>
      <bpmn:messageEventDefinition messageRef="msg_abort" /></bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f_abort" sourceRef="aborted" targetRef="end_aborted" />
    <bpmn:endEvent id="end_aborted"><bpmn:incoming>f_abort</bpmn:incoming></bpmn:endEvent>"""


def _two_deadlines(db: Any, services: Any, late: str = '"PT30M"', expired: str = '"PT1H"',
                   late_interrupts: str = "true", expired_interrupts: str = "true", more: str = "") -> int:
    text = render("two_deadlines.bpmn", {"LATE": late, "EXPIRED": expired, "INTERRUPTS_LATE": late_interrupts,
                                         "INTERRUPTS_EXPIRED": expired_interrupts, "XML_MORE": more})
    deploy(db, services, files={"two_deadlines.bpmn": text.encode()})
    with UnitOfWork(db, actor("alice")) as uow:
        instance = instances.start(uow, "two_deadlines")
        uow.commit()
        return int(instance.id)


def _states(db: Any, instance_id: int) -> dict[str, str]:
    with db.session() as s:
        return {t["bpmn_id"]: t["state"] for t in instances.inspect(s, instance_id)["tasks"] if t["bpmn_id"]}


def _status(db: Any, instance_id: int) -> str:
    with db.session() as s:
        return s.get(ProcessInstance, instance_id).status


def _data(db: Any, instance_id: int) -> dict[str, Any]:
    with db.session() as s:
        return dict(instances.inspect(s, instance_id)["data"])


def _cancelled(db: Any) -> list[str]:
    with db.session() as s:
        return [e.details for e in s.execute(select(AuditEntry).where(AuditEntry.action == "timer.cancelled")).scalars()]


@REQ
@pytest.mark.parametrize("late, expired, winner, loser", [
    ('"PT30M"', '"PT1H"', "late", "expired"),      # the first due fires
    ('"PT1H"', '"PT30M"', "expired", "late"),      # ... wherever it is in the file
    ('"PT1H"', '"PT1H"', "late", "expired"),       # due together: the first in the file
])
def test_two_interrupting_timers_due_in_one_pass_fire_only_the_first_due(
        db: Any, services: Any, frozen_clock: Any, late: str, expired: str, winner: str, loser: str) -> None:
    instance_id = _two_deadlines(db, services, late=late, expired=expired)
    scheduler = Scheduler(db)
    scheduler.run_once()
    frozen_clock.advance(hours=2)  # past both
    report = scheduler.run_once()
    assert (report.fired, report.void) == (1, 0)  # the loser's row is closed in the winner's step
    states = _states(db, instance_id)
    assert (states["work"], states[winner], states[loser]) == ("cancelled", "completed", "cancelled")
    assert states[f"note_{winner}"] == states[f"end_{winner}"] == "completed"
    assert f"note_{loser}" not in states and "end" not in states
    assert _status(db, instance_id) == "completed"
    data = _data(db, instance_id)
    assert f"{winner}_noted" in data and f"{loser}_noted" not in data
    (cancelled,) = _cancelled(db)
    assert json.loads(cancelled)["element_id"] == loser


@REQ
def test_non_interrupting_timers_due_in_one_pass_all_fire(db: Any, services: Any, frozen_clock: Any) -> None:
    instance_id = _two_deadlines(db, services, late_interrupts="false", expired_interrupts="false")
    scheduler = Scheduler(db)
    scheduler.run_once()
    frozen_clock.advance(hours=2)
    assert scheduler.run_once().fired >= 1  # one pass: firing the first refreshes every timer of the instance
    states = _states(db, instance_id)
    assert (states["work"], states["note_late"], states["note_expired"]) == ("ready", "completed", "completed")
    assert _status(db, instance_id) == "running"


@REQ
@pytest.mark.parametrize("late_interrupts, expired_interrupts, fired", [
    ("false", "true", {"late", "expired"}),  # the reminder was due before the deadline ended the task: it fires
    ("true", "false", {"late"}),             # the reminder would have come after the task ended: it never happens
])
def test_a_non_interrupting_timer_fires_only_if_due_before_the_interrupting_one(
        db: Any, services: Any, frozen_clock: Any, late_interrupts: str, expired_interrupts: str,
        fired: set[str]) -> None:
    instance_id = _two_deadlines(db, services, late_interrupts=late_interrupts, expired_interrupts=expired_interrupts)
    scheduler = Scheduler(db)
    scheduler.run_once()
    frozen_clock.advance(hours=2)
    scheduler.run_once()
    states = _states(db, instance_id)
    assert {name for name in ("late", "expired") if states.get(f"note_{name}") == "completed"} == fired
    assert states["work"] == "cancelled" and _status(db, instance_id) == "completed"


def _abort(db: Any, instance_id: int) -> None:
    with UnitOfWork(db, actor("alice")) as uow:
        delivery = receive_message(uow, "abort_work", {"instance_id": instance_id}, {"why": "line stopped"})
        uow.commit()
    assert delivery.outcome == "delivered"


@REQ
@pytest.mark.parametrize("minutes, winner, loser", [
    (60, "late", "aborted"),   # the deadline (08:30) passed before the message came (09:00): the timer
    (10, "aborted", "late"),   # the message came first: the deadline never happens
])
def test_interrupting_timer_and_message_arriving_in_one_step_fire_only_the_earlier(
        db: Any, services: Any, frozen_clock: Any, minutes: int, winner: str, loser: str) -> None:
    instance_id = _two_deadlines(db, services, expired='"PT10H"', more=MESSAGE_BOUNDARY)
    scheduler = Scheduler(db)
    scheduler.run_once()
    frozen_clock.advance(minutes=minutes)
    _abort(db, instance_id)  # the scheduler has not fired the due timer yet
    states = _states(db, instance_id)
    assert (states["work"], states[winner], states[loser], states["expired"]) == (
        "cancelled", "completed", "cancelled", "cancelled")
    assert ("note_late" in states) == (winner == "late")
    assert _status(db, instance_id) == "completed"
    report = scheduler.run_once()  # nothing left to fire: the due rows are void
    assert report.fired == 0


def _gateway(db: Any, services: Any, first: str, second: str, out: str = "", more: str = "") -> int:
    text = render("race_gateway.bpmn", {"FIRST": first, "SECOND": second, "XML_OUT": out, "XML_MORE": more})
    deploy(db, services, files={"race_gateway.bpmn": text.encode()})
    with UnitOfWork(db, actor("alice")) as uow:
        instance = instances.start(uow, "race_gateway")
        uow.commit()
        return int(instance.id)




@REQ
@pytest.mark.parametrize("first, second, minutes, taken", [
    ('"PT30M"', '"PT1H"', 120, "first"),
    ('"PT1H"', '"PT30M"', 120, "second"),  # the earlier due, not the first in the file
    ('"PT1H"', '"PT30M"', 36, "second"),   # each timer counts its own duration
    ('"PT1H"', '"PT1H"', 120, "first"),    # due together: the first outgoing flow in the file
])
def test_event_based_gateway_takes_one_path_when_two_timers_are_due(
        db: Any, services: Any, frozen_clock: Any, first: str, second: str, minutes: int, taken: str) -> None:
    instance_id = _gateway(db, services, first, second)
    scheduler = Scheduler(db)
    scheduler.run_once()
    frozen_clock.advance(minutes=minutes)
    assert scheduler.run_once().fired == 1
    states = _states(db, instance_id)
    other = "second" if taken == "first" else "first"
    assert states[taken] == states[f"note_{taken}"] == "completed"
    assert f"note_{other}" not in states
    assert _status(db, instance_id) == "completed"
    data = _data(db, instance_id)
    assert f"{taken}_noted" in data and f"{other}_noted" not in data


@REQ
def test_event_based_gateway_waits_for_the_earliest_of_its_timers(db: Any, services: Any, frozen_clock: Any) -> None:
    instance_id = _gateway(db, services, '"PT1H"', '"PT30M"')
    scheduler = Scheduler(db)
    scheduler.run_once()
    with db.session() as s:
        (row,) = s.execute(select(DueTimer)).scalars()
    assert (row.element_id, row.due_at) == ("which", "2026-01-05T08:30:00.000000Z")
    frozen_clock.advance(minutes=29)
    assert scheduler.run_once().fired == 0 and _states(db, instance_id)["which"] == "waiting"


@REQ
@pytest.mark.parametrize("first, second, taken", [
    ('"PT1H"', '"PT30M"', "second"),  # the second fell due first: its path, though both are named alike
    ('"PT30M"', '"PT1H"', "first"),
])
def test_two_gateway_timers_with_the_same_name_each_take_their_own_path(
        db: Any, services: Any, frozen_clock: Any, first: str, second: str, taken: str) -> None:
    text = render("race_gateway.bpmn", {"FIRST": first, "SECOND": second, "XML_OUT": "", "XML_MORE": ""})
    text = text.replace('name="First deadline"', 'name="Deadline"').replace('name="Second deadline"', 'name="Deadline"')
    deploy(db, services, files={"race_gateway.bpmn": text.encode()})
    with UnitOfWork(db, actor("alice")) as uow:
        instance_id = int(instances.start(uow, "race_gateway").id)
        uow.commit()
    scheduler = Scheduler(db)
    scheduler.run_once()
    frozen_clock.advance(minutes=40)
    assert scheduler.run_once().fired == 1
    states = _states(db, instance_id)
    other = "second" if taken == "first" else "first"
    assert states[taken] == states[f"note_{taken}"] == "completed"
    assert f"note_{other}" not in states
    assert f"{taken}_noted" in _data(db, instance_id)
