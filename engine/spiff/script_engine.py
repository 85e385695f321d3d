"""SpiffWorkflow's script engine over the restricted environment (engine.scripting).

Every workflow, new or loaded, gets its own `RestrictedScriptEngine` from
`attach_script_engine` (SpiffWorkflow's deserializer would attach a new, unrestricted
engine: nothing here uses it). Errors of diagram code always name the element and what
was evaluated there: through the task when SpiffWorkflow passes one (`describe_site`),
else by where the failing source sits in the workflow's specs (`SiteIndex`: message
correlations and completion conditions are evaluated without a task).

SpiffWorkflow behaviour used (pinned by the contract tests): `PythonScriptEngine` calls
`environment.evaluate(expression, task.data, external_context)` and
`environment.execute(script, task.data, external_context)`; some call sites call the
environment directly without a task; service tasks call
`script_engine.call_service(task, operation_name=..., operation_params=...)`.
"""
from __future__ import annotations

import ast
from typing import Any, Callable, Mapping, Protocol

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine

from engine.sandbox import SandboxConfig, pool
from engine.scripting import (
    MAX_SOURCE_CHARS,
    RestrictedEnvironment,
    Runner,
    ScriptError,
    ScriptLimits,
    ScriptRuntimeError,
    check_size,
)


class ServiceCaller(Protocol):
    """What service tasks call (engine.operators.OperatorCaller): see engine.spiff.service_task."""

    def __call__(self, task: Any, operation_name: str, operation_params: Mapping[str, Any]) -> str: ...


# ---------------------------------------------------------------- naming the element
def element_label(task_spec: Any) -> str:
    kind = type(task_spec).__name__
    bpmn_id = getattr(task_spec, "bpmn_id", None) or getattr(task_spec, "name", "?")
    name = getattr(task_spec, "bpmn_name", None)
    label = f"{_KIND_NAMES.get(kind, kind)} '{bpmn_id}'"
    return f"{label} ({name})" if name else label


_KIND_NAMES = {
    "ScriptTask": "script task", "ServiceTask": "service task", "OperatorServiceTask": "service task",
    "UserTask": "user task", "ManualTask": "manual task", "ExclusiveGateway": "exclusive gateway",
    "InclusiveGateway": "inclusive gateway", "BusinessRuleTask": "business rule task",
    "IntermediateCatchEvent": "intermediate catch event", "IntermediateThrowEvent": "intermediate throw event",
    "StartEvent": "start event", "EndEvent": "end event", "BoundaryEvent": "boundary event",
    "SendTask": "send task", "ReceiveTask": "receive task", "CallActivity": "call activity",
    "SubWorkflowTask": "subprocess", "NoneTask": "task",
}


def describe_site(task: Any, expression: str | None) -> str:
    """Which element, and which of its expressions, `expression` belongs to."""
    spec = task.task_spec
    label = element_label(spec)
    if expression is None:
        return label
    text = expression.strip() if isinstance(expression, str) else expression

    def same(value: Any) -> bool:
        return isinstance(value, str) and value.strip() == text

    if same(getattr(spec, "script", None)):
        return f"{label} script"
    if same(getattr(spec, "prescript", None)):
        return f"{label} pre-script"
    if same(getattr(spec, "postscript", None)):
        return f"{label} post-script"
    for condition, target in getattr(spec, "cond_task_specs", []) or []:
        if condition is not None and condition.args and same(condition.args[0]):
            target_id = target if isinstance(target, str) else (getattr(target, "bpmn_id", None) or target.name)
            return f"{label} condition of the flow to '{target_id}'"
    for attribute, what in (("cardinality", "loop cardinality"), ("condition", "completion condition"),
                            ("completion_condition", "completion condition")):
        if same(getattr(spec, attribute, None)):
            return f"{label} {what}"
    definition = getattr(spec, "event_definition", None)
    if definition is not None:
        if same(getattr(definition, "expression", None)):
            kind = "timer expression" if "Timer" in type(definition).__name__ else "payload expression"
            return f"{label} {kind}"
        for prop in list(getattr(definition, "correlation_properties", []) or []) + list(
                getattr(definition, "process_correlations", []) or []):
            if same(getattr(prop, "retrieval_expression", None)):
                return f"{label} correlation property '{prop.name}'"
    for name, param in (getattr(spec, "operation_params", None) or {}).items():
        if isinstance(param, dict) and same(param.get("value")):
            return f"{label} parameter '{name}'"
    if type(spec).__name__ == "BusinessRuleTask":
        return f"{label} decision table cell"
    parent = getattr(task, "parent", None)
    if parent is not None and getattr(parent.task_spec, "bpmn_id", None) == getattr(spec, "bpmn_id", None) \
            and parent.task_spec is not spec:  # a multi-instance child: the setting lives on its parent
        return describe_site(parent, expression)
    return f"{label} expression"


