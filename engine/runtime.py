"""The engine runtime: what a process plugs into the engine, in one object built explicitly.

    runtime = engine.install.build_runtime(settings)   # the engine's own parts
    runtime.gates.register(Gate(...))                  # the process library adds its own
    runtime.properties.register(TaskProperty(...))
    runtime.operators.register("equipment.read_tag", ...)
    runtime.signed_actions.register(SignedAction(...))  # a write a task's signature authorises
    runtime.record_sections.register(RecordSection(...))  # a process's own part of its record
    runtime.freeze()

`bpmn.glue.install(db, settings)` is the product's install step: it builds the runtime
with the library's gates, properties and operators. The web application keeps it in
`app.extensions["gmp.runtime"]` and makes it current for each request; every `gmp`
command builds one for its process; tests build their own. Nothing registers at import
time, and no registry is global.

Engine calls take `runtime=` and, without it, use the current runtime
(`current_runtime()`, a context variable that `activate`/`using` set). A call without
any runtime fails (`RuntimeNotInstalled`) instead of running with a partial one.

Run state of one engine step (`StepScope`): the unit of work, instance, settings and
runtime; it is put on the workflow while the step runs (`engine.spiff.steps.stepping`)
and passed to whatever the step reaches (operator contexts, called processes).
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Protocol

from engine.errors import RegistrationError, RuntimeNotInstalled
from engine.gates import GateRegistry
from engine.operators import OperatorCaller, OperatorRegistry
from engine.properties import PropertyRegistry, TaskRules
from engine.record_sections import RecordSectionRegistry
from engine.sandbox import SandboxConfig
from engine.signed_actions import SignedActionRegistry
from engine.spiff.specs import properties_of
from masterdata.changes import ChangeCatalogue


@dataclass
class SaveContext:
    """What save hooks see of one instance save (engine.instances).

    `stash` carries a hook's own state from `before_save` to `after_save`; `routed`
    collects what hooks delivered (messages routed), returned to the caller.
    """

    uow: Any
    instance: Any
    workflow: Any
    runtime: "EngineRuntime"
    settings: Any
    new: bool
    stash: dict[str, Any] = field(default_factory=dict)
    routed: list[dict[str, Any]] = field(default_factory=list)


class SaveHook(Protocol):
    """Runs at every instance save: `before_save` just before the rows are written,
    `after_save` once they are (same unit of work). Saving never calls up into the
    modules that attach hooks (message routing, timers)."""

    name: str

    def before_save(self, ctx: SaveContext) -> None: ...

    def after_save(self, ctx: SaveContext) -> None: ...


OperatorActions = Callable[["StepScope", Any], Any]


class EngineRuntime:
    """The registries of one application or command process: gates, task properties,
    operators, save hooks; how operators reach the instance API; and the kinds of data
    under change control (`changes`, a masterdata.changes.ChangeCatalogue)."""

    def __init__(self, *, gates: GateRegistry | None = None, properties: PropertyRegistry | None = None,
                 operators: OperatorRegistry | None = None, save_hooks: list[SaveHook] | None = None,
                 operator_actions: OperatorActions | None = None, name: str = "runtime",
                 changes: ChangeCatalogue | None = None, sandbox: SandboxConfig | None = None,
                 signed_actions: SignedActionRegistry | None = None) -> None:
        self.name = name
        self.sandbox = sandbox or SandboxConfig()  # limits of diagram code (engine.sandbox)
        self.gates = gates or GateRegistry()
        self.properties = properties or PropertyRegistry()
        self.operators = operators or OperatorRegistry()
        self.save_hooks: list[SaveHook] = list(save_hooks or [])
        self.operator_actions = operator_actions
        self.signed_actions = signed_actions or SignedActionRegistry()
        self.caller = OperatorCaller(self.operators)
        self.changes = changes if changes is not None else ChangeCatalogue()
        self.role_hooks: dict[str, Callable[..., Any]] = {}
        self.record_sections = RecordSectionRegistry()  # process-specific parts of the record (web/records.py)
        self.frozen = False

    def add_save_hook(self, hook: SaveHook) -> None:
        if self.frozen:
            raise RegistrationError(f"save hook {hook.name!r}: this runtime is frozen (build a new one)")
        if any(h.name == hook.name for h in self.save_hooks):
            raise RegistrationError(f"save hook {hook.name!r} is attached already")
        self.save_hooks.append(hook)

    def add_role_hook(self, name: str, hook: Callable[..., Any]) -> None:
        """`hook(uow, user_id, roles, event, settings=..., runtime=...)` runs when a person gets roles
        (`event`: new_user or role_granted), in the unit of work that grants them (`roles_granted`);
        e.g. the training process starts the training those roles require."""
        if self.frozen:
            raise RegistrationError(f"role hook {name!r}: this runtime is frozen (build a new one)")
        if name in self.role_hooks:
            raise RegistrationError(f"role hook {name!r} is attached already")
        self.role_hooks[name] = hook

    def roles_granted(self, uow: Any, user_id: str, roles: Any, event: str = "role_granted",
                      settings: Any = None) -> dict[str, Any]:
        """Run every role hook for a person who just got `roles`; each hook's result by name."""
        return {name: hook(uow, user_id, list(roles), event, settings=settings, runtime=self)
                for name, hook in self.role_hooks.items()}

    def freeze(self) -> "EngineRuntime":
        """No more registrations (an installed runtime is shared by threads)."""
        self.gates.freeze()
        self.properties.freeze()
        self.operators.freeze()
        self.signed_actions.freeze()
        self.changes.freeze()
        self.record_sections.freeze()
        self.frozen = True
        return self

    def check(self) -> list[str]:
        """Problems in what was registered: a gate consuming an undeclared property, a
        property needing a gate that is not registered is fine (refused at upload)."""
        problems = []
        for gate in self.gates.all():
            for prop in gate.consumes:
                if prop not in self.properties:
                    problems.append(f"gate {gate.name!r} consumes task property {prop!r}, which is not declared")
        for action in self.signed_actions.all():
            for prop in action.properties:
                if prop not in self.properties:
                    problems.append(f"signed action {action.name!r} is declared by task property {prop!r}, "
                                    "which is not declared")
            if action.operator not in self.operators:
                problems.append(f"signed action {action.name!r} is carried out by operator {action.operator!r}, "
                                "which is not registered")
        return problems

    def rules_of(self, task_spec: Any) -> TaskRules:
        """What the engine enforces on a task, from its properties."""
        return self.properties.rules(properties_of(task_spec))

    def __repr__(self) -> str:
        return (f"<EngineRuntime {self.name}: {len(self.gates.names())} gates, {len(self.properties.names())} "
                f"properties, {len(self.operators.names())} operators, {len(self.save_hooks)} save hooks>")


