"""Process instances: start, list, inspect, cancel; the load/step/save cycle.

Every change to an instance runs in the caller's unit of work:
`_open(uow, id)` locks the instance row (SELECT ... FOR UPDATE; SQLite holds the
database lock from BEGIN IMMEDIATE), takes the workflow from the warm cache if its
lock_version is current or loads it from its rows, and `_finish(uow, opened)` writes
the audit entries for every definite task transition and instance event, saves the
changed rows with the optimistic lock_version check, and puts the workflow back in the
cache once the transaction commits. A rollback simply leaves the cache without it.

`advance(uow, id, fn)` is that cycle as one public call (lock, load, `fn` and engine
steps, save), for the scheduler and the message router.

Between open and save the workflow carries its operator scope (unit of work, instance
id), so a short service-task operator reached by any step of the request runs in place,
in the request's unit of work (long-running ones are left to the scheduler). Saving
(`_finish`) also makes the runtime see the instance at once: waiting timers get their
due rows, and messages or signals the step threw are routed to the instances that
catch them (or start the process whose start event catches them) in the same unit of
work. Both checks cost nothing for an instance without timers or thrown events.
"""
from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import clock
from engine import business_keys, persistence
from engine.deep import run_bounded, run_deep
from engine.definitions import VersionRef, VersionStatus, approved_version, get_version, version_ref
from engine.errors import EngineError, InstanceNotFound, InstanceStateError, WorkflowRuntimeError
from engine.models import InstanceTask, ProcessDefinition, ProcessDefinitionVersion, ProcessInstance
from engine.runtime_factory import new_workflow
from engine.workflow import GmpWorkflow

DEFINITE = TaskState.WAITING | TaskState.READY | TaskState.STARTED | TaskState.COMPLETED | TaskState.ERROR | \
    TaskState.CANCELLED
MAX_REASON = 2000
SCOPE_KEY = "_gmp_operator_scope"  # read by engine.operators.scope_context_for


class InstanceStatus(str, enum.Enum):
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    ERROR = "error"


@dataclass
class Opened:
    instance: ProcessInstance
    version: VersionRef
    workflow: GmpWorkflow
    db_url: str
    settings: Any = None
    routed: list[dict[str, Any]] = field(default_factory=list)  # messages/signals routed when saved


def state_name(state: int | None) -> str | None:
    return TaskState.get_name(state).lower() if state is not None else None


def _db_url(uow: Any) -> str:
    return str(getattr(uow.db, "url", id(uow.db)))


def step_depth_bound(wf: GmpWorkflow) -> int:
    """Frames an engine step of `wf` can need, at most.

    What recurses in a step is SpiffWorkflow's prediction of future tasks, one frame per
    element along a path (measured on a 300-element chain: 317 frames from the root, 11
    for a warm step). Bounded by the number of elements of the process and of every
    process it calls, doubled, plus a margin; computed once per loaded workflow.
    """
    bound = wf.__dict__.get("_gmp_depth_bound")
    if bound is None:
        elements = len(wf.spec.task_specs) + sum(len(s.task_specs) for s in (wf.subprocess_specs or {}).values())
        bound = 2 * elements + 64
        wf.__dict__["_gmp_depth_bound"] = bound
    return int(bound)


def run_steps(wf: GmpWorkflow, fn: Any = None) -> None:
    """Run `fn(wf)` (if given) then engine steps; wrap Spiff errors.

    On the calling thread when the step's depth bound fits under the normal recursion
    limit, else in the deep-stack thread (engine.deep).
    """
    def work() -> None:
        if fn is not None:
            fn(wf)
        wf.do_engine_steps()
    try:
        run_bounded(step_depth_bound(wf), work)
    except EngineError:
        raise
    except SpiffWorkflowException as exc:
        raise WorkflowRuntimeError(f"the process failed at '{_element(exc)}': {str(exc).splitlines()[0]}") from exc


def has_timers(wf: GmpWorkflow) -> bool:
    """Whether the process (or a process it calls) has a timer event; computed once per loaded workflow."""
    flag = wf.__dict__.get("_gmp_has_timers")
    if flag is None:
        from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

        specs = [wf.spec, *(wf.subprocess_specs or {}).values()]
        flag = any(isinstance(getattr(t, "event_definition", None), TimerEventDefinition)
                   for s in specs for t in s.task_specs.values())
        wf.__dict__["_gmp_has_timers"] = flag
    return bool(flag)


def _scope(wf: GmpWorkflow, uow: Any, instance_id: int) -> None:
    wf.__dict__[SCOPE_KEY] = (uow, instance_id)


def _element(exc: Any) -> str:
    spec = getattr(exc, "task_spec", None)
    return getattr(spec, "bpmn_id", None) or getattr(spec, "name", None) or "?"


