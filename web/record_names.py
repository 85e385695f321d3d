"""Names for the objects the audit trail talks about, so people read "Weigh the material — Dispensing
#12 (B-2026-001)" instead of `task/3f2a9c1e-...`; and which entries are engine steps that a record's
history folds under a "details" toggle (nothing is hidden: they open with one click).

`object_names(session, [(object_type, object_id), ...])` answers in a few queries for a page or a
PDF batch. It names tasks (task name, process instance title, number and business key),
process instances (title or process name, number, business key) and set-point writes (tag and
value); definitions already carry readable IDs (`key:v3`). Unknown objects get no name: the page
shows their type and ID as before.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

# Engine bookkeeping: state transitions and operator progress. Shown folded in a record's history.
ENGINE_STEPS = frozenset({"task.state_changed", "operator.progress", "operator.started", "timer.voided",
                          "timer.cancelled"})


def _instance_label(instance: Any, process_name: str | None) -> str:
    key = getattr(instance, "business_key", None)
    label = f"{instance.title or process_name or 'process'} #{instance.id}"
    return f"{label} ({key})" if key and key not in label else label


def object_names(session: Session, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    from engine.models import InstanceTask, ProcessDefinition, ProcessDefinitionVersion, ProcessInstance

    wanted: dict[str, set[str]] = {}
    for object_type, object_id in keys:
        wanted.setdefault(object_type, set()).add(str(object_id))
    names: dict[tuple[str, str], str] = {}
    task_ids = sorted(wanted.get("task", ()))
    tasks: dict[str, Any] = {}
    for start in range(0, len(task_ids), 500):
        for row in session.execute(select(InstanceTask.id, InstanceTask.instance_id, InstanceTask.bpmn_name,
                                          InstanceTask.bpmn_id, InstanceTask.spec_name)
                                   .where(InstanceTask.id.in_(task_ids[start:start + 500]))):
            tasks[row.id] = row
    instance_ids = {int(i) for i in wanted.get("process_instance", ()) if i.isdigit()}
    instance_ids |= {row.instance_id for row in tasks.values()}
    instances: dict[int, str] = {}
    ordered = sorted(instance_ids)
    for start in range(0, len(ordered), 500):
        for instance, key, name in session.execute(
                select(ProcessInstance, ProcessDefinition.key, ProcessDefinition.name)
                .join(ProcessDefinitionVersion, ProcessDefinitionVersion.id == ProcessInstance.version_id)
                .join(ProcessDefinition, ProcessDefinition.id == ProcessDefinitionVersion.definition_id)
                .where(ProcessInstance.id.in_(ordered[start:start + 500]))):
            instances[instance.id] = _instance_label(instance, name or key)
    for instance_id, label in instances.items():
        if str(instance_id) in wanted.get("process_instance", ()):
            names[("process_instance", str(instance_id))] = label
    for task_id, row in tasks.items():
        task = row.bpmn_name or row.bpmn_id or row.spec_name
        names[("task", task_id)] = f"{task} — {instances.get(row.instance_id, f'#{row.instance_id}')}"
    write_ids = sorted(wanted.get("setpoint_write", ()))
    if write_ids:
        from connectors.models import SetpointWrite

        for write in session.execute(select(SetpointWrite.id, SetpointWrite.tag_name, SetpointWrite.value_json,
                                            SetpointWrite.unit).where(SetpointWrite.id.in_(write_ids))):
            names[("setpoint_write", write.id)] = f"{write.tag_name} = {write.value_json} {write.unit}".strip()
    return names


def fold_engine_steps(entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The entries in order, each run of engine steps (ENGINE_STEPS) gathered into one item
    `{"steps": [...]}` that a page shows folded under "details"."""
    items: list[dict[str, Any]] = []
    for entry in entries:
        if entry.get("action") in ENGINE_STEPS:
            if items and "steps" in items[-1]:
                items[-1]["steps"].append(entry)
            else:
                items.append({"steps": [entry]})
        else:
            items.append(entry)
    return items
