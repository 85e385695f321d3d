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

Each engine runtime holds its own `OperatorRegistry` (engine.runtime); nothing registers
at import time. The service task itself (SpiffWorkflow's side: BPMN error events,
deferring long operators) is `engine.spiff.service_task.OperatorServiceTask`; its
workflow's script engine carries this module's `OperatorCaller`.
"""
from __future__ import annotations

import ast
import copy
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Iterable, Mapping, Protocol

from engine.errors import (
    OperatorError,
    OperatorFailed,
    OperatorParameterError,
    OperatorRegistrationError,
    OperatorTaskError,
    UnknownOperator,
)
from engine.scripting import ScriptError, check_source
from engine.spiff.service_task import (
    PendingOperation,
    ServiceCall,
    finish_pending_operation,
    pending_call,
    pending_operations,
)

__all__ = ["OperatorRegistry", "Operator", "Param", "OperatorCaller", "OperatorContext", "OperatorError",
           "OperatorFailed", "OperatorParameterError", "OperatorRegistrationError", "OperatorTaskError",
           "UnknownOperator", "PendingOperation", "pending_operations", "finish_pending_operation",
           "run_pending_operation", "register_builtins", "check_workflow_spec", "check_operator_call"]


# ---------------------------------------------------------------- declarations
TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,), "int": (int,), "float": (int, float, Decimal), "bool": (bool,), "dict": (dict,),
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
    """Operators by name; each engine runtime holds one."""

    def __init__(self) -> None:
        self._operators: dict[str, Operator] = {}
        self._frozen = False

    def freeze(self) -> None:
        self._frozen = True

    def register(self, name: str, function: OperatorFunction, params: Iterable[Param] = (), *,
                 long_running: bool = False, description: str = "", error_codes: Iterable[str] = (),
                 replace: bool = False) -> Operator:
        if self._frozen:
            raise OperatorRegistrationError(f"operator {name!r}: this runtime is frozen (build a new one)")
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


def check_operator_call(name: str, params: Mapping[str, Any], registry: OperatorRegistry) -> list[str]:
    """Deploy-time check of one service task's operator call; a list of problems (empty: fine)."""
    return registry.check_call(name, params)


def check_workflow_spec(spec: Any, subprocess_specs: Mapping[str, Any] | None,
                        registry: OperatorRegistry) -> list[tuple[str, str]]:
    """(element id, problem) for every service task in a parsed spec and its subprocess specs."""
    from engine.spiff.service_task import service_tasks

    found = []
    for task_spec in service_tasks([spec, *(subprocess_specs or {}).values()]):
        for problem in registry.check_call(task_spec.operation_name, task_spec.operation_params):
            found.append((task_spec.bpmn_id or task_spec.name, problem))
    return found


# ---------------------------------------------------------------- calling
ContextFactory = Callable[[ServiceCall], "OperatorContext | None"]


class OperatorCaller:
    """The `service_caller` of a workflow's script engine: runs a registered operator.

    The operator context comes from `context_for(call)` when given (in-memory runs,
    tests), else from the step in progress (`call.step.operator_context(call)`, which the
    engine sets for every step it runs). A call that has neither, and every call of a
    long-running operator, is deferred to the scheduler.
    """

    def __init__(self, registry: OperatorRegistry, context_for: ContextFactory | None = None) -> None:
        self.registry = registry
        self.context_for = context_for

    def __call__(self, task: Any, operation_name: str, operation_params: Mapping[str, Any]) -> str:
        call = ServiceCall.of(task)
        try:
            operator = self.registry.get(operation_name)
        except UnknownOperator as exc:
            raise OperatorTaskError(f"{call.label}: {exc}", element=call.element_id) from exc
        values = {name: (spec["value"] if isinstance(spec, Mapping) else spec) for name, spec in operation_params.items()}
        return self.run(operator, call, values)

    # ---- what the service task asks (engine.spiff.service_task.OperatorCallerLike)
    def defers(self, name: str, call: ServiceCall) -> bool:
        if name not in self.registry:
            return False  # the call fails with a clear error
        return self.registry.get(name).long_running or (self.context_for is None and call.step is None)

    def check_params(self, name: str, call: ServiceCall, values: Mapping[str, Any]) -> None:
        self.check_values(self.registry.get(name), call, values)

    def record(self, call: ServiceCall, action: str, name: str, changes: list[list[Any]]) -> None:
        """An operator that ran in the step's own unit of work is an audit entry there (the
        scheduler records the ones it runs itself)."""
        step = call.step
        if step is None:
            return
        step.uow.audit(action, "task", call.task_id, changes=changes,
                       details={"operator": name, "element": call.element_id, "instance": step.instance_id})

    # ---- running
    def _context(self, call: ServiceCall) -> "OperatorContext | None":
        if self.context_for is not None:
            return self.context_for(call)
        return call.step.operator_context(call) if call.step is not None else None

    def check_values(self, operator: Operator, call: ServiceCall, values: Mapping[str, Any]) -> None:
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
            raise OperatorParameterError(f"{call.label}: operator {operator.name!r}: " + "; ".join(problems))

    def run(self, operator: Operator, call: ServiceCall, values: Mapping[str, Any],
            context: "OperatorContext | None" = None) -> str:
        """Run now (short operators, or a long one run to its end in memory); JSON text of the result."""
        self.check_values(operator, call, values)
        if context is None:
            context = self._context(call)
            if context is None and self.context_for is None:
                raise OperatorTaskError(f"{call.label}: no operator context is attached to the engine",
                                        element=call.element_id)
        result = operator.function(context, **values)
        try:
            return json.dumps(result, default=_json_number)
        except (TypeError, ValueError) as exc:
            raise OperatorTaskError(f"{call.label}: operator {operator.name!r} returned a value "
                                    f"that is not JSON ({exc})", element=call.element_id) from exc


def _json_number(value: Any) -> Any:
    """Exact decimals in an operator's result become JSON numbers (SpiffWorkflow stores the result
    from JSON text); anything else that is not JSON is refused."""
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def run_pending_operation(workflow: Any, task_id: str) -> None:
    """Run one long-running operator call to its end in this process and complete (or fail) its task.

    For in-memory use and tests; the scheduler runs the operator outside the instance lock
    (committing progress as it goes) and then calls `finish_pending_operation`.
    """
    call, pending = pending_call(workflow, task_id)
    caller = workflow.script_engine.service_caller
    if not isinstance(caller, OperatorCaller):
        raise OperatorError("the workflow's script engine has no operator caller")
    operator = caller.registry.get(pending["name"])
    inner = caller._context(call)
    if inner is None and caller.context_for is None:
        raise OperatorTaskError(f"{call.label}: no operator context is attached to the engine", element=call.element_id)
    context = _ProgressContext(inner, pending)
    try:
        result = json.loads(caller.run(operator, call, pending["params"], context))
    except OperatorFailed as failure:
        finish_pending_operation(workflow, task_id, failure=failure)
        return
    finish_pending_operation(workflow, task_id, result=result)


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

