"""The scheduler: fires due timers and runs long operators, in its own process (`gmp scheduler`).

One poll (`Scheduler.run_once`):
1. discover: every waiting timer task of a running instance gets a row in
   `engine_due_timer` (task, due time), and every long-running operator call waiting in
   a started service task gets a row in `engine_operator_job`. Inserts ignore rows that
   exist, so any number of schedulers may discover at once. (The core's save calls
   `record_due_timers` for a workflow with timers, so rows normally exist already; the
   scan covers instances saved before that, and operator jobs.)
2. fire: claim ONE due row at a time with `SELECT ... FOR UPDATE SKIP LOCKED`, open the
   instance (row lock), refresh its timers, run engine steps, save, mark the row
   `fired` (or `void` when the timer is no longer waiting, e.g. the task it guarded was
   completed), audit `timer.fired`, commit. A second scheduler skips the locked row and,
   after the commit, no longer sees it as waiting: a timer fires once. On SQLite every
   write transaction holds the database lock from BEGIN, which serializes schedulers.
3. operators: claim one pending job (SKIP LOCKED), mark it running, commit; run the
   operator outside any instance lock, committing each `save_progress` to the job row
   (audited); then open the instance and complete (or fail) the task in one transaction.

Times compare as `core.clock.isoformat` text (fixed width, UTC), against `core.clock.now()`.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Callable, Mapping

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from audit.canonical import Actor
from core import clock
from core.errors import GmpError
from engine import instances
from engine.errors import OperatorFailed
from engine.messages import DbOperatorActions, route_pending
from engine.models import InstanceTask, ProcessInstance
from engine.runtime import EngineRuntime, SaveContext, StepScope, resolve
from engine.runtime_models import DueTimer, OperatorJob
from engine.spiff import steps
from engine.spiff.serializer import row_internal_data
from engine.spiff.service_task import finish_pending_operation, pending_in_row
from engine.spiff.timer_outcomes import CANCELLED, FIRED, timer_outcome, touched_timer_tasks
from engine.spiff.timer_outcomes import WAITING as STILL_WAITING
from engine.spiff.timers import due_timers, timer_due_text
from engine.spiff.workflow import STARTED, WAITING
from store.db import Database
from store.uow import UnitOfWork

SCHEDULER = Actor("system:scheduler", "Scheduler")
OPERATOR_LEASE = timedelta(minutes=10)
INSERT_CHUNK = 500


@dataclass
class PollReport:
    discovered_timers: int = 0
    discovered_jobs: int = 0
    fired: int = 0
    void: int = 0
    failed: int = 0
    operations: int = 0
    routed: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def _iso(value: datetime) -> str:
    return clock.isoformat(value)


def _insert_ignore(db: Database, model: Any, rows: list[dict[str, Any]], keys: list[str]) -> Any:
    dialect = sqlite if db.is_sqlite else postgresql
    return dialect.insert(model).values(rows).on_conflict_do_nothing(index_elements=keys)


def record_due_timers(session: Any, db: Database, instance_id: int, workflow: Any) -> int:
    """Write the waiting timers of one workflow into `engine_due_timer` (existing rows kept)."""
    now = _iso(clock.now())
    rows = [{"instance_id": instance_id, "task_id": t.task_id, "element_id": t.element_id,
             "due_at": _iso(t.due_at), "state": "waiting", "created_at": now} for t in due_timers(workflow)]
    if rows:
        session.execute(_insert_ignore(db, DueTimer, rows, ["task_id", "due_at"]))
    return len(rows)


def _timer_due(internal: Mapping[str, Any]) -> str | None:
    value = timer_due_text(internal)
    if value is None:
        return None
    try:
        return _iso(datetime.fromisoformat(value))
    except ValueError:
        return None


def _json_number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)  # an exact decimal parameter (a literal such as 0.5) as a JSON number
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _record_outcome(uow: UnitOfWork, row: DueTimer, outcome: str, why: str | None, now: datetime) -> None:
    """Close a waiting row as what happened to its timer: `timer.fired` or `timer.cancelled` (with why)."""
    details = {"instance_id": row.instance_id, "element_id": row.element_id, "due_at": row.due_at}
    if outcome == FIRED:
        row.state, row.fired_at = "fired", _iso(now)
        uow.audit("timer.fired", "task", row.task_id, changes=[["state", "waiting", "fired"]], details=details)
    else:
        row.state = "void"
        uow.audit("timer.cancelled", "task", row.task_id, changes=[["state", "waiting", "void"]], reason=why,
                  details=details)


def settle_due_rows(uow: UnitOfWork, instance: Any, workflow: Any) -> int:
    """Close the waiting rows of the timers this step fired or cancelled (in the step's transaction).

    Rows another scheduler holds are skipped (`SKIP LOCKED`): that scheduler then finds its
    timer no longer waiting and closes its row itself (`Scheduler._fire`)."""
    ids = touched_timer_tasks(workflow)
    if not ids:
        return 0
    rows = list(uow.session.execute(
        select(DueTimer).where(DueTimer.task_id.in_(sorted(ids)), DueTimer.state == "waiting")
        .order_by(DueTimer.due_at, DueTimer.id).with_for_update(skip_locked=True)).scalars())
    now = clock.now()
    cancelled = instance.status == instances.InstanceStatus.CANCELLED.value
    closed = 0
    for row in rows:
        outcome, why = timer_outcome(steps.get_task(workflow, row.task_id), datetime.fromisoformat(row.due_at), now,
                                     instance_cancelled=cancelled)
        if outcome != STILL_WAITING:
            _record_outcome(uow, row, outcome, why, now)
            closed += 1
    return closed


class DueTimerRows:
    """The save hook that keeps a saved instance's due rows true (attached by engine.install): the
    rows of timers the step fired or cancelled are closed as such, and waiting timers get their
    rows, so the scheduler sees them at once."""

    name = "timers"

    def before_save(self, ctx: SaveContext) -> None:
        pass

    def after_save(self, ctx: SaveContext) -> None:
        if not steps.has_timers(ctx.workflow):
            return
        if not ctx.new:
            settle_due_rows(ctx.uow, ctx.instance, ctx.workflow)
        if ctx.instance.status == instances.InstanceStatus.RUNNING.value:
            record_due_timers(ctx.uow.session, ctx.uow.db, ctx.instance.id, ctx.workflow)


class Scheduler:
    """Polls one database. Several schedulers (processes, machines) may poll the same database."""

    def __init__(self, db: Database, settings: Any = None, *, name: str | None = None,
                 runtime: EngineRuntime | None = None) -> None:
        self.db = db
        self.settings = settings
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.runtime = resolve(runtime)

    # ------------------------------------------------------------ discovery
    def discover(self) -> tuple[int, int]:
        """Record waiting timers and pending long operations of running instances."""
        waiting = WAITING
        started = STARTED
        now = _iso(clock.now())
        timers: list[dict[str, Any]] = []
        jobs: list[dict[str, Any]] = []
        with UnitOfWork(self.db, SCHEDULER) as uow:
            result = uow.session.execute(
                select(InstanceTask.id, InstanceTask.instance_id, InstanceTask.bpmn_id, InstanceTask.state,
                       InstanceTask.body)
                .join(ProcessInstance, ProcessInstance.id == InstanceTask.instance_id)
                .where(InstanceTask.state.in_([waiting, started]), InstanceTask.dropped.is_(False),
                       ProcessInstance.status == instances.InstanceStatus.RUNNING.value))
            for task_id, instance_id, bpmn_id, state, body in result:
                internal = row_internal_data(body)
                if state == waiting:
                    due = _timer_due(internal)
                    if due is not None:
                        timers.append({"instance_id": instance_id, "task_id": task_id, "element_id": bpmn_id or "?",
                                       "due_at": due, "state": "waiting", "created_at": now})
                else:
                    pending = pending_in_row(internal)
                    if pending is not None:
                        jobs.append({"instance_id": instance_id, "task_id": task_id, "element_id": bpmn_id or "?",
                                     "operator": pending.get("name", "?"),
                                     "params_json": json.dumps(pending.get("params") or {}, sort_keys=True,
                                                               default=_json_number),
                                     "state": "pending", "progress_json": json.dumps(pending.get("progress") or {}, default=_json_number),
                                     "created_at": now, "updated_at": now})
            for start in range(0, len(timers), INSERT_CHUNK):  # bounded statements (SQLite's variable limit)
                uow.session.execute(_insert_ignore(self.db, DueTimer, timers[start:start + INSERT_CHUNK],
                                                   ["task_id", "due_at"]))
            for start in range(0, len(jobs), INSERT_CHUNK):
                uow.session.execute(_insert_ignore(self.db, OperatorJob, jobs[start:start + INSERT_CHUNK], ["task_id"]))
            uow.commit()
        return len(timers), len(jobs)

    # ------------------------------------------------------------ timers
    def fire_one(self) -> str | None:
        """Fire the earliest due timer nobody else holds; 'fired', 'void', 'failed' or None (nothing due)."""
        failure: tuple[int, str, str] | None = None
        with UnitOfWork(self.db, SCHEDULER) as uow:
            now = clock.now()
            row = uow.session.execute(
                select(DueTimer).where(DueTimer.state == "waiting", DueTimer.due_at <= _iso(now))
                .order_by(DueTimer.due_at, DueTimer.id).limit(1)
                .with_for_update(skip_locked=True)).scalar_one_or_none()
            if row is None:
                return None
            try:
                outcome = self._fire(uow, row, now)
            except GmpError as exc:
                failure = (row.id, type(exc).__name__, str(exc))
            else:
                uow.commit()
                return outcome
        assert failure is not None
        self._mark_failed(*failure)
        return "failed"

    def _fire(self, uow: UnitOfWork, row: DueTimer, now: datetime) -> str:
        instance = instances.get_instance(uow.session, row.instance_id)
        if instance.status != instances.InstanceStatus.RUNNING.value:
            return self._void(uow, row, f"instance is {instance.status}")

        found: list[tuple[str, str | None]] = []

        def still_waiting(wf: Any) -> bool:
            if steps.waiting_task_with(wf, row.task_id, lambda internal: _timer_due(internal) == row.due_at):
                return True
            # an earlier step fired or cancelled it without closing this row (another scheduler held it)
            found.append(timer_outcome(steps.get_task(wf, row.task_id), datetime.fromisoformat(row.due_at), now))
            return False

        opened = instances.advance(uow, row.instance_id, steps.refresh_timers, settings=self.settings,
                                   accept=still_waiting, runtime=self.runtime)
        if opened is None:
            outcome, why = found[0] if found else (CANCELLED, "it is no longer waiting")
            _record_outcome(uow, row, FIRED if outcome == FIRED else CANCELLED, why or "it is no longer waiting", now)
        elif row.state == "waiting":  # the save hook is not attached (a runtime without engine.install's hooks)
            _record_outcome(uow, row, FIRED, None, now)
        row.fired_by = self.name
        return "fired" if row.state == "fired" else "void"

    def _void(self, uow: UnitOfWork, row: DueTimer, why: str) -> str:
        row.state = "void"
        row.fired_by = self.name
        uow.audit("timer.voided", "task", row.task_id, changes=[["state", "waiting", "void"]], reason=why,
                  details={"instance_id": row.instance_id, "element_id": row.element_id, "due_at": row.due_at})
        return "void"

    def _mark_failed(self, row_id: int, error_type: str, message: str) -> None:
        with UnitOfWork(self.db, SCHEDULER) as uow:
            row = uow.session.get(DueTimer, row_id, with_for_update=True)
            if row is None or row.state != "waiting":
                return
            row.state = "failed"
            row.fired_at = _iso(clock.now())
            row.fired_by = self.name
            uow.audit("timer.failed", "task", row.task_id, changes=[["state", "waiting", "failed"]],
                      reason=f"{error_type}: {message}",
                      details={"instance_id": row.instance_id, "element_id": row.element_id, "due_at": row.due_at})
            uow.commit()

    # ------------------------------------------------------------ long operators
    def run_one_operation(self) -> str | None:
        """Claim and run one long operator call; 'done', 'failed' or None (nothing pending)."""
        now = clock.now()
        with UnitOfWork(self.db, SCHEDULER) as uow:
            stale = _iso(now - OPERATOR_LEASE)
            job = uow.session.execute(
                select(OperatorJob).where(
                    (OperatorJob.state == "pending") |
                    ((OperatorJob.state == "running") & (OperatorJob.claimed_at < stale)))
                .order_by(OperatorJob.id).limit(1).with_for_update(skip_locked=True)).scalar_one_or_none()
            if job is None:
                return None
            job.state, job.claimed_by, job.claimed_at, job.updated_at = "running", self.name, _iso(now), _iso(now)
            uow.audit("operator.started", "task", job.task_id, changes=[["state", "pending", "running"]],
                      details={"instance_id": job.instance_id, "element_id": job.element_id,
                               "operator": job.operator, "scheduler": self.name})
            uow.commit()
            job_id, instance_id, element_id, name = job.id, job.instance_id, job.element_id, job.operator
            params = json.loads(job.params_json)
            progress = json.loads(job.progress_json)

        registry = self.runtime.operators
        context = JobContext(self.db, job_id, instance_id, element_id, progress, self.settings, self.runtime)
        result: Any = None
        failure: OperatorFailed | None = None
        error: str | None = None
        try:
            operator = registry.get(name)
            result = operator.function(context, **params)
            json.dumps(result, default=_json_number)
        except OperatorFailed as exc:
            failure = exc
        except Exception as exc:  # noqa: BLE001 - an operator's failure is recorded, never lost
            error = f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, GmpError):
                error += "\n" + traceback.format_exc(limit=5)
        return self._finish_operation(job_id, instance_id, result, failure, error, context.progress)

    def _finish_operation(self, job_id: int, instance_id: int, result: Any,
                          failure: OperatorFailed | None, error: str | None,
                          progress: Mapping[str, Any]) -> str:
        step_error: str | None = None
        with UnitOfWork(self.db, SCHEDULER) as uow:
            job = uow.session.get(OperatorJob, job_id, with_for_update=True)
            assert job is not None
            task_id = job.task_id
            try:
                opened = instances.advance(uow, instance_id, lambda w: finish_pending_operation(
                    w, task_id, result=result, failure=failure, error=error, progress=progress),
                    settings=self.settings, runtime=self.runtime)
            except GmpError as exc:
                step_error = str(exc)  # the unit of work rolls back as the block ends
            else:
                assert opened is not None
                return self._complete_job(uow, job, opened, result, failure, error, progress)
        assert step_error is not None
        return self._record_job_failure(job_id, step_error, progress)

    def _complete_job(self, uow: UnitOfWork, job: OperatorJob, opened: Any, result: Any,
                      failure: OperatorFailed | None, error: str | None,
                      progress: Mapping[str, Any]) -> str:
        instance_id = opened.instance.id
        outcome = "failed" if failure is not None or error is not None else "done"
        job.state = outcome
        job.result_json = json.dumps(result, default=_json_number) if outcome == "done" else None
        job.error = f"{failure.code}: {failure.message}" if failure else error
        job.progress_json = json.dumps(dict(progress), default=_json_number)
        job.updated_at = _iso(clock.now())
        uow.audit(f"operator.{'completed' if outcome == 'done' else 'failed'}", "task", job.task_id,
                  changes=[["state", "running", outcome]],
                  details={"instance_id": instance_id, "element_id": job.element_id, "operator": job.operator,
                           "error": job.error})
        uow.commit()
        return outcome

    def _record_job_failure(self, job_id: int, error: str, progress: Mapping[str, Any]) -> str:
        with UnitOfWork(self.db, SCHEDULER) as uow:
            job = uow.session.get(OperatorJob, job_id, with_for_update=True)
            assert job is not None
            job.state, job.error, job.updated_at = "failed", error, _iso(clock.now())
            job.progress_json = json.dumps(dict(progress), default=_json_number)
            uow.audit("operator.failed", "task", job.task_id, changes=[["state", "running", "failed"]], reason=error,
                      details={"instance_id": job.instance_id, "element_id": job.element_id,
                               "operator": job.operator})
            uow.commit()
        return "failed"

    # ------------------------------------------------------------ loop
    def run_once(self, max_items: int = 1000, max_rounds: int = 10) -> PollReport:
        """Discover, run pending operators, route thrown messages, fire due timers; repeat while
        one of them made progress (an operator's step may throw a message that starts an
        instance that waits on a timer already due...)."""
        report = PollReport()
        for _ in range(max_rounds):
            timers, jobs = self.discover()
            report.discovered_timers += timers
            report.discovered_jobs += jobs
            progress = 0
            for _ in range(max_items):
                if self.run_one_operation() is None:
                    break
                report.operations += 1
                progress += 1
            routed = route_pending(self.db, SCHEDULER, self.settings, self.runtime)
            report.routed += len(routed)
            progress += len(routed)
            for _ in range(max_items):
                outcome = self.fire_one()
                if outcome is None:
                    break
                setattr(report, outcome, getattr(report, outcome) + 1)
                progress += 1
            if not progress:
                break
        return report

    def run_forever(self, poll_seconds: float, stop: threading.Event,
                    on_report: Callable[[PollReport], None] | None = None) -> None:
        while not stop.is_set():
            report = self.run_once()
            if on_report is not None:
                on_report(report)
            stop.wait(poll_seconds)


# ---------------------------------------------------------------- operator context
class operator_scope:  # noqa: N801 - used as a context manager, reads like one
    """Tell the operators which unit of work and instance a workflow's service tasks run in.

    The core opens this step itself for every workflow it opens (`engine.instances`); this
    context manager is for workflows stepped outside the core (in-memory runs, tests).
    """

    def __init__(self, workflow: Any, uow: Any, instance_id: int, runtime: EngineRuntime | None = None,
                 settings: Any = None) -> None:
        self.workflow = workflow
        self.scope = StepScope(uow, instance_id, resolve(runtime), settings)
        self._previous: Any = None

    def __enter__(self) -> "operator_scope":
        self._previous, self.workflow.run.step = self.workflow.run.step, self.scope
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.workflow.run.step = self._previous


class JobContext:
    """The operator context of a long-running call in the scheduler: each action commits itself."""

    def __init__(self, db: Database, job_id: int, instance_id: int, element_id: str,
                 progress: Mapping[str, Any], settings: Any = None, runtime: EngineRuntime | None = None) -> None:
        self.db, self.job_id, self.instance_id, self.element_id = db, job_id, instance_id, element_id
        self.progress: dict[str, Any] = dict(progress)
        self.settings = settings
        self.runtime = runtime
        self.task_data: Mapping[str, Any] = {}

    def save_progress(self, progress: Mapping[str, Any]) -> None:
        self.progress = dict(progress)
        with UnitOfWork(self.db, SCHEDULER) as uow:
            job = uow.session.get(OperatorJob, self.job_id, with_for_update=True)
            assert job is not None
            old = job.progress_json
            job.progress_json = json.dumps(self.progress, sort_keys=True, default=_json_number)
            job.updated_at = _iso(clock.now())
            uow.audit("operator.progress", "operator_job", self.job_id, changes=[["progress", json.loads(old),
                                                                                  self.progress]],
                      details={"instance_id": self.instance_id, "element_id": self.element_id})
            uow.commit()

    def _with_uow(self, action: Callable[[Any], str]) -> str:
        with UnitOfWork(self.db, SCHEDULER) as uow:
            value = action(DbOperatorActions(uow, self.instance_id, self.element_id, self.settings,
                                             runtime=self.runtime))
            uow.commit()
            return value

    def start_linked_process(self, process_key: str, data: Mapping[str, Any], link: str) -> str:
        return self._with_uow(lambda a: a.start_linked_process(process_key, data, link))

    def raise_deviation(self, title: str, context: Mapping[str, Any], severity: str) -> str:
        return self._with_uow(lambda a: a.raise_deviation(title, context, severity))

    def record_exception(self, kind: str, message: str, details: Mapping[str, Any]) -> str:
        return self._with_uow(lambda a: a.record_exception(kind, message, details))


__all__ = ["Scheduler", "PollReport", "record_due_timers", "operator_scope", "JobContext", "DueTimerRows"]
