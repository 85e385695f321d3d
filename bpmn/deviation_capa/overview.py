"""The QA overview's figures, read from the instances and the master data (no Flask).

    overview(session, today=None) -> dict

- `deviations`: the open deviations (running or stopped in error), each with its key, title,
  class (from QA triage; "unclassified" before it), age in days, current steps, owner and
  investigation due date; `by_class`: counts per class and age band (0-7, 8-30, 31-90, over 90 days);
- `actions`: the CAPA actions waiting for their owners (the ready `do_action` tasks), due date
  and whether they are overdue;
- `documents`: the document revisions under way (running `document_lifecycle` instances) with
  their current steps: what is in review or approval;
- `expiring`: qualifications (masterdata.qualifications) current today that end within 30 days;
- `months`: deviations opened per month by class, the last 12 months (for the chart).

Only what exists is read: a process not installed gives an empty list.
"""
from __future__ import annotations

import json
from collections import Counter
from datetime import date, timedelta
from typing import Any, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import clock
from engine.business_keys import keys_of
from engine.models import InstanceTask, ProcessDefinition, ProcessDefinitionVersion, ProcessInstance
from engine.spiff.workflow import READY

CLASSES = ("critical", "major", "minor", "unclassified")
AGE_BANDS = (("0-7", 0, 7), ("8-30", 8, 30), ("31-90", 31, 90), ("90+", 91, None))
OPEN = ("running", "error")
EXPIRY_DAYS = 30


def _instances(session: Session, process: str, statuses: Iterable[str] | None = None) -> list[ProcessInstance]:
    query = (select(ProcessInstance).join(ProcessDefinitionVersion, ProcessDefinitionVersion.id == ProcessInstance.version_id)
             .join(ProcessDefinition, ProcessDefinition.id == ProcessDefinitionVersion.definition_id)
             .where(ProcessDefinition.key == process).order_by(ProcessInstance.id))
    if statuses is not None:
        query = query.where(ProcessInstance.status.in_(list(statuses)))
    return list(session.execute(query).scalars())


def _tasks(session: Session, instance_ids: list[int]) -> dict[int, list[InstanceTask]]:
    """Each instance's named task rows, oldest first."""
    out: dict[int, list[InstanceTask]] = {i: [] for i in instance_ids}
    if not instance_ids:
        return out
    rows = session.execute(select(InstanceTask).where(InstanceTask.instance_id.in_(instance_ids),
                                                      InstanceTask.dropped.is_(False), InstanceTask.bpmn_id.is_not(None))
                           .order_by(InstanceTask.instance_id, InstanceTask.seq)).scalars()
    for row in rows:
        out[row.instance_id].append(row)
    return out


