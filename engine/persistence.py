"""Instance persistence that does not grow with the process.

- The spec lives once per definition version (`process_definition_version.spec_json`),
  deserialized once per process (engine.spiff.serializer.cached_spec).
- Each task is one `instance_task` row (SpiffWorkflow's task fields, data in full).
  A save writes only what the workflow's ChangeLog says changed since the last save:
  created tasks are inserted, changed ones updated, removed ones flagged `dropped`.
  Active tasks (READY, WAITING, STARTED, ERROR) are always rewritten, since SpiffWorkflow
  may change their data or internal data without a state change.
- `process_instance.workflow_json` holds the small top-level state (workflow data,
  correlations, pending BPMN events, subprocess headers).
- `process_instance.lock_version` is bumped by every save with
  `UPDATE ... WHERE lock_version = <loaded>`: an update based on a stale copy fails
  with ConcurrentUpdate instead of overwriting someone else's step.
- A warm process keeps loaded workflows in `WorkflowCache` keyed by instance and
  lock_version, so a step does not rebuild the task tree; any rollback evicts.

What a row body holds and how a workflow is rebuilt from rows is the adapter's
(engine.spiff.serializer); this module reads and writes the rows.
"""
from __future__ import annotations

import gc
import json
import threading
from collections import OrderedDict
from typing import Any
from uuid import UUID

from sqlalchemy import Boolean, insert, select
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from core import clock
from engine.deep import run_deep
from engine.errors import ConcurrentUpdate
from engine.models import InstanceTask, ProcessInstance
from engine.spiff.serializer import VersionLoader, build_workflow, task_body, task_columns, workflow_key, workflow_state
from engine.spiff.workflow import GmpWorkflow


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _row(instance_id: int, task: Any, seq: int, now: str) -> dict[str, Any]:
    return {"id": str(task.id), "instance_id": instance_id, "workflow_key": workflow_key(task), "seq": seq,
            **task_columns(task), "dropped": False, "body": _dumps(task_body(task)), "updated_at": now}


_INSERT_TASKS = insert(InstanceTask.__table__)


def _statements(mark: str) -> tuple[str, str]:
    return (f"UPDATE instance_task SET state = {mark}, body = {mark}, updated_at = {mark}, dropped = {mark} "
            f"WHERE id = {mark}",
            f"UPDATE process_instance SET lock_version = {mark}, task_seq = {mark}, workflow_json = {mark} "
            f"WHERE id = {mark} AND lock_version = {mark}")


# Every step runs these two: plain DBAPI statements on the session's own connection and
# transaction (as audit.chain does), without SQLAlchemy's per-execution work.
_SQL = {"sqlite": _statements("?"), "postgresql": _statements("%s")}


# ---------------------------------------------------------------- hot-path reads
_INSTANCE_COLUMNS = tuple(c.key for c in ProcessInstance.__table__.columns)
_TASK_COLUMNS = tuple(c.key for c in InstanceTask.__table__.columns)
_TASK_BOOLEANS = frozenset(c.key for c in InstanceTask.__table__.columns if isinstance(c.type, Boolean))


def _read_statements(mark: str, lock: str, lock_instance: str) -> dict[str, str]:
    instance = ", ".join(f"i.{c}" for c in _INSTANCE_COLUMNS)
    head = (f"SELECT {instance}, v.files_sha256 FROM process_instance i "
            "JOIN process_definition_version v ON v.id = i.version_id ")
    task = f"SELECT {', '.join(_TASK_COLUMNS)} FROM instance_task WHERE id = {mark} AND dropped = {mark}"
    return {"instance": f"{head}WHERE i.id = {mark}{lock_instance}",
            "instance_of_task": f"{head}WHERE i.id = (SELECT instance_id FROM instance_task WHERE id = {mark})"
                                f"{lock_instance}",
            "task": task, "task_for_update": task + lock}


# A step reads the instance (locked, with its version's content hash) and the task row on
# every call: plain DBAPI statements on the session's connection and transaction (SQLite
# holds the database lock from BEGIN IMMEDIATE; PostgreSQL locks the instance row), the
# rows attached to the session as if the ORM had loaded them.
_READ_SQL = {"sqlite": _read_statements("?", "", ""),
             "postgresql": _read_statements("%s", " FOR UPDATE", " FOR UPDATE OF i")}


def _fetch(session: Session, name: str, params: tuple[Any, ...]) -> Any:
    connection = session.connection()
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(_READ_SQL[connection.dialect.name][name], params)
        return cursor.fetchone()
    finally:
        cursor.close()


def _attach(session: Session, cls: Any, values: dict[str, Any]) -> Any:
    """The session's object for this row: the one it already holds, else one built from `values`."""
    existing = session.identity_map.get(session.identity_key(cls, (values["id"],)))
    if existing is not None:
        return existing  # as an ORM select would (no populate_existing)
    obj = cls(**values)
    make_transient_to_detached(obj)  # the values become its loaded (committed) state
    session.add(obj)
    return obj


def lock_instance(session: Session, *, instance_id: int | None = None,
                  task_id: str | None = None) -> tuple[ProcessInstance, str] | None:
    """Lock and read an instance (by id, or the one task `task_id` belongs to) with its version's files_sha256."""
    if task_id is not None:
        row = _fetch(session, "instance_of_task", (task_id,))
    else:
        row = _fetch(session, "instance", (instance_id,))
    if row is None:
        return None
    values = dict(zip(_INSTANCE_COLUMNS, row))
    return _attach(session, ProcessInstance, values), row[-1]