def start(uow: Any, key: str, *, title: str | None = None, data: Mapping[str, Any] | None = None,
          version_id: int | None = None, settings: Any = None, business_key: str | None = None) -> ProcessInstance:
    """Start an instance of the approved version of `key` (or of `version_id`, which must be approved).

    `business_key` (or the start data field the definition names): engine.business_keys."""
    session: Session = uow.session
    if version_id is not None:
        version = get_version(session, version_id)
        if version.status != VersionStatus.APPROVED.value:
            raise InstanceStateError(f"version id {version_id} is {version.status}: only the approved version "
                                     "starts instances")
    else:
        version = approved_version(session, key)
    definition = session.get(ProcessDefinition, version.definition_id)
    initial = dict(data or {})
    bkey = business_keys.resolve(uow, definition, version, business_key, initial, settings)
    ref = version_ref(session, version.id)
    spec, subprocess_specs = ref.spec()
    wf = run_deep(new_workflow, spec, subprocess_specs, settings)
    if initial:
        wf.task_tree.data.update(initial)
        for task in wf.get_tasks(state=TaskState.READY):
            task.data.update(initial)
    now = clock.isoformat(clock.now())
    instance = ProcessInstance(version_id=version.id, status=InstanceStatus.RUNNING.value,
                               title=(title or definition.name)[:200], started_at=now, started_by=uow.actor.user_id,
                               lock_version=1, task_seq=0, workflow_json="{}")
    session.add(instance)
    session.flush()
    uow.audit("instance.started", "process_instance", instance.id,
              changes=[["status", None, InstanceStatus.RUNNING.value]],
              details={"process": definition.key, "version": version.version, "version_id": version.id,
                       "data": initial})
    if bkey is not None:
        business_keys.assign(uow, instance, definition, bkey)
    _scope(wf, uow, instance.id)
    run_steps(wf)
    opened = Opened(instance, ref, wf, _db_url(uow), settings)
    _finish(uow, opened, new=True)
    return instance


def get_instance(session: Session, instance_id: int, *, for_update: bool = False) -> ProcessInstance:
    stmt = select(ProcessInstance).where(ProcessInstance.id == instance_id)
    if for_update:
        stmt = stmt.with_for_update()
    instance = session.execute(stmt).scalar_one_or_none()
    if instance is None:
        raise InstanceNotFound(f"no process instance {instance_id}")
    return instance


def _open(uow: Any, instance_id: int, settings: Any = None) -> Opened:
    found = persistence.lock_instance(uow.session, instance_id=instance_id)
    if found is None:
        raise InstanceNotFound(f"no process instance {instance_id}")
    return _opened(uow, found[0], found[1], settings)


def _open_task_instance(uow: Any, task_id: str, settings: Any = None) -> Opened | None:
    """Lock and open the instance that task `task_id` belongs to (one round trip); None if no such task."""
    found = persistence.lock_instance(uow.session, task_id=task_id)
    return None if found is None else _opened(uow, found[0], found[1], settings)


def _opened(uow: Any, instance: ProcessInstance, files_sha256: str, settings: Any) -> Opened:
    session: Session = uow.session
    version = VersionRef(instance.version_id, files_sha256, session)
    url = _db_url(uow)
    wf = persistence.CACHE.take(url, instance.id, instance.lock_version)
    if wf is None:
        spec, subprocess_specs = version.spec()
        wf = persistence.load(session, instance, spec, subprocess_specs, settings)
    _scope(wf, uow, instance.id)
    return Opened(instance, version, wf, url, settings)


def _release_unchanged(opened: Opened) -> None:
    """Give an unmodified workflow back to the cache (after a refusal)."""
    opened.workflow.__dict__.pop(SCOPE_KEY, None)
    persistence.CACHE.put(opened.db_url, opened.instance.id, opened.instance.lock_version, opened.workflow)


def _finish(uow: Any, opened: Opened, *, new: bool = False) -> None:
    wf, instance = opened.workflow, opened.instance
    for task, old, new_state in wf.changelog.transitions:
        if not new_state & DEFINITE or (old is not None and old == new_state):
            continue
        spec = task.task_spec
        uow.audit("task.state_changed", "task", task.id,
                  changes=[["state", state_name(old), state_name(new_state)]],
                  details={"instance_id": instance.id, "bpmn_id": getattr(spec, "bpmn_id", None) or spec.name,
                           "name": getattr(spec, "bpmn_name", None), "lane": getattr(spec, "lane", None)})
    if instance.status == InstanceStatus.RUNNING.value and wf.is_completed():
        instance.status = InstanceStatus.COMPLETED.value
        instance.ended_at = clock.isoformat(clock.now())
        uow.audit("instance.completed", "process_instance", instance.id,
                  changes=[["status", InstanceStatus.RUNNING.value, InstanceStatus.COMPLETED.value]])
    events: list[Any] = []
    if wf.bpmn_events:  # thrown and not caught inside: route now unless a receiver is busy
        from engine import messages

        events = messages.take_routable_events(uow, instance.id, wf)
    persistence.save(uow.session, instance, wf, new=new)
    if instance.status != InstanceStatus.RUNNING.value:
        uow.session.flush()
    elif has_timers(wf):
        from engine.scheduler import record_due_timers

        record_due_timers(uow.session, uow.db, instance.id, wf)
    lock_version = instance.lock_version

    def cache() -> None:
        wf.__dict__.pop(SCOPE_KEY, None)
        persistence.mark_saved(wf)
        persistence.CACHE.put(opened.db_url, instance.id, lock_version, wf)
    uow.after_commit(cache)
    if events:
        from engine import messages

        opened.routed = messages.route_events(uow, instance.id, events, opened.settings)


