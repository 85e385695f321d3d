"""Process instances: start, list, inspect, cancel; the load/step/save cycle.

Every change to an instance runs in the caller's unit of work:
`open_instance(uow, id)` locks the instance row (SELECT ... FOR UPDATE; SQLite holds the
database lock from BEGIN IMMEDIATE), takes the workflow from the warm cache if its
lock_version is current or loads it from its rows, and `finish(uow, opened)` writes
the audit entries for every definite task transition and instance event, saves the
changed rows with the optimistic lock_version check, and puts the workflow back in the
cache once the transaction commits. A rollback simply leaves the cache without it.

`advance(uow, id, fn)` is that cycle as one public call (lock, load, `fn` and engine
steps, save), for the scheduler and the message router.

Between open and save the workflow carries its step (`engine.runtime.StepScope`: unit of
work, instance, settings, runtime), so a short service-task operator reached by any step
of the request runs in place, in the request's unit of work (long-running ones are left
to the scheduler), and a call activity can reach a separately approved process. Saving
runs the runtime's save hooks (engine.runtime.SaveHook): the engine's own make waiting
timers get their due rows and route the messages and signals a step threw, in the same
unit of work. Saving itself calls nothing above this module.
"""
from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import clock
from engine import business_keys, persistence
from engine.deep import run_deep
from engine.definitions import (
    VersionRef,
    VersionStatus,
    approved_version,
    get_version,
    resolve_called_process,
    status_now,
    version_ref,
)
from engine.errors import InstanceNotFound, InstanceStateError
from engine.models import InstanceTask, ProcessDefinition, ProcessDefinitionVersion, ProcessInstance
from engine.runtime import EngineRuntime, SaveContext, StepScope, resolve
from engine.spiff import steps
from engine.spiff.script_engine import attach_script_engine
from engine.spiff.serializer import registry
from engine.spiff.workflow import DEFINITE, GmpWorkflow, state_name

MAX_REASON = 2000

__all__ = ["InstanceStatus", "Opened", "start", "cancel", "advance", "list_instances", "inspect", "get_instance",
           "run_steps", "has_timers", "open_instance", "open_task_instance", "finish", "release_unchanged",
           "state_name", "DEFINITE"]


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
    runtime: EngineRuntime
    settings: Any = None
    routed: list[dict[str, Any]] = field(default_factory=list)  # messages/signals routed when saved

    @property
    def step(self) -> StepScope:
        return self.workflow.run.step  # type: ignore[no-any-return]


def _db_url(uow: Any) -> str:
    return str(getattr(uow.db, "url", id(uow.db)))


run_steps = steps.run_steps
has_timers = steps.has_timers


def _resolve_called(scope: StepScope, process_id: str, element_id: str) -> tuple[int, Any, Any]:
    version_id, spec, subprocess_specs = resolve_called_process(scope.uow.session, process_id)
    scope.uow.audit("instance.process_called", "process_instance", scope.instance_id,
                    details={"element_id": element_id, "process": process_id, "version_id": version_id})
    return version_id, spec, subprocess_specs


def _enter(wf: GmpWorkflow, uow: Any, instance_id: int, runtime: EngineRuntime, settings: Any) -> None:
    """Attach the runtime's script engine (if not already) and put the step on the workflow."""
    engine = getattr(wf, "script_engine", None)
    if getattr(engine, "service_caller", None) is not runtime.caller:
        attach_script_engine(wf, settings, runtime.caller)
    wf.run.step = StepScope(uow, instance_id, runtime, settings, _resolve_called)


def start(uow: Any, key: str, *, title: str | None = None, data: Mapping[str, Any] | None = None,
          version_id: int | None = None, settings: Any = None, runtime: EngineRuntime | None = None,
          business_key: str | None = None) -> ProcessInstance:
    """Start an instance of the approved version of `key` (or of `version_id`, which must be approved).

    `business_key` (or the start data field the definition names, or its numbering pattern):
    engine.business_keys."""
    runtime = resolve(runtime)
    session: Session = uow.session
    if version_id is not None:
        version = get_version(session, version_id)
        state = status_now(session, version)[0]
        if state != VersionStatus.APPROVED.value:
            raise InstanceStateError(f"version id {version_id} is {state}: only the approved version "
                                     "starts instances (the one in force)")
    else:
        version = approved_version(session, key)
    definition = session.get(ProcessDefinition, version.definition_id)
    initial = dict(data or {})
    bkey = business_keys.resolve(uow, definition, version, business_key, initial, settings)
    ref = version_ref(session, version.id)
    spec, subprocess_specs = ref.spec()
    wf = run_deep(steps.new_workflow, spec, subprocess_specs)
    if initial:
        steps.seed_data(wf, initial)
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
    _enter(wf, uow, instance.id, runtime, settings)
    steps.run_steps(wf)
    opened = Opened(instance, ref, wf, _db_url(uow), runtime, settings)
    finish(uow, opened, new=True)
    return instance


def get_instance(session: Session, instance_id: int, *, for_update: bool = False) -> ProcessInstance:
    stmt = select(ProcessInstance).where(ProcessInstance.id == instance_id)
    if for_update:
        stmt = stmt.with_for_update()
    instance = session.execute(stmt).scalar_one_or_none()
    if instance is None:
        raise InstanceNotFound(f"no process instance {instance_id}")
    return instance


