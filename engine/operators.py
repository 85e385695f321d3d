"""Service-task operators: a registry of typed functions callable from BPMN service tasks.

A diagram calls an operator with SpiffWorkflow's extension:

    <spiffworkflow:serviceTaskOperator id="raise_deviation" resultVariable="deviation">
      <spiffworkflow:parameters>
        <spiffworkflow:parameter id="title" type="str" value="'Weight out of tolerance'"/>
        <spiffworkflow:parameter id="context" type="dict" value="{'batch': batch_number}"/>
      </spiffworkflow:parameters>
    </spiffworkflow:serviceTaskOperator>

Parameter values are expressions, evaluated by the restricted script engine. Each
operator declares its parameters with types; `check_operator_call` checks a call at
deploy time (unknown operator, unknown or missing parameter, type mismatch, expression
that does not compile in the sandbox) and the engine checks the evaluated values again
at run time.

An operator is `fn(context, **params) -> JSON-able result`. `context` is an
`OperatorContext` the engine passes in: the instance, the element, and the instance API
the built-in operators need (start a linked process, raise a deviation, record an
exception). Operators flagged `long_running` do not run inside the step that reaches
them: the task waits (STARTED) and the scheduler runs them (engine.scheduler), saving
progress through `context.save_progress` as they go.

Errors: an operator raises `OperatorFailed(code, message)`. If the diagram catches that
code (an error boundary event on the task, or on an enclosing subprocess or call
activity), it becomes that BPMN error event, with `{"code", "message", "details"}` as
payload; otherwise the task fails with `OperatorTaskError` naming the element.

Integration (engine core): register `OPERATOR_PARSER_CLASSES` with the parser and
`OPERATOR_SPEC_CONVERTERS` with the serializer; pass `OperatorCaller(registry,
context_for)` as `service_caller` to `engine.scripting.make_script_engine`.
"""
from __future__ import annotations

import ast
import copy
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Protocol

from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.spiff.parser.task_spec import ServiceTaskParser
from SpiffWorkflow.spiff.serializer.task_spec import ServiceTaskConverter
from SpiffWorkflow.spiff.specs.defaults import ServiceTask
from SpiffWorkflow.util.task import TaskState

from engine.errors import EngineError
from engine.scripting import ScriptError, check_source, element_label

# ---------------------------------------------------------------- errors


class OperatorError(EngineError):
    """Root of operator errors."""


class UnknownOperator(OperatorError):
    http_status = 422


class OperatorRegistrationError(OperatorError):
    """An operator was registered twice or with a bad declaration."""


class OperatorParameterError(OperatorError):
    """Evaluated parameters do not match the operator's declaration."""

    http_status = 422


class OperatorFailed(OperatorError):
    """Raised BY an operator: a business failure with a BPMN error code.

    `code` is matched against error boundary events (`bpmn:error errorCode`).
    """

    def __init__(self, code: str, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message, code=code)
        self.code = code
        self.details = dict(details or {})


class OperatorTaskError(OperatorError):
    """A service task failed and nothing in the diagram catches the failure."""

    http_status = 500

    def __init__(self, message: str, *, element: str, code: str | None = None) -> None:
        super().__init__(message, element=element, code=code)
        self.element = element
        self.code = code


# ---------------------------------------------------------------- declarations
TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,), "int": (int,), "float": (int, float), "bool": (bool,), "dict": (dict,),
    "list": (list, tuple), "any": (object,),
}


@dataclass(frozen=True)
class Param:
    name: str
    type: str = "any"
    required: bool = True
    description: str = ""

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise OperatorRegistrationError(f"parameter {self.name!r}: unknown type {self.type!r} (one of {sorted(TYPES)})")

    def accepts(self, value: Any) -> bool:
        if self.type in ("int", "float") and isinstance(value, bool):
            return False
        return isinstance(value, TYPES[self.type])


