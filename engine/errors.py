"""Errors of the workflow engine. `EngineError` is the root; every refusal is specific.

Every engine module raises from here (operators, timers and gates included), so no
module has to import another one for its errors.
"""
from __future__ import annotations

from typing import Any, Mapping

from core.errors import GmpError


class EngineError(GmpError):
    """Root of every engine error."""


# ---------------------------------------------------------------- definitions
class DefinitionError(EngineError):
    """A process definition upload or change was refused."""

    http_status = 422


class UnsafeXmlError(DefinitionError):
    """The XML is hostile or malformed (entities, DTD, size, depth)."""


class DefinitionCheckFailed(DefinitionError):
    """One or more checks failed; `problems` lists them, each naming element and line."""

    def __init__(self, problems: list["Problem"]) -> None:  # noqa: F821 - checks.Problem
        self.problems = problems
        lines = "; ".join(str(p) for p in problems[:20])
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        super().__init__(f"{len(problems)} problem(s) in the process definition: {lines}{more}")


class DefinitionNotFound(EngineError):
    http_status = 404


class DefinitionStateError(EngineError):
    """The definition version is in the wrong state for the action (e.g. starting a draft)."""

    http_status = 409


class ApprovalRefused(EngineError):
    """Approval of a definition version was refused (author approving their own, wrong role...)."""

    http_status = 403


# ---------------------------------------------------------------- instances and tasks
class InstanceNotFound(EngineError):
    http_status = 404


class InstanceStateError(EngineError):
    http_status = 409


class TaskNotFound(EngineError):
    http_status = 404


class TaskStateError(EngineError):
    """The task is not ready, already completed, claimed by someone else..."""

    http_status = 409


class ConcurrentUpdate(EngineError):
    """Someone else changed the instance in between; reload and try again."""

    http_status = 409


class TaskRefused(EngineError):
    """Completing (or claiming) a task was refused by a check; nothing changed."""

    http_status = 403
    check = "task"


class LaneRoleRefused(TaskRefused):
    check = "role"


class GateRefused(TaskRefused):
    """A gate refused the user at claim, when opening or at completion.

    `gate` and `code` say which gate and which of its declared refusal codes; `detail` is
    the English text; `template` (the code's declared message, `%(name)s` placeholders)
    and `params` let the interface show it in the user's language.
    """

    check = "gate"

    def __init__(self, detail: str, *, gate: str | None = None, code: str | None = None,
                 template: str | None = None, params: Mapping[str, Any] | None = None) -> None:
        super().__init__(detail, gate=gate, code=code)
        self.gate = gate
        self.code = code
        self.detail = detail
        self.template = template
        self.params = dict(params or {})


class GateNotRegistered(GateRefused):
    """A task needs a gate that the runtime does not know (fail closed)."""

    def __init__(self, detail: str, *, gate: str | None = None, task: str | None = None) -> None:
        super().__init__(detail, gate=gate, code="not_registered",
                         template="task '%(task)s' needs gate '%(gate)s', which is not registered",
                         params={"gate": gate or "?", "task": task or "?"})


class RegistrationError(EngineError):
    """A gate, task property or operator was declared badly or twice."""

    http_status = 500


class RuntimeNotInstalled(EngineError):
    """An engine call ran without an engine runtime (see engine.runtime)."""

    http_status = 500


class FormDataInvalid(TaskRefused):
    http_status = 422
    check = "form"

    def __init__(self, message: str, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class SignatureRequired(TaskRefused):
    check = "signature"


class SignatureRefused(TaskRefused):
    check = "signature"


class WorkflowRuntimeError(EngineError):
    """SpiffWorkflow raised while running engine steps (script, gateway condition...)."""

    http_status = 500


# ---------------------------------------------------------------- timers
class TimerExpressionError(EngineError):
    """A timer expression does not give a valid ISO 8601 date-time, duration or cycle."""

    http_status = 422


# ---------------------------------------------------------------- operators
class OperatorError(EngineError):
    """Root of operator errors."""


class UnknownOperator(OperatorError):
    http_status = 422


class OperatorRegistrationError(OperatorError, RegistrationError):
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


# ---------------------------------------------------------------- call activities
class CalledProcessError(WorkflowRuntimeError):
    """A call activity names a process that is neither in its files nor approved."""

    http_status = 409


# ---------------------------------------------------------------- business keys and links
class BusinessKeyError(EngineError):
    """A business key was refused (empty, too long, control characters, missing where required)."""

    http_status = 422


class DuplicateBusinessKey(BusinessKeyError):
    """Another instance of the same process already carries this business key."""

    http_status = 409


class LinkRefused(EngineError):
    """A link between instances (or its retraction) was refused; nothing changed."""

    http_status = 422
