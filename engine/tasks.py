"""User tasks: the inbox by lane -> role, claim and release, and `complete_task`.

    complete_task(uow, task_id, data, signatures=(), *, services=None, settings=None) -> Completion

checks, in this order, and refuses with a specific error at the first failure:
1. the task is a ready user task of a running instance, not claimed by someone else
   (TaskStateError);
2. the user holds the role of the task's lane (LaneRoleRefused);
3. the task's gates pass (GateRefused, GateNotRegistered);
4. the form data matches the task's form (FormDataInvalid);
5. the required signatures are present and the signatures service signs each one
   (SignatureRequired, SignatureRefused).
Only then is the data set, the task completed and the engine steps run. A refusal
changes nothing but one `task.refused` audit entry (written even though the caller's
unit of work rolls back). `signatures` are `engine.ports.SignatureInput`s: the
completer's own for each `signature.meaning`, and a second person's for
`signature.verifier`.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence
from uuid import UUID

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.canonical import jsonable
from core import clock
from core.errors import GmpError
from engine import instances, persistence
from engine.errors import FormDataInvalid, LaneRoleRefused, SignatureRefused, SignatureRequired, TaskNotFound, TaskRefused, TaskStateError
from engine.extensions import rules_of
from engine.gates import GateContext, run_gates
from engine.models import InstanceTask, ProcessInstance
from engine.ports import EngineServices, SignatureInput, SignatureRecord, default_services
from engine.runtime_models import BusinessKey


@dataclass(frozen=True)
class TaskView:
    id: str
    instance_id: int
    instance_title: str
    bpmn_id: str | None
    name: str | None
    lane: str | None
    claimed_by: str | None
    business_key: str | None = None


@dataclass
class Completion:
    task_id: str
    instance_id: int
    instance_status: str
    signatures: list[SignatureRecord] = field(default_factory=list)
    ready: list[str] = field(default_factory=list)


def task_record(instance_id: int, task_id: str, bpmn_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """What a task signature binds to: the task's identity and the data entered on it."""
    return {"instance_id": instance_id, "task_id": task_id, "bpmn_id": bpmn_id, "data": jsonable(dict(data))}


