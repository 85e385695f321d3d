"""Reading parsed specs: task properties, elements, which task specs a process has."""
from __future__ import annotations

from typing import Any, Iterator, Mapping


def properties_of(task_spec: Any) -> dict[str, str]:
    """The spiff `properties` of an element (SpiffWorkflow keeps them in `task_spec.extensions`)."""
    extensions = getattr(task_spec, "extensions", None) or {}
    return {str(k): str(v) for k, v in (extensions.get("properties") or {}).items() if v is not None}


def bpmn_id_of(task_spec: Any) -> str:
    return getattr(task_spec, "bpmn_id", None) or task_spec.name


def is_user_task(task_spec: Any) -> bool:
    """A user or manual task (SpiffWorkflow's `manual` flag)."""
    return bool(getattr(task_spec, "manual", False))


def lane_of(task_spec: Any) -> str | None:
    return getattr(task_spec, "lane", None)


def all_specs(spec: Any, subprocess_specs: Mapping[str, Any] | None) -> list[Any]:
    return [spec, *(subprocess_specs or {}).values()]


def element_specs(spec: Any, subprocess_specs: Mapping[str, Any] | None) -> Iterator[tuple[str, Any]]:
    """(element id, task spec) of every BPMN element of these processes, each id once."""
    seen: set[str] = set()
    for process in all_specs(spec, subprocess_specs):
        for task_spec in process.task_specs.values():
            bpmn_id = getattr(task_spec, "bpmn_id", None)
            if not bpmn_id or bpmn_id in seen:
                continue
            seen.add(bpmn_id)
            yield bpmn_id, task_spec


def find_task_spec(spec: Any, subprocess_specs: Mapping[str, Any] | None, spec_name: str) -> Any | None:
    """The task spec named `spec_name` in a process or the processes it calls."""
    for process in all_specs(spec, subprocess_specs):
        found = process.task_specs.get(spec_name)
        if found is not None:
            return found
    return None


def element_count(spec: Any, subprocess_specs: Mapping[str, Any] | None) -> int:
    return sum(len(process.task_specs) for process in all_specs(spec, subprocess_specs))


def process_name(spec: Any) -> str:
    return spec.description or spec.name
