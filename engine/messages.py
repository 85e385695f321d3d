"""Between instances: links, deviations and exceptions raised by operators; message routing.

(Links themselves, their kinds and queries: engine.links.)

`DbOperatorActions` is the instance API the built-in operators use (engine.operators'
`OperatorContext`): start a linked process, raise a deviation carrying its context,
record an exception. Each action writes its rows and audit entries in the caller's unit
of work, so they commit (or roll back) with the step that caused them.

Message routing (`take_routable_events` and `route_events`, called by the core's save,
`engine.instances._finish`; `route_instance` for events left saved): after a step, the
messages an instance threw that it could not catch itself (`workflow.get_events()`) are delivered by the engine:
- to every running instance with a task waiting for that message whose correlation
  keys match (`correlations` of the event vs the waiting instance's), or
- when none waits, to a new instance of the approved process whose message start
  event catches it (a batch step starts a deviation instance carrying its context);
- signals go to every running instance waiting for them.
Each routed message is a row in `engine_message` (append-only) and an audit entry.
"""
from __future__ import annotations

import json
from typing import Any, Mapping

from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import SignalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select

from core import clock
from engine.runtime_models import InstanceException, RoutedMessage

DEVIATION_PROCESS_KEY = "deviation"
MAX_ROUTING_ROUNDS = 20


def _now() -> str:
    return clock.isoformat(clock.now())


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


class DbOperatorActions:
    """The operator context of a step: instance actions in the step's unit of work."""

    def __init__(self, uow: Any, instance_id: int, element_id: str | None, settings: Any = None, *,
                 task_data: Mapping[str, Any] | None = None) -> None:
        self.uow = uow
        self.instance_id = instance_id
        self.element_id = element_id or ""
        self.settings = settings
        self.task_data: Mapping[str, Any] = dict(task_data or {})

    def _link(self, new_instance: int, relation: str) -> None:
        """`new_instance <relation> this one` (engine.links; e.g. started_by, raised_from)."""
        from engine.links import record_engine_link

        record_engine_link(self.uow, new_instance, relation, self.instance_id, element_id=self.element_id)

    def start_linked_process(self, process_key: str, data: Mapping[str, Any], link: str) -> str:
        from engine import instances

        started = instances.start(self.uow, process_key, data=dict(data), settings=self.settings)
        self._link(started.id, link)
        return str(started.id)

    def raise_deviation(self, title: str, context: Mapping[str, Any], severity: str) -> str:
        from engine import instances

        deviation = {"title": title, "severity": severity, "context": dict(context),
                     "source_instance_id": self.instance_id, "source_element_id": self.element_id}
        started = instances.start(self.uow, DEVIATION_PROCESS_KEY, title=f"Deviation: {title}"[:200],
                                  data={"deviation": deviation}, settings=self.settings)
        self._link(started.id, "raised_from")
        self.uow.audit("deviation.raised", "process_instance", started.id, reason=title,
                       details=deviation)
        return str(started.id)

    def record_exception(self, kind: str, message: str, details: Mapping[str, Any]) -> str:
        row = InstanceException(instance_id=self.instance_id, element_id=self.element_id, kind=kind[:100],
                                message=message, details_json=_json(dict(details)), recorded_at=_now(),
                                recorded_by=self.uow.actor.user_id)
        self.uow.session.add(row)
        self.uow.session.flush()
        self.uow.audit("instance.exception_recorded", "process_instance", self.instance_id,
                       details={"exception_id": row.id, "kind": kind, "message": message,
                                "element_id": self.element_id, "details": dict(details)})
        return str(row.id)

    def save_progress(self, progress: Mapping[str, Any]) -> None:
        from engine.operators import OperatorError

        raise OperatorError(f"operator at '{self.element_id}' saved progress but is not declared long_running "
                            "(only the scheduler keeps progress)")


def exceptions_of(session: Any, instance_id: int) -> list[dict[str, Any]]:
    rows = session.execute(select(InstanceException).where(InstanceException.instance_id == instance_id)
                           .order_by(InstanceException.id)).scalars()
    return [{"id": r.id, "element_id": r.element_id, "kind": r.kind, "message": r.message,
             "details": json.loads(r.details_json), "recorded_at": r.recorded_at} for r in rows]


# ---------------------------------------------------------------- in-memory routing (SpiffWorkflow level)
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


__all__ = ["DbOperatorActions", "exceptions_of", "deliver", "catches", "route_events",
           "take_routable_events", "route_instance", "route_pending",
           "DEVIATION_PROCESS_KEY", "RoutedMessage"]