def task_row(session: Session, task_id: str, *, for_update: bool = False) -> InstanceTask | None:
    """The live (not dropped) row of a task, or None; `for_update` locks it (PostgreSQL)."""
    row = _fetch(session, "task_for_update" if for_update else "task", (task_id, False))
    if row is None:
        return None
    values = dict(zip(_TASK_COLUMNS, row))
    for key in _TASK_BOOLEANS:
        if values[key] is not None:
            values[key] = bool(values[key])
    return _attach(session, InstanceTask, values)


def save(session: Session, instance: ProcessInstance, wf: GmpWorkflow, *, new: bool = False) -> None:
    """Write what changed since the last save; bump lock_version (optimistic check)."""
    now = clock.isoformat(clock.now())
    log = wf.changelog
    seqs: dict[UUID, int] = wf.run.seqs
    next_seq = instance.task_seq
    inserts = []
    for task in log.created.values():
        if task.id in seqs:  # re-added after removal in the same step: treat as change
            log.changed[task.id] = task
            continue
        next_seq += 1
        seqs[task.id] = next_seq
        inserts.append(_row(instance.id, task, next_seq, now))
    changed = dict(log.changed)
    for task in wf.active_tasks():
        changed.setdefault(task.id, task)
    updates = [{"id": str(t.id), "state": t.state, "body": _dumps(task_body(t)), "updated_at": now,
                "dropped": False}
               for t in changed.values() if t.id in seqs and t.id not in log.created]
    updates += [{"id": str(t.id), "state": t.state, "body": _dumps(task_body(t)), "updated_at": now,
                 "dropped": True} for t in log.removed.values() if t.id in seqs]
    # Core statements built once, on the session's connection and transaction: no ORM
    # bulk machinery, no statement construction per step.
    connection = session.connection()
    update_tasks, bump_instance = _SQL[connection.dialect.name]
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    if inserts:
        connection.execute(_INSERT_TASKS, inserts)
    if updates:
        cursor.executemany(update_tasks, [(u["state"], u["body"], u["updated_at"], u["dropped"], u["id"])
                                          for u in updates])
        for obj in list(session.identity_map.values()):
            if isinstance(obj, InstanceTask):
                session.expire(obj, ["state", "body", "dropped", "updated_at"])
    state_json = _dumps(workflow_state(wf))
    if new:
        instance.task_seq = next_seq
        instance.workflow_json = state_json
        session.flush()
        return
    expected = instance.lock_version
    session.flush()  # pending ORM changes of the instance (status, reason) go out before the Core UPDATE
    cursor.execute(bump_instance, (expected + 1, next_seq, state_json, instance.id, expected))
    rowcount = cursor.rowcount
    cursor.close()
    if rowcount != 1:
        raise ConcurrentUpdate(f"instance {instance.id} was changed by someone else meanwhile: reload and try again")
    # Written above with a Core UPDATE: record the values as the ORM's committed state (no second UPDATE).
    set_committed_value(instance, "lock_version", expected + 1)
    set_committed_value(instance, "task_seq", next_seq)
    set_committed_value(instance, "workflow_json", state_json)


def mark_saved(wf: GmpWorkflow) -> None:
    """After commit: forget the change log."""
    wf.changelog.reset()


# ---------------------------------------------------------------- loading
def load(session: Session, instance: ProcessInstance, spec: Any, subprocess_specs: dict[str, Any],
         load_version: VersionLoader | None = None) -> GmpWorkflow:
    """Rebuild the instance's workflow from its rows (without a script engine: the caller attaches one)."""
    rows = [tuple(r) for r in session.execute(
        select(InstanceTask.id, InstanceTask.workflow_key, InstanceTask.seq, InstanceTask.body)
        .where(InstanceTask.instance_id == instance.id, InstanceTask.dropped.is_(False))
        .order_by(InstanceTask.seq)
    ).all()]
    state = json.loads(instance.workflow_json)
    return _without_collections(run_deep, build_workflow, spec, subprocess_specs, state, rows, load_version)


def _without_collections(fn: Any, *args: Any) -> Any:
    """Run `fn` with the cyclic garbage collector paused.

    Rebuilding a large workflow allocates many objects that all stay alive; the collector's full
    passes over the process's heap during the rebuild cost more than the rebuild itself (a 1000-task
    instance loaded in about twice the time). Nothing is freed late: reference counting goes on, and
    the collector resumes when the rebuild ends (whether it succeeded or not).
    """
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        return fn(*args)
    finally:
        if paused:
            gc.enable()


# ---------------------------------------------------------------- warm cache
class WorkflowCache:
    """Loaded workflows of this process, valid while their lock_version matches the row."""

    def __init__(self, size: int = 128) -> None:
        self.size = size
        self._items: "OrderedDict[tuple[str, int], tuple[int, GmpWorkflow]]" = OrderedDict()
        self._lock = threading.Lock()

    def take(self, db_url: str, instance_id: int, lock_version: int) -> GmpWorkflow | None:
        """Remove and return the cached workflow if it is current (the caller will change it)."""
        with self._lock:
            item = self._items.pop((db_url, instance_id), None)
        if item is not None and item[0] == lock_version:
            return item[1]
        return None

    def put(self, db_url: str, instance_id: int, lock_version: int, wf: GmpWorkflow) -> None:
        with self._lock:
            self._items[(db_url, instance_id)] = (lock_version, wf)
            self._items.move_to_end((db_url, instance_id))
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


CACHE = WorkflowCache()