def advance(uow: Any, instance_id: int, fn: Any = None, *, settings: Any = None,
            accept: Any = None) -> Opened | None:
    """Lock and load instance `instance_id`, run `fn(workflow)` (if given) and engine steps, save.

    The one call for code outside the core that moves an instance on (the scheduler's
    timers and operators, the message router). `accept(workflow)`, checked before any
    change, may refuse: the workflow goes back unchanged and None is returned. Errors
    (WorkflowRuntimeError, operator errors) propagate; the caller's unit of work then
    rolls back. Returns the opened instance (`routed`: the messages its save delivered).
    """
    opened = _open(uow, instance_id, settings)
    if accept is not None and not accept(opened.workflow):
        _release_unchanged(opened)
        return None
    run_steps(opened.workflow, fn)
    _finish(uow, opened)
    return opened


def cancel(uow: Any, instance_id: int, reason: str, settings: Any = None) -> ProcessInstance:
    reason = (reason or "").strip()
    if not reason:
        raise InstanceStateError("cancelling an instance needs a reason")
    if len(reason) > MAX_REASON:
        raise InstanceStateError(f"the reason is longer than {MAX_REASON} characters")
    opened = _open(uow, instance_id, settings)
    instance = opened.instance
    if instance.status != InstanceStatus.RUNNING.value:
        _release_unchanged(opened)
        raise InstanceStateError(f"instance {instance_id} is {instance.status}; only a running instance can be "
                                 "cancelled")
    run_deep(opened.workflow.cancel)
    instance.status = InstanceStatus.CANCELLED.value
    instance.cancel_reason = reason
    instance.ended_at = clock.isoformat(clock.now())
    uow.audit("instance.cancelled", "process_instance", instance.id,
              changes=[["status", InstanceStatus.RUNNING.value, InstanceStatus.CANCELLED.value]], reason=reason)
    _finish(uow, opened)
    return instance


def list_instances(session: Session, *, status: str | None = None, key: str | None = None,
                   search: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Instances in id order; `search`: business key or title contains it, or it is the number
    (engine.business_keys.matches); `limit`: the newest that many."""
    from engine.runtime_models import BusinessKey

    stmt = (select(ProcessInstance, ProcessDefinitionVersion.version, ProcessDefinition.key, BusinessKey.business_key)
            .join(ProcessDefinitionVersion, ProcessDefinitionVersion.id == ProcessInstance.version_id)
            .join(ProcessDefinition, ProcessDefinition.id == ProcessDefinitionVersion.definition_id)
            .outerjoin(BusinessKey, BusinessKey.instance_id == ProcessInstance.id))
    if status:
        stmt = stmt.where(ProcessInstance.status == status)
    if key:
        stmt = stmt.where(ProcessDefinition.key == key)
    if search and search.strip():
        stmt = stmt.where(business_keys.matches(search))
    if limit is not None:
        stmt = stmt.order_by(ProcessInstance.id.desc()).limit(limit)
    rows = sorted(session.execute(stmt), key=lambda row: row[0].id)
    return [{"id": i.id, "title": i.title, "process": k, "version": v, "status": i.status, "business_key": bk,
             "started_at": i.started_at, "started_by": i.started_by, "ended_at": i.ended_at,
             "cancel_reason": i.cancel_reason} for i, v, k, bk in rows]


def inspect(session: Session, instance_id: int) -> dict[str, Any]:
    """The instance with its definite tasks (predicted ones left out) and current data."""
    instance = get_instance(session, instance_id)
    version = session.get(ProcessDefinitionVersion, instance.version_id)
    definition = session.get(ProcessDefinition, version.definition_id)
    rows = session.execute(select(InstanceTask).where(
        InstanceTask.instance_id == instance.id, InstanceTask.dropped.is_(False),
        InstanceTask.state.op("&")(int(DEFINITE)) != 0).order_by(InstanceTask.seq)).scalars().all()
    header = json.loads(instance.workflow_json)
    return {"id": instance.id, "title": instance.title, "process": definition.key, "version": version.version,
            "business_key": business_keys.key_of(session, instance.id),
            "status": instance.status, "started_at": instance.started_at, "started_by": instance.started_by,
            "ended_at": instance.ended_at, "cancel_reason": instance.cancel_reason,
            "data": header.get("data", {}),
            "tasks": [{"id": r.id, "bpmn_id": r.bpmn_id, "name": r.bpmn_name, "lane": r.lane, "manual": r.manual,
                       "state": state_name(r.state), "claimed_by": r.claimed_by, "updated_at": r.updated_at}
                      for r in rows if r.bpmn_id]}


__all__ = ["InstanceStatus", "Opened", "start", "cancel", "advance", "list_instances", "inspect", "get_instance",
           "run_steps", "has_timers"]