# ---------------------------------------------------------------- database routing
def _event_record(event: BpmnEvent) -> tuple[str, str, str, str]:
    kind = "message" if is_message(event) else "signal"
    reg = _registry()
    return (event.event_definition.name, kind, _json(event.correlations or {}), _json(reg.convert(event.payload)))


def _registry() -> Any:
    from engine.runtime_factory import serializer

    return serializer().registry


def _starting_processes(session: Any, event: BpmnEvent) -> list[str]:
    """Keys of approved processes whose top-level start event catches `event`."""
    from engine.definitions import version_ref
    from engine.models import ProcessDefinition, ProcessDefinitionVersion

    keys = []
    rows = session.execute(select(ProcessDefinition.key, ProcessDefinitionVersion.id)
                           .join(ProcessDefinitionVersion, ProcessDefinitionVersion.definition_id == ProcessDefinition.id)
                           .where(ProcessDefinitionVersion.status == "approved").order_by(ProcessDefinition.key))
    for key, version_id in rows:
        spec, _subs = version_ref(session, version_id).spec()
        for task_spec in spec.task_specs.values():
            definition = getattr(task_spec, "event_definition", None)
            if type(task_spec).__name__ == "StartEvent" and definition is not None and \
                    definition.__class__ is event.event_definition.__class__ and definition.name == event.event_definition.name:
                keys.append(key)
                break
    return keys


class _Locked(Exception):
    """A possible receiver is busy (row locked by another transaction): retry the routing later."""


def _waiting_instances(session: Any, exclude: int, event: BpmnEvent) -> list[int]:
    """Running instances with a waiting task whose definition version can catch `event` at all
    (checked on the version's spec, cached per process), so only those are loaded."""
    from engine.models import InstanceTask, ProcessInstance

    rows = session.execute(
        select(InstanceTask.instance_id, ProcessInstance.version_id)
        .join(ProcessInstance, ProcessInstance.id == InstanceTask.instance_id)
        .where(InstanceTask.state == int(TaskState.WAITING), InstanceTask.dropped.is_(False),
               ProcessInstance.status == "running", ProcessInstance.id != exclude)
        .distinct().order_by(InstanceTask.instance_id))
    return [instance_id for instance_id, version_id in rows if _version_catches(session, version_id, event)]


def _version_catches(session: Any, version_id: int, event: BpmnEvent) -> bool:
    from engine.definitions import version_ref

    definition = event.event_definition
    ref = version_ref(session, version_id)
    key = (version_id, ref.files_sha256, type(definition), definition.name)  # content-keyed, like the core's caches
    if key not in _catch_cache:
        spec, subprocess_specs = ref.spec()
        found = False
        for process in [spec, *subprocess_specs.values()]:
            for task_spec in process.task_specs.values():
                candidate = getattr(task_spec, "event_definition", None)
                inner = getattr(candidate, "event_definitions", None) or [candidate]  # event-based gateways
                if any(d is not None and type(d) is type(definition) and getattr(d, "name", None) == definition.name
                       for d in inner):
                    found = True
        _catch_cache[key] = found
    return _catch_cache[key]


_catch_cache: dict[tuple[int, str, type, str], bool] = {}  # version contents never change: safe to keep


def _try_lock(session: Any, instance_id: int) -> bool:
    from engine.models import ProcessInstance

    return session.execute(select(ProcessInstance.id).where(ProcessInstance.id == instance_id)
                           .with_for_update(skip_locked=True)).scalar_one_or_none() is not None


def _step(uow: Any, instance_id: int, settings: Any, fn: Any) -> Any:
    from engine import instances

    return instances.advance(uow, instance_id, fn, settings=settings)


def _routable(workflow: Any) -> list[BpmnEvent]:
    return [e for e in workflow.bpmn_events if is_message(e) or is_signal(e)]


def _receivers_free(session: Any, source_id: int, events: list[BpmnEvent]) -> bool:
    """Lock every instance that may receive `events`; False if one is held by another transaction."""
    for event in events:
        for candidate in _waiting_instances(session, source_id, event):
            if not _try_lock(session, candidate):
                return False
    return True


_DEPTH_KEY = "_gmp_routing_depth"


def take_routable_events(uow: Any, source_id: int, workflow: Any) -> list[BpmnEvent]:
    """Called by the core as it saves instance `source_id`: remove the messages and signals
    its workflow threw, to be routed (`route_events`) in the same unit of work, and return
    them. Leaves them in place (saved with the instance; the scheduler's `route_pending`
    routes them later) when a possible receiver is locked by another transaction or the
    chain of routing started by one request is already MAX_ROUTING_ROUNDS deep."""
    events = _routable(workflow)
    if not events or uow.__dict__.get(_DEPTH_KEY, 0) >= MAX_ROUTING_ROUNDS:
        return []
    if not _receivers_free(uow.session, source_id, events):
        return []
    workflow.bpmn_events = [e for e in workflow.bpmn_events if not (is_message(e) or is_signal(e))]
    return events


