"""Gates: checks a user must pass to claim, open or complete a task.

A gate is declared once (`Gate`): its name, the task properties it consumes, its refusal
codes (each with an English message template, `%(name)s` placeholders, which the web
interface translates), the stages at which it can decide, and its check
`fn(ctx: GateContext) -> None`, which refuses with `ctx.refuse(code, **params)`.

Which gates run on a task: those its properties need (`TaskProperty.gates`, e.g.
`signature.verifier` -> `four_eyes`, `qualification.sops` -> `training`) and those named
in its `gates` property. The runtime's `GateRegistry` holds them; a definition whose
tasks need a gate that is not registered is refused at upload, and a task that still
meets one (an older definition) is refused (fail closed).

Stages: `claim` (a user claims the task; the inbox asks the same question to show why
a task would be refused), `open` (the task's page), `complete` (with the form data and
the signatures). At `claim` and `open` there is no data and there are no signatures yet.
The engine ships `four_eyes` and `four_eyes_previous`; the process library registers
its own (training, equipment, supplier, QP).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Collection, Iterable, Mapping

from engine.errors import GateNotRegistered, GateRefused, RegistrationError
from engine.properties import FOUR_EYES_GATE, TaskRules

STAGES = ("claim", "open", "complete")


@dataclass(frozen=True)
class GateContext:
    """What a gate may look at. Gates must not change anything.

    `stage`: 'claim', 'open' or 'complete'; `data` and `signatures` are empty before
    'complete'. `instance_data`: the task's data as it stands; `history`: earlier
    completions of the instance ({"bpmn_id", "completed_by"}), newest last.
    """

    uow: Any
    user_id: str
    user_roles: Collection[str]
    instance_id: int
    task_id: str
    bpmn_id: str
    lane: str | None
    rules: TaskRules
    properties: Mapping[str, str]
    data: Mapping[str, Any] = field(default_factory=dict)
    signatures: tuple[Any, ...] = ()
    instance_data: Mapping[str, Any] = field(default_factory=dict)
    history: tuple[Mapping[str, Any], ...] = ()
    stage: str = "complete"
    gate: "Gate | None" = None

    def refuse(self, code: str, **params: Any) -> GateRefused:
        """Raise the refusal `code` of the running gate, its message filled with `params`."""
        gate = self.gate
        if gate is None:
            raise RegistrationError("GateContext.refuse called outside a running gate")
        template = gate.codes.get(code)
        if template is None:
            raise RegistrationError(f"gate {gate.name!r} refused with undeclared code {code!r} "
                                    f"(declared: {', '.join(sorted(gate.codes))})")
        values = {"task": self.bpmn_id, "user": self.user_id, **params}
        raise GateRefused(template % values, gate=gate.name, code=code, template=template, params=values)


GateFunction = Callable[[GateContext], None]


@dataclass(frozen=True)
class Refusal:
    """Why a gate refuses (or would refuse) a user: gate, code, English detail, and the
    code's message template with its parameters (for the user's language)."""

    gate: str | None
    code: str | None
    detail: str
    template: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, error: GateRefused) -> "Refusal":
        return cls(error.gate, error.code, error.detail, error.template, dict(error.params))

    def as_dict(self) -> dict[str, Any]:
        return {"gate": self.gate, "code": self.code, "detail": self.detail}


@dataclass(frozen=True)
class Gate:
    name: str
    check: GateFunction
    codes: Mapping[str, str]
    consumes: tuple[str, ...] = ()
    stages: tuple[str, ...] = STAGES
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").replace(".", "").isalnum():
            raise RegistrationError(f"gate name {self.name!r}: use letters, digits, '_' and '.'")
        if not self.codes:
            raise RegistrationError(f"gate {self.name!r} declares no refusal codes")
        unknown = set(self.stages) - set(STAGES)
        if unknown or not self.stages:
            raise RegistrationError(f"gate {self.name!r}: stages must be among {', '.join(STAGES)}")


class GateRegistry:
    """The gates a runtime knows. Built by the runtime's install step; frozen once built."""

    def __init__(self, gates: Iterable[Gate] = ()) -> None:
        self._gates: dict[str, Gate] = {}
        self._frozen = False
        for gate in gates:
            self.register(gate)

    def register(self, gate: Gate, *, replace: bool = False) -> Gate:
        if self._frozen:
            raise RegistrationError(f"gate {gate.name!r}: this runtime is frozen (build a new one)")
        if gate.name in self._gates and not replace:
            raise RegistrationError(f"gate {gate.name!r} is already registered")
        self._gates[gate.name] = gate
        return gate

    def freeze(self) -> None:
        self._frozen = True

    def get(self, name: str) -> Gate | None:
        return self._gates.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._gates

    def names(self) -> frozenset[str]:
        return frozenset(self._gates)

    def all(self) -> list[Gate]:
        return [self._gates[name] for name in sorted(self._gates)]

    def run(self, ctx: GateContext) -> list[str]:
        """Run every gate of the task that decides at `ctx.stage`, in order; their names.
        Raise on the first refusal; a gate the task needs but nobody registered refuses."""
        ran = []
        for name in ctx.rules.all_gates:
            gate = self._gates.get(name)
            if gate is None:
                raise GateNotRegistered(f"task '{ctx.bpmn_id}' requires gate '{name}', which is not registered",
                                        gate=name, task=ctx.bpmn_id)
            if ctx.stage not in gate.stages:
                continue
            gate.check(_with_gate(ctx, gate))
            ran.append(name)
        return ran


def _with_gate(ctx: GateContext, gate: Gate) -> GateContext:
    from dataclasses import replace

    return replace(ctx, gate=gate)


# ---------------------------------------------------------------- the engine's gates
def _four_eyes(ctx: GateContext) -> None:
    """The verifier's signature must come from someone other than the completer (DB11 §10.5 e)."""
    meaning = ctx.rules.verifier_meaning
    for signature in ctx.signatures:
        if getattr(signature, "meaning", None) == meaning and signature.signer_id == ctx.user_id:
            raise ctx.refuse("self_verification", meaning=meaning)


def _different_from_previous(ctx: GateContext) -> None:
    """'four_eyes_previous': the user did not complete the previous user task of the instance."""
    previous = [h for h in ctx.history if h.get("completed_by")]
    if previous and previous[-1]["completed_by"] == ctx.user_id:
        raise ctx.refuse("completed_previous", previous=previous[-1].get("bpmn_id") or "?")


CORE_GATES: tuple[Gate, ...] = (
    Gate(FOUR_EYES_GATE, _four_eyes, consumes=("signature.verifier",), stages=("complete",),
         codes={"self_verification": "four-eyes: the '%(meaning)s' signature on '%(task)s' must come from a second "
                                     "person, not from %(user)s who completes the task"},
         description="the verifier's signature is not by the completer"),
    Gate("four_eyes_previous", _different_from_previous,
         codes={"completed_previous": "four-eyes: %(user)s completed the previous step '%(previous)s' and may not "
                                      "also take '%(task)s'"},
         description="the user did not complete the instance's previous user task"),
)
