"""Signed actions: an act outside the engine that a user task's signature authorises.

A user task can declare (task properties) that the signature its completer gives
authorises an action built from the submitted form data, e.g. an equipment set-point
write (tag, value). At completion the engine:
1. builds the action's content from the task's properties and the checked form data
   (`SignedAction.build`; a problem refuses the completion like a form error);
2. puts it into the signed task record under `authorises` (one signature covers the
   form data and the action: what the signer saw is what is carried out);
3. does not complete the task: it keeps it started, with the call of the action's
   operator pending (internal data, like a long-running service task), and the
   scheduler runs that operator outside the web request. The operator's result goes to
   the task's result variable and the task completes; an `OperatorFailed` becomes a
   BPMN error event (a boundary error event on the user task catches it).

The engine knows nothing of equipment: the process library registers its actions in the
runtime (`runtime.signed_actions.register(SignedAction(...))`, bpmn.glue does it for
set-points).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from engine.errors import RegistrationError

AUTHORISES = "authorises"


@dataclass(frozen=True)
class SignedAction:
    """An action a user task's signature can authorise.

    `properties`: the task properties that declare it (a task with any of them set carries
    the action). `build(properties, data) -> content` returns the JSON-able content the
    signature covers and the operator receives (raise `engine.errors.FormDataInvalid` for
    data that cannot make one). `operator`: the long-running operator that carries it out,
    called with `content` (dict), `signature` ({id, meaning, signer}), `task_id` and
    `document` (the signed task record). `result_variable(properties)`: where its result goes.
    """

    name: str
    properties: tuple[str, ...]
    operator: str
    build: Callable[[Mapping[str, str], Mapping[str, Any]], dict[str, Any]]
    result_variable: Callable[[Mapping[str, str]], str]
    description: str = ""

    def declared_by(self, properties: Mapping[str, Any]) -> bool:
        return any(str(properties.get(name) or "").strip() for name in self.properties)


class SignedActionRegistry:
    """The signed actions a runtime knows (by name)."""

    def __init__(self) -> None:
        self._actions: dict[str, SignedAction] = {}
        self._frozen = False

    def register(self, action: SignedAction) -> SignedAction:
        if self._frozen:
            raise RegistrationError(f"signed action {action.name!r}: this runtime is frozen (build a new one)")
        if action.name in self._actions:
            raise RegistrationError(f"signed action {action.name!r} is registered already")
        self._actions[action.name] = action
        return action

    def freeze(self) -> None:
        self._frozen = True

    def names(self) -> list[str]:
        return sorted(self._actions)

    def all(self) -> list[SignedAction]:
        return [self._actions[name] for name in self.names()]

    def declared(self, properties: Mapping[str, Any]) -> list[SignedAction]:
        """The actions a task with these properties carries (normally none or one)."""
        return [action for action in self.all() if action.declared_by(properties)]


__all__ = ["AUTHORISES", "SignedAction", "SignedActionRegistry"]