@dataclass(frozen=True)
class StepScope:
    """One engine step in progress: where its effects go."""

    uow: Any
    instance_id: int
    runtime: EngineRuntime
    settings: Any = None
    resolve: Callable[["StepScope", str, str], tuple[int, Any, Any]] | None = None

    def operator_context(self, call: Any) -> Any:
        """The instance API an operator reached by this step works through (None: none installed)."""
        factory = self.runtime.operator_actions
        return factory(self, call) if factory is not None else None

    def resolve_called(self, process_id: str, element_id: str) -> tuple[int, Any, Any]:
        """(version id, spec, subprocess specs) of the approved process a call activity calls now."""
        if self.resolve is None:
            raise RuntimeNotInstalled(f"call activity '{element_id}': no resolver for called processes")
        return self.resolve(self, process_id, element_id)


# ---------------------------------------------------------------- the current runtime
_CURRENT: ContextVar[EngineRuntime | None] = ContextVar("gmp_engine_runtime", default=None)


def activate(runtime: EngineRuntime) -> Token[EngineRuntime | None]:
    """Make `runtime` current in this context (a request, a command); `deactivate(token)` ends it."""
    if not isinstance(runtime, EngineRuntime):
        raise TypeError(f"not an engine runtime: {runtime!r}")
    return _CURRENT.set(runtime)


def deactivate(token: Token[EngineRuntime | None]) -> None:
    _CURRENT.reset(token)


@contextmanager
def using(runtime: EngineRuntime) -> Iterator[EngineRuntime]:
    token = activate(runtime)
    try:
        yield runtime
    finally:
        deactivate(token)


def current_runtime() -> EngineRuntime:
    runtime = _CURRENT.get()
    if runtime is None:
        raise RuntimeNotInstalled("no engine runtime is installed: the web application and the gmp commands build "
                                  "one (bpmn.glue.install); pass runtime= or activate one (engine.runtime.using)")
    return runtime


def resolve(runtime: EngineRuntime | None) -> EngineRuntime:
    """`runtime` if given, else the current one."""
    return runtime if runtime is not None else current_runtime()
