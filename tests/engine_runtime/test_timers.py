"""Timer events run on the product's one clock: tests move time, nothing sleeps."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from SpiffWorkflow.util.task import TaskState

from engine.errors import TimerExpressionError
from engine.spiff.script_engine import attach_script_engine
from engine.spiff.timers import ClockDurationTimerEventDefinition, due_timers, parse_datetime
from tests.engine_runtime.support import serializer, workflow

REQ = pytest.mark.req("URS-RUN-004", "CN-5")
T0 = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)


def _steps(wf: Any) -> None:
    wf.refresh_timers()
    wf.do_engine_steps()


def _hold(hold: str = '"PT1H"', date: str = '"2026-01-05T10:00:00Z"') -> Any:
    return workflow({"timers.bpmn": {"HOLD": hold, "DATE": date}}, "hold_then_release")


@REQ
def test_duration_then_date_follow_the_frozen_clock(frozen_clock: Any) -> None:
    wf = _hold()
    wf.do_engine_steps()
    assert [(t.element_id, t.due_at) for t in due_timers(wf)] == [("hold", datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc))]
    frozen_clock.advance(minutes=59)
    _steps(wf)
    assert due_timers(wf)[0].element_id == "hold"
    frozen_clock.advance(minutes=1)
    _steps(wf)
    assert [(t.element_id, t.due_at) for t in due_timers(wf)] == [("until", datetime(2026, 1, 5, 10, 0, tzinfo=timezone.utc))]
    frozen_clock.advance(hours=1)
    _steps(wf)
    assert wf.is_completed()


@REQ
def test_a_date_without_zone_is_utc_and_a_past_date_fires_at_once(frozen_clock: Any) -> None:
    wf = _hold(hold='"PT0S"', date='"2026-01-05T07:00:00"')
    wf.do_engine_steps()
    _steps(wf)
    assert wf.is_completed()
    assert parse_datetime("2026-01-05T07:00:00") == datetime(2026, 1, 5, 7, 0, tzinfo=timezone.utc)
    assert parse_datetime("2026-W02-1T08:00:00Z") == T0


@REQ
def test_interrupting_boundary_timer_cancels_the_task(frozen_clock: Any) -> None:
    wf = workflow({"timers.bpmn": {}}, "weigh_with_deadline")
    wf.do_engine_steps()
    assert {t.element_id for t in due_timers(wf)} == {"weigh_overdue", "weigh_reminder"}
    frozen_clock.advance(minutes=30)
    _steps(wf)
    weigh = wf.get_next_task(spec_name="weigh")
    assert weigh.state == TaskState.CANCELLED
    assert wf.get_next_task(spec_name="w_overdue_end").state == TaskState.COMPLETED


@REQ
def test_cycle_boundary_timer_fires_each_period_without_interrupting(frozen_clock: Any) -> None:
    wf = workflow({"timers.bpmn": {}}, "weigh_with_deadline")
    wf.do_engine_steps()
    reminders = []
    for _ in range(2):
        frozen_clock.advance(minutes=10)
        _steps(wf)
        reminders = [t for t in wf.get_tasks(spec_name="remind") if t.state == TaskState.COMPLETED]
    assert [t.data["reminded_at"] for t in reminders] == ["2026-01-05 08:10:00+00:00", "2026-01-05 08:20:00+00:00"]
    weigh = wf.get_next_task(spec_name="weigh")
    assert weigh.state == TaskState.READY
    weigh.run()
    wf.do_engine_steps()
    assert wf.is_completed()


@REQ
def test_timer_start_event_waits_for_its_time(frozen_clock: Any) -> None:
    wf = workflow({"timers.bpmn": {}}, "periodic_review")
    wf.do_engine_steps()
    assert not wf.is_completed()
    frozen_clock.advance(minutes=5)
    _steps(wf)
    assert wf.is_completed()
    assert wf.last_task.data["started_at"] == "2026-01-05T08:05:00+00:00"


@REQ
def test_waiting_timer_survives_serialization(frozen_clock: Any) -> None:
    wf = _hold()
    wf.do_engine_steps()
    loaded = attach_script_engine(serializer().deserialize_json(serializer().serialize_json(wf)))
    hold = loaded.get_next_task(spec_name="hold")
    assert isinstance(hold.task_spec.event_definition, ClockDurationTimerEventDefinition)
    frozen_clock.advance(hours=2)
    _steps(loaded)
    _steps(loaded)
    assert loaded.is_completed()


@pytest.mark.parametrize("hold, message", [
    ("60", "the timer expression gave int 60, expected an ISO 8601 string"),
    ('"one hour"', "'one hour' is not an ISO 8601 duration"),
])
def test_bad_duration_names_the_timer(hold: str, message: str, frozen_clock: Any) -> None:
    wf = _hold(hold=hold)
    with pytest.raises(TimerExpressionError, match=rf"timer 'hold' \(Hold\): {message}"):
        wf.do_engine_steps()


def test_bad_date_names_the_timer(frozen_clock: Any) -> None:
    wf = _hold(hold='"PT0S"', date='"tomorrow"')
    with pytest.raises(TimerExpressionError, match=r"timer 'until' \(Until release time\): 'tomorrow' is not an ISO 8601 date-time"):
        wf.do_engine_steps()
        _steps(wf)