# ---------------------------------------------------------------- the script engine
class SiteIndex:
    """Where each expression or script of a workflow's specs sits: source text -> site label."""

    def __init__(self) -> None:
        self._sites: dict[str, str] = {}
        self._specs: set[int] = set()

    def add_specs(self, specs: Any) -> None:
        for spec in specs:
            if id(spec) in self._specs:
                continue
            self._specs.add(id(spec))
            for element, site, _mode, source in spec_sources(spec):
                self._sites.setdefault(source.strip(), _site_label(spec, element, site))

    def __call__(self, source: str) -> str | None:
        return self._sites.get(source.strip()) if isinstance(source, str) else None


def _site_label(spec: Any, element: str, site: str) -> str:
    if element == spec.name and site == "completion condition":
        kind = "ad-hoc subprocess" if "AdHoc" in type(spec).__name__ else "process"
        return f"{kind} '{spec.name}' completion condition"
    task_spec = spec.task_specs.get(element)
    if task_spec is None:
        task_spec = next((t for t in spec.task_specs.values() if getattr(t, "bpmn_id", None) == element), None)
    label = element_label(task_spec) if task_spec is not None else f"element '{element}'"
    return f"{label} {site}"


class RestrictedScriptEngine(PythonScriptEngine):
    """SpiffWorkflow's script engine over RestrictedEnvironment.

    `call_service` is overridden (SpiffWorkflow 3.2.0 hides a service's exception behind
    `NameError: name 'script' is not defined` otherwise) and hands the call to the
    operator registry's caller, which returns the JSON text SpiffWorkflow expects.
    """

    environment: RestrictedEnvironment

    def __init__(self, environment: RestrictedEnvironment, service_caller: ServiceCaller | None = None) -> None:
        super().__init__(environment=environment)
        self.service_caller = service_caller
        self.max_source_chars = MAX_SOURCE_CHARS
        self.sites = SiteIndex()
        environment.locate = self.sites

    def validate(self, expression: str) -> None:
        check_size(expression, self.max_source_chars)
        ast.parse(expression)

    def evaluate(self, task: Any, expression: str, external_context: Mapping[str, Any] | None = None) -> Any:
        try:
            return self.environment.evaluate_unplaced(expression, task.data, external_context)
        except ScriptError as error:
            raise _place(error, task, expression) from error.__cause__

    def execute(self, task: Any, script: str, external_context: Mapping[str, Any] | None = None) -> bool:
        try:
            return bool(self.environment.execute_unplaced(script, task.data, external_context or {}))
        except ScriptError as error:
            raise _place(error, task, script) from error.__cause__

    def call_service(self, task: Any, **kwargs: Any) -> Any:
        if self.service_caller is None:
            raise ScriptRuntimeError(f"{element_label(task.task_spec)}: no operator registry is attached to the engine")
        return self.service_caller(task, kwargs["operation_name"], kwargs.get("operation_params") or {})


def _place(error: ScriptError, task: Any, expression: str) -> ScriptError:
    if error.element is not None and not error.element.startswith("expression "):
        return error
    if error.element is not None:  # placed without a task: redo with the task
        placed = type(error)(error.detail, detail=error.detail, line=error.line)
        placed.source, placed.__cause__ = error.source, error.__cause__
        error = placed
    return error.at(describe_site(task, expression))


def make_script_engine(settings: Any = None, *, timeout_seconds: float | None = None,
                       helpers: Mapping[str, Callable[..., Any]] | None = None,
                       service_caller: ServiceCaller | None = None, runner: Runner | None = None,
                       specs: Any = ()) -> RestrictedScriptEngine:
    """A script engine for one workflow.

    Every evaluation runs in a worker process of `engine.sandbox` (CPU time and memory
    bounded by the operating system) unless `runner` says otherwise (tests of the
    environment's semantics pass `engine.scripting.run_evaluation`).
    `settings.script_timeout_seconds` bounds each evaluation; `timeout_seconds` overrides
    it (tests, the scheduler); `settings.script_memory_mb`, `script_workers` and
    `script_max_source_chars` size the sandbox. `service_caller` runs service tasks (the
    runtime's operator caller; without one a service task fails). `specs`: the process
    specs whose sources errors are located in (attach_script_engine passes the workflow's).
    """
    config = SandboxConfig.from_settings(settings)
    if timeout_seconds is None:
        timeout_seconds = config.timeout_seconds
    if timeout_seconds <= 0:
        raise ValueError("timeout_seconds must be positive")
    limits = ScriptLimits(timeout_seconds=timeout_seconds, memory_budget_bytes=config.memory_mb * 1024 * 1024)
    environment = RestrictedEnvironment(helpers=helpers, limits=limits, runner=runner or pool(config).run)
    engine = RestrictedScriptEngine(environment, service_caller=service_caller)
    engine.max_source_chars = config.max_source_chars
    engine.sites.add_specs(specs)
    return engine