def record_hash(document: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical task record (sorted, compact UTF-8 JSON)."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(canonical).hexdigest()


def _task_row(session: Session, task_id: str, *, for_update: bool = False) -> InstanceTask:
    row = persistence.task_row(session, str(task_id), for_update=for_update)
    if row is None:
        raise TaskNotFound(f"no task {task_id}")
    return row


def inbox(uow: Any, user_id: str | None = None, *, services: EngineServices | None = None) -> list[TaskView]:
    """Ready user tasks in lanes whose role the user holds, unclaimed or claimed by the user."""
    services = services or default_services()
    user_id = user_id or uow.actor.user_id
    roles = sorted(set(services.roles_of(uow, user_id)))
    if not roles:
        return []
    rows = uow.session.execute(
        select(InstanceTask, ProcessInstance.title, BusinessKey.business_key)
        .join(ProcessInstance, ProcessInstance.id == InstanceTask.instance_id)
        .outerjoin(BusinessKey, BusinessKey.instance_id == InstanceTask.instance_id)
        .where(InstanceTask.state == int(TaskState.READY), InstanceTask.manual.is_(True),
               InstanceTask.dropped.is_(False), InstanceTask.lane.in_(roles),
               ProcessInstance.status == instances.InstanceStatus.RUNNING.value)
        .order_by(InstanceTask.instance_id, InstanceTask.seq)).all()
    return [TaskView(r.id, r.instance_id, title, r.bpmn_id, r.bpmn_name, r.lane, r.claimed_by, key)
            for r, title, key in rows if r.claimed_by in (None, user_id)]


def _refuse(uow: Any, row: InstanceTask | None, task_id: str, exc: GmpError, action: str = "task.refused") -> None:
    details: dict[str, Any] = {"check": getattr(exc, "check", "state")}
    if row is not None:
        details.update(instance_id=row.instance_id, bpmn_id=row.bpmn_id, lane=row.lane)
    uow.record_refusal(action, "task", task_id, reason=str(exc), details=details)


def _check_lane(uow: Any, row: InstanceTask, user_id: str, services: EngineServices) -> set[str]:
    roles = set(services.roles_of(uow, user_id))
    if row.lane not in roles:
        raise LaneRoleRefused(f"task '{row.bpmn_id}' belongs to role '{row.lane}'; {user_id} holds "
                              f"{', '.join(sorted(roles)) or 'no role'}")
    return roles


def claim(uow: Any, task_id: str, *, services: EngineServices | None = None) -> InstanceTask:
    services = services or default_services()
    user = uow.actor.user_id
    row = None
    try:
        row = _task_row(uow.session, task_id, for_update=True)
        if row.state != int(TaskState.READY) or not row.manual:
            raise TaskStateError(f"task '{row.bpmn_id}' is not a ready user task")
        _check_lane(uow, row, user, services)
        if row.claimed_by and row.claimed_by != user:
            raise TaskStateError(f"task '{row.bpmn_id}' is claimed by {row.claimed_by}")
    except (TaskRefused, TaskStateError) as exc:
        _refuse(uow, row, task_id, exc, "task.claim_refused")
        raise
    if row.claimed_by != user:
        row.claimed_by = user
        row.claimed_at = clock.isoformat(clock.now())
        uow.audit("task.claimed", "task", row.id, changes=[["claimed_by", None, user]],
                  details={"instance_id": row.instance_id, "bpmn_id": row.bpmn_id})
    uow.session.flush()
    return row


def release(uow: Any, task_id: str, *, reason: str | None = None) -> InstanceTask:
    user = uow.actor.user_id
    row = None
    try:
        row = _task_row(uow.session, task_id, for_update=True)
        if row.claimed_by is None:
            raise TaskStateError(f"task '{row.bpmn_id}' is not claimed")
        if row.claimed_by != user:
            raise TaskStateError(f"task '{row.bpmn_id}' is claimed by {row.claimed_by}; only they can release it")
    except TaskStateError as exc:
        _refuse(uow, row, task_id, exc, "task.release_refused")
        raise
    row.claimed_by = None
    row.claimed_at = None
    uow.audit("task.released", "task", row.id, changes=[["claimed_by", user, None]], reason=reason,
              details={"instance_id": row.instance_id, "bpmn_id": row.bpmn_id})
    uow.session.flush()
    return row


def _validate_form(opened: instances.Opened, rules: Any, data: Mapping[str, Any],
                   services: EngineServices, bpmn_id: str) -> dict[str, Any]:
    if not rules.form_schema:
        if data:
            raise FormDataInvalid(f"task '{bpmn_id}' has no form, but data was submitted: "
                                  f"{', '.join(sorted(data))}")
        return {}
    forms = opened.version.forms()
    schema = forms[rules.form_schema]
    ui_schema = forms.get(rules.form_ui_schema) if rules.form_ui_schema else None
    cleaned = services.validate_form(schema, ui_schema, data)
    return dict(cleaned) if isinstance(cleaned, Mapping) else dict(data)


def _check_signatures(rules: Any, user: str, signatures: Sequence[SignatureInput], bpmn_id: str) -> None:
    wanted = list(rules.signature_meanings)
    offered = list(signatures)
    for meaning in wanted:
        match = [s for s in offered if s.meaning == meaning and s.signer_id == user]
        if not match:
            others = [s for s in offered if s.meaning == meaning]
            if others:
                raise SignatureRefused(f"task '{bpmn_id}': the '{meaning}' signature must be made by {user}, who "
                                       f"completes the task, not by {others[0].signer_id}")
            raise SignatureRequired(f"task '{bpmn_id}' requires {user}'s electronic signature with meaning "
                                    f"'{meaning}'")
        offered.remove(match[0])
    if rules.verifier_meaning:
        match = [s for s in offered if s.meaning == rules.verifier_meaning]
        if not match:
            raise SignatureRequired(f"task '{bpmn_id}' requires a second person's signature with meaning "
                                    f"'{rules.verifier_meaning}'")
        offered.remove(match[0])
    if offered:
        raise SignatureRefused(f"task '{bpmn_id}' does not ask for signature(s) "
                               f"{', '.join(s.meaning for s in offered)}")


def complete_task(uow: Any, task_id: str, data: Mapping[str, Any] | None = None,
                  signatures: Sequence[SignatureInput] = (), *, services: EngineServices | None = None,
                  settings: Any = None) -> Completion:
    """Complete a user task after every check passes; see the module docstring for the order.

    Without `services`, `default_services(settings)` is used (signing needs `settings`).
    """
    services = services or default_services(settings)
    data = dict(data or {})
    user = uow.actor.user_id
    row: InstanceTask | None = None
    opened: instances.Opened | None = None
    try:
        opened = instances._open_task_instance(uow, str(task_id), settings)
        if opened is None:
            raise TaskNotFound(f"no task {task_id}")
        row = _task_row(uow.session, task_id)  # read after the instance lock: current claim and state
        if opened.instance.status != instances.InstanceStatus.RUNNING.value:
            raise TaskStateError(f"instance {row.instance_id} is {opened.instance.status}")
        wf = opened.workflow
        task = wf.get_task_from_id(UUID(row.id))
        if task is None or task._state != TaskState.READY or not task.task_spec.manual:
            raise TaskStateError(f"task '{row.bpmn_id}' is not ready to be completed "
                                 f"(state {instances.state_name(task._state if task else row.state)})")
        if row.claimed_by and row.claimed_by != user:
            raise TaskStateError(f"task '{row.bpmn_id}' is claimed by {row.claimed_by}")
        bpmn_id = row.bpmn_id or task.task_spec.name
        roles = _check_lane(uow, row, user, services)
        rules = rules_of(task.task_spec)
        last = wf.__dict__.get("_gmp_last")
        ctx = GateContext(uow=uow, user_id=user, user_roles=frozenset(roles), instance_id=row.instance_id,
                          task_id=row.id, bpmn_id=bpmn_id, lane=row.lane, rules=rules,
                          properties=dict((task.task_spec.extensions or {}).get("properties", {}) or {}),
                          data=data, signatures=tuple(signatures), instance_data=dict(task.data),
                          history=tuple([last] if last else []))
        gates_run = run_gates(ctx)
        cleaned = _validate_form(opened, rules, data, services, bpmn_id)
        _check_signatures(rules, user, signatures, bpmn_id)
        document = task_record(row.instance_id, row.id, bpmn_id, cleaned)
        digest = record_hash(document)
        records: list[SignatureRecord] = []
        for signature in signatures:
            try:
                records.append(services.sign(uow, signer_id=signature.signer_id, meaning=signature.meaning,
                                             record_type="task", record_id=row.id, record_hash=digest,
                                             content=document, credentials=signature.credentials))
            except TaskRefused:
                raise
            except GmpError as exc:
                raise SignatureRefused(f"task '{bpmn_id}': signature '{signature.meaning}' by "
                                       f"{signature.signer_id} refused: {exc}") from exc
    except (TaskRefused, TaskStateError) as exc:
        _refuse(uow, row, task_id, exc)
        if opened is not None:
            instances._release_unchanged(opened)
        raise

    # ---- every check passed: change things
    old = {k: task.data.get(k) for k in cleaned}
    changes = [[k, jsonable(old[k]), jsonable(v)] for k, v in sorted(cleaned.items()) if old[k] != v]

    def run(wf: Any) -> None:
        task.set_data(**cleaned)
        task.internal_data["gmp"] = {"completed_by": user, "signatures": [r.signature_id for r in records],
                                     "record_hash": digest}
        task.run()
    instances.run_steps(opened.workflow, run)
    opened.workflow.__dict__["_gmp_last"] = {"bpmn_id": bpmn_id, "completed_by": user}
    uow.audit("task.completed", "task", row.id, changes=changes,
              details={"instance_id": row.instance_id, "bpmn_id": bpmn_id, "lane": row.lane, "gates": gates_run,
                       "signatures": [{"id": r.signature_id, "signer": r.signer_id, "meaning": r.meaning}
                                      for r in records], "record_hash": digest})
    if row.claimed_by:
        row.claimed_by = None
    instances._finish(uow, opened)
    ready = [str(t.id) for t in opened.workflow.get_tasks(state=TaskState.READY, manual=True)]
    return Completion(task_id=row.id, instance_id=row.instance_id, instance_status=opened.instance.status,
                      signatures=records, ready=ready)
