"""Specs to and from JSON; one task as a row body; a workflow rebuilt from its rows.

- Specs are serialized once per definition version with SpiffWorkflow's spec converters
  (our timer, service-task and call-activity classes included) and deserialized once per
  process (`cached_spec`, keyed by version id and content hash).
- A task is stored as its own row body (`task_body`): SpiffWorkflow's task fields and data.
  The small top-level state (workflow data, correlations, pending events, subprocess
  headers, our run state) is `workflow_state`.
- `build_workflow` rebuilds a workflow from those: tasks are created without
  `Task.__init__` (which would draw a random id and notify a parent that may not be
  loaded yet), with exactly the attributes `Task.__init__` sets (pinned by the contract
  tests), then handed to the workflow's task table in one assignment.
"""
from __future__ import annotations

import json
import threading
from collections import OrderedDict
from datetime import date
from decimal import Decimal
from typing import Any, Callable, Iterable, Mapping
from uuid import UUID

from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from engine.spiff.call_activity import CALL_SPEC_CONVERTERS, add_called_version
from engine.spiff.service_task import OPERATOR_SPEC_CONVERTERS
from engine.spiff.timers import TIMER_SPEC_CONVERTERS
from engine.spiff.workflow import GmpSubWorkflow, GmpWorkflow, TrackedTask

SPEC_FORMAT = "gmp-spec-1"
TOP = ""
SPEC_CACHE_SIZE = 64

_CONFIG: dict[Any, Any] = {**SPIFF_CONFIG, **TIMER_SPEC_CONVERTERS, **OPERATOR_SPEC_CONVERTERS, **CALL_SPEC_CONVERTERS}
_serializer: BpmnWorkflowSerializer | None = None
_lock = threading.Lock()
_spec_cache: "OrderedDict[tuple[int, str], tuple[Any, dict[str, Any]]]" = OrderedDict()


def register_data_types(registry: Any) -> None:
    """Task data keeps exact decimals (form numbers) and calendar dates through the workflow JSON,
    as ``{"typename": "Decimal", "value": "10.10"}`` and ``{"typename": "date", "value": "2026-01-31"}``."""
    registry.register(Decimal, lambda v: {"value": str(v)}, lambda v: Decimal(v["value"]), typename="Decimal")
    registry.register(date, lambda v: {"value": v.isoformat()}, lambda v: date.fromisoformat(v["value"]),
                      typename="date")


def serializer() -> BpmnWorkflowSerializer:
    global _serializer
    with _lock:
        if _serializer is None:
            registry = BpmnWorkflowSerializer.configure(_CONFIG)
            register_data_types(registry)
            _serializer = BpmnWorkflowSerializer(registry)
        return _serializer


def registry() -> Any:
    """SpiffWorkflow's converter registry (convert / restore / clean of data values)."""
    return serializer().registry


# ---------------------------------------------------------------- specs, once per version
def spec_to_json(spec: Any, subprocess_specs: Mapping[str, Any]) -> str:
    reg = registry()
    return json.dumps({"format": SPEC_FORMAT, "spec": reg.convert(spec),
                       "subprocess_specs": {k: reg.convert(v) for k, v in subprocess_specs.items()}},
                      sort_keys=True, separators=(",", ":"))


def spec_from_json(text: str) -> tuple[Any, dict[str, Any]]:
    document = json.loads(text)
    if document.get("format") != SPEC_FORMAT:
        raise ValueError(f"unknown spec format {document.get('format')!r}")
    reg = registry()
    return reg.restore(document["spec"]), {k: reg.restore(v) for k, v in document["subprocess_specs"].items()}


def cached_spec(version_id: int, spec_sha: str, text_loader: Callable[[], str]) -> tuple[Any, dict[str, Any]]:
    """The deserialized spec of a definition version, built once per process (specs are immutable)."""
    key = (version_id, spec_sha)
    with _lock:
        hit = _spec_cache.get(key)
        if hit is not None:
            _spec_cache.move_to_end(key)
            return hit
    value = spec_from_json(text_loader())
    with _lock:
        _spec_cache[key] = value
        while len(_spec_cache) > SPEC_CACHE_SIZE:
            _spec_cache.popitem(last=False)
    return value