def open_instance(uow: Any, instance_id: int, settings: Any = None, runtime: EngineRuntime | None = None) -> Opened:
    """Lock and load instance `instance_id` for a step (see the module docstring)."""
    found = persistence.lock_instance(uow.session, instance_id=instance_id)
    if found is None:
        raise InstanceNotFound(f"no process instance {instance_id}")
    return _opened(uow, found[0], found[1], settings, resolve(runtime))


def open_task_instance(uow: Any, task_id: str, settings: Any = None,
                       runtime: EngineRuntime | None = None) -> Opened | None:
    """Lock and open the instance that task `task_id` belongs to (one round trip); None if no such task."""
    found = persistence.lock_instance(uow.session, task_id=task_id)
    return None if found is None else _opened(uow, found[0], found[1], settings, resolve(runtime))


def _opened(uow: Any, instance: ProcessInstance, files_sha256: str, settings: Any, runtime: EngineRuntime) -> Opened:
    session: Session = uow.session
    version = VersionRef(instance.version_id, files_sha256, session)
    url = _db_url(uow)
    wf = persistence.CACHE.take(url, instance.id, instance.lock_version)
    if wf is None:
        spec, subprocess_specs = version.spec()
        wf = persistence.load(session, instance, spec, subprocess_specs,
                              lambda version_id: version_ref(session, version_id).spec())
    _enter(wf, uow, instance.id, runtime, settings)
    return Opened(instance, version, wf, url, runtime, settings)


def release_unchanged(opened: Opened) -> None:
    """Give an unmodified workflow back to the cache (after a refusal)."""
    opened.workflow.run.step = None
    persistence.CACHE.put(opened.db_url, opened.instance.id, opened.instance.lock_version, opened.workflow)


def finish(uow: Any, opened: Opened, *, new: bool = False) -> None:
    """Audit the step's transitions, save the instance, run the save hooks; cache after commit."""
    wf, instance = opened.workflow, opened.instance
    for task, old, new_state in steps.definite_transitions(wf):
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
    ctx = SaveContext(uow, instance, wf, opened.runtime, opened.settings, new)
    for hook in opened.runtime.save_hooks:
        hook.before_save(ctx)
    persistence.save(uow.session, instance, wf, new=new)
    if instance.status != InstanceStatus.RUNNING.value:
        uow.session.flush()
    lock_version = instance.lock_version

    def cache() -> None:
        wf.run.step = None
        persistence.mark_saved(wf)
        persistence.CACHE.put(opened.db_url, instance.id, lock_version, wf)
    uow.after_commit(cache)
    for hook in opened.runtime.save_hooks:
        hook.after_save(ctx)
    opened.routed = ctx.routed


def advance(uow: Any, instance_id: int, fn: Callable[[GmpWorkflow], Any] | None = None, *, settings: Any = None,
            accept: Callable[[GmpWorkflow], bool] | None = None, runtime: EngineRuntime | None = None) -> Opened | None:
    """Lock and load instance `instance_id`, run `fn(workflow)` (if given) and engine steps, save.

    The one call for code outside the core that moves an instance on (the scheduler's
    timers and operators, the message router). `accept(workflow)`, checked before any
    change, may refuse: the workflow goes back unchanged and None is returned. Errors
    (WorkflowRuntimeError, operator errors) propagate; the caller's unit of work then
    rolls back. Returns the opened instance (`routed`: the messages its save delivered).
    """
    opened = open_instance(uow, instance_id, settings, runtime)
    if accept is not None and not accept(opened.workflow):
        release_unchanged(opened)
        return None
    steps.run_steps(opened.workflow, fn)
    finish(uow, opened)
    return opened


def cancel(uow: Any, instance_id: int, reason: str, settings: Any = None,
           runtime: EngineRuntime | None = None) -> ProcessInstance:
    reason = (reason or "").strip()
    if not reason:
        raise InstanceStateError("cancelling an instance needs a reason")
    if len(reason) > MAX_REASON:
        raise InstanceStateError(f"the reason is longer than {MAX_REASON} characters")
    opened = open_instance(uow, instance_id, settings, runtime)
    instance = opened.instance
    if instance.status != InstanceStatus.RUNNING.value:
        release_unchanged(opened)
        raise InstanceStateError(f"instance {instance_id} is {instance.status}; only a running instance can be "
                                 "cancelled")
    run_deep(steps.cancel, opened.workflow)
    instance.status = InstanceStatus.CANCELLED.value
    instance.cancel_reason = reason
    instance.ended_at = clock.isoformat(clock.now())
    uow.audit("instance.cancelled", "process_instance", instance.id,
              changes=[["status", InstanceStatus.RUNNING.value, InstanceStatus.CANCELLED.value]], reason=reason)
    finish(uow, opened)
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
    data = registry().restore(header.get("data", {}))  # typed values (Decimal, date) as they were
    return {"id": instance.id, "title": instance.title, "process": definition.key, "version": version.version,
            "business_key": business_keys.key_of(session, instance.id),
            "status": instance.status, "started_at": instance.started_at, "started_by": instance.started_by,
            "ended_at": instance.ended_at, "cancel_reason": instance.cancel_reason,
            "data": data,
            "tasks": [{"id": r.id, "bpmn_id": r.bpmn_id, "name": r.bpmn_name, "lane": r.lane, "manual": r.manual,
                       "state": state_name(r.state), "claimed_by": r.claimed_by, "updated_at": r.updated_at}
                      for r in rows if r.bpmn_id]}
