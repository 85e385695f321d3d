"""Call activities that reach a separately approved process, pinned to its version when called.

A call activity names a process (`calledElement`). If that process is in the files of
the same definition version, it runs as SpiffWorkflow always runs it. Otherwise it is a
separately approved definition: when the call activity starts, the step in progress
resolves the process id to the definition's then-effective (approved) version
(`StepScope.resolve_called`), and the workflow keeps that version for this call and for
every later load (`RunState.called`, saved with the instance). A later approval of the
called process does not change a call that has started; a later call reaches the version
effective then.

Keys in `workflow.subprocess_specs`: a process of the same files keeps its id; a
separately approved one is `process@<version id>`, and so are the processes of its own
files (`inner@<version id>`), so names never collide between versions.

SpiffWorkflow behaviour used (pinned by the contract tests): `SubWorkflowTask.start_workflow`
creates the subprocess through `top_workflow.create_subprocess(my_task, spec_name)`,
connects `completed_event` to `_on_subworkflow_completed`, copies the data in
(`copy_data`) and runs the subprocess's `Start` task.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import CallActivity as CallActivityMixin
from SpiffWorkflow.spiff.parser.task_spec import CallActivityParser
from SpiffWorkflow.spiff.serializer.task_spec import SubWorkflowTaskConverter
from SpiffWorkflow.spiff.specs.defaults import CallActivity

from engine.errors import CalledProcessError

# process id -> (definition version id, spec, subprocess specs of that version)
CalledResolver = Callable[[str, str], tuple[int, Any, Mapping[str, Any]]]


def pinned_key(process_id: str, version_id: int) -> str:
    return f"{process_id}@{version_id}"


def add_called_version(workflow: Any, process_id: str, version_id: int, spec: Any,
                       subprocess_specs: Mapping[str, Any]) -> str:
    """Make a version's specs reachable from `workflow` under pinned keys; return the call's key."""
    key = pinned_key(process_id, version_id)
    if key not in workflow.subprocess_specs:
        added = {key: spec, **{pinned_key(name, version_id): sub for name, sub in subprocess_specs.items()}}
        workflow.subprocess_specs.update(added)
        for added_key in added:
            workflow.run.called[added_key] = version_id
        workflow.run.depth_bound = None
        workflow.run.has_timers = None
        sites = getattr(workflow.script_engine, "sites", None)
        if sites is not None:
            sites.add_specs(added.values())
    return key


def _origin(workflow: Any) -> int | None:
    """The definition version the calling workflow's spec comes from (None: the instance's own files)."""
    key = getattr(workflow, "spec_key", None)
    return workflow.top_workflow.run.called.get(key) if key is not None else None


def called_key(my_task: Any, process_id: str) -> str:
    """The key of the process a call activity of `my_task` runs (resolving and pinning it if needed)."""
    top = my_task.workflow.top_workflow
    origin = _origin(my_task.workflow)
    local = process_id if origin is None else pinned_key(process_id, origin)
    if local in top.subprocess_specs:
        return local
    step = top.run.step
    resolve = getattr(step, "resolve_called", None)
    if resolve is None:
        raise CalledProcessError(f"call activity '{my_task.task_spec.bpmn_id}': process '{process_id}' is not in "
                                 "the definition's files and no engine step can resolve it")
    version_id, spec, subprocess_specs = resolve(process_id, my_task.task_spec.bpmn_id)
    return add_called_version(top, process_id, version_id, spec, subprocess_specs)


class GmpCallActivity(CallActivity):
    """SpiffWorkflow's call activity, also reaching separately approved processes."""

    def start_workflow(self, my_task: Any) -> None:
        key = called_key(my_task, self.spec)
        subworkflow = my_task.workflow.top_workflow.create_subprocess(my_task, key)
        subworkflow.completed_event.connect(self._on_subworkflow_completed, my_task)
        self.copy_data(my_task, subworkflow)
        start = subworkflow.get_next_task(spec_name="Start")
        start.run()


def called_processes(specs: Any) -> dict[str, str]:
    """Element id -> called process id of every call activity in these specs."""
    return {t.bpmn_id: t.spec for s in specs for t in s.task_specs.values() if isinstance(t, CallActivityMixin)}


CALL_PARSER_CLASSES: dict[str, tuple[type, type]] = {"callActivity": (CallActivityParser, GmpCallActivity)}
CALL_SPEC_CONVERTERS: dict[type, type] = {GmpCallActivity: SubWorkflowTaskConverter}
