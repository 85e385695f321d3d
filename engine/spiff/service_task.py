"""Service tasks that call the engine's operator registry (engine.operators).

A diagram names an operator with SpiffWorkflow's `spiffworkflow:serviceTaskOperator`
extension. `OperatorServiceTask` is SpiffWorkflow's service task with:
- operator failures (`OperatorFailed`) thrown as BPMN error events when the diagram
  catches their code (an error boundary event on the task, or on an enclosing
  subprocess or call activity), a clear `OperatorTaskError` otherwise;
- long-running operators, and any operator reached by a step that runs outside an
  engine step scope, deferred: the task waits (STARTED) with the evaluated call in its
  internal data, and the scheduler runs it (`pending_operations`,
  `finish_pending_operation`).

The workflow's script engine carries the operator caller (`service_caller`, see
engine.operators.OperatorCaller); the step in progress is `workflow.run.step` (set by
engine.instances for every step it runs). Nothing is looked up elsewhere.

SpiffWorkflow behaviour used (pinned by the contract tests): `ServiceTask._execute(task)`
evaluates the parameters (`evaluate_params`) and calls
`script_engine.call_service(task, operation_name=..., operation_params=...)`, storing the
JSON result in `result_variable`; error events are `BpmnEvent(ErrorEventDefinition(...),
payload, target)` caught with `top_workflow.catch(event)` and found waiting in
`top_workflow.event_manager.tasks`.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol
from uuid import UUID

from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.spiff.parser.task_spec import ServiceTaskParser
from SpiffWorkflow.spiff.serializer.task_spec import ServiceTaskConverter
from SpiffWorkflow.spiff.specs.defaults import ServiceTask
from SpiffWorkflow.spiff.specs.event_definitions import ErrorEventDefinition
from SpiffWorkflow.util.task import TaskState

from engine.errors import OperatorError, OperatorFailed, OperatorTaskError
from engine.scripting import ScriptError
from engine.spiff.script_engine import element_label


@dataclass(frozen=True)
class ServiceCall:
    """One call of an operator by a service task, as the operator caller sees it."""

    task: Any
    element_id: str
    label: str
    task_id: str
    task_data: Mapping[str, Any]
    step: Any  # the engine.runtime.StepScope of the step in progress, or None

    @classmethod
    def of(cls, task: Any) -> "ServiceCall":
        spec = task.task_spec
        run = getattr(task.workflow.top_workflow, "run", None)  # a plain BpmnWorkflow (tests) has no run state
        return cls(task, getattr(spec, "bpmn_id", None) or spec.name, element_label(spec), str(task.id),
                   dict(task.data), getattr(run, "step", None))


class OperatorCallerLike(Protocol):
    """What this module needs of engine.operators.OperatorCaller."""

    def defers(self, name: str, call: ServiceCall) -> bool: ...

    def check_params(self, name: str, call: ServiceCall, values: Mapping[str, Any]) -> None: ...

    def record(self, call: ServiceCall, action: str, name: str, changes: list[list[Any]]) -> None: ...


def operation_name(task_spec: Any) -> str | None:
    """The operator a service task names (spiffworkflow:serviceTaskOperator), or None."""
    if not isinstance(task_spec, ServiceTask):
        return None
    operator = (task_spec.extensions or {}).get("serviceTaskOperator") or {}
    return (operator.get("name") if isinstance(operator, dict) else None) or getattr(task_spec, "operation_name", None)


def is_service_task(task_spec: Any) -> bool:
    return isinstance(task_spec, ServiceTask)


def service_tasks(specs: Any) -> list[Any]:
    """Every service task spec of these process specs."""
    return [t for s in specs for t in s.task_specs.values() if isinstance(t, ServiceTask)]


class OperatorServiceTask(ServiceTask):
    """SpiffWorkflow's service task with operator errors mapped to BPMN error events
    and long-running operators deferred to the scheduler."""

    def _execute(self, task: Any) -> bool | None:
        caller = getattr(task.workflow.script_engine, "service_caller", None)
        call = ServiceCall.of(task)
        if caller is not None and hasattr(caller, "defers") and caller.defers(self.operation_name, call):
            pending = task.internal_data.get("operator")
            if pending is None or pending.get("state") != "done":
                params = self.evaluate_params(task)
                values = {name: spec["value"] for name, spec in params.items()}
                caller.check_params(self.operation_name, call, values)
                task.internal_data["operator"] = {"name": self.operation_name, "params": values, "state": "pending",
                                                  "progress": {}}
                return None  # STARTED: the scheduler runs it and completes the task
        try:
            done = bool(super()._execute(task))
        except OperatorFailed as failure:
            if throw_operator_error(task, failure):
                if caller is not None and hasattr(caller, "record"):
                    caller.record(call, "operator.failed", self.operation_name,
                                  [["error", None, {"code": failure.code, "message": failure.message}]])
                return None  # the boundary event takes over and cancels this task
            raise OperatorTaskError(f"{element_label(self)}: operator {self.operation_name!r} failed with error "
                                    f"code {failure.code!r}: {failure.message} (no error boundary event catches it)",
                                    element=self.bpmn_id, code=failure.code) from failure
        except (OperatorError, ScriptError):
            raise
        except Exception as exc:  # an operator's own bug: a clear task error, never swallowed
            raise OperatorTaskError(f"{element_label(self)}: operator {self.operation_name!r} raised "
                                    f"{type(exc).__name__}: {exc}", element=self.bpmn_id) from exc
        if caller is not None and hasattr(caller, "record"):
            caller.record(call, "operator.completed", self.operation_name,
                          [[self.result_variable, None, task.data.get(self.result_variable)]]
                          if self.result_variable else [])
        return done


def _catching_tasks(task: Any, event: BpmnEvent) -> list[Any]:
    top = task.workflow.top_workflow
    target = task.workflow
    while target is not None:
        tasks = [t for t in top.event_manager.tasks.values()
                 if t.workflow == target and t.task_spec.event_definition.catches(t, event)]
        if tasks:
            return tasks
        target = target.parent_workflow if target is not top else None
    return []


def throw_operator_error(task: Any, failure: OperatorFailed) -> bool:
    """Throw `failure` as a BPMN error event from `task`; False if nothing catches it."""
    definition = ErrorEventDefinition(failure.code, code=failure.code)
    payload = {"code": failure.code, "message": failure.message, "details": copy.deepcopy(failure.details)}
    event = BpmnEvent(definition, payload=payload, target=task.workflow)
    if not _catching_tasks(task, event):
        return False
    task.internal_data["operator_error"] = payload
    task.workflow.top_workflow.catch(event)
    return True


# ---------------------------------------------------------------- long-running operators
@dataclass(frozen=True)
class PendingOperation:
    task_id: str
    element_id: str
    operator: str
    params: dict[str, Any] = field(default_factory=dict)
    progress: dict[str, Any] = field(default_factory=dict)


def pending_operations(workflow: Any) -> list[PendingOperation]:
    """Long-running operator calls waiting for the scheduler in `workflow`."""
    found = []
    for task in workflow.get_tasks(state=TaskState.STARTED):
        pending = task.internal_data.get("operator")
        if _holds_pending(task.task_spec) and pending and pending.get("state") == "pending":
            found.append(PendingOperation(str(task.id), task.task_spec.bpmn_id, pending["name"],
                                          dict(pending["params"]), dict(pending.get("progress") or {})))
    return found


def pending_call(workflow: Any, task_id: str) -> tuple[ServiceCall, dict[str, Any]]:
    """The service call and its pending record (name, params, state, progress) of a waiting task."""
    task, _spec, pending = _pending_task(workflow, task_id)
    return ServiceCall.of(task), pending


def pending_in_row(internal_data: Any) -> dict[str, Any] | None:
    """The pending operator call kept in a saved task's internal data, or None."""
    pending = internal_data.get("operator") if isinstance(internal_data, dict) else None
    return pending if isinstance(pending, dict) and pending.get("state") == "pending" else None