class OperatorContext(Protocol):
    """What the engine offers an operator while it runs (one per call)."""

    instance_id: str | None
    element_id: str
    task_data: Mapping[str, Any]

    def start_linked_process(self, process_key: str, data: Mapping[str, Any], link: str) -> str: ...

    def raise_deviation(self, title: str, context: Mapping[str, Any], severity: str) -> str: ...

    def record_exception(self, kind: str, message: str, details: Mapping[str, Any]) -> str: ...

    def save_progress(self, progress: Mapping[str, Any]) -> None: ...


OperatorFunction = Callable[..., Any]


@dataclass(frozen=True)
class Operator:
    name: str
    function: OperatorFunction
    params: tuple[Param, ...]
    long_running: bool = False
    description: str = ""
    error_codes: tuple[str, ...] = ()

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)


class OperatorRegistry:
    """Operators by name. One process-wide `REGISTRY`; tests build their own."""

    def __init__(self) -> None:
        self._operators: dict[str, Operator] = {}

    def register(self, name: str, function: OperatorFunction, params: Iterable[Param] = (), *,
                 long_running: bool = False, description: str = "", error_codes: Iterable[str] = (),
                 replace: bool = False) -> Operator:
        if not name or not all(part.isidentifier() for part in name.split(".")):
            raise OperatorRegistrationError(f"operator name {name!r} must be dotted identifiers")
        if name in self._operators and not replace:
            raise OperatorRegistrationError(f"operator {name!r} is registered already")
        params = tuple(params)
        names = [p.name for p in params]
        if len(set(names)) != len(names):
            raise OperatorRegistrationError(f"operator {name!r}: duplicate parameter names")
        operator = Operator(name, function, params, long_running, description, tuple(error_codes))
        self._operators[name] = operator
        return operator

    def operator(self, name: str, params: Iterable[Param] = (), **kwargs: Any) -> Callable[[OperatorFunction], OperatorFunction]:
        """Decorator form of `register`."""
        def decorate(function: OperatorFunction) -> OperatorFunction:
            self.register(name, function, params, **kwargs)
            return function
        return decorate

    def get(self, name: str) -> Operator:
        try:
            return self._operators[name]
        except KeyError:
            raise UnknownOperator(f"operator {name!r} is not registered") from None

    def __contains__(self, name: object) -> bool:
        return name in self._operators

    def names(self) -> list[str]:
        return sorted(self._operators)

    def copy(self) -> "OperatorRegistry":
        clone = OperatorRegistry()
        clone._operators = dict(self._operators)
        return clone

    # ------------------------------------------------------------ deploy-time check
    def check_call(self, name: str, params: Mapping[str, Any]) -> list[str]:
        """Problems with a service task's call, as the diagram states it (empty: fine).

        `params` is SpiffWorkflow's `operation_params`: {param: {"type": ..., "value": expression}}.
        """
        if name not in self._operators:
            known = ", ".join(self.names()) or "none"
            return [f"operator {name!r} is not registered (registered: {known})"]
        operator = self._operators[name]
        problems = []
        for param in operator.params:
            if param.required and param.name not in params:
                problems.append(f"operator {name!r}: required parameter {param.name!r} ({param.type}) is missing")
        for pname, spec in params.items():
            param = operator.param(pname)
            if param is None:
                problems.append(f"operator {name!r}: unknown parameter {pname!r} "
                                f"(expected: {', '.join(p.name for p in operator.params) or 'none'})")
                continue
            declared = (spec or {}).get("type") if isinstance(spec, Mapping) else None
            if declared not in (None, "", "any") and param.type != "any" and declared != param.type:
                problems.append(f"operator {name!r}: parameter {pname!r} is declared {declared!r} in the diagram, "
                                f"the operator takes {param.type!r}")
            expression = (spec or {}).get("value") if isinstance(spec, Mapping) else spec
            if not isinstance(expression, str) or not expression.strip():
                problems.append(f"operator {name!r}: parameter {pname!r} has no value expression")
                continue
            try:
                check_source(expression, "eval")
            except ScriptError as exc:
                problems.append(f"operator {name!r}: parameter {pname!r}: {exc}")
                continue
            try:
                literal = ast.literal_eval(expression)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                continue  # depends on task data: checked when evaluated
            if not param.accepts(literal):
                problems.append(f"operator {name!r}: parameter {pname!r} must be {param.type}, "
                                f"the diagram gives {type(literal).__name__} {literal!r}")
        return problems


