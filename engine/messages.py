"""Between instances: links, deviations and exceptions raised by operators; message routing.

(Links themselves, their kinds and queries: engine.links.)

`DbOperatorActions` is the instance API the built-in operators use (engine.operators'
`OperatorContext`): start a linked process, raise a deviation carrying its context,
record an exception. Each action writes its rows and audit entries in the caller's unit
of work, so they commit (or roll back) with the step that caused them.

Message routing is a save hook of the runtime (`MessageRouting`, attached by
engine.install): as an instance is saved, the messages and signals it threw that it could
not catch itself are taken from it (`take_routable_events`) and, once it is saved,
delivered (`route_events`) in the same unit of work (`route_instance` / `route_pending`
for events left saved):
- to every running instance with a task waiting for that message whose correlation
  keys match (`correlations` of the event vs the waiting instance's), or
- when none waits, to a new instance of the approved process whose message start
  event catches it (a batch step starts a deviation instance carrying its context);
- signals go to every running instance waiting for them.
Each routed message is a row in `engine_message` (append-only) and an audit entry.
"""
from __future__ import annotations

import json
from contextvars import ContextVar
from decimal import Decimal
from typing import Any, Mapping

from sqlalchemy import select

from core import clock
from engine import instances
from engine.business_keys import derive
from engine.definition_changes import in_force_version_ids
from engine.definitions import version_ref
from engine.errors import OperatorError
from engine.links import record_engine_link
from engine.models import InstanceTask, ProcessDefinition, ProcessDefinitionVersion, ProcessInstance
from engine.runtime import EngineRuntime, SaveContext, StepScope
from engine.runtime_models import InstanceException, RoutedMessage
from engine.spiff import events as spiff_events
from engine.spiff.events import BpmnEvent, catches, deliver, is_message, is_signal
from engine.spiff.serializer import pending_events
from engine.spiff.workflow import WAITING

DEVIATION_PROCESS_KEY = "deviation"
MAX_ROUTING_ROUNDS = 20


def _now() -> str:
    return clock.isoformat(clock.now())


def _json_value(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else str(value)  # exact decimals stay JSON numbers


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=_json_value)


class DbOperatorActions:
    """The operator context of a step: instance actions in the step's unit of work."""

    def __init__(self, uow: Any, instance_id: int, element_id: str | None, settings: Any = None, *,
                 task_data: Mapping[str, Any] | None = None, runtime: EngineRuntime | None = None) -> None:
        self.uow = uow
        self.instance_id = instance_id
        self.element_id = element_id or ""
        self.settings = settings
        self.runtime = runtime
        self.task_data: Mapping[str, Any] = dict(task_data or {})

    def _link(self, new_instance: int, relation: str) -> None:
        """`new_instance <relation> this one` (engine.links; e.g. started_by, raised_from)."""
        record_engine_link(self.uow, new_instance, relation, self.instance_id, element_id=self.element_id)

    def start_linked_process(self, process_key: str, data: Mapping[str, Any], link: str) -> str:
        started = instances.start(self.uow, process_key, data=dict(data), settings=self.settings, runtime=self.runtime)
        self._link(started.id, link)
        return str(started.id)

    def raise_deviation(self, title: str, context: Mapping[str, Any], severity: str) -> str:
        deviation = {"title": title, "severity": severity, "context": dict(context),
                     "source_instance_id": self.instance_id, "source_element_id": self.element_id}
        started = instances.start(self.uow, DEVIATION_PROCESS_KEY, title=f"Deviation: {title}"[:200],
                                  data={"deviation": deviation}, settings=self.settings, runtime=self.runtime)
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
        raise OperatorError(f"operator at '{self.element_id}' saved progress but is not declared long_running "
                            "(only the scheduler keeps progress)")


def operator_actions(scope: StepScope, call: Any) -> DbOperatorActions:
    """The runtime's operator context factory: instance actions in the step's unit of work."""
    return DbOperatorActions(scope.uow, scope.instance_id, call.element_id, scope.settings,
                             task_data=call.task_data, runtime=scope.runtime)


def exceptions_of(session: Any, instance_id: int) -> list[dict[str, Any]]:
    rows = session.execute(select(InstanceException).where(InstanceException.instance_id == instance_id)
                           .order_by(InstanceException.id)).scalars()
    return [{"id": r.id, "element_id": r.element_id, "kind": r.kind, "message": r.message,
             "details": json.loads(r.details_json), "recorded_at": r.recorded_at} for r in rows]


