"""User tasks: the inbox by lane -> role, claim and release, the gates, and `complete_task`.

    complete_task(uow, task_id, data, signatures=(), *, services=None, settings=None, runtime=None) -> Completion

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

Gates also run when a user claims a task (`claim`: refused with `task.claim_refused`),
when the task is opened (`gate_refusal(..., stage="open")`, for the task page) and for the
inbox, which shows why claiming a task would be refused (`TaskView.refusal`).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from audit.canonical import jsonable
from core import clock
from core.errors import GmpError
from engine import instances, persistence
from engine.business_keys import keys_of
from engine.definitions import VersionRef, version_ref
from engine.errors import (
    FormDataInvalid,
    GateRefused,
    LaneRoleRefused,
    SignatureRefused,
    SignatureRequired,
    TaskNotFound,
    TaskRefused,
    TaskStateError,
)
from engine.gates import GateContext, Refusal
from engine.models import InstanceTask, ProcessInstance
from engine.ports import EngineServices, SignatureInput, SignatureRecord, bind_form, default_services, with_presets
from engine.properties import ASSIGNEE, TaskRules, assignee_of
from engine.runtime import EngineRuntime, SaveContext, resolve
from engine.signed_actions import AUTHORISES, SignedAction
from engine.spiff import steps
from engine.spiff.serializer import row_data, saved_last_completion
from engine.spiff.specs import find_task_spec, properties_of
from engine.spiff.workflow import READY, state_name

__all__ = ["TaskView", "Completion", "TaskDefinition", "READY", "task_record", "record_hash", "task_definition",
           "ready_task_ids", "gate_refusal", "inbox", "views_of", "claim", "release", "complete_task"]


@dataclass(frozen=True)
class TaskView:
    id: str
    instance_id: int
    instance_title: str
    bpmn_id: str | None
    name: str | None
    lane: str | None
    claimed_by: str | None
    refusal: Refusal | None = None  # why claiming it would be refused now (gates), else None
    business_key: str | None = None  # the instance's business key (engine.business_keys)


@dataclass
class Completion:
    task_id: str
    instance_id: int
    instance_status: str
    signatures: list[SignatureRecord] = field(default_factory=list)
    ready: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TaskDefinition:
    """A task row with what its definition says about it: spec, rules, form files."""

    row: InstanceTask
    instance: ProcessInstance
    version: VersionRef  # the definition version the task's spec comes from
    task_spec: Any
    rules: TaskRules
    properties: dict[str, str]

    def forms(self) -> dict[str, Any]:
        return self.version.forms()


def task_record(instance_id: int, task_id: str, bpmn_id: str, data: Mapping[str, Any],
                authorises: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What a task signature binds to: the task's identity and the data entered on it, and
    the action the signature authorises, if the task declares one (engine.signed_actions)."""
    document = {"instance_id": instance_id, "task_id": task_id, "bpmn_id": bpmn_id, "data": jsonable(dict(data))}
    if authorises:
        document[AUTHORISES] = jsonable(dict(authorises))
    return document


