"""SpiffWorkflow's exception root, for errors that must pass through SpiffWorkflow's handlers.

`engine.scripting.ScriptError` derives from it: SpiffWorkflow's own handlers (DMN rows,
pre- and post-scripts) then add their notes and re-raise it instead of wrapping it.
"""
from __future__ import annotations

from SpiffWorkflow.exceptions import SpiffWorkflowException as SpiffError
from SpiffWorkflow.exceptions import TaskNotFoundException as SpiffTaskNotFound

__all__ = ["SpiffError", "SpiffTaskNotFound"]
