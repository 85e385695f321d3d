"""What became of a waiting timer after a step: still waiting, fired, or cancelled (and why).

The scheduler keeps one row per timer and due time (`engine_due_timer`). A step may fire
timers other than the one the scheduler claimed (every due timer of the instance is
refreshed; a user's completion refreshes them too), and it may cancel timers (their
activity was completed, another interrupting event ended it first, the event-based gateway
took another event, the instance was cancelled). `timer_outcome` reads that from the
workflow after the step, so that each row is recorded once, as what happened to it.

SpiffWorkflow internals used (pinned by tests/engine/test_spiff_contract.py): a boundary
event's task is a child of its activity's `BoundaryEventSplit` task (the activity's task is
the child that is not a boundary event); `BoundaryEvent.cancel_activity`; timers after an
event-based gateway are held by the gateway's task (`engine.spiff.timers`).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn.specs.control import BoundaryEventSplit
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent, EventBasedGateway
from SpiffWorkflow.util.task import TaskState

from engine.spiff.timers import ClockCycleTimerEventDefinition, timer_due_text

__all__ = ["WAITING", "FIRED", "CANCELLED", "timer_outcome", "touched_timer_tasks"]

WAITING, FIRED, CANCELLED = "waiting", "fired", "cancelled"
_RAN = TaskState.READY | TaskState.STARTED | TaskState.COMPLETED


def label(task: Any) -> str:
    """'bpmn_id' (name) of a task's element."""
    spec = task.task_spec
    name = getattr(spec, "bpmn_name", None)
    return f"'{getattr(spec, 'bpmn_id', None) or spec.name}'" + (f" ({name})" if name else "")


def touched_timer_tasks(workflow: Any) -> set[str]:
    """Ids of the tasks a step may have changed a timer of: tasks that left WAITING, and waiting
    tasks changed (a repeating timer stays waiting and starts a path at each occurrence)."""
    changelog = workflow.changelog
    ids = {str(task.id) for task, old, _new in changelog.transitions
           if old == TaskState.WAITING and _holds_timer(task)}
    ids.update(str(task_id) for task_id, task in changelog.changed.items()
               if task.state == TaskState.WAITING and _holds_timer(task))
    return ids


def _holds_timer(task: Any) -> bool:
    definition = getattr(task.task_spec, "event_definition", None)
    return isinstance(definition, TimerEventDefinition) or any(
        isinstance(d, TimerEventDefinition) for d in getattr(definition, "event_definitions", None) or ())


def _same_time(text: str | None, due_at: datetime) -> bool:
    if text is None:
        return False
    try:
        return datetime.fromisoformat(text) == due_at
    except ValueError:
        return False


def timer_outcome(task: Any, due_at: datetime, now: datetime, *, instance_cancelled: bool = False
                  ) -> tuple[str, str | None]:
    """(WAITING | FIRED | CANCELLED, reason) of the timer of `task` that was due at `due_at`.

    `task` None (the task no longer exists) counts as cancelled."""
    if task is None:
        return CANCELLED, "its task no longer exists"
    state = task.state
    if state == TaskState.WAITING:
        current = timer_due_text(task.internal_data)
        if _same_time(current, due_at):
            return WAITING, None
        definition = getattr(task.task_spec, "event_definition", None)
        if isinstance(definition, ClockCycleTimerEventDefinition) and due_at <= now:
            return FIRED, None  # one occurrence of a repeating timer; it waits for the next
        return CANCELLED, f"it is now due at {current}" if current else "it is no longer waiting"
    if state & _RAN:
        if isinstance(task.task_spec, EventBasedGateway):
            return _gateway_outcome(task, due_at)
        return FIRED, None
    if instance_cancelled:
        return CANCELLED, "the instance was cancelled"
    return CANCELLED, _why_cancelled(task)


def _gateway_outcome(gateway: Any, due_at: datetime) -> tuple[str, str | None]:
    for entry in (gateway.internal_data.get("gateway_timers") or {}).values():
        if entry.get("event_fired") and _same_time(entry.get("event_value"), due_at):
            return FIRED, None
    taken = [label(child) for child in gateway.children if child.state == TaskState.COMPLETED]
    return CANCELLED, (f"the event-based gateway {label(gateway)} took "
                       + (", ".join(taken) if taken else "another event") + " first")


def _why_cancelled(task: Any) -> str:
    split = task.parent
    if isinstance(task.task_spec, BoundaryEvent) and split is not None \
            and isinstance(split.task_spec, BoundaryEventSplit):
        siblings = [c for c in split.children if c is not task]
        activity = next((c for c in siblings if not isinstance(c.task_spec, BoundaryEvent)), None)
        winners = [c for c in siblings if isinstance(c.task_spec, BoundaryEvent) and c.task_spec.cancel_activity
                   and c.state & _RAN]
        name = label(activity) if activity is not None else "its activity"
        if winners:
            return f"{label(winners[0])} interrupted {name} first"
        if activity is not None and activity.state == TaskState.COMPLETED:
            return f"{name} was completed"
        return f"{name} was cancelled"
    if isinstance(task.task_spec, EventBasedGateway):
        return f"the event-based gateway {label(task)} was cancelled"
    return "its path was cancelled"
