"""Events that fall due together: which one happens, when only one may.

An interrupting boundary event ends its activity, and an event-based gateway takes the
path of the one event that happens first. SpiffWorkflow decides neither when several
events become ready in the same engine step (two timers due by the same scheduler pass,
a message arriving when a timer is already due): every ready boundary event runs
(`BoundaryEventJoin` cancels only the siblings still WAITING, not a READY one), so the
activity is cancelled twice and every event's path starts.

`settle(workflow)` runs before each round of an engine step (`GmpWorkflow._do_engine_steps`)
and decides, for each activity with a ready interrupting boundary event:

- every boundary event of the activity that has happened competes: the ready ones, and a
  waiting timer whose due time has passed (it is refreshed now);
- each happened at its *occurrence time*: a timer at its due time, any other event (message,
  signal, error, escalation) at the time of the step that caught it;
- in order of occurrence time, then of the events in the BPMN file: non-interrupting events
  before the first interrupting one fire; that interrupting one fires; every later one is
  cancelled (it never happened: the activity had already ended).

Non-interrupting events alone all fire (nothing to decide). For an event-based gateway
waiting for several events, the earliest occurrence (then the first outgoing flow in the
file) is the one the gateway takes.

SpiffWorkflow internals used (pinned by tests/engine/test_spiff_contract.py): a boundary
event's task is a child of its activity's `BoundaryEventSplit` task, the activity's task
first and the events in file order; `BoundaryEvent.cancel_activity`; `Task.cancel()` of a
READY event task takes it out of the event manager; an event-based gateway keeps the events
it saw in `internal_data["seen_events"]` and takes the path of each (`EventBasedGateway._run_hook`).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn.specs.control import BoundaryEventSplit
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent, EventBasedGateway
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.util.task import TaskState

from core import clock
from engine.spiff.timers import is_clock_timer, is_clock_timer_definition, timer_due_at

__all__ = ["settle"]


def settle(workflow: Any) -> list[Any]:
    """Cancel the events that lost a race in `workflow` (subprocesses included); the cancelled tasks."""
    splits: dict[Any, Any] = {}
    gateways = []
    for task in workflow.active_tasks():
        if task.state != TaskState.READY:
            continue
        if isinstance(task.task_spec, BoundaryEvent) and task.parent is not None \
                and isinstance(task.parent.task_spec, BoundaryEventSplit):
            splits.setdefault(task.parent.id, task.parent)
        elif isinstance(task.task_spec, EventBasedGateway):
            gateways.append(task)
    cancelled: list[Any] = []
    if splits or gateways:
        now = clock.now()
        for split in splits.values():
            cancelled.extend(_settle_boundary(split, now))
        for gateway in gateways:
            _settle_gateway(gateway, now)
    return cancelled


def _occurred(task: Any, now: datetime) -> datetime:
    if is_clock_timer(task.task_spec):
        return timer_due_at(task, task.task_spec.event_definition) or now
    return now


def _settle_boundary(split: Any, now: datetime) -> list[Any]:
    events = [child for child in split.children if isinstance(child.task_spec, BoundaryEvent)]
    if not any(e.state == TaskState.READY and e.task_spec.cancel_activity for e in events):
        return []
    for event in events:  # a timer already due competes with its due time
        if event.state == TaskState.WAITING and is_clock_timer(event.task_spec):
            event.task_spec._update(event)
    ready = [(index, e) for index, e in enumerate(events) if e.state == TaskState.READY]
    ready.sort(key=lambda item: (_occurred(item[1], now), item[0]))
    cancelled, interrupted = [], False
    for _index, event in ready:
        if interrupted:
            event.cancel()
            cancelled.append(event)
        elif event.task_spec.cancel_activity:
            interrupted = True
    return cancelled


def _settle_gateway(gateway: Any, now: datetime) -> None:
    definitions = list(gateway.task_spec.event_definition.event_definitions)
    candidates: list[tuple[datetime, int, BpmnEvent]] = []
    for event in gateway.internal_data.get("seen_events", []):
        index = _index_of(definitions, event.event_definition)
        if index is not None and not isinstance(definitions[index], TimerEventDefinition):
            candidates.append((now, index, event))
    for index, definition in enumerate(definitions):
        if isinstance(definition, TimerEventDefinition) and definition.has_fired(gateway):
            due = timer_due_at(gateway, definition) if is_clock_timer_definition(definition) else None
            candidates.append((due or now, index, BpmnEvent(definition)))
    if candidates:
        candidates.sort(key=lambda c: (c[0], c[1]))
        gateway.internal_data["seen_events"] = [candidates[0][2]]


def _index_of(definitions: list[Any], definition: Any) -> int | None:
    for index, candidate in enumerate(definitions):
        if candidate is definition:
            return index
    for index, candidate in enumerate(definitions):
        if candidate == definition:
            return index
    return None