# ---------------------------------------------------------------- tasks as rows
def task_body(task: Task) -> dict[str, Any]:
    reg = registry()
    return {
        "id": str(task.id),
        "parent": str(task._parent) if task._parent is not None else None,
        "children": [str(c) for c in task._children],
        "last_state_change": task.last_state_change,
        "state": task._state,
        "task_spec": task.task_spec.name,
        "triggered": task.triggered,
        "internal_data": reg.convert(task.internal_data),
        "data": reg.convert(reg.clean(task.data)),
    }


def workflow_key(task: Task) -> str:
    """Which (sub)workflow of the instance a task belongs to: '' for the top, else its parent task id."""
    parent_id = getattr(task.workflow, "parent_task_id", None)
    return str(parent_id) if parent_id is not None else TOP


def task_columns(task: Task) -> dict[str, Any]:
    """The columns of a task row other than its body: spec name, element, lane, user task or not, state."""
    spec = task.task_spec
    return {"spec_name": spec.name, "bpmn_id": getattr(spec, "bpmn_id", None),
            "bpmn_name": (getattr(spec, "bpmn_name", None) or None), "lane": getattr(spec, "lane", None),
            "manual": bool(getattr(spec, "manual", False)), "state": task._state}


def _workflow_header(wf: Any) -> dict[str, Any]:
    reg = registry()
    return {
        "data": reg.convert(reg.clean(wf.data)),
        "correlations": wf.correlations,
        "last_task": str(wf.last_task.id) if wf.last_task is not None else None,
        "success": wf.success,
        "completed": wf.completed,
        "root": str(wf.task_tree.id),
    }


def workflow_state(wf: GmpWorkflow) -> dict[str, Any]:
    reg = registry()
    state = _workflow_header(wf)
    state["bpmn_events"] = reg.convert(wf.bpmn_events)
    state["gmp_last"] = wf.run.last_completion
    if wf.run.called:
        state["called"] = dict(sorted(wf.run.called.items()))
    state["subprocesses"] = {}
    for key, sp in wf.subprocesses.items():
        header = _workflow_header(sp)
        header["spec"] = sp.spec.name
        if getattr(sp, "spec_key", None) not in (None, sp.spec.name):
            header["spec_key"] = sp.spec_key
        state["subprocesses"][str(key)] = header
    return state


def pending_events(state_json: str) -> bool:
    """Whether a saved workflow state holds thrown events not yet routed."""
    return bool(json.loads(state_json).get("bpmn_events"))


def saved_data(state_json: str) -> dict[str, Any]:
    """The workflow data of a saved workflow state (JSON form)."""
    return dict(json.loads(state_json).get("data", {}))


def saved_last_completion(state_json: str) -> dict[str, Any] | None:
    return json.loads(state_json).get("gmp_last") if state_json else None


def row_data(body_json: str) -> dict[str, Any]:
    """The task data of a task row body, typed values (Decimal, date) restored."""
    return dict(registry().restore(json.loads(body_json).get("data") or {}))


def row_internal_data(body_json: str) -> dict[str, Any]:
    """The internal data of a task row body, typed values restored."""
    return dict(registry().restore(json.loads(body_json).get("internal_data") or {}))


# ---------------------------------------------------------------- loading
VersionLoader = Callable[[int], tuple[Any, Mapping[str, Any]]]