def record_hash(document: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical task record (sorted, compact UTF-8 JSON)."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(canonical).hexdigest()


def _task_row(session: Session, task_id: str, *, for_update: bool = False) -> InstanceTask:
    row = persistence.task_row(session, str(task_id), for_update=for_update)
    if row is None:
        raise TaskNotFound(f"no task {task_id}")
    return row


def _ref(session: Session, version_id: int, refs: dict[int, VersionRef] | None) -> VersionRef:
    if refs is None:
        return version_ref(session, version_id)
    if version_id not in refs:
        refs[version_id] = version_ref(session, version_id)
    return refs[version_id]


def _spec_version(session: Session, instance: ProcessInstance, workflow_key: str,
                  refs: dict[int, VersionRef] | None = None) -> tuple[VersionRef, str | None]:
    """The definition version a (sub)workflow of the instance runs, and the process name in it
    (None: the version's own process). A separately approved process it called has its own."""
    ref = _ref(session, instance.version_id, refs)
    if not workflow_key:
        return ref, None
    state = json.loads(instance.workflow_json or "{}")
    header = (state.get("subprocesses") or {}).get(workflow_key) or {}
    key = header.get("spec_key") or header.get("spec")
    called = (state.get("called") or {}).get(key) if key else None
    if called is None:
        return ref, key
    process, _, _version = str(key).rpartition("@")
    called_ref = _ref(session, int(called), refs)
    spec, _subs = called_ref.spec()
    return called_ref, (None if spec.name == process else process)


def task_definition(session: Session, task_id: str, runtime: EngineRuntime | None = None) -> TaskDefinition:
    """A user task with its spec, rules and form files (for its page and its checks)."""
    runtime = resolve(runtime)
    row = session.get(InstanceTask, task_id)
    if row is None or row.dropped or not row.manual:
        raise TaskNotFound(f"no task {task_id}")
    instance = instances.get_instance(session, row.instance_id)
    return _definition(session, row, instance, runtime)


def _definition(session: Session, row: InstanceTask, instance: ProcessInstance, runtime: EngineRuntime,
                refs: dict[int, VersionRef] | None = None) -> TaskDefinition:
    ref, process = _spec_version(session, instance, row.workflow_key, refs)
    spec, subprocess_specs = ref.spec()
    if process is not None and process in subprocess_specs:
        task_spec = subprocess_specs[process].task_specs.get(row.spec_name)
    else:
        task_spec = find_task_spec(spec, subprocess_specs, row.spec_name)
    if task_spec is None:
        raise TaskNotFound(f"task {row.id}: its definition is not in version {ref.id}")
    properties = properties_of(task_spec)
    return TaskDefinition(row, instance, ref, task_spec, runtime.properties.rules(properties), properties)


def ready_task_ids(session: Session, instance_id: int) -> set[str]:
    """Ids of the ready user tasks of an instance."""
    return set(session.execute(select(InstanceTask.id).where(
        InstanceTask.instance_id == instance_id, InstanceTask.state == READY,
        InstanceTask.manual.is_(True), InstanceTask.dropped.is_(False))).scalars())


# ---------------------------------------------------------------- gates before completion
def _row_gate_context(uow: Any, definition: TaskDefinition, user_id: str, roles: set[str], stage: str) -> GateContext:
    row, instance = definition.row, definition.instance
    last = saved_last_completion(instance.workflow_json)
    return GateContext(uow=uow, user_id=user_id, user_roles=frozenset(roles), instance_id=row.instance_id,
                       task_id=row.id, bpmn_id=row.bpmn_id or row.spec_name, lane=row.lane, rules=definition.rules,
                       properties=definition.properties, instance_data=row_data(row.body),
                       history=tuple([last] if last else []), stage=stage)


def _gates_for(uow: Any, definition: TaskDefinition, user_id: str, roles: set[str], stage: str,
               runtime: EngineRuntime) -> list[str]:
    return runtime.gates.run(_row_gate_context(uow, definition, user_id, roles, stage))


def gate_refusal(uow: Any, task_id: str, user_id: str | None = None, *, stage: str = "open",
                 services: EngineServices | None = None, runtime: EngineRuntime | None = None) -> Refusal | None:
    """Why the task's gates would refuse the user now ('claim' or 'open'), or None.

    Gates change nothing; data- and signature-dependent checks run again at completion."""
    runtime = resolve(runtime)
    services = services or default_services()
    user_id = user_id or uow.actor.user_id
    definition = task_definition(uow.session, task_id, runtime)
    roles = set(services.roles_of(uow, user_id))
    try:
        _gates_for(uow, definition, user_id, roles, stage, runtime)
    except GateRefused as exc:
        return Refusal.of(exc)
    return None


def inbox(uow: Any, user_id: str | None = None, *, services: EngineServices | None = None,
          runtime: EngineRuntime | None = None) -> list[TaskView]:
    """Ready user tasks in lanes whose role the user holds, unclaimed or claimed by the user,
    each with why its gates would refuse the user at claim (None: they would not)."""
    runtime = resolve(runtime)
    services = services or default_services()
    user_id = user_id or uow.actor.user_id
    roles = set(services.roles_of(uow, user_id))
    rows = uow.session.execute(
        select(InstanceTask, ProcessInstance)
        .join(ProcessInstance, ProcessInstance.id == InstanceTask.instance_id)
        .where(InstanceTask.state == READY, InstanceTask.manual.is_(True),
               InstanceTask.dropped.is_(False),
               or_(InstanceTask.lane.in_(sorted(roles)), InstanceTask.claimed_by == user_id),
               ProcessInstance.status == instances.InstanceStatus.RUNNING.value)
        .order_by(InstanceTask.instance_id, InstanceTask.seq)).all()
    return views_of(uow, [(row, instance) for row, instance in rows if row.claimed_by in (None, user_id)],
                    user_id, roles, runtime)


def views_of(uow: Any, rows: Sequence[tuple[InstanceTask, ProcessInstance]], user_id: str, roles: set[str],
             runtime: EngineRuntime | None = None) -> list[TaskView]:
    """Task views of ready task rows, each with why claiming it would be refused (gates at 'claim')."""
    runtime = resolve(runtime)
    views = []
    refs: dict[int, VersionRef] = {}
    keys = keys_of(uow.session, {row.instance_id for row, _ in rows})
    for row, instance in rows:
        refusal = None
        definition = _definition(uow.session, row, instance, runtime, refs)
        if definition.rules.all_gates:
            try:
                _gates_for(uow, definition, user_id, roles, "claim", runtime)
            except GateRefused as exc:
                refusal = Refusal.of(exc)
        views.append(TaskView(row.id, row.instance_id, instance.title, row.bpmn_id, row.bpmn_name, row.lane,
                              row.claimed_by, refusal, keys.get(row.instance_id)))
    return views


def _refuse(uow: Any, row: InstanceTask | None, task_id: str, exc: GmpError, action: str = "task.refused") -> None:
    details: dict[str, Any] = {"check": getattr(exc, "check", "state")}
    if row is not None:
        details.update(instance_id=row.instance_id, bpmn_id=row.bpmn_id, lane=row.lane)
    if isinstance(exc, GateRefused):
        details.update(gate=exc.gate, code=exc.code)
    uow.record_refusal(action, "task", task_id, reason=str(exc), details=details)


def _check_lane(uow: Any, row: InstanceTask, user_id: str, services: EngineServices,
                properties: Mapping[str, str] | None = None) -> set[str]:
    """The lane's role, or, for a task with an `assignee`, the one person its data names."""
    roles = set(services.roles_of(uow, user_id))
    if properties and (properties.get(ASSIGNEE) or "").strip():
        person = assignee_of(properties, row_data(row.body))
        if person != user_id:
            raise LaneRoleRefused(f"task '{row.bpmn_id}' is assigned to {person or 'nobody (its data names no one)'}"
                                  f"; {user_id} may not take it")
        return roles
    if row.lane not in roles:
        raise LaneRoleRefused(f"task '{row.bpmn_id}' belongs to role '{row.lane}'; {user_id} holds "
                              f"{', '.join(sorted(roles)) or 'no role'}")
    return roles


def claim(uow: Any, task_id: str, *, services: EngineServices | None = None,
          runtime: EngineRuntime | None = None) -> InstanceTask:
    """Claim a ready user task: the lane's role, not claimed by someone else, and the gates."""
    runtime = resolve(runtime)
    services = services or default_services()
    user = uow.actor.user_id
    row = None
    try:
        row = _task_row(uow.session, task_id, for_update=True)
        if row.state != READY or not row.manual:
            raise TaskStateError(f"task '{row.bpmn_id}' is not a ready user task")
        instance = instances.get_instance(uow.session, row.instance_id)
        definition = _definition(uow.session, row, instance, runtime)
        roles = _check_lane(uow, row, user, services, definition.properties)
        if row.claimed_by and row.claimed_by != user:
            raise TaskStateError(f"task '{row.bpmn_id}' is claimed by {row.claimed_by}")
        _gates_for(uow, definition, user, roles, "claim", runtime)
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
        if row.lane is not None and _is_assigned(uow.session, row):
            raise TaskStateError(f"task '{row.bpmn_id}' is assigned to {user} by its process: it cannot be released")
    except TaskStateError as exc:
        _refuse(uow, row, task_id, exc, "task.release_refused")
        raise
    row.claimed_by = None
    row.claimed_at = None
    uow.audit("task.released", "task", row.id, changes=[["claimed_by", user, None]], reason=reason,
              details={"instance_id": row.instance_id, "bpmn_id": row.bpmn_id})
    uow.session.flush()
    return row


def _task_forms(opened: instances.Opened, task: Any) -> dict[str, Any]:
    """The form files of the definition version the task's spec comes from."""
    key = getattr(task.workflow, "spec_key", None)
    called = opened.workflow.run.called.get(key) if key else None
    return version_ref(opened.version.session, called).forms() if called is not None else opened.version.forms()


def _bound_form(forms: Mapping[str, Any], rules: TaskRules, instance_data: Mapping[str, Any]) -> tuple[Any, Any] | None:
    """The task's (schema, UI schema) for this instance, rows a repeating group takes from the
    instance data preset (x-gmp-rows-from); None for a task without a form."""
    if not rules.form_schema:
        return None
    schema = forms[rules.form_schema]
    ui_schema = forms.get(rules.form_ui_schema) if rules.form_ui_schema else None
    return bind_form(schema, ui_schema, instance_data)


def _validate_form(form: tuple[Any, Any] | None, data: Mapping[str, Any],
                   services: EngineServices, bpmn_id: str) -> dict[str, Any]:
    if form is None:
        if data:
            raise FormDataInvalid(f"task '{bpmn_id}' has no form, but data was submitted: "
                                  f"{', '.join(sorted(data))}")
        return {}
    schema, ui_schema = form
    cleaned = services.validate_form(schema, ui_schema, data)
    return dict(cleaned) if isinstance(cleaned, Mapping) else dict(data)


def _check_signatures(rules: TaskRules, user: str, signatures: Sequence[SignatureInput], bpmn_id: str) -> None:
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


def _signed_action(runtime: EngineRuntime, properties: Mapping[str, Any], data: Mapping[str, Any],
                   bpmn_id: str) -> tuple[SignedAction | None, dict[str, Any] | None]:
    """The action the task's signature authorises and its content built from the form data, or (None, None)."""
    actions = runtime.signed_actions.declared(properties)
    if not actions:
        return None, None
    if len(actions) > 1:
        raise TaskStateError(f"task '{bpmn_id}' declares {len(actions)} signed actions; a signature authorises one")
    action = actions[0]
    return action, dict(action.build(properties, data))


def _pending_action(action: SignedAction, properties: Mapping[str, Any], document: Mapping[str, Any],
                    signature: SignatureRecord, task_id: str) -> dict[str, Any]:
    """The operator call that carries out a signed action (the scheduler runs it)."""
    return {"name": action.operator, "result_variable": action.result_variable(properties),
            "params": {"content": dict(document[AUTHORISES]), "task_id": task_id, "document": dict(document),
                       "signature": {"id": signature.signature_id, "meaning": signature.meaning,
                                     "signer": signature.signer_id, "signer_name": signature.signer_name}}}


def complete_task(uow: Any, task_id: str, data: Mapping[str, Any] | None = None,
                  signatures: Sequence[SignatureInput] = (), *, services: EngineServices | None = None,
                  settings: Any = None, runtime: EngineRuntime | None = None) -> Completion:
    """Complete a user task after every check passes; see the module docstring for the order.

    Without `services`, `default_services(settings)` is used (signing needs `settings`).
    """
    runtime = resolve(runtime)
    services = services or default_services(settings)
    data = dict(data or {})
    user = uow.actor.user_id
    row: InstanceTask | None = None
    opened: instances.Opened | None = None
    try:
        opened = instances.open_task_instance(uow, str(task_id), settings, runtime)
        if opened is None:
            raise TaskNotFound(f"no task {task_id}")
        row = _task_row(uow.session, task_id)  # read after the instance lock: current claim and state
        if opened.instance.status != instances.InstanceStatus.RUNNING.value:
            raise TaskStateError(f"instance {row.instance_id} is {opened.instance.status}")
        wf = opened.workflow
        task = steps.get_task(wf, row.id)
        if not steps.is_ready_user_task(task):
            raise TaskStateError(f"task '{row.bpmn_id}' is not ready to be completed "
                                 f"(state {state_name(task.state if task is not None else row.state)})")
        if row.claimed_by and row.claimed_by != user:
            raise TaskStateError(f"task '{row.bpmn_id}' is claimed by {row.claimed_by}")
        bpmn_id = row.bpmn_id or task.task_spec.name
        properties = properties_of(task.task_spec)
        roles = _check_lane(uow, row, user, services, properties)
        rules = runtime.properties.rules(properties)
        form = _bound_form(_task_forms(opened, task), rules, task.data)
        if form is not None:  # the gates see whole rows: preset columns the page never posts filled in
            data = with_presets(form[0], form[1], data)
        last = wf.run.last_completion
        ctx = GateContext(uow=uow, user_id=user, user_roles=frozenset(roles), instance_id=row.instance_id,
                          task_id=row.id, bpmn_id=bpmn_id, lane=row.lane, rules=rules, properties=properties,
                          data=data, signatures=tuple(signatures), instance_data=dict(task.data),
                          history=tuple([last] if last else []), stage="complete")
        gates_run = runtime.gates.run(ctx)
        cleaned = _validate_form(form, data, services, bpmn_id)
        _check_signatures(rules, user, signatures, bpmn_id)
        action, authorises = _signed_action(runtime, properties, cleaned, bpmn_id)
        if action is not None and not rules.signature_meanings:
            raise SignatureRequired(f"task '{bpmn_id}': {action.name} needs the completer's signature "
                                    "(signature.meaning), none is declared")
        document = task_record(row.instance_id, row.id, bpmn_id, cleaned, authorises)
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
            instances.release_unchanged(opened)
        raise

    # ---- every check passed: change things
    old = {k: task.data.get(k) for k in cleaned}
    changes = [[k, jsonable(old[k]), jsonable(v)] for k, v in sorted(cleaned.items()) if old[k] != v]
    record: dict[str, Any] = {"completed_by": user, "signatures": [r.signature_id for r in records],
                              "record_hash": digest}
    if action is not None:
        record[AUTHORISES] = {"action": action.name, **document[AUTHORISES]}
        authoriser = next(r for r in records if r.signer_id == user and r.meaning == rules.signature_meanings[0])
        pending = _pending_action(action, properties, document, authoriser, row.id)
        steps.run_steps(opened.workflow, lambda wf: steps.defer_user_task(task, cleaned, record, pending))
    else:
        steps.run_steps(opened.workflow, lambda wf: steps.complete_user_task(task, cleaned, record))
    opened.workflow.run.last_completion = {"bpmn_id": bpmn_id, "completed_by": user}
    uow.audit("task.completed", "task", row.id, changes=changes,
              details={"instance_id": row.instance_id, "bpmn_id": bpmn_id, "lane": row.lane, "gates": gates_run,
                       "signatures": [{"id": r.signature_id, "signer": r.signer_id, "meaning": r.meaning}
                                      for r in records], "record_hash": digest,
                       **({AUTHORISES: record[AUTHORISES]} if action is not None else {})})
    if row.claimed_by:
        row.claimed_by = None
    instances.finish(uow, opened)
    ready = [str(t.id) for t in steps.ready_user_tasks(opened.workflow)]
    return Completion(task_id=row.id, instance_id=row.instance_id, instance_status=opened.instance.status,
                      signatures=records, ready=ready)


# ---------------------------------------------------------------- tasks assigned to one person
def _is_assigned(session: Session, row: InstanceTask) -> bool:
    instance = instances.get_instance(session, row.instance_id)
    ref, process = _spec_version(session, instance, row.workflow_key, None)
    spec, subprocess_specs = ref.spec()
    if process is not None and process in subprocess_specs:
        task_spec = subprocess_specs[process].task_specs.get(row.spec_name)
    else:
        task_spec = find_task_spec(spec, subprocess_specs, row.spec_name)
    return task_spec is not None and bool((properties_of(task_spec).get(ASSIGNEE) or "").strip())


class Assignments:
    """Save hook: a user task with an `assignee` property, once ready, is claimed for the person its
    data names (audit `task.assigned`): it is in their inbox, whatever roles they hold, and nobody
    else may take it (`_check_lane`)."""

    name = "assignments"

    def before_save(self, ctx: SaveContext) -> None:
        return None

    def after_save(self, ctx: SaveContext) -> None:
        session = ctx.uow.session
        for task in steps.ready_user_tasks(ctx.workflow):
            properties = properties_of(task.task_spec)
            if not (properties.get(ASSIGNEE) or "").strip():
                continue
            row = session.get(InstanceTask, str(task.id))
            person = assignee_of(properties, task.data)
            if row is None or row.claimed_by is not None or person is None:
                continue
            row.claimed_by, row.claimed_at = person, clock.isoformat(clock.now())
            ctx.uow.audit("task.assigned", "task", row.id, changes=[["claimed_by", None, person]],
                          details={"instance_id": row.instance_id, "bpmn_id": row.bpmn_id,
                                   "assignee": properties[ASSIGNEE]})
        session.flush()