__all__ = ["DbOperatorActions", "operator_actions", "exceptions_of", "deliver", "catches",
           "route_events", "take_routable_events", "route_instance", "route_pending", "MessageRouting",
           "DEVIATION_PROCESS_KEY", "RoutedMessage", "is_message", "is_signal"]


# ---------------------------------------------------------------- database routing
def _event_record(event: BpmnEvent) -> tuple[str, str, str, str]:
    return (spiff_events.event_name(event), spiff_events.event_kind(event),
            _json(spiff_events.event_correlations(event)), _json(spiff_events.event_payload(event)))


def _starting_processes(session: Any, event: BpmnEvent) -> list[str]:
    """Keys of approved processes whose top-level start event catches `event`."""
    keys = []
    rows = session.execute(select(ProcessDefinition.key, ProcessDefinitionVersion.id)
                           .join(ProcessDefinitionVersion, ProcessDefinitionVersion.definition_id == ProcessDefinition.id)
                           .where(ProcessDefinitionVersion.id.in_(in_force_version_ids(session))).order_by(ProcessDefinition.key))
    for key, version_id in rows:
        spec, _subs = version_ref(session, version_id).spec()
        if spiff_events.starts_on(spec, event):
            keys.append(key)
    return keys


class _Locked(Exception):
    """A possible receiver is busy (row locked by another transaction): retry the routing later."""


def _waiting_instances(session: Any, exclude: int, event: BpmnEvent) -> list[int]:
    """Running instances with a waiting task whose definition version can catch `event` at all
    (checked on the version's spec, cached per process), so only those are loaded."""
    rows = session.execute(
        select(InstanceTask.instance_id, ProcessInstance.version_id)
        .join(ProcessInstance, ProcessInstance.id == InstanceTask.instance_id)
        .where(InstanceTask.state == WAITING, InstanceTask.dropped.is_(False),
               ProcessInstance.status == "running", ProcessInstance.id != exclude)
        .distinct().order_by(InstanceTask.instance_id))
    return [instance_id for instance_id, version_id in rows if _version_catches(session, version_id, event)]


def _version_catches(session: Any, version_id: int, event: BpmnEvent) -> bool:
    ref = version_ref(session, version_id)
    key = (version_id, ref.files_sha256, spiff_events.event_kind(event), spiff_events.event_name(event))
    if key not in _catch_cache:  # content-keyed, like the core's caches
        spec, subprocess_specs = ref.spec()
        _catch_cache[key] = spiff_events.version_catches(spec, subprocess_specs, event)
    return _catch_cache[key]


_catch_cache: dict[tuple[int, str, str, str], bool] = {}  # version contents never change: safe to keep


def _try_lock(session: Any, instance_id: int) -> bool:
    return session.execute(select(ProcessInstance.id).where(ProcessInstance.id == instance_id)
                           .with_for_update(skip_locked=True)).scalar_one_or_none() is not None


def _routable(workflow: Any) -> list[BpmnEvent]:
    return spiff_events.routable(workflow)


def _receivers_free(session: Any, source_id: int, events: list[BpmnEvent]) -> bool:
    """Lock every instance that may receive `events`; False if one is held by another transaction."""
    for event in events:
        for candidate in _waiting_instances(session, source_id, event):
            if not _try_lock(session, candidate):
                return False
    return True


# How deep the chain of routing started by one request is (a receiver's save routes in turn).
_DEPTH: ContextVar[int] = ContextVar("gmp_routing_depth", default=0)


def take_routable_events(uow: Any, source_id: int, workflow: Any) -> list[BpmnEvent]:
    """Called by the core as it saves instance `source_id`: remove the messages and signals
    its workflow threw, to be routed (`route_events`) in the same unit of work, and return
    them. Leaves them in place (saved with the instance; the scheduler's `route_pending`
    routes them later) when a possible receiver is locked by another transaction or the
    chain of routing started by one request is already MAX_ROUTING_ROUNDS deep."""
    events = _routable(workflow)
    if not events or _DEPTH.get() >= MAX_ROUTING_ROUNDS:
        return []
    if not _receivers_free(uow.session, source_id, events):
        return []
    spiff_events.take_routable(workflow)
    return events


