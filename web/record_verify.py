"""Verify an exported record (its JSON, also attached to its PDF) against the audit trail.

Anyone holding a record's JSON and read access to the database can check that it says
what was recorded, without trusting the export:

1. the audit trail itself is intact (audit.verify.verify_trail: hash chain, signed checkpoints);
2. every timeline entry of the record is the trail's entry with that sequence number
   (time, user, action, object);
3. every task's `signed_record` hashes (engine.tasks.record_hash, SHA-256 of canonical JSON)
   to the `record_hash` of the task's `task.completed` audit entry, i.e. it is what the
   completer signed; every value's first entry (`original`) is the value in that signed
   record, and the value shown now is the first entry or the last correction, each
   correction matching a `task.value_corrected` entry (field, old value, new value);
4. every exception the diagram recorded (`E:<id>`) matches its `instance.exception_recorded`
   entry (kind, message);
5. every sampled parameter matches the `tag.sampled` entry of its sampling (count, min, max).

    gmp records verify record-12.json          # exit status 1 and the differences if any

The PDF carries the same JSON as an attachment (`pdfdetach -saveall record.pdf`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable

from sqlalchemy import select


@dataclass
class RecordVerification:
    instance_id: int
    trail: str = ""
    checked: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        counts = ", ".join(f"{n} {what}" for what, n in self.checked.items())
        if self.ok:
            return f"record of instance {self.instance_id} matches the audit trail ({counts}); {self.trail}"
        return (f"record of instance {self.instance_id} does NOT match the audit trail: {len(self.problems)} "
                "difference(s):\n  " + "\n  ".join(self.problems))


def _chunks(items: list[Any], size: int = 500) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def verify_record(db: Any, record: dict[str, Any], settings: Any = None) -> RecordVerification:
    """Compare `record` (as exported, parsed JSON) with the audit trail of `db`; raises
    audit.errors.ChainBroken / CheckpointInvalid when the trail itself is broken."""
    from audit.models import AuditEntry
    from audit.verify import verify_trail

    instance_id = int(record["instance"]["id"])
    result = RecordVerification(instance_id)
    result.trail = verify_trail(db, settings).summary()
    with db.read_session() if hasattr(db, "read_session") else db.session() as session:
        timeline = record.get("timeline") or []
        seqs = [int(e["seq"]) for e in timeline]
        found: dict[int, Any] = {}
        for chunk in _chunks(seqs):
            for entry in session.scalars(select(AuditEntry).where(AuditEntry.seq.in_(chunk))):
                found[entry.seq] = entry
        for item in timeline:
            entry = found.get(int(item["seq"]))
            if entry is None:
                result.problems.append(f"timeline entry {item['seq']} is not in the audit trail")
                continue
            for name, ours in (("ts", item.get("ts")), ("actor_id", item.get("actor_id")),
                               ("action", item.get("action")),
                               ("object", f"{entry.object_type}/{entry.object_id}")):
                theirs = getattr(entry, name) if name != "object" else item.get("object")
                if ours != theirs:
                    result.problems.append(f"timeline entry {item['seq']}: {name} is {ours!r} in the record, "
                                           f"{theirs!r} in the audit trail")
        result.checked["timeline entries"] = len(timeline)
        _verify_tasks(session, record, result)
        _verify_exceptions(session, record, result)
        _verify_samples(session, record, result)
    return result


def _entries(session: Any, action: str, object_type: str, object_id: str) -> list[Any]:
    from audit.models import AuditEntry

    return list(session.scalars(select(AuditEntry).where(
        AuditEntry.action == action, AuditEntry.object_type == object_type,
        AuditEntry.object_id == str(object_id)).order_by(AuditEntry.seq)))


def _verify_tasks(session: Any, record: dict[str, Any], result: RecordVerification) -> None:
    from audit.canonical import jsonable
    from engine.tasks import record_hash

    values = 0
    for task in record.get("tasks") or []:
        name = f"task {task.get('name')} ({task['task_id']})"
        completed = _entries(session, "task.completed", "task", task["task_id"])
        if not completed:
            result.problems.append(f"{name}: no task.completed entry in the audit trail")
            continue
        digest = json.loads(completed[-1].details or "{}").get("record_hash")
        signed = task.get("signed_record")
        if signed is None:
            result.problems.append(f"{name}: the record carries no signed first entry")
            continue
        if record_hash(signed) != digest:
            result.problems.append(f"{name}: the first entry in the record is not what was signed "
                                   f"(SHA-256 {record_hash(signed)[:16]}..., the audit trail has {str(digest)[:16]}...)")
        if task.get("record_hash") != digest:
            result.problems.append(f"{name}: record_hash {task.get('record_hash')!r} differs from the audit trail")
        fields = ((signed.get("data") or {}).get("_form") or {}).get("fields") or {}
        corrections = [change for entry in _entries(session, "task.value_corrected", "task", task["task_id"])
                       for change in json.loads(entry.changes or "[]")]
        for value in task.get("values") or []:
            values += 1
            path = value["field"]
            first = jsonable((fields.get(path) or {}).get("value"))
            if path in fields and value.get("original") != first:
                result.problems.append(f"{name}, {path}: first entry {value.get('original')!r} in the record, "
                                       f"{first!r} signed")
            now = value.get("original")
            for correction in value.get("corrections") or []:
                change = [path, correction.get("original"), correction.get("corrected")]
                if change not in corrections:
                    result.problems.append(f"{name}, {path}: correction {correction.get('original')!r} -> "
                                           f"{correction.get('corrected')!r} has no task.value_corrected entry")
                now = correction.get("corrected")
            if value.get("value") != now and not value.get("recalculated"):
                result.problems.append(f"{name}, {path}: value {value.get('value')!r} in the record, "
                                       f"{now!r} by the signed entry and its corrections")
            recorded = [c for c in corrections if c[0] == path]
            if len(recorded) != len(value.get("corrections") or []):
                result.problems.append(f"{name}, {path}: {len(recorded)} correction(s) in the audit trail, "
                                       f"{len(value.get('corrections') or [])} in the record")
    result.checked["tasks"] = len(record.get("tasks") or [])
    result.checked["values"] = values


def _verify_exceptions(session: Any, record: dict[str, Any], result: RecordVerification) -> None:
    instance = str(record["instance"]["id"])
    recorded = {}
    for entry in _entries(session, "instance.exception_recorded", "process_instance", instance):
        details = json.loads(entry.details or "{}")
        recorded[f"E:{details.get('exception_id')}"] = details
    count = 0
    for item in record.get("exceptions") or []:
        if not str(item.get("ref", "")).startswith("E:"):
            continue
        count += 1
        details = recorded.pop(item["ref"], None)
        if details is None:
            result.problems.append(f"exception {item['ref']}: no instance.exception_recorded entry")
        elif (details.get("kind"), details.get("message")) != (item.get("kind"), item.get("message")):
            result.problems.append(f"exception {item['ref']}: {item.get('kind')!r} {item.get('message')!r} in the "
                                   f"record, {details.get('kind')!r} {details.get('message')!r} in the audit trail")
    for ref in recorded:
        result.problems.append(f"exception {ref} is in the audit trail but not in the record")
    result.checked["exceptions"] = count


def _verify_samples(session: Any, record: dict[str, Any], result: RecordVerification) -> None:
    count = 0
    for phase in record.get("phases") or []:
        entries = _entries(session, "tag.sampled", "sampling", phase["sampling_id"])
        summary = json.loads(entries[-1].details or "{}").get("summary") if entries else None
        for parameter in phase.get("parameters") or []:
            count += len(parameter.get("samples") or [])
            if summary is None:
                continue  # a sampling still running has no summary yet: its samples are checked when it ends
            theirs = summary.get(parameter["tag"])
            numbers = [s["value"] for s in parameter.get("samples") or [] if isinstance(s.get("value"), (int, float))]
            ours = (len(parameter.get("samples") or []), min(numbers) if numbers else None,
                    max(numbers) if numbers else None)
            if theirs is None or ours != (theirs.get("count"), theirs.get("min"), theirs.get("max")):
                result.problems.append(
                    f"samples of {parameter['tag']} in {phase.get('name')}: count/min/max {ours} in the record, "
                    f"{None if theirs is None else (theirs.get('count'), theirs.get('min'), theirs.get('max'))} "
                    "in the tag.sampled entry")
    result.checked["samples"] = count
