"""SpiffWorkflow's BpmnWorkflow with an index of live tasks and change tracking.

Stock SpiffWorkflow finds READY and WAITING tasks by walking the whole task tree on
every engine step (SpiffWorkflow issue #424): a step costs O(size of the tree), and its
iterator stops at depth 1000, so a chain of 1000 user tasks cannot even finish. Here:

- `workflow.tasks` is a `TaskTable`: every task put into it becomes a `TrackedTask`,
  whose state changes are reported to its workflow.
- Each workflow keeps the set of its *active* tasks (READY, WAITING, STARTED, ERROR)
  and a count of unfinished ones. `get_tasks`/`get_tasks_iterator` without a start task
  and with a state filter inside the active states, `update_waiting_tasks` and
  `is_completed` use them instead of walking the tree. Any other query (predicted
  states, a start task, `end_at_spec`...) falls back to SpiffWorkflow's walk.
- The top workflow's `ChangeLog` collects which tasks were created, changed or removed
  and every state transition since the last save: persistence writes only those rows,
  and the audit trail gets one entry per definite transition.

Active tasks come back in the order they became active (SpiffWorkflow's walk returns
them depth first); both orders are deterministic.

The engine's own state about a loaded workflow (row sequence numbers, the last
completion, the step in progress, pinned called processes...) is a typed `RunState` on
`GmpWorkflow.run`, never loose attributes on SpiffWorkflow's objects.

SpiffWorkflow internals used here (pinned by tests/engine/test_spiff_contract.py): a
task keeps its state in `Task._state`; tasks are created by `Task._add_child` (and the
root by `Workflow.__init__`) as plain `Task` objects and put into `workflow.tasks`,
which SpiffWorkflow assigns as a whole when it builds or loads a workflow; parents hear
of new children through `Task._child_added_notify`; `get_tasks_iterator`,
`update_waiting_tasks` and `is_completed` are the queries an engine step makes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping
from uuid import UUID

from SpiffWorkflow.bpmn.util.subworkflow import BpmnSubWorkflow
from SpiffWorkflow.bpmn.util.task import BpmnTaskFilter
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from engine.spiff.event_races import settle

TIMER_ROUNDS = 8  # engine steps per call while timers fall due in them (GmpWorkflow.do_engine_steps)
ACTIVE_MASK = TaskState.WAITING | TaskState.READY | TaskState.STARTED | TaskState.ERROR
_ITER_OPTIONS = {"end_at_spec", "max_depth", "depth_first"}

# Task states as plain ints, for code outside the adapter (rows store them).
WAITING = int(TaskState.WAITING)
READY = int(TaskState.READY)
STARTED = int(TaskState.STARTED)
COMPLETED = int(TaskState.COMPLETED)
ERROR = int(TaskState.ERROR)
CANCELLED = int(TaskState.CANCELLED)
DEFINITE = WAITING | READY | STARTED | COMPLETED | ERROR | CANCELLED
ACTIVE = int(ACTIVE_MASK)


def state_name(state: int | None) -> str | None:
    """'ready', 'completed'... (None for None)."""
    return TaskState.get_name(state).lower() if state is not None else None


@dataclass
class RunState:
    """What the engine keeps about one loaded workflow, beside SpiffWorkflow's own state.

    - `seqs`: row sequence number of every saved task (persistence);
    - `last_completion`: the last user task completed ({"bpmn_id", "completed_by"}), for gates;
    - `called`: spec key -> definition version id of every separately approved process
      this instance called (pinned when called; saved with the instance);
    - `step`: the step in progress (an `engine.runtime.StepScope`), None between steps;
    - `depth_bound`, `has_timers`: computed once per loaded workflow (and after a call pins a process).
    """

    seqs: dict[UUID, int] = field(default_factory=dict)
    last_completion: dict[str, Any] | None = None
    called: dict[str, int] = field(default_factory=dict)
    step: Any = None
    depth_bound: int | None = None
    has_timers: bool | None = None


@dataclass
class ChangeLog:
    """Tasks touched since the last save (ids), and the state transitions in order."""

    created: dict[UUID, Task] = field(default_factory=dict)
    changed: dict[UUID, Task] = field(default_factory=dict)
    removed: dict[UUID, Task] = field(default_factory=dict)
    transitions: list[tuple[Task, int | None, int]] = field(default_factory=list)

    def reset(self) -> None:
        self.created.clear()
        self.changed.clear()
        self.removed.clear()
        self.transitions.clear()


class TrackedTask(Task):
    """A Task whose state changes and child additions are reported to its workflow."""

    _tracked_state: int

    @property  # type: ignore[override]
    def _state(self) -> int:
        return self._tracked_state

    @_state.setter
    def _state(self, value: int) -> None:
        old = getattr(self, "_tracked_state", None)
        self._tracked_state = value
        if old != value:
            self.workflow._task_state_changed(self, old, value)

    def _child_added_notify(self, child: Task) -> None:
        super()._child_added_notify(child)
        self.workflow._changelog.changed[self.id] = self


class TaskTable(dict):
    """`workflow.tasks`: turns every task into a TrackedTask and keeps the indexes."""

    def __init__(self, workflow: "IndexedWorkflowMixin", items: Any = ()) -> None:
        super().__init__()
        self.workflow = workflow
        for key, task in dict(items).items():
            self[key] = task

    def __setitem__(self, key: UUID, task: Task) -> None:
        if type(task) is Task:
            task.__class__ = TrackedTask
        super().__setitem__(key, task)
        self.workflow._task_added(task)

    def pop(self, key: UUID, *default: Any) -> Any:  # type: ignore[override]
        task = super().pop(key, *default)
        if isinstance(task, Task):
            self.workflow._task_removed(task)
        return task

    def __delitem__(self, key: UUID) -> None:
        self.pop(key)


class IndexedWorkflowMixin:
    """The index and tracking shared by the top workflow and its subprocesses."""

    _active: dict[UUID, Task]
    _unfinished: set[UUID]
    _task_table: "TaskTable"
    tasks: Any

    def _init_index(self) -> None:
        self._active = {}
        self._unfinished = set()

    # ---- the tasks table (SpiffWorkflow assigns `self.tasks = {}` and, when loading, a new dict)
    @property
    def tasks(self) -> TaskTable:  # type: ignore[no-redef]
        return self._task_table

    @tasks.setter
    def tasks(self, value: dict) -> None:
        if getattr(self, "_active", None) is None:
            self._init_index()
        self._active.clear()
        self._unfinished.clear()
        self._task_table = value if isinstance(value, TaskTable) and value.workflow is self else TaskTable(self, value)
        for task in self._task_table.values():
            self._reindex(task, task._state)

    @property
    def _changelog(self) -> ChangeLog:
        return self.top_workflow.changelog  # type: ignore[attr-defined, no-any-return]

    def _reindex(self, task: Task, state: int | None) -> None:
        if state is not None and state & ACTIVE_MASK:
            self._active.pop(task.id, None)
            self._active[task.id] = task
        else:
            self._active.pop(task.id, None)
        if state is not None and state & TaskState.NOT_FINISHED_MASK:
            self._unfinished.add(task.id)
        else:
            self._unfinished.discard(task.id)

    def _task_added(self, task: Task) -> None:
        log = self._changelog
        log.created[task.id] = task
        log.removed.pop(task.id, None)
        if hasattr(task, "_tracked_state"):  # a restored task (a new one gets its state after registration)
            self._reindex(task, task._state)

    def _task_removed(self, task: Task) -> None:
        self._active.pop(task.id, None)
        self._unfinished.discard(task.id)
        log = self._changelog
        if log.created.pop(task.id, None) is None:
            log.removed[task.id] = task
        log.changed.pop(task.id, None)
        parent = self.tasks.get(task._parent) if task._parent is not None else None
        if parent is not None:
            log.changed[parent.id] = parent

    def _task_state_changed(self, task: Task, old: int | None, new: int) -> None:
        if task.id not in self.tasks:  # being constructed before registration
            return
        self._reindex(task, new)
        log = self._changelog
        if task.id not in log.created:
            log.changed[task.id] = task
        log.transitions.append((task, old, new))

    # ---- queries that use the index
    def _indexed_workflows(self, skip_subprocesses: bool = False) -> Iterator["IndexedWorkflowMixin"]:
        yield self
        if skip_subprocesses:
            return
        top = self.top_workflow  # type: ignore[attr-defined]
        for sp in list(top.subprocesses.values()):
            if sp is not self and sp.parent_task_id in self.tasks:
                yield from sp._indexed_workflows()

    def get_tasks_iterator(self, first_task: Task | None = None, **kwargs: Any) -> Any:
        task_filter = kwargs.get("task_filter")
        state = task_filter.state if task_filter is not None else kwargs.get("state", TaskState.ANY_MASK)
        if first_task is not None or _ITER_OPTIONS & kwargs.keys() or state & ~ACTIVE_MASK:
            return super().get_tasks_iterator(first_task, **kwargs)  # type: ignore[misc]
        skip = bool(kwargs.pop("skip_subprocesses", False))
        if task_filter is None:
            task_filter = BpmnTaskFilter(**{k: v for k, v in kwargs.items() if k != "task_filter"})
        candidates = [t for wf in self._indexed_workflows(skip) for t in list(wf._active.values())]
        return iter([t for t in candidates if task_filter.matches(t)])

    def update_waiting_tasks(self) -> None:
        for task in [t for t in self._active.values() if t._state == TaskState.WAITING]:
            task.task_spec._update(task)

    def is_completed(self) -> bool:
        if not self.completed:  # type: ignore[has-type]
            if not self._unfinished:
                self.completed = True
        return self.completed  # type: ignore[has-type]

    def active_tasks(self) -> list[Task]:
        return [t for wf in self._indexed_workflows() for t in wf._active.values()]


class GmpSubWorkflow(IndexedWorkflowMixin, BpmnSubWorkflow):
    """A subprocess or call activity, indexed like the top workflow.

    `spec_key`: the key of its spec in the top workflow's `subprocess_specs` (for a
    separately approved process, `process@version-id`).
    """

    spec_key: str | None = None


class GmpWorkflow(IndexedWorkflowMixin, BpmnWorkflow):
    """The product's BPMN workflow: indexed live tasks, change log for persistence, run state."""

    changelog: ChangeLog
    run: RunState

    def __init__(self, spec: Any, subprocess_specs: Mapping[str, Any] | None = None, script_engine: Any = None,
                 **kwargs: Any) -> None:
        self.changelog = ChangeLog()
        self.run = RunState()
        # a copy: a call may add a separately approved process (specs are shared per version)
        super().__init__(spec, dict(subprocess_specs or {}), script_engine=script_engine, **kwargs)

    def do_engine_steps(self, will_complete_task: Any = None, did_complete_task: Any = None) -> None:
        """SpiffWorkflow's engine step, repeated while its closing timer refresh made a timer ready:
        a timer that fell due by the time of the step fires in it (stock SpiffWorkflow leaves it
        READY until the instance's next step, which may be hours away). Bounded: a repeating
        timer far behind the clock catches up over several steps."""
        for _ in range(TIMER_ROUNDS):
            super().do_engine_steps(will_complete_task, did_complete_task)
            if not any(t.state == TaskState.READY and not t.task_spec.manual for t in self.active_tasks()):
                return

    def _do_engine_steps(self, will_complete_task: Any = None, did_complete_task: Any = None) -> Any:
        """One round of SpiffWorkflow's engine step, after deciding which of several events that
        fell due together happens (engine.spiff.event_races)."""
        settle(self)
        return super()._do_engine_steps(will_complete_task, did_complete_task)

    def create_subprocess(self, my_task: Task, spec_name: str) -> GmpSubWorkflow:
        subprocess = GmpSubWorkflow(self.subprocess_specs[spec_name], parent_task_id=my_task.id, top_workflow=self)
        subprocess.spec_key = spec_name
        self.subprocesses[my_task.id] = subprocess
        self.changelog.changed[my_task.id] = my_task
        return subprocess
