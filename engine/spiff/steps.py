"""Running a workflow: engine steps, its tasks, completing a user task, cancelling.

What the engine core (engine.instances, engine.tasks) does with a workflow goes through
these functions. SpiffWorkflow's errors while stepping become `WorkflowRuntimeError`
naming the element (our own engine errors pass through unchanged).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping
from uuid import UUID

from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState

from engine.deep import run_bounded
from engine.errors import EngineError, WorkflowRuntimeError
from engine.spiff.errors import SpiffTaskNotFound
from engine.spiff.specs import element_count
from engine.spiff.timers import has_timer_events
from engine.spiff.workflow import DEFINITE, GmpWorkflow


def new_workflow(spec: Any, subprocess_specs: Mapping[str, Any]) -> GmpWorkflow:
    """A new workflow of a process (attach its script engine before running it)."""
    return GmpWorkflow(spec, subprocess_specs)


def depth_bound(wf: GmpWorkflow) -> int:
    """Frames an engine step of `wf` can need, at most.

    What recurses in a step is SpiffWorkflow's prediction of future tasks, one frame per
    element along a path (measured on a 300-element chain: 317 frames from the root, 11
    for a warm step). Bounded by the number of elements of the process and of every
    process it calls, doubled, plus a margin; computed once per loaded workflow.
    """
    if wf.run.depth_bound is None:
        wf.run.depth_bound = 2 * element_count(wf.spec, wf.subprocess_specs) + 64
    return wf.run.depth_bound


def has_timers(wf: GmpWorkflow) -> bool:
    """Whether the process (or a process it calls) has a timer event; computed once per loaded workflow."""
    if wf.run.has_timers is None:
        wf.run.has_timers = has_timer_events([wf.spec, *(wf.subprocess_specs or {}).values()])
    return wf.run.has_timers


def _element(exc: Any) -> str:
    spec = getattr(exc, "task_spec", None)
    return getattr(spec, "bpmn_id", None) or getattr(spec, "name", None) or "?"


def run_steps(wf: GmpWorkflow, fn: Callable[[GmpWorkflow], Any] | None = None) -> None:
    """Run `fn(wf)` (if given) then engine steps; SpiffWorkflow's errors become WorkflowRuntimeError.

    On the calling thread when the step's depth bound fits under the normal recursion
    limit, else in the deep-stack thread (engine.deep).
    """
    def work() -> None:
        if fn is not None:
            fn(wf)
        wf.do_engine_steps()
    try:
        run_bounded(depth_bound(wf), work)
    except EngineError:
        raise
    except SpiffWorkflowException as exc:
        raise WorkflowRuntimeError(f"the process failed at '{_element(exc)}': {str(exc).splitlines()[0]}") from exc


@contextmanager
def stepping(wf: GmpWorkflow, step: Any) -> Iterator[GmpWorkflow]:
    """The step `step` (an engine.runtime.StepScope) is in progress on `wf` while the block runs."""
    previous, wf.run.step = wf.run.step, step
    try:
        yield wf
    finally:
        wf.run.step = previous


def seed_data(wf: GmpWorkflow, data: Mapping[str, Any]) -> None:
    """Initial data of a new instance: on the root and on the tasks ready at start."""
    wf.task_tree.data.update(data)
    for task in wf.get_tasks(state=TaskState.READY):
        task.data.update(data)


def definite_transitions(wf: GmpWorkflow) -> Iterator[tuple[Any, int | None, int]]:
    """(task, old state, new state) of every definite state change since the last save."""
    for task, old, new in wf.changelog.transitions:
        if new & DEFINITE and not (old is not None and old == new):
            yield task, old, new


def get_task(wf: GmpWorkflow, task_id: str | UUID) -> Any | None:
    """The task with this id (top workflow or a subprocess), or None."""
    try:
        return wf.get_task_from_id(task_id if isinstance(task_id, UUID) else UUID(str(task_id)))
    except (SpiffTaskNotFound, ValueError):
        return None


def is_ready_user_task(task: Any) -> bool:
    return task is not None and task.state == TaskState.READY and bool(task.task_spec.manual)


def complete_user_task(task: Any, data: Mapping[str, Any], record: Mapping[str, Any]) -> None:
    """Set the submitted data, keep what the engine records about the completion, run the task."""
    task.set_data(**data)
    task.internal_data["gmp"] = dict(record)
    task.run()


def defer_user_task(task: Any, data: Mapping[str, Any], record: Mapping[str, Any],
                    pending: Mapping[str, Any]) -> None:
    """Set the submitted data and the completion record, but keep the user task STARTED with
    an operator call pending (a signed action): the scheduler runs it and then completes the
    task or throws its BPMN error (engine.spiff.service_task.finish_pending_operation)."""
    task.set_data(**data)
    task.internal_data["gmp"] = dict(record)
    task.internal_data["operator"] = {**dict(pending), "state": "pending", "progress": {}}
    task._set_state(TaskState.STARTED)  # what Task.run() does when a spec's _run returns None


def ready_user_tasks(wf: GmpWorkflow) -> list[Any]:
    return list(wf.get_tasks(state=TaskState.READY, manual=True))


def cancel(wf: GmpWorkflow) -> None:
    wf.cancel()


def refresh_timers(wf: GmpWorkflow) -> None:
    wf.refresh_timers()


def waiting_task_with(wf: GmpWorkflow, task_id: str, check: Callable[[dict[str, Any]], bool]) -> bool:
    """Whether task `task_id` is waiting and `check(its internal data)` holds."""
    task = get_task(wf, task_id)
    return task is not None and task.state == TaskState.WAITING and check(task.internal_data)