def _data(row: InstanceTask) -> dict[str, Any]:
    try:
        found = json.loads(row.body).get("data")
    except (TypeError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _latest(rows: list[InstanceTask], name: str) -> Any:
    """The newest value of data field `name` among the rows (None if no row has it)."""
    for row in reversed(rows):
        value = _data(row).get(name)
        if value is not None:
            return value
    return None


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(str(text)[:10]) if text else None
    except ValueError:
        return None


def _band(age: int) -> str:
    for name, low, high in AGE_BANDS:
        if age >= low and (high is None or age <= high):
            return name
    return AGE_BANDS[-1][0]


def _ready(rows: list[InstanceTask]) -> list[InstanceTask]:
    return [r for r in rows if r.state == READY and r.manual]


def deviation_rows(session: Session, today: date) -> list[dict[str, Any]]:
    found = _instances(session, "deviation", OPEN)
    tasks = _tasks(session, [i.id for i in found])
    keys = keys_of(session, [i.id for i in found])
    out = []
    for inst in found:
        rows = tasks[inst.id]
        report = _latest(rows, "deviation") or {}
        started = _day(inst.started_at) or today
        due = _day(_latest(rows, "investigation_due"))
        steps = [r.bpmn_name or r.bpmn_id for r in _ready(rows)]
        investigating = any(r.bpmn_id == "investigate" for r in _ready(rows))
        out.append({"id": inst.id, "key": keys.get(inst.id) or f"#{inst.id}",
                    "title": (report.get("title") if isinstance(report, dict) else None) or inst.title,
                    "class": _latest(rows, "classification") or "unclassified",
                    "proposed": report.get("severity") if isinstance(report, dict) else None,
                    "source": ((report.get("context") or {}).get("source_kind") if isinstance(report, dict) else None)
                    or "manual",
                    "age": (today - started).days, "started": inst.started_at[:10], "steps": steps,
                    "owner": _latest(rows, "investigation_owner"), "due": due.isoformat() if due else None,
                    "overdue": bool(investigating and due and due < today), "status": inst.status})
    out.sort(key=lambda r: (CLASSES.index(r["class"]) if r["class"] in CLASSES else 9, -r["age"]))
    return out


def by_class(rows: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    table = {c: {band: 0 for band, _l, _h in AGE_BANDS} for c in CLASSES}
    for row in rows:
        table.setdefault(row["class"], {band: 0 for band, _l, _h in AGE_BANDS})[_band(row["age"])] += 1
    return table


def action_rows(session: Session, today: date) -> list[dict[str, Any]]:
    found = _instances(session, "deviation", OPEN)
    ids = [i.id for i in found]
    keys = keys_of(session, ids)
    out = []
    if not ids:
        return out
    rows = session.execute(select(InstanceTask).where(InstanceTask.instance_id.in_(ids), InstanceTask.bpmn_id == "do_action",
                                                      InstanceTask.state == READY, InstanceTask.dropped.is_(False))
                           .order_by(InstanceTask.instance_id, InstanceTask.seq)).scalars()
    for row in rows:
        action = _data(row).get("action") or {}
        due = _day(action.get("due"))
        linked = action.get("linked") or None
        out.append({"deviation": keys.get(row.instance_id) or f"#{row.instance_id}", "deviation_id": row.instance_id,
                    "task_id": row.id, "kind": action.get("kind"), "description": action.get("description"),
                    "owner": action.get("owner"), "due": due.isoformat() if due else None,
                    "days_left": (due - today).days if due else None, "overdue": bool(due and due < today),
                    "linked": linked})
    out.sort(key=lambda r: (r["due"] or "9999", r["deviation"]))
    return out


def document_rows(session: Session) -> list[dict[str, Any]]:
    found = _instances(session, "document_lifecycle", OPEN)
    tasks = _tasks(session, [i.id for i in found])
    keys = keys_of(session, [i.id for i in found])
    out = []
    for inst in found:
        rows = tasks[inst.id]
        document = _latest(rows, "document") or {}
        out.append({"id": inst.id, "key": keys.get(inst.id) or f"#{inst.id}",
                    "code": document.get("code") if isinstance(document, dict) else None, "title": inst.title,
                    "steps": [r.bpmn_name or r.bpmn_id for r in _ready(rows)], "started": inst.started_at[:10]})
    return out


def expiring_rows(session: Session, today: date, days: int = EXPIRY_DAYS) -> list[dict[str, Any]]:
    from masterdata import qualifications

    limit = today + timedelta(days=days)
    out = []
    for q in qualifications.qualifications_of(session, None):
        until = _day(q.valid_until)
        if until is None or q.state(today) != "current" or not today <= until <= limit:
            continue
        out.append({"user": q.user_id, "sop": q.sop, "version": q.version, "valid_until": until.isoformat(),
                    "days_left": (until - today).days})
    out.sort(key=lambda r: (r["valid_until"], r["user"], r["sop"]))
    return out


def month_counts(session: Session, today: date, months: int = 12) -> list[dict[str, Any]]:
    """Deviations opened per month (oldest first, `months` months up to this one), by class."""
    first = date(today.year, today.month, 1)
    keys = []
    year, month = first.year, first.month
    for _ in range(months):
        keys.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    keys.reverse()
    counts: dict[str, Counter[str]] = {k: Counter() for k in keys}
    found = [i for i in _instances(session, "deviation") if i.started_at[:7] in counts]
    tasks = _tasks(session, [i.id for i in found])
    for inst in found:
        if inst.status == "cancelled":
            continue
        label = _latest(tasks[inst.id], "classification") or "unclassified"
        counts[inst.started_at[:7]][label if label in CLASSES else "unclassified"] += 1
    return [{"month": k, **{c: counts[k][c] for c in CLASSES}, "total": sum(counts[k].values())} for k in keys]


def overview(session: Session, today: date | None = None) -> dict[str, Any]:
    today = today or clock.now().date()
    deviations = deviation_rows(session, today)
    return {"today": today.isoformat(), "deviations": deviations, "by_class": by_class(deviations),
            "bands": [b for b, _l, _h in AGE_BANDS], "classes": CLASSES, "actions": action_rows(session, today),
            "documents": document_rows(session), "expiring": expiring_rows(session, today),
            "months": month_counts(session, today)}
