"""Messages and signals between workflows: what a workflow threw, which workflow catches it.

SpiffWorkflow keeps the events a workflow threw and could not catch itself in
`workflow.bpmn_events`; a workflow catches an event when one of its waiting tasks'
specs `catches(task, event)` (correlation keys included); `send_event` delivers it.
"""
from __future__ import annotations

from typing import Any, Mapping

from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import SignalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.util.task import TaskState

from engine.spiff.serializer import registry

__all__ = ["BpmnEvent", "catches", "is_message", "is_signal", "deliver", "routable", "take_routable",
           "event_name", "event_kind", "event_correlations", "event_payload", "send", "version_catches",
           "starts_on"]


def catches(workflow: Any, event: BpmnEvent) -> bool:
    """True when a task of `workflow` waits for `event` (with matching correlations)."""
    for task in workflow.event_manager.tasks.values():
        if task.state == TaskState.WAITING and task.task_spec.catches(task, event):
            return True
    return False


def is_message(event: BpmnEvent) -> bool:
    return isinstance(event.event_definition, MessageEventDefinition)


def is_signal(event: BpmnEvent) -> bool:
    return isinstance(event.event_definition, SignalEventDefinition)


def event_name(event: BpmnEvent) -> str:
    return str(event.event_definition.name)


def event_kind(event: BpmnEvent) -> str:
    return "message" if is_message(event) else "signal"


def event_correlations(event: BpmnEvent) -> dict[str, Any]:
    return dict(event.correlations or {})


def event_payload(event: BpmnEvent) -> Any:
    """The payload in its JSON form (as stored)."""
    return registry().convert(event.payload)


def send(workflow: Any, event: BpmnEvent) -> None:
    workflow.send_event(event)


def routable(workflow: Any) -> list[BpmnEvent]:
    """Messages and signals the workflow threw and did not catch itself."""
    return [e for e in workflow.bpmn_events if is_message(e) or is_signal(e)]


def take_routable(workflow: Any) -> None:
    """Remove the routable events from the workflow (they are being routed)."""
    workflow.bpmn_events = [e for e in workflow.bpmn_events if not (is_message(e) or is_signal(e))]


def deliver(events: list[BpmnEvent], workflows: Mapping[Any, Any]) -> list[tuple[str, Any]]:
    """Deliver thrown events to in-memory workflows; (event name, receiver key or None) per event.

    Messages go to the first workflow that catches them (correlation keys matched by
    SpiffWorkflow's `catches`); signals to every workflow that catches them.
    """
    delivered: list[tuple[str, Any]] = []
    for event in events:
        receivers = [key for key, wf in workflows.items() if catches(wf, event)]
        if is_message(event):
            receivers = receivers[:1]
        for key in receivers:
            workflows[key].send_event(event)
        delivered.extend((event.event_definition.name, key) for key in receivers or [None])
    return delivered


def version_catches(spec: Any, subprocess_specs: Mapping[str, Any], event: BpmnEvent) -> bool:
    """Whether any element of these processes can catch events like `event` at all (same kind and name)."""
    definition = event.event_definition
    for process in [spec, *subprocess_specs.values()]:
        for task_spec in process.task_specs.values():
            candidate = getattr(task_spec, "event_definition", None)
            inner = getattr(candidate, "event_definitions", None) or [candidate]  # event-based gateways
            if any(d is not None and type(d) is type(definition) and getattr(d, "name", None) == definition.name
                   for d in inner):
                return True
    return False


def starts_on(spec: Any, event: BpmnEvent) -> bool:
    """Whether the process's top-level start event catches `event` (a message start event)."""
    for task_spec in spec.task_specs.values():
        definition = getattr(task_spec, "event_definition", None)
        if type(task_spec).__name__ == "StartEvent" and definition is not None and \
                definition.__class__ is event.event_definition.__class__ and \
                definition.name == event.event_definition.name:
            return True
    return False


# ---------------------------------------------------------------- messages from other systems (engine.inbound)
def message_catchers(spec: Any, subprocess_specs: Mapping[str, Any], name: str) -> frozenset[str]:
    """Names of the task specs of these processes that catch message `name`."""
    found = set()
    for process in [spec, *subprocess_specs.values()]:
        for task_spec in process.task_specs.values():
            definition = getattr(task_spec, "event_definition", None)
            inner = getattr(definition, "event_definitions", None) or [definition]
            if any(isinstance(d, MessageEventDefinition) and d.name == name for d in inner):
                found.add(task_spec.name)
    return frozenset(found)


def starts_on_message(spec: Any, name: str) -> bool:
    """Whether the process's top-level start event catches message `name`."""
    for task_spec in spec.task_specs.values():
        definition = getattr(task_spec, "event_definition", None)
        if type(task_spec).__name__ == "StartEvent" and isinstance(definition, MessageEventDefinition) \
                and definition.name == name:
            return True
    return False


def send_message(workflow: Any, name: str, payload: Mapping[str, Any]) -> bool:
    """Hand message `name` to the workflow's task waiting for it (the caller chose the instance by
    its own correlation: SpiffWorkflow gets the instance's correlations); False if none waits."""
    for task in workflow.get_tasks(state=TaskState.WAITING):
        definition = getattr(task.task_spec, "event_definition", None)
        inner = getattr(definition, "event_definitions", None) or [definition]
        for candidate in inner:
            if isinstance(candidate, MessageEventDefinition) and candidate.name == name:
                workflow.send_event(BpmnEvent(candidate, dict(payload), dict(task.workflow.correlations)))
                return True
    return False