def _restore_tasks(wf: Any, bodies: Iterable[dict[str, Any]]) -> None:
    reg = registry()
    table: dict[UUID, Task] = {}
    for dct in bodies:
        task_spec = wf.spec.task_specs.get(dct["task_spec"])
        task = TrackedTask.__new__(TrackedTask)
        # Exactly the attributes Task.__init__ sets, without its side effects (random id,
        # registration and parent notification before the whole tree is loaded).
        task.id = UUID(dct["id"])
        task.workflow = wf
        task._parent = UUID(dct["parent"]) if dct["parent"] is not None else None
        task._children = [UUID(c) for c in dct["children"]]
        task._tracked_state = dct["state"]
        task.triggered = dct["triggered"]
        task.task_spec = task_spec
        task.thread_id = Task.thread_id_pool
        task.data = reg.restore(dct["data"])
        task.internal_data = reg.restore(dct["internal_data"])
        task.last_state_change = dct["last_state_change"]
        table[task.id] = task
    wf.tasks = table  # TaskTable: converts to TrackedTask and indexes
    for task in wf.tasks.values():
        if isinstance(task.task_spec, CatchingEvent) and task.has_state(TaskState.WAITING):
            wf.top_workflow.event_manager.add_task(task)


def _apply_header(wf: Any, header: dict[str, Any]) -> None:
    reg = registry()
    wf.task_tree = wf.tasks.get(UUID(header["root"]))
    wf.success = header["success"]
    wf.completed = header.get("completed", False)
    wf.correlations = header.get("correlations", {})
    wf.last_task = wf.tasks.get(UUID(header["last_task"])) if header.get("last_task") else None
    wf.data = reg.restore(header.get("data", {}))


def build_workflow(spec: Any, subprocess_specs: Mapping[str, Any], state: dict[str, Any],
                   rows: list[tuple[str, str, int, str]], load_version: VersionLoader | None = None) -> GmpWorkflow:
    """Rebuild a workflow from its state and its task rows (id, workflow key, seq, body), in seq order.

    `load_version(version_id)` gives the specs of a separately approved process the
    instance called (pinned in its state).
    """
    wf = GmpWorkflow(spec, subprocess_specs, deserializing=True)
    for key, version_id in sorted(state.get("called", {}).items()):
        if key in wf.subprocess_specs:
            continue
        if load_version is None:
            raise ValueError(f"the instance called process version {version_id}: a version loader is needed")
        called_spec, called_subs = load_version(int(version_id))
        process_id = key.rsplit("@", 1)[0]
        if called_spec.name == process_id:
            add_called_version(wf, process_id, int(version_id), called_spec, called_subs)
    wf.run.called = {k: int(v) for k, v in state.get("called", {}).items()}
    groups: dict[str, list[dict[str, Any]]] = {}
    seqs: dict[UUID, int] = {}
    for row_id, key, seq, body in rows:
        groups.setdefault(key, []).append(json.loads(body))
        seqs[UUID(row_id)] = seq
    _restore_tasks(wf, groups.pop(TOP, []))
    _apply_header(wf, state)
    pending = dict(state.get("subprocesses", {}))
    progress = True
    while pending and progress:
        progress = False
        for key in list(pending):
            parent_task = wf.get_task_from_id(UUID(key)) if _known(wf, UUID(key)) else None
            if parent_task is None:
                continue
            header = pending.pop(key)
            spec_key = header.get("spec_key") or parent_task.task_spec.spec
            sp = GmpSubWorkflow(wf.subprocess_specs.get(spec_key), parent_task.id, wf, deserializing=True)
            sp.spec_key = spec_key
            _restore_tasks(sp, groups.pop(key, []))
            _apply_header(sp, header)
            wf.subprocesses[parent_task.id] = sp
            if isinstance(parent_task.task_spec, SubWorkflowTask):
                sp.completed_event.connect(parent_task.task_spec._on_subworkflow_completed, parent_task)
            progress = True
    wf.bpmn_events = registry().restore(state.get("bpmn_events", []))
    wf.run.seqs = seqs
    wf.run.last_completion = state.get("gmp_last")
    wf.changelog.reset()
    return wf


def _known(wf: GmpWorkflow, task_id: UUID) -> bool:
    if task_id in wf.tasks:
        return True
    return any(task_id in sp.tasks for sp in wf.subprocesses.values())
