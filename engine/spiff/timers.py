"""Timer events driven by the product's one clock (`core.clock.now()`).

SpiffWorkflow's timer event definitions read `datetime.now(timezone.utc)` directly. The
classes here are the same definitions with every reading of the time going through
`core.clock.now()`, so tests move time with the `frozen_clock` fixture and a scheduler
process can be moved with GMP_CLOCK_OFFSET_SECONDS. Nothing else changes: expressions
are still evaluated by the workflow's (restricted) script engine, and the serialized
form is SpiffWorkflow's (`TimerConditionalEventDefinitionConverter`), under our class
names.

Integration (this adapter):
- `TIMER_PARSER_CLASSES`: BPMN tag -> (parser class, spec class) for start,
  intermediate catch and boundary events, used by `engine.spiff.parser.GmpBpmnParser`.
- `TIMER_SPEC_CONVERTERS`: event-definition class -> converter class, in the
  serializer's spec config (`engine.spiff.serializer`).
- `due_timers(workflow)`: the earliest due time of every waiting timer, for the
  scheduler's due-timer table.

Timers after an event-based gateway: the gateway's task holds all of them (SpiffWorkflow
moves their definitions into the gateway's), and SpiffWorkflow keeps one `event_value` per
task, so every timer got the first one's due time. Here each keeps its own due time and
fired flag in `internal_data["gateway_timers"][<index>]`, and `event_value` carries the
earliest pending one (what the scheduler reads). Which event a gateway takes when several
happened: `engine.spiff.event_races`.

SpiffWorkflow internals used (pinned by the contract tests): `has_fired(my_task)`,
`update_task(my_task)` and `cycle_complete(my_task)` of the timer definitions,
`Task._get_internal_data` / `_set_internal_data`, and `Task._sync_children` (a cycle timer's
task has no predicted children: `CatchingEvent._predict_hook` skips cycles).

Expressions: ISO 8601 durations (`"PT1H"`), date-times (`"2026-01-05T10:00:00Z"`) and
repeating intervals (`"R3/PT10M"`), written as Python string expressions (quoted).
A date-time without a zone is read as UTC (never the server's local zone).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from SpiffWorkflow.bpmn.parser.util import first
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.serializer.default.event_definition import TimerConditionalEventDefinitionConverter
from SpiffWorkflow.bpmn.specs.defaults import BoundaryEvent as SpiffBoundaryEvent
from SpiffWorkflow.bpmn.specs.defaults import IntermediateCatchEvent as SpiffIntermediateCatchEvent
from SpiffWorkflow.bpmn.specs.defaults import StartEvent as SpiffStartEvent
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.spiff.parser.event_parsers import (
    SpiffBoundaryEventParser,
    SpiffIntermediateCatchEventParser,
    SpiffStartEventParser,
)
from SpiffWorkflow.util.task import TaskState

from core import clock
from engine.errors import EngineError, TimerExpressionError


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def parse_datetime(text: str) -> datetime:
    """An ISO date-time (or ISO week date); no zone means UTC."""
    text = text.strip()
    if "W" in text.upper() and not text.upper().startswith("P"):
        return _utc(TimerEventDefinition.parse_iso_week(text))
    return _utc(datetime.fromisoformat(text.replace("Z", "+00:00")))


def _label(my_task: Any) -> str:
    spec = my_task.task_spec
    name = getattr(spec, "bpmn_name", None)
    bpmn_id = getattr(spec, "bpmn_id", spec.name)
    return f"timer '{bpmn_id}'" + (f" ({name})" if name else "")


def _slot(my_task: Any, definition: Any) -> str | None:
    """Where a timer keeps its due time and fired flag: None for the task's own timer (the keys
    `event_value`, `event_fired` of its internal data, as SpiffWorkflow keeps them); for one of the
    timers of an event-based gateway (the gateway task holds them all), its own entry
    `gateway_timers[<index of the timer in the gateway>]`, so that each timer counts from its own
    expression (SpiffWorkflow keeps one `event_value` per task: every timer of a gateway got the first
    one's due time)."""
    own = getattr(my_task.task_spec, "event_definition", None)
    inner = getattr(own, "event_definitions", None)
    if own is definition or not inner:
        return None
    for index, candidate in enumerate(inner):
        if candidate is definition:
            return str(index)
    return None


def _get(my_task: Any, definition: Any, key: str, default: Any = None) -> Any:
    slot = _slot(my_task, definition)
    if slot is None:
        return my_task._get_internal_data(key, default)
    return my_task.internal_data.get("gateway_timers", {}).get(slot, {}).get(key, default)


def _set(my_task: Any, definition: Any, **values: Any) -> None:
    slot = _slot(my_task, definition)
    if slot is None:
        my_task._set_internal_data(**values)
        return
    timers = my_task.internal_data.setdefault("gateway_timers", {})
    timers.setdefault(slot, {}).update(values)
    # the earliest due time of the gateway's timers, where the scheduler looks for it
    pending = [entry["event_value"] for entry in timers.values()
               if isinstance(entry.get("event_value"), str) and not entry.get("event_fired")]
    if pending:
        my_task.internal_data["event_value"] = min(pending, key=datetime.fromisoformat)


def timer_due_at(my_task: Any, definition: Any) -> datetime | None:
    """When timer `definition` of `my_task` is (or was) due; None if not evaluated yet or a spent cycle."""
    value = _get(my_task, definition, "event_value")
    if isinstance(value, dict):
        value = value.get("next") if value.get("cycles") != 0 else None
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _text(my_task: Any, value: Any) -> str:
    if not isinstance(value, str):
        raise TimerExpressionError(
            f"{_label(my_task)}: the timer expression gave {type(value).__name__} {value!r}, expected an ISO 8601 "
            "string (quote it: \"PT1H\")")
    return value


class _DistinctByExpression:
    """Timers of one kind are equal when their name AND expression are (SpiffWorkflow: the name).

    An event-based gateway finds the path of the event that happened by equality
    (`EventBasedGateway._run_hook`: `event_definitions.index(...)`): two timers after one gateway
    with the same name (say both "Wait") took the first one's path whichever fell due. With the
    expression compared too, only timers due at the same moment remain equal, and of those the
    first in the file is the one that happens anyway (`engine.spiff.event_races`)."""

    expression: str

    def __eq__(self, other: object) -> bool:
        return super().__eq__(other) and self.expression == getattr(other, "expression", None)  # type: ignore[misc]

    __hash__ = None  # type: ignore[assignment]  # as SpiffWorkflow's definitions: mutable, unhashable


class ClockTimeDateEventDefinition(_DistinctByExpression, TimeDateEventDefinition):
    """A timer at a date-time, read against `core.clock.now()`."""

    def has_fired(self, my_task: Any) -> bool:
        event_value = _get(my_task, self, "event_value")
        if event_value is None:
            text = _text(my_task, my_task.workflow.script_engine.evaluate(my_task, self.expression))
            try:
                event_value = parse_datetime(text).isoformat()
            except (ValueError, AttributeError) as exc:
                raise TimerExpressionError(f"{_label(my_task)}: {text!r} is not an ISO 8601 date-time") from exc
            _set(my_task, self, event_value=event_value)
        if datetime.fromisoformat(event_value) <= clock.now():
            _set(my_task, self, event_fired=True)
        return bool(_get(my_task, self, "event_fired", False))


class ClockDurationTimerEventDefinition(_DistinctByExpression, DurationTimerEventDefinition):
    """A timer after a duration, counted from when the event was reached, on `core.clock.now()`."""

    def has_fired(self, my_task: Any) -> bool:
        event_value = _get(my_task, self, "event_value")
        if event_value is None:
            text = _text(my_task, my_task.workflow.script_engine.evaluate(my_task, self.expression))
            start = clock.now()
            try:
                parsed = TimerEventDefinition.parse_iso_duration(text)
                event_value = (start + TimerEventDefinition.get_timedelta_from_start(parsed, start)).isoformat()
            except Exception as exc:  # Spiff raises a bare Exception('Invalid duration')
                raise TimerExpressionError(f"{_label(my_task)}: {text!r} is not an ISO 8601 duration") from exc
            _set(my_task, self, event_value=event_value)
        if datetime.fromisoformat(event_value) <= clock.now():
            _set(my_task, self, event_fired=True)
        return bool(_get(my_task, self, "event_fired", False))


class ClockCycleTimerEventDefinition(_DistinctByExpression, CycleTimerEventDefinition):
    """A repeating timer (`R3/PT10M`, `R/2026-01-05T08:00:00Z/P1D`) on `core.clock.now()`.

    On an interrupting boundary event it fires once, at its first occurrence, and ends the
    activity (BPMN: an interrupting event happens once). SpiffWorkflow's cycle only starts the
    event's path at each occurrence and never fires the event itself until the cycles run out
    (never, for `R/...`), so the activity was never interrupted."""

    def _first_value(self, my_task: Any) -> dict[str, Any]:
        text = _text(my_task, my_task.workflow.script_engine.evaluate(my_task, self.expression))
        try:
            cycles, start, duration = _parse_cycle(text)
        except Exception as exc:  # Spiff raises bare Exceptions for bad intervals
            raise TimerExpressionError(f"{_label(my_task)}: {text!r} is not an ISO 8601 repeating interval") from exc
        return {"cycles": cycles, "next": start.isoformat(), "duration": duration.total_seconds()}

    def has_fired(self, my_task: Any) -> bool:
        if _interrupting(my_task) and not my_task._get_internal_data("event_fired", False):
            event_value = my_task._get_internal_data("event_value")
            if event_value is None:
                event_value = self._first_value(my_task)
                my_task._set_internal_data(event_value=event_value)
            if event_value["cycles"] != 0 and datetime.fromisoformat(event_value["next"]) <= clock.now():
                my_task._set_internal_data(event_fired=True)
                # SpiffWorkflow predicts no path after a cycle timer (it adds one per occurrence)
                my_task._sync_children(my_task.task_spec.outputs, TaskState.FUTURE)
        return super().has_fired(my_task)

    def update_task(self, my_task: Any) -> None:
        if not _interrupting(my_task):  # an interrupting one fires through has_fired, starting no path before
            super().update_task(my_task)

    def cycle_complete(self, my_task: Any) -> bool:
        event_value = my_task._get_internal_data("event_value")
        if event_value is None:
            event_value = self._first_value(my_task)

        ready = False
        if event_value["cycles"] != 0:
            next_event = datetime.fromisoformat(event_value["next"])
            if next_event <= clock.now():
                event_value["next"] = (next_event + timedelta(seconds=event_value["duration"])).isoformat()
                event_value["cycles"] -= 1
                ready = True
        else:
            my_task.internal_data.pop("event_value", None)
            my_task.internal_data["event_fired"] = True
            return False
        my_task._set_internal_data(event_value=event_value)
        return ready


def _interrupting(my_task: Any) -> bool:
    return isinstance(my_task.task_spec, BoundaryEvent) and bool(my_task.task_spec.cancel_activity)


def _parse_cycle(expression: str) -> tuple[int, datetime, timedelta]:
    components = expression.upper().replace("--", "/").strip("R").split("/")
    cycles = int(components[0]) if components[0] else -1
    first_part = _time_or_duration(components[1])
    second = _time_or_duration(components[2]) if len(components) == 3 else None
    if isinstance(first_part, datetime):
        if not isinstance(second, dict):
            raise ValueError("a start time must be followed by a duration")
        return cycles, first_part, TimerEventDefinition.get_timedelta_from_start(second, first_part)
    if isinstance(second, datetime):
        duration = TimerEventDefinition.get_timedelta_from_end(first_part, second)
        return cycles, second - duration, duration
    if second is None:
        now = clock.now()
        duration = TimerEventDefinition.get_timedelta_from_start(first_part, now)
        return cycles, now + duration, duration
    raise ValueError("invalid repeating interval")


def _time_or_duration(text: str) -> Any:
    if text.upper().startswith("P"):
        return TimerEventDefinition.parse_iso_duration(text)
    return parse_datetime(text)


# ---------------------------------------------------------------- parsing
class ClockTimerParserMixin:
    """Make an event parser build the clock-driven timer definitions."""

    def parse_timer_event(self, event: Any) -> TimerEventDefinition:
        name = self.node.get("name", self.node.get("id"))  # type: ignore[attr-defined]
        description = self.get_event_description(event)  # type: ignore[attr-defined]
        xpath = self.xpath  # type: ignore[attr-defined]
        time_date = first(xpath(".//bpmn:timeDate"))
        if time_date is not None:
            return ClockTimeDateEventDefinition(name, time_date.text, description=description)
        time_duration = first(xpath(".//bpmn:timeDuration"))
        if time_duration is not None:
            return ClockDurationTimerEventDefinition(name, time_duration.text, description=description)
        time_cycle = first(xpath(".//bpmn:timeCycle"))
        if time_cycle is not None:
            return ClockCycleTimerEventDefinition(name, time_cycle.text, description=description)
        raise ValidationException("Unknown Time Specification", node=self.node,  # type: ignore[attr-defined]
                                  file_name=self.filename)  # type: ignore[attr-defined]


class ClockStartEventParser(ClockTimerParserMixin, SpiffStartEventParser):
    pass


class ClockIntermediateCatchEventParser(ClockTimerParserMixin, SpiffIntermediateCatchEventParser):
    pass


class ClockBoundaryEventParser(ClockTimerParserMixin, SpiffBoundaryEventParser):
    pass


# tag -> (parser class, spec class): the spec classes stay SpiffWorkflow's own.
TIMER_PARSER_CLASSES: dict[str, tuple[type, type]] = {
    "startEvent": (ClockStartEventParser, SpiffStartEvent),
    "intermediateCatchEvent": (ClockIntermediateCatchEventParser, SpiffIntermediateCatchEvent),
    "boundaryEvent": (ClockBoundaryEventParser, SpiffBoundaryEvent),
}

TIMER_SPEC_CONVERTERS: dict[type, type] = {
    ClockTimeDateEventDefinition: TimerConditionalEventDefinitionConverter,
    ClockDurationTimerEventDefinition: TimerConditionalEventDefinitionConverter,
    ClockCycleTimerEventDefinition: TimerConditionalEventDefinitionConverter,
}

_CLOCK_TIMERS = (ClockTimeDateEventDefinition, ClockDurationTimerEventDefinition, ClockCycleTimerEventDefinition)
_ANY_TIMER = (TimerEventDefinition,)


# ---------------------------------------------------------------- due times
@dataclass(frozen=True)
class DueTimer:
    """A waiting timer of a workflow: which task, which element, when it is due."""

    task_id: str
    element_id: str
    due_at: datetime


def due_timers(workflow: Any) -> list[DueTimer]:
    """Every waiting timer of `workflow` (subprocesses included) with its due time.

    A timer whose expression has not been evaluated yet (not reached) is not listed.
    Raises EngineError if the workflow still carries SpiffWorkflow's wall-clock timers.
    """
    found: list[DueTimer] = []
    for task in workflow.get_tasks(state=TaskState.WAITING):
        definition = getattr(task.task_spec, "event_definition", None)
        if not isinstance(definition, _ANY_TIMER):
            continue
        if not isinstance(definition, _CLOCK_TIMERS):
            raise EngineError(f"timer '{task.task_spec.bpmn_id}' was not parsed with the clock-driven timer classes "
                              "(engine.spiff.timers.TIMER_PARSER_CLASSES)")
        value = task._get_internal_data("event_value")
        if value is None:
            continue
        text = value["next"] if isinstance(value, dict) else value
        found.append(DueTimer(str(task.id), task.task_spec.bpmn_id or task.task_spec.name,
                              datetime.fromisoformat(text)))
    return sorted(found, key=lambda timer: timer.due_at)


def is_clock_timer(task_spec: Any) -> bool:
    return isinstance(getattr(task_spec, "event_definition", None), _CLOCK_TIMERS)


def is_clock_timer_definition(definition: Any) -> bool:
    return isinstance(definition, _CLOCK_TIMERS)


def has_timer_events(specs: Any) -> bool:
    """Whether any of these process specs has a timer event."""
    return any(isinstance(getattr(t, "event_definition", None), TimerEventDefinition)
               for s in specs for t in s.task_specs.values())


def timer_due_text(internal_data: Any) -> str | None:
    """The due time a waiting timer task keeps in its (saved) internal data, as ISO text; None if none."""
    value = internal_data.get("event_value") if isinstance(internal_data, dict) else None
    if isinstance(value, dict):
        if value.get("cycles") == 0:
            return None
        value = value.get("next")
    return value if isinstance(value, str) else None


__all__ = [
    "ClockTimeDateEventDefinition",
    "ClockDurationTimerEventDefinition", "ClockCycleTimerEventDefinition", "TIMER_PARSER_CLASSES",
    "TIMER_SPEC_CONVERTERS", "DueTimer", "due_timers", "TimerExpressionError", "parse_datetime",
]