def route_events(uow: Any, source_id: int, events: list[BpmnEvent], settings: Any = None) -> list[dict[str, Any]]:
    """Deliver `events` thrown by instance `source_id` (already saved without them).

    Messages go to the first waiting instance that catches them (correlation keys), or
    start the approved process whose message start event catches them; signals go to
    every waiting instance that catches them. One `engine_message` row and one audit
    entry per delivery. Receivers' saves route what they throw in turn (bounded depth).
    """
    from engine import instances

    session = uow.session
    depth = uow.__dict__.get(_DEPTH_KEY, 0)
    uow.__dict__[_DEPTH_KEY] = depth + 1
    try:
        outcomes = []
        for event in events:
            name, kind, correlations, payload = _event_record(event)
            receivers: list[int] = []
            for candidate in _waiting_instances(session, source_id, event):
                if not _try_lock(session, candidate):
                    raise _Locked(candidate)
                if instances.advance(uow, candidate, lambda wf, ev=event: wf.send_event(ev), settings=settings,
                                     accept=lambda wf, ev=event: catches(wf, ev)) is None:
                    continue
                receivers.append(candidate)
                if kind == "message":
                    break
            outcome = "delivered" if receivers else "undelivered"
            if not receivers and kind == "message":
                keys = _starting_processes(session, event)
                if keys:
                    from engine.business_keys import derive
                    from engine.links import record_engine_link

                    started = instances.start(uow, keys[0], title=f"{keys[0]} (message {name})", settings=settings,
                                              business_key=derive(session, keys[0], event.payload))
                    _step(uow, started.id, settings, lambda wf, ev=event: wf.send_event(ev))
                    record_engine_link(uow, started.id, "started_by", source_id, element_id=name)
                    receivers, outcome = [started.id], "started"
            for receiver in receivers or [None]:
                session.add(RoutedMessage(name=name, kind=kind, correlations_json=correlations, payload_json=payload,
                                          from_instance_id=source_id, to_instance_id=receiver, outcome=outcome,
                                          created_at=_now()))
                uow.audit(f"{kind}.{outcome}", "process_instance", source_id,
                          details={"name": name, "to_instance_id": receiver,
                                   "correlations": event.correlations or {}})
                outcomes.append({"name": name, "kind": kind, "to": receiver, "outcome": outcome})
        return outcomes
    finally:
        uow.__dict__[_DEPTH_KEY] = depth


def route_instance(uow: Any, source_id: int, settings: Any = None) -> list[dict[str, Any]]:
    """Deliver the messages and signals instance `source_id` threw and still holds (saved
    while a receiver was busy, or before routing at save time existed).

    Runs in the caller's unit of work (all deliveries commit together with the source's
    cleared event list). Raises `_Locked` (caller retries later) when a possible receiver
    is locked by another transaction.
    """
    from engine import instances

    opened = instances._open(uow, source_id, settings)
    events = _routable(opened.workflow)
    if not events:
        instances._release_unchanged(opened)
        return []
    if not _receivers_free(uow.session, source_id, events):
        instances._release_unchanged(opened)
        raise _Locked(source_id)
    instances._finish(uow, opened)  # takes the events from the workflow and routes them
    return opened.routed


def instances_with_pending_events(session: Any) -> list[int]:
    """Instances whose saved state holds thrown events not yet routed (a process that ended
    right after throwing, like a deviation sending its outcome, included)."""
    from engine.models import ProcessInstance

    rows = session.execute(select(ProcessInstance.id, ProcessInstance.workflow_json)
                           .where(ProcessInstance.status != "cancelled",
                                  ProcessInstance.workflow_json.like('%"bpmn_events":[{%'))
                           .order_by(ProcessInstance.id))
    return [instance_id for instance_id, text in rows if json.loads(text).get("bpmn_events")]


def route_pending(db: Any, actor: Any, settings: Any = None) -> list[dict[str, Any]]:
    """Route every pending event of every running instance, one source per transaction."""
    from store.uow import UnitOfWork

    routed: list[dict[str, Any]] = []
    with db.session() as session:
        sources = instances_with_pending_events(session)
    for source_id in sources:
        with UnitOfWork(db, actor) as uow:
            if not _try_lock(uow.session, source_id):
                continue
            try:
                result = route_instance(uow, source_id, settings)
            except _Locked:
                continue  # a receiver is busy: the events stay with the source for the next poll
            uow.commit()
            routed.extend(result)
    return routed
