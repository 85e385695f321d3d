"""What the audit trail says about timers: a timer that fired is recorded as fired (element, due time),
a timer that was cancelled as cancelled with the reason, each once; and repeating (cycle) boundary
timers: an interrupting one fires once and ends its activity, a non-interrupting one keeps repeating.
All through the scheduler (Scheduler.run_once) and the engine core, on both databases."""
from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from audit.models import AuditEntry
from engine import instances, tasks
from engine.runtime_models import DueTimer
from engine.scheduler import Scheduler
from store.uow import UnitOfWork
from tests.engine.conftest import deploy
from tests.engine_runtime.conftest import actor
from tests.engine_runtime.support import PROCESSES, render

REQ = pytest.mark.req("URS-RUN-004", "URS-RUN-007")
TIMER_ACTIONS = ("timer.fired", "timer.cancelled", "timer.voided", "timer.failed")


def _cycle(interrupts: str, cycle: str = '"R/PT15M"') -> str:
    return f"""
    <bpmn:boundaryEvent id="nag" name="Nag" attachedToRef="work" cancelActivity="{interrupts}">
      <bpmn:outgoing>f_nag</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeCycle>{cycle.replace('"', '&quot;')}</bpmn:timeCycle></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f_nag" sourceRef="nag" targetRef="end_nag" />
    <bpmn:endEvent id="end_nag"><bpmn:incoming>f_nag</bpmn:incoming></bpmn:endEvent>"""


def _start(db: Any, services: Any, name: str, text: str, process: str) -> int:
    deploy(db, services, files={name: text.encode()})
    with UnitOfWork(db, actor("alice")) as uow:
        instance = instances.start(uow, process)
        uow.commit()
        return int(instance.id)


def _two_deadlines(db: Any, services: Any, late: str = '"PT30M"', expired: str = '"PT1H"', late_interrupts: str = "true",
                   expired_interrupts: str = "true", more: str = "") -> int:
    text = render("two_deadlines.bpmn", {"LATE": late, "EXPIRED": expired, "INTERRUPTS_LATE": late_interrupts,
                                         "INTERRUPTS_EXPIRED": expired_interrupts, "XML_MORE": more})
    return _start(db, services, "two_deadlines.bpmn", text, "two_deadlines")


def _timer_entries(db: Any) -> list[tuple[str, str, str, str | None, str]]:
    """(action, element, due time, reason, actor) of every timer entry, in order."""
    with db.session() as s:
        entries = s.execute(select(AuditEntry).where(AuditEntry.action.in_(TIMER_ACTIONS))
                            .order_by(AuditEntry.seq)).scalars()
        return [(e.action, json.loads(e.details)["element_id"], json.loads(e.details)["due_at"], e.reason, e.actor_id)
                for e in entries]


def _rows(db: Any) -> dict[tuple[str, str], str]:
    with db.session() as s:
        return {(r.element_id, r.due_at): r.state for r in s.execute(select(DueTimer)).scalars()}


def _states(db: Any, instance_id: int) -> dict[str, str]:
    with db.session() as s:
        return {t["bpmn_id"]: t["state"] for t in instances.inspect(s, instance_id)["tasks"] if t["bpmn_id"]}


def _status(db: Any, instance_id: int) -> str:
    with db.session() as s:
        return str(instances.inspect(s, instance_id)["status"])


def _complete_work(db: Any, services: Any, instance_id: int) -> None:
    with UnitOfWork(db, actor("alice")) as uow:
        view = [t for t in tasks.inbox(uow, "alice", services=services) if t.instance_id == instance_id][0]
        tasks.complete_task(uow, view.id, {}, services=services)
        uow.commit()


AT_0830, AT_0845, AT_0900, AT_0815 = (f"2026-01-05T{t}:00.000000Z" for t in ("08:30", "08:45", "09:00", "08:15"))
WORK = "'work' (Do the work)"


@REQ
def test_two_interrupting_timers_due_together_one_fired_the_other_cancelled_by_it(
        db: Any, services: Any, frozen_clock: Any) -> None:
    _two_deadlines(db, services)
    scheduler = Scheduler(db)
    scheduler.run_once()
    frozen_clock.advance(hours=2)
    report = scheduler.run_once()
    assert (report.fired, report.void) == (1, 0)  # one row claimed; the other closed in the same step
    assert _timer_entries(db) == [
        ("timer.fired", "late", AT_0830, None, "system:scheduler"),
        ("timer.cancelled", "expired", AT_0900, f"'late' (Late) interrupted {WORK} first", "system:scheduler")]
    assert _rows(db) == {("late", AT_0830): "fired", ("expired", AT_0900): "void"}


@REQ
def test_non_interrupting_timers_due_together_are_each_recorded_fired_once(
        db: Any, services: Any, frozen_clock: Any) -> None:
    _two_deadlines(db, services, late_interrupts="false", expired_interrupts="false")
    scheduler = Scheduler(db)
    scheduler.run_once()
    frozen_clock.advance(hours=2)
    scheduler.run_once()
    assert scheduler.run_once().as_dict()["void"] == 0
    assert _timer_entries(db) == [("timer.fired", "late", AT_0830, None, "system:scheduler"),
                                  ("timer.fired", "expired", AT_0900, None, "system:scheduler")]
    assert set(_rows(db).values()) == {"fired"}