def route_events(uow: Any, source_id: int, events: list[BpmnEvent], settings: Any = None,
                 runtime: EngineRuntime | None = None) -> list[dict[str, Any]]:
    """Deliver `events` thrown by instance `source_id` (already saved without them).

    Messages go to the first waiting instance that catches them (correlation keys), or
    start the approved process whose message start event catches them; signals go to
    every waiting instance that catches them. One `engine_message` row and one audit
    entry per delivery. Receivers' saves route what they throw in turn (bounded depth).
    """
    session = uow.session
    token = _DEPTH.set(_DEPTH.get() + 1)
    try:
        outcomes = []
        for event in events:
            name, kind, correlations, payload = _event_record(event)
            receivers: list[int] = []
            for candidate in _waiting_instances(session, source_id, event):
                if not _try_lock(session, candidate):
                    raise _Locked(candidate)
                if instances.advance(uow, candidate, lambda wf, ev=event: spiff_events.send(wf, ev), settings=settings,
                                     accept=lambda wf, ev=event: catches(wf, ev), runtime=runtime) is None:
                    continue
                receivers.append(candidate)
                if kind == "message":
                    break
            outcome = "delivered" if receivers else "undelivered"
            if not receivers and kind == "message":
                keys = _starting_processes(session, event)
                if keys:
                    started = instances.start(uow, keys[0], title=f"{keys[0]} (message {name})", settings=settings,
                                              runtime=runtime,
                                              business_key=derive(session, keys[0], spiff_events.event_payload(event)))
                    instances.advance(uow, started.id, lambda wf, ev=event: spiff_events.send(wf, ev), settings=settings,
                                      runtime=runtime)
                    record_engine_link(uow, started.id, "started_by", source_id, element_id=name)
                    receivers, outcome = [started.id], "started"
            for receiver in receivers or [None]:
                session.add(RoutedMessage(name=name, kind=kind, correlations_json=correlations, payload_json=payload,
                                          from_instance_id=source_id, to_instance_id=receiver, outcome=outcome,
                                          created_at=_now()))
                uow.audit(f"{kind}.{outcome}", "process_instance", source_id,
                          details={"name": name, "to_instance_id": receiver,
                                   "correlations": spiff_events.event_correlations(event)})
                outcomes.append({"name": name, "kind": kind, "to": receiver, "outcome": outcome})
        return outcomes
    finally:
        _DEPTH.reset(token)


class MessageRouting:
    """The save hook that routes what a step threw (attached by engine.install)."""

    name = "messages"

    def before_save(self, ctx: SaveContext) -> None:
        if ctx.workflow.bpmn_events:  # thrown and not caught inside: route now unless a receiver is busy
            ctx.stash[self.name] = take_routable_events(ctx.uow, ctx.instance.id, ctx.workflow)

    def after_save(self, ctx: SaveContext) -> None:
        events = ctx.stash.pop(self.name, None)
        if events:
            ctx.routed.extend(route_events(ctx.uow, ctx.instance.id, events, ctx.settings, ctx.runtime))


def route_instance(uow: Any, source_id: int, settings: Any = None,
                   runtime: EngineRuntime | None = None) -> list[dict[str, Any]]:
    """Deliver the messages and signals instance `source_id` threw and still holds (saved
    while a receiver was busy, or before routing at save time existed).

    Runs in the caller's unit of work (all deliveries commit together with the source's
    cleared event list). Raises `_Locked` (caller retries later) when a possible receiver
    is locked by another transaction.
    """
    opened = instances.open_instance(uow, source_id, settings, runtime)
    events = _routable(opened.workflow)
    if not events:
        instances.release_unchanged(opened)
        return []
    if not _receivers_free(uow.session, source_id, events):
        instances.release_unchanged(opened)
        raise _Locked(source_id)
    instances.finish(uow, opened)  # the save hook takes the events from the workflow and routes them
    return opened.routed


def instances_with_pending_events(session: Any) -> list[int]:
    """Instances whose saved state holds thrown events not yet routed (a process that ended
    right after throwing, like a deviation sending its outcome, included)."""
    rows = session.execute(select(ProcessInstance.id, ProcessInstance.workflow_json)
                           .where(ProcessInstance.status != "cancelled",
                                  ProcessInstance.workflow_json.like('%"bpmn_events":[{%'))
                           .order_by(ProcessInstance.id))
    return [instance_id for instance_id, text in rows if pending_events(text)]


def route_pending(db: Any, actor: Any, settings: Any = None,
                  runtime: EngineRuntime | None = None) -> list[dict[str, Any]]:
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
                result = route_instance(uow, source_id, settings, runtime)
            except _Locked:
                continue  # a receiver is busy: the events stay with the source for the next poll
            uow.commit()
            routed.extend(result)
    return routed