def _holds_pending(spec: Any) -> bool:
    """A service task calling an operator, or a user task whose signature authorised an
    action an operator carries out (engine.signed_actions)."""
    return isinstance(spec, OperatorServiceTask) or bool(getattr(spec, "manual", False))


def _pending_task(workflow: Any, task_id: str) -> tuple[Any, Any, dict[str, Any]]:
    task = workflow.get_task_from_id(UUID(task_id))
    spec = task.task_spec
    pending = task.internal_data.get("operator") or {}
    if not _holds_pending(spec) or pending.get("state") != "pending" or task.state != TaskState.STARTED:
        raise OperatorError(f"task {task_id} has no pending operator call")
    return task, spec, pending


def finish_pending_operation(workflow: Any, task_id: str, *, result: Any = None, failure: OperatorFailed | None = None,
                             error: str | None = None, progress: Mapping[str, Any] | None = None) -> None:
    """Apply the outcome of a long-running operator call to its task (engine steps are the caller's).

    result: the task's result variable gets it and the task completes (a user task whose
    signature authorised the call names its variable in the pending record). failure: the BPMN
    error event if the diagram catches its code, else the task fails (OperatorTaskError).
    error: an operator bug; the task fails (OperatorTaskError).
    """
    task, spec, pending = _pending_task(workflow, task_id)
    if progress is not None:
        pending["progress"] = copy.deepcopy(dict(progress))
    if failure is not None:
        pending["state"] = "failed"
        if throw_operator_error(task, failure):
            return
        task.error()
        raise OperatorTaskError(f"{element_label(spec)}: operator {pending['name']!r} failed with error code "
                                f"{failure.code!r}: {failure.message} (no error boundary event catches it)",
                                element=spec.bpmn_id, code=failure.code) from failure
    if error is not None:
        pending["state"] = "failed"
        task.error()
        raise OperatorTaskError(f"{element_label(spec)}: operator {pending['name']!r} raised {error.splitlines()[0]}",
                                element=spec.bpmn_id)
    pending["state"] = "done"
    variable = pending.get("result_variable") or getattr(spec, "result_variable", None)
    if variable:
        task.data[variable] = copy.deepcopy(result)
    task.complete()


class OperatorServiceTaskParser(ServiceTaskParser):
    pass


OPERATOR_PARSER_CLASSES: dict[str, tuple[type, type]] = {
    "serviceTask": (OperatorServiceTaskParser, OperatorServiceTask),
}

OPERATOR_SPEC_CONVERTERS: dict[type, type] = {OperatorServiceTask: ServiceTaskConverter}
