"""Errors of the workflow engine. `EngineError` is the root; every refusal is specific."""
from __future__ import annotations

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
    check = "gate"


class GateNotRegistered(GateRefused):
    pass


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