REGISTRY = OperatorRegistry()


def check_operator_call(name: str, params: Mapping[str, Any], registry: OperatorRegistry | None = None) -> list[str]:
    """Deploy-time check of one service task's operator call; a list of problems (empty: fine)."""
    return (registry or REGISTRY).check_call(name, params)


def check_workflow_spec(spec: Any, subprocess_specs: Mapping[str, Any] | None = None,
                        registry: OperatorRegistry | None = None) -> list[tuple[str, str]]:
    """(element id, problem) for every service task in a parsed spec and its subprocess specs."""
    found = []
    for process in [spec, *(subprocess_specs or {}).values()]:
        for task_spec in process.task_specs.values():
            if isinstance(task_spec, ServiceTask):
                for problem in check_operator_call(task_spec.operation_name, task_spec.operation_params, registry):
                    found.append((task_spec.bpmn_id or task_spec.name, problem))
    return found


# ---------------------------------------------------------------- calling
ContextFactory = Callable[[Any], OperatorContext]


class OperatorCaller:
    """The `service_caller` of the restricted script engine: runs a registered operator."""

    def __init__(self, registry: OperatorRegistry | None = None, context_for: ContextFactory | None = None) -> None:
        self.registry = registry or REGISTRY
        self.context_for = context_for

    def __call__(self, task: Any, operation_name: str, operation_params: Mapping[str, Any]) -> str:
        label = element_label(task.task_spec)
        try:
            operator = self.registry.get(operation_name)
        except UnknownOperator as exc:
            raise OperatorTaskError(f"{label}: {exc}", element=task.task_spec.bpmn_id) from exc
        values = {name: (spec["value"] if isinstance(spec, Mapping) else spec) for name, spec in operation_params.items()}
        return self.run(operator, task, values)

    def check_values(self, operator: Operator, task: Any, values: Mapping[str, Any]) -> None:
        label = element_label(task.task_spec)
        problems = []
        for param in operator.params:
            if param.name not in values:
                if param.required:
                    problems.append(f"required parameter {param.name!r} is missing")
            elif not param.accepts(values[param.name]):
                value = values[param.name]
                problems.append(f"parameter {param.name!r} must be {param.type}, got {type(value).__name__} {value!r}")
        for name in values:
            if operator.param(name) is None:
                problems.append(f"unknown parameter {name!r}")
        if problems:
            raise OperatorParameterError(f"{label}: operator {operator.name!r}: " + "; ".join(problems))

    def run(self, operator: Operator, task: Any, values: Mapping[str, Any]) -> str:
        """Run now (short operators, or the scheduler running a long one); JSON text of the result."""
        self.check_values(operator, task, values)
        if self.context_for is None:
            raise OperatorTaskError(f"{element_label(task.task_spec)}: no operator context is attached to the engine",
                                    element=task.task_spec.bpmn_id)
        context = self.context_for(task)
        result = operator.function(context, **values)
        try:
            return json.dumps(result)
        except (TypeError, ValueError) as exc:
            raise OperatorTaskError(f"{element_label(task.task_spec)}: operator {operator.name!r} returned a value "
                                    f"that is not JSON ({exc})", element=task.task_spec.bpmn_id) from exc