def attach_script_engine(workflow: Any, settings: Any = None, service_caller: ServiceCaller | None = None,
                         engine: RestrictedScriptEngine | None = None) -> Any:
    """Give the workflow (and so its subprocesses) its own restricted script engine."""
    engine = engine or make_script_engine(settings, service_caller=service_caller)
    engine.sites.add_specs([workflow.spec, *(workflow.subprocess_specs or {}).values()])
    workflow.script_engine = engine
    return workflow


def is_restricted(workflow: Any) -> bool:
    """True when a workflow (and every subprocess) runs diagram code through the sandbox."""
    engine = getattr(workflow, "script_engine", None)
    return isinstance(engine, RestrictedScriptEngine) and isinstance(engine.environment, RestrictedEnvironment)


# ---------------------------------------------------------------- deploy-time check
def spec_sources(spec: Any, subprocess_specs: Mapping[str, Any] | None = None) -> list[tuple[str, str, str, str]]:
    """Every piece of diagram Python in parsed specs: (element id, site, mode, source).

    DMN cells are left out (SpiffWorkflow rewrites them before evaluating them); they are
    checked when they run.
    """
    found: list[tuple[str, str, str, str]] = []
    for process in [spec, *(subprocess_specs or {}).values()]:
        completion = getattr(process, "completion_condition", None)
        if isinstance(completion, str) and completion.strip():
            found.append((process.name, "completion condition", "eval", completion))
        for task_spec in process.task_specs.values():
            element = getattr(task_spec, "bpmn_id", None) or task_spec.name
            for attribute, site, mode in (("script", "script", "exec"), ("prescript", "pre-script", "exec"),
                                          ("postscript", "post-script", "exec"),
                                          ("cardinality", "loop cardinality", "eval"),
                                          ("condition", "completion condition", "eval")):
                source = getattr(task_spec, attribute, None)
                if isinstance(source, str) and source.strip():
                    found.append((element, site, mode, source))
            for condition, target in getattr(task_spec, "cond_task_specs", []) or []:
                if condition is not None and condition.args and isinstance(condition.args[0], str):
                    found.append((element, f"condition of the flow to '{target}'", "eval", condition.args[0]))
            definition = getattr(task_spec, "event_definition", None)
            for inner in getattr(definition, "event_definitions", None) or [definition]:
                expression = getattr(inner, "expression", None)
                if isinstance(expression, str) and expression.strip():
                    found.append((element, "event expression", "eval", expression))
                for prop in list(getattr(inner, "correlation_properties", []) or []) + list(
                        getattr(inner, "process_correlations", []) or []):
                    if isinstance(getattr(prop, "retrieval_expression", None), str):
                        found.append((element, f"correlation property '{prop.name}'", "eval", prop.retrieval_expression))
            for name, param in (getattr(task_spec, "operation_params", None) or {}).items():
                if isinstance(param, Mapping) and isinstance(param.get("value"), str):
                    found.append((element, f"parameter '{name}'", "eval", param["value"]))
    return found


def check_spec_sources(spec: Any, subprocess_specs: Mapping[str, Any] | None = None,
                       config: SandboxConfig | None = None) -> list[tuple[str, str]]:
    """(element id, problem) for every expression or script that is too long or does not compile
    in the sandbox.

    For the engine core's upload checks: hostile or invalid code is refused when the
    definition is uploaded, naming the element, instead of failing in a running batch. The
    compiling happens in a sandbox worker (one call for all sources), so that the check
    itself is bounded in time and memory by the operating system.
    """
    config = config or SandboxConfig()
    problems: list[tuple[str, str]] = []
    pending: list[tuple[str, str, str, str]] = []
    for element, site, mode, source in spec_sources(spec, subprocess_specs):
        try:
            check_size(source, config.max_source_chars)
        except ScriptError as exc:
            problems.append((element, f"{site}: {exc}"))
            continue
        pending.append((element, site, mode, source.strip() if mode == "eval" else source))
    if pending:
        try:
            results = pool(config).check([(mode, source) for _e, _s, mode, source in pending])
        except ScriptError as exc:
            return problems + [(pending[0][0], f"{pending[0][1]}: {exc}")]
        for (element, site, _mode, _source), error in zip(pending, results):
            if error is not None:
                problems.append((element, f"{site}: {error}"))
    return problems