@REQ
def test_completing_the_activity_records_its_timers_cancelled_by_the_completion(
        db: Any, services: Any, frozen_clock: Any) -> None:
    instance_id = _two_deadlines(db, services)
    scheduler = Scheduler(db)
    scheduler.run_once()
    frozen_clock.advance(minutes=5)
    _complete_work(db, services, instance_id)
    assert _status(db, instance_id) == "completed"
    entries = [("timer.cancelled", "late", AT_0830, f"{WORK} was completed", "alice"),
               ("timer.cancelled", "expired", AT_0900, f"{WORK} was completed", "alice")]
    assert _timer_entries(db) == entries
    frozen_clock.advance(hours=2)
    report = scheduler.run_once()
    assert (report.fired, report.void) == (0, 0)
    assert _timer_entries(db) == entries  # nothing recorded twice


@REQ
def test_a_message_that_ends_the_activity_first_is_the_timers_reason(db: Any, services: Any, frozen_clock: Any) -> None:
    from engine.inbound import receive_message

    more = """
    <bpmn:boundaryEvent id="aborted" name="Aborted" attachedToRef="work"><bpmn:outgoing>f_abort</bpmn:outgoing>
      <bpmn:messageEventDefinition messageRef="msg_abort" /></bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f_abort" sourceRef="aborted" targetRef="end_aborted" />
    <bpmn:endEvent id="end_aborted"><bpmn:incoming>f_abort</bpmn:incoming></bpmn:endEvent>"""
    instance_id = _two_deadlines(db, services, more=more)
    Scheduler(db).run_once()
    frozen_clock.advance(minutes=10)
    with UnitOfWork(db, actor("alice")) as uow:
        receive_message(uow, "abort_work", {"instance_id": instance_id}, {"why": "line stopped"})
        uow.commit()
    reason = f"'aborted' (Aborted) interrupted {WORK} first"
    assert _timer_entries(db) == [("timer.cancelled", "late", AT_0830, reason, "alice"),
                                  ("timer.cancelled", "expired", AT_0900, reason, "alice")]


@REQ
def test_a_timer_due_when_a_user_completes_a_task_fires_in_that_step(db: Any, services: Any, frozen_clock: Any) -> None:
    text = (PROCESSES / "timer_beside_task.bpmn").read_text(encoding="utf-8")
    instance_id = _start(db, services, "timer_beside_task.bpmn", text, "timer_beside_task")
    scheduler = Scheduler(db)
    scheduler.run_once()
    frozen_clock.advance(minutes=40)  # the hold time is over; the scheduler has not fired it yet
    _complete_work(db, services, instance_id)
    states = _states(db, instance_id)
    assert (states["hold"], states["note_hold"], states["end"]) == ("completed", "completed", "completed")
    assert _status(db, instance_id) == "completed"
    assert _timer_entries(db) == [("timer.fired", "hold", AT_0830, None, "alice")]
    report = scheduler.run_once()
    assert (report.fired, report.void) == (0, 0)
    assert _rows(db) == {("hold", AT_0830): "fired"}


@REQ
@pytest.mark.parametrize("cycle", ['"R/PT15M"', '"R3/PT15M"'])
def test_an_interrupting_cycle_timer_fires_once_and_ends_its_activity(
        db: Any, services: Any, frozen_clock: Any, cycle: str) -> None:
    instance_id = _two_deadlines(db, services, late='"PT10H"', expired='"PT10H"', more=_cycle("true", cycle))
    scheduler = Scheduler(db)
    scheduler.run_once()
    frozen_clock.advance(minutes=14)
    assert scheduler.run_once().fired == 0 and _states(db, instance_id)["work"] == "ready"
    frozen_clock.advance(minutes=2)
    assert scheduler.run_once().fired == 1
    states = _states(db, instance_id)
    assert (states["work"], states["nag"], states["end_nag"]) == ("cancelled", "completed", "completed")
    assert _status(db, instance_id) == "completed"
    reason = f"'nag' (Nag) interrupted {WORK} first"
    at_1800 = "2026-01-05T18:00:00.000000Z"
    assert _timer_entries(db) == [("timer.fired", "nag", AT_0815, None, "system:scheduler"),
                                  ("timer.cancelled", "late", at_1800, reason, "system:scheduler"),
                                  ("timer.cancelled", "expired", at_1800, reason, "system:scheduler")]


@REQ
def test_a_non_interrupting_cycle_timer_keeps_repeating_until_the_activity_ends(
        db: Any, services: Any, frozen_clock: Any) -> None:
    instance_id = _two_deadlines(db, services, late='"PT10H"', expired='"PT10H"', more=_cycle("false"))
    scheduler = Scheduler(db)
    scheduler.run_once()
    for _ in range(3):
        frozen_clock.advance(minutes=15)
        assert scheduler.run_once().fired == 1
        assert _states(db, instance_id)["work"] == "ready"
    assert [e[:3] for e in _timer_entries(db)] == [("timer.fired", "nag", AT_0815), ("timer.fired", "nag", AT_0830),
                                                   ("timer.fired", "nag", AT_0845)]
    assert _rows(db)[("nag", AT_0900)] == "waiting"
    _complete_work(db, services, instance_id)
    assert _status(db, instance_id) == "completed"
    assert ("timer.cancelled", "nag", AT_0900, f"{WORK} was completed", "alice") in _timer_entries(db)
    assert not [e for e in _timer_entries(db) if e[0] == "timer.voided"]