# ---------------------------------------------------------------- the service task
class OperatorServiceTask(ServiceTask):
    """SpiffWorkflow's service task with operator errors mapped to BPMN error events
    and long-running operators deferred to the scheduler."""

    def _execute(self, task: Any) -> bool | None:
        engine = task.workflow.script_engine
        caller = getattr(engine, "service_caller", None)
        operator = caller.registry.get(self.operation_name) if isinstance(caller, OperatorCaller) and \
            self.operation_name in caller.registry else None
        unscoped = isinstance(caller, OperatorCaller) and caller.context_for is scope_context_for and \
            task.workflow.top_workflow.__dict__.get("_gmp_operator_scope") is None
        if operator is not None and (operator.long_running or unscoped):
            # Long operators always, and any operator reached by a step that did not open an
            # operator scope, run in the scheduler (engine.scheduler), which provides one.
            pending = task.internal_data.get("operator")
            if pending is None or pending.get("state") != "done":
                params = self.evaluate_params(task)
                values = {name: spec["value"] for name, spec in params.items()}
                caller.check_values(operator, task, values)
                task.internal_data["operator"] = {"name": operator.name, "params": values, "state": "pending",
                                                  "progress": {}}
                return None  # STARTED: the scheduler runs it and completes the task
        try:
            done = bool(super()._execute(task))
        except OperatorFailed as failure:
            if throw_operator_error(task, failure):
                _audit_in_request(task, "operator.failed", self.operation_name,
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
        _audit_in_request(task, "operator.completed", self.operation_name,
                          [[self.result_variable, None, task.data.get(self.result_variable)]]
                          if self.result_variable else [])
        return done


def _audit_in_request(task: Any, action: str, operator: str, changes: list[list[Any]]) -> None:
    """An operator that ran in the step's own unit of work is an audit entry there (the
    scheduler records the ones it runs itself)."""
    scope = task.workflow.top_workflow.__dict__.get("_gmp_operator_scope")
    if scope is None:
        return
    uow, instance_id = scope
    uow.audit(action, "task", str(task.id), changes=changes,
              details={"operator": operator, "element": task.task_spec.bpmn_id, "instance": instance_id})


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
    from SpiffWorkflow.spiff.specs.event_definitions import ErrorEventDefinition

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
        if isinstance(task.task_spec, OperatorServiceTask) and pending and pending.get("state") == "pending":
            found.append(PendingOperation(str(task.id), task.task_spec.bpmn_id, pending["name"],
                                          dict(pending["params"]), dict(pending.get("progress") or {})))
    return found


def run_pending_operation(workflow: Any, task_id: str) -> None:
    """Run one long-running operator call to its end in this process and complete (or fail) its task.

    For in-memory use and tests; the scheduler runs the operator outside the instance lock
    (committing progress as it goes) and then calls `finish_pending_operation`.
    """
    task, spec, pending = _pending_task(workflow, task_id)
    caller = workflow.script_engine.service_caller
    if not isinstance(caller, OperatorCaller):
        raise OperatorError("the workflow's script engine has no operator caller")
    operator = caller.registry.get(pending["name"])
    inner = caller.context_for
    with_progress = OperatorCaller(caller.registry, context_for=lambda t: _ProgressContext(inner(t) if inner else None, pending))
    try:
        result = json.loads(with_progress.run(operator, task, pending["params"]))
    except OperatorFailed as failure:
        finish_pending_operation(workflow, task_id, failure=failure)
        return
    finish_pending_operation(workflow, task_id, result=result)


def _pending_task(workflow: Any, task_id: str) -> tuple[Any, Any, dict[str, Any]]:
    from uuid import UUID

    task = workflow.get_task_from_id(UUID(task_id))
    spec = task.task_spec
    pending = task.internal_data.get("operator") or {}
    if not isinstance(spec, OperatorServiceTask) or pending.get("state") != "pending" or task.state != TaskState.STARTED:
        raise OperatorError(f"task {task_id} has no pending operator call")
    return task, spec, pending


def finish_pending_operation(workflow: Any, task_id: str, *, result: Any = None, failure: OperatorFailed | None = None,
                             error: str | None = None, progress: Mapping[str, Any] | None = None) -> None:
    """Apply the outcome of a long-running operator call to its task (engine steps are the caller's).

    result: the task's result variable gets it and the task completes. failure: the BPMN
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
    task.data[spec.result_variable] = copy.deepcopy(result)
    task.complete()


def scope_context_for(task: Any) -> OperatorContext:
    """The operator context of a step: the unit of work and instance the engine put on the workflow.

    (`engine.scheduler.operator_scope(workflow, uow, instance_id)` sets it around engine steps.)
    """
    scope = task.workflow.top_workflow.__dict__.get("_gmp_operator_scope")
    if scope is None:
        raise OperatorTaskError(f"{element_label(task.task_spec)}: service task ran outside an operator scope "
                                "(the engine step did not say which instance it runs for)",
                                element=task.task_spec.bpmn_id)
    from engine.messages import DbOperatorActions

    uow, instance_id = scope
    return DbOperatorActions(uow, instance_id, task.task_spec.bpmn_id, None, task_data=dict(task.data))


def default_service_caller() -> OperatorCaller:
    """The product's caller: the process-wide registry, contexts from the engine's operator scope."""
    return OperatorCaller(REGISTRY, context_for=scope_context_for)


class _ProgressContext:
    """The engine's context, with progress also kept on the task (saved with the instance)."""

    def __init__(self, inner: Any, pending: dict[str, Any]) -> None:
        self._inner = inner
        self._pending = pending

    def __getattr__(self, name: str) -> Any:
        if self._inner is None:
            raise OperatorError("no operator context is attached to the engine")
        return getattr(self._inner, name)

    def save_progress(self, progress: Mapping[str, Any]) -> None:
        self._pending["progress"] = copy.deepcopy(dict(progress))
        if self._inner is not None:
            self._inner.save_progress(progress)


class OperatorServiceTaskParser(ServiceTaskParser):
    pass


OPERATOR_PARSER_CLASSES: dict[str, tuple[type, type]] = {
    "serviceTask": (OperatorServiceTaskParser, OperatorServiceTask),
}

OPERATOR_SPEC_CONVERTERS: dict[type, type] = {OperatorServiceTask: ServiceTaskConverter}


# ---------------------------------------------------------------- built-in operators
def _start_linked_process(context: OperatorContext, process_key: str, data: Mapping[str, Any] | None = None,
                          link: str = "linked") -> dict[str, Any]:
    instance_id = context.start_linked_process(process_key, dict(data or {}), link)
    return {"instance_id": instance_id, "process_key": process_key, "link": link}


def _raise_deviation(context: OperatorContext, title: str, context_data: Mapping[str, Any] | None = None,
                     severity: str = "minor") -> dict[str, Any]:
    if severity not in ("minor", "major", "critical"):
        raise OperatorFailed("invalid_severity", f"severity must be minor, major or critical, not {severity!r}")
    deviation_id = context.raise_deviation(title, dict(context_data or {}), severity)
    return {"deviation_id": deviation_id, "title": title, "severity": severity}


def _record_exception(context: OperatorContext, kind: str, message: str,
                      details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    exception_id = context.record_exception(kind, message, dict(details or {}))
    return {"exception_id": exception_id, "kind": kind}


def register_builtins(registry: OperatorRegistry) -> None:
    """The operators every installation has."""
    registry.register("start_linked_process", _start_linked_process, (
        Param("process_key", "str", description="key of the process definition to start (its approved version)"),
        Param("data", "dict", required=False, description="initial data of the new instance"),
        Param("link", "str", required=False, description="kind of link recorded between the two instances"),
    ), description="Start an instance of another approved process, linked to this one.")
    registry.register("raise_deviation", _raise_deviation_call, (
        Param("title", "str"),
        Param("context", "dict", required=False, description="batch, step, tag, value, limit..."),
        Param("severity", "str", required=False),
    ), description="Raise a deviation carrying its context (starts the deviation process).",
        error_codes=("invalid_severity",))
    registry.register("record_exception", _record_exception, (
        Param("kind", "str", description="e.g. out_of_limit, failed_check, missed_gate"),
        Param("message", "str"),
        Param("details", "dict", required=False),
    ), description="Record an exception on this instance for review by exception.")


def _raise_deviation_call(ctx: OperatorContext, title: str, context: Mapping[str, Any] | None = None,
                          severity: str = "minor") -> dict[str, Any]:
    return _raise_deviation(ctx, title, context, severity)


register_builtins(REGISTRY)
