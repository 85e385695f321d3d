"""The gate registry: checks that must pass before a user may complete a task.

A gate is a function `gate(ctx: GateContext) -> None` that raises `GateRefused` with a
clear reason. The process library registers training, equipment, supplier and QP
gates with `register_gate(name, fn)`; the engine provides the generic ones below.

Which gates run for a task: those implied by its extension properties
(`qualification.sops` -> "training", `equipment` -> "equipment",
`signature.verifier` -> "four_eyes") and those listed in its `gates` property.
A gate a task names but nobody registered refuses the task (fail closed).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Collection, Mapping

from engine.errors import GateNotRegistered, GateRefused
from engine.extensions import FOUR_EYES_GATE, TaskRules

Gate = Callable[["GateContext"], None]


@dataclass(frozen=True)
class GateContext:
    """What a gate may look at. Gates must not change anything."""

    uow: Any
    user_id: str
    user_roles: Collection[str]
    instance_id: int
    task_id: str
    bpmn_id: str
    lane: str | None
    rules: TaskRules
    properties: Mapping[str, str]
    data: Mapping[str, Any]
    signatures: tuple[Any, ...] = ()
    instance_data: Mapping[str, Any] = field(default_factory=dict)
    history: tuple[Mapping[str, Any], ...] = ()


_registry: dict[str, Gate] = {}


def register_gate(name: str, gate: Gate, *, replace: bool = False) -> None:
    if name in _registry and not replace:
        raise ValueError(f"gate {name!r} is already registered")
    _registry[name] = gate


def unregister_gate(name: str) -> None:
    _registry.pop(name, None)


def registered_gates() -> frozenset[str]:
    return frozenset(_registry)


def run_gates(ctx: GateContext) -> list[str]:
    """Run every gate of the task in order; return their names. Raise on the first refusal."""
    ran = []
    for name in ctx.rules.all_gates:
        gate = _registry.get(name)
        if gate is None:
            raise GateNotRegistered(f"task '{ctx.bpmn_id}' requires gate '{name}', which is not registered")
        gate(ctx)
        ran.append(name)
    return ran


# ---------------------------------------------------------------- generic gates
def four_eyes_gate(ctx: GateContext) -> None:
    """The verifier's signature must come from someone other than the completer (DB11 §10.5 e)."""
    meaning = ctx.rules.verifier_meaning
    verifiers = [s for s in ctx.signatures if getattr(s, "meaning", None) == meaning]
    for signature in verifiers:
        if signature.signer_id == ctx.user_id:
            raise GateRefused(f"four-eyes: the '{meaning}' signature on '{ctx.bpmn_id}' must come from a second "
                              f"person, not from {ctx.user_id} who completes the task")


def different_from_previous_gate(ctx: GateContext) -> None:
    """'four_eyes_previous': the completer did not complete the previous user task of the instance."""
    previous = [h for h in ctx.history if h.get("completed_by")]
    if previous and previous[-1]["completed_by"] == ctx.user_id:
        raise GateRefused(f"four-eyes: {ctx.user_id} completed the previous step '{previous[-1].get('bpmn_id')}' "
                          f"and may not also complete '{ctx.bpmn_id}'")


register_gate(FOUR_EYES_GATE, four_eyes_gate)
register_gate("four_eyes_previous", different_from_previous_gate)
