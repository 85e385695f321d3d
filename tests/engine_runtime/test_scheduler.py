"""The scheduler fires due timers and runs long operators against the database; two never double-fire."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from audit.models import AuditEntry
from engine import instances, tasks
from engine.models import ProcessInstance
from engine.operators import OperatorFailed, Param
from engine.runtime_models import DueTimer, OperatorJob, RoutedMessage
from engine.scheduler import Scheduler
from store.uow import UnitOfWork
from tests.conftest import TEST_PASSPHRASE, TEST_SECRET
from tests.engine_runtime.conftest import SCHEDULED, actor, deploy_file

ROOT = Path(__file__).resolve().parents[2]
REQ = pytest.mark.req("URS-RUN-007", "P11-10f")


def _sample_temperature(context: Any, count: int) -> list[float]:
    taken: list[float] = []
    for n in range(count):
        taken.append(20.0 + n / 2)
        context.save_progress({"taken": list(taken)})
    return taken


@pytest.fixture(autouse=True)
def _test_operators(runtime: Any) -> None:
    """This module's operators, in the test's own runtime."""
    runtime.operators.register("test.sample_temperature", _sample_temperature, [Param("count", "int")],
                               long_running=True, description="test operator: takes `count` temperature samples")
    runtime.operators.register("test.failing_probe", _failing_probe, [Param("count", "int")], long_running=True)


def _start(db: Any, key: str, data: dict[str, Any] | None = None, user: str = "alice") -> int:
    with UnitOfWork(db, actor(user)) as uow:
        instance = instances.start(uow, key, data=data)
        uow.commit()
        return instance.id


def _status(db: Any, instance_id: int) -> str:
    with db.session() as s:
        return s.get(ProcessInstance, instance_id).status


def _actions(db: Any, action: str) -> list[AuditEntry]:
    with db.session() as s:
        return list(s.execute(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)).scalars())


@REQ
def test_due_timer_fires_once_on_the_product_clock(db: Any, services: Any, frozen_clock: Any) -> None:
    deploy_file(db, services, "hold_release.bpmn")
    instance_id = _start(db, "hold_release")
    scheduler = Scheduler(db, name="s-test")
    report = scheduler.run_once()
    assert (report.discovered_timers, report.fired) == (1, 0)
    frozen_clock.advance(minutes=9, seconds=59)
    assert scheduler.run_once().fired == 0
    frozen_clock.advance(seconds=1)
    report = scheduler.run_once()
    assert report.fired == 1 and _status(db, instance_id) == "completed"
    assert scheduler.run_once().fired == 0
    with db.session() as s:
        (row,) = s.execute(select(DueTimer)).scalars()
    assert (row.element_id, row.state, row.due_at, row.fired_at, row.fired_by) == (
        "hold", "fired", "2026-01-05T08:10:00.000000Z", "2026-01-05T08:10:00.000000Z", "s-test")
    (fired,) = _actions(db, "timer.fired")
    assert fired.actor_id == "system:scheduler"
    assert json.loads(fired.details)["element_id"] == "hold"
    with db.session() as s:
        data = instances.inspect(s, instance_id)["data"]
    assert data["released_at"] == "2026-01-05T08:10:00+00:00"


@REQ
def test_boundary_timer_interrupts_a_task_left_undone(db: Any, services: Any, frozen_clock: Any) -> None:
    deploy_file(db, services, "weigh_deadline.bpmn")
    instance_id = _start(db, "weigh_deadline")
    scheduler = Scheduler(db)
    scheduler.run_once()
    frozen_clock.advance(minutes=30)
    assert scheduler.run_once().fired == 1
    with db.session() as s:
        states = {t["bpmn_id"]: t["state"] for t in instances.inspect(s, instance_id)["tasks"]}
    assert states["weigh"] == "cancelled" and states["end_overdue"] == "completed"


@REQ
def test_timer_of_a_completed_task_is_cancelled_not_fired(db: Any, services: Any, frozen_clock: Any) -> None:
    deploy_file(db, services, "weigh_deadline.bpmn")
    instance_id = _start(db, "weigh_deadline")
    scheduler = Scheduler(db)
    scheduler.run_once()
    with UnitOfWork(db, actor("alice")) as uow:
        view = [t for t in tasks.inbox(uow, "alice", services=services) if t.instance_id == instance_id][0]
        tasks.complete_task(uow, view.id, {}, services=services)
        uow.commit()
    (cancelled,) = _actions(db, "timer.cancelled")  # in the completion's own transaction
    assert (cancelled.reason, cancelled.actor_id) == ("'weigh' (Weigh) was completed", "alice")
    assert json.loads(cancelled.details)["element_id"] == "overdue"
    frozen_clock.advance(minutes=31)
    report = scheduler.run_once()
    assert (report.fired, report.void) == (0, 0)
    assert _status(db, instance_id) == "completed"
    assert _actions(db, "timer.voided") == [] and len(_actions(db, "timer.cancelled")) == 1


@REQ
def test_a_timer_whose_step_fails_is_recorded_as_failed(db: Any, services: Any, frozen_clock: Any) -> None:
    broken = (SCHEDULED / "hold_release.bpmn").read_text().replace("released_at = now().isoformat()",
                                                                    "released_at = 1 / 0")
    from tests.engine.conftest import deploy

    deploy(db, services, files={"hold_release.bpmn": broken.encode()})
    instance_id = _start(db, "hold_release")
    scheduler = Scheduler(db)
    scheduler.run_once()
    frozen_clock.advance(minutes=10)
    report = scheduler.run_once()
    assert (report.fired, report.failed) == (0, 1)
    assert _status(db, instance_id) == "running"  # the step rolled back: nothing half-done
    (failed,) = _actions(db, "timer.failed")
    assert "ZeroDivisionError: division by zero" in failed.reason and "note_release" in failed.reason
    assert scheduler.run_once().failed == 0  # recorded once, not retried in a loop


@REQ
def test_long_operator_runs_in_the_scheduler_and_persists_progress(db: Any, services: Any, frozen_clock: Any) -> None:
    deploy_file(db, services, "sample_temperature.bpmn")
    instance_id = _start(db, "sample_drying", {"count": 3})
    assert _status(db, instance_id) == "running"
    report = Scheduler(db, name="worker-1").run_once()
    assert (report.discovered_jobs, report.operations) == (1, 1)
    assert _status(db, instance_id) == "completed"
    with db.session() as s:
        (job,) = s.execute(select(OperatorJob)).scalars()
        data = instances.inspect(s, instance_id)["data"]
    assert (job.state, job.claimed_by, json.loads(job.progress_json)) == ("done", "worker-1", {"taken": [20.0, 20.5, 21.0]})
    assert data["samples"] == [20.0, 20.5, 21.0]
    progress = [json.loads(e.changes)[0][2] for e in _actions(db, "operator.progress")]
    assert progress == [{"taken": [20.0]}, {"taken": [20.0, 20.5]}, {"taken": [20.0, 20.5, 21.0]}]
    assert [e.action for e in _actions(db, "operator.started") + _actions(db, "operator.completed")] == [
        "operator.started", "operator.completed"]


@REQ
def test_two_scheduler_processes_never_fire_the_same_timer_twice(db: Any, settings: Any, services: Any) -> None:
    deploy_file(db, services, "hold_release.bpmn")
    ids = [_start(db, "hold_release") for _ in range(16)]
    env = dict(os.environ, GMP_DATABASE_URL=settings.database_url, GMP_INSTANCE_PATH=settings.instance_path,
               GMP_SECRET_KEY=TEST_SECRET, GMP_SERVER_KEY_PASSPHRASE=TEST_PASSPHRASE,
               GMP_CLOCK_OFFSET_SECONDS="900")
    children = [subprocess.Popen([sys.executable, "-m", "cli", "scheduler", "--once", "--name", name], cwd=ROOT,
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for name in ("s1", "s2")]
    outputs = [child.communicate(timeout=120) for child in children]
    for child, (out, err) in zip(children, outputs):
        assert child.returncode == 0, err
    reports = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert sum(r["fired"] for r in reports) == 16 and sum(r["failed"] for r in reports) == 0
    with db.session() as s:
        rows = list(s.execute(select(DueTimer)).scalars())
        fired_audits = s.execute(select(func.count()).select_from(AuditEntry)
                                 .where(AuditEntry.action == "timer.fired")).scalar_one()
    assert len(rows) == 16 and {r.state for r in rows} == {"fired"} and fired_audits == 16
    assert {r.fired_by for r in rows} <= {"s1", "s2"}
    assert all(_status(db, i) == "completed" for i in ids)


def _failing_probe(context: Any, count: int) -> None:
    context.save_progress({"attempt": 1})
    raise OperatorFailed("probe_offline", "the temperature probe does not answer", {"probe": "TT-101"})




@REQ
def test_long_operator_failure_without_a_catching_boundary_is_recorded(db: Any, services: Any, frozen_clock: Any) -> None:
    failing = (SCHEDULED / "sample_temperature.bpmn").read_text().replace("test.sample_temperature", "test.failing_probe")
    from tests.engine.conftest import deploy

    deploy(db, services, files={"sample_temperature.bpmn": failing.encode()})
    instance_id = _start(db, "sample_drying", {"count": 1})
    report = Scheduler(db).run_once()
    assert report.operations == 1 and _status(db, instance_id) == "running"
    with db.session() as s:
        (job,) = s.execute(select(OperatorJob)).scalars()
    assert job.state == "failed" and json.loads(job.progress_json) == {"attempt": 1}
    assert "'sample' (Sample temperature): operator 'test.failing_probe' failed with error code 'probe_offline'" in job.error
    (failed,) = _actions(db, "operator.failed")
    assert "no error boundary event catches it" in failed.reason
    assert Scheduler(db).run_once().operations == 0  # a failed job is not retried in a loop


def test_short_operator_cannot_keep_progress() -> None:
    from engine.messages import DbOperatorActions
    from engine.operators import OperatorError

    with pytest.raises(OperatorError, match="saved progress but is not declared long_running"):
        DbOperatorActions(None, 1, "sample").save_progress({"n": 1})


@pytest.mark.req("URS-RUN-008", "P11-10f")
def test_signal_reaches_every_waiting_instance(db: Any, services: Any, frozen_clock: Any) -> None:
    deploy_file(db, services, "line_watch.bpmn")
    deploy_file(db, services, "line_stop.bpmn")
    watchers = [_start(db, "line_watch") for _ in range(2)]
    sender = _start(db, "line_stop")
    assert _status(db, sender) == "completed"  # it threw the signal and ended
    report = Scheduler(db).run_once()
    assert report.routed == 0  # routed as the sender was saved, in its own unit of work
    assert [_status(db, w) for w in watchers] == ["completed", "completed"]
    with db.session() as s:
        routed = sorted((m.kind, m.outcome, m.to_instance_id) for m in s.execute(select(RoutedMessage)).scalars())
    assert routed == [("signal", "delivered", watchers[0]), ("signal", "delivered", watchers[1])]
    assert Scheduler(db).run_once().routed == 0  # routed once


@pytest.mark.req("URS-RUN-008")
def test_an_event_nobody_waits_for_is_recorded_undelivered(db: Any, services: Any, frozen_clock: Any) -> None:
    deploy_file(db, services, "line_stop.bpmn")
    sender = _start(db, "line_stop")
    assert Scheduler(db).run_once().routed == 0  # routed (undelivered) as the sender was saved
    with db.session() as s:
        (message,) = s.execute(select(RoutedMessage)).scalars()
    assert (message.name, message.outcome, message.from_instance_id, message.to_instance_id) == (
        "line_stop", "undelivered", sender, None)
    assert [e.action for e in _actions(db, "signal.undelivered")] == ["signal.undelivered"]


@pytest.mark.req("URS-RUN-006", "A11-13")
def test_builtin_operators_record_the_exception_and_open_a_linked_deviation(db: Any, services: Any,
                                                                             frozen_clock: Any) -> None:
    from engine.links import links_of, related
    from engine.messages import exceptions_of

    deploy_file(db, services, "deviation_simple.bpmn")
    deploy_file(db, services, "dispense_check.bpmn")
    batch = _start(db, "dispense_check", {"batch_number": "B-7", "weight": 11.2})
    # Both short operators run within the start, in its unit of work: nothing for the scheduler.
    assert _status(db, batch) == "completed"
    assert Scheduler(db).run_once().operations == 0
    with db.session() as s:
        (exception,) = exceptions_of(s, batch)
        (link,) = links_of(s, batch)
        deviation = instances.inspect(s, link.source_id)
        data = instances.inspect(s, batch)["data"]
        (open_deviation,) = related(s, batch, relation="raised", process="deviation", status="running")
    assert (exception["kind"], exception["element_id"], exception["details"]) == (
        "out_of_limit", "note_exception", {"tag": "WS-01.net", "value": 11.2})
    assert exception["message"] == "net weight 11.2 kg outside 9.5-10.5 kg"
    assert (link.kind, link.target_id, link.element_id) == ("raised_from", batch, "open_deviation")
    assert deviation["process"] == "deviation" and deviation["status"] == "running"
    assert open_deviation.instance_id == link.source_id
    (started,) = [e for e in _actions(db, "instance.started") if e.object_id == str(link.source_id)]
    assert json.loads(started.details)["data"]["deviation"] == {
        "title": "Weight out of tolerance", "severity": "major", "source_instance_id": batch,
        "source_element_id": "open_deviation",
        "context": {"batch": "B-7", "step": "dispensing", "tag": "WS-01.net", "value": 11.2, "limit": "9.5-10.5"}}
    assert data["deviation"]["deviation_id"] == str(link.source_id)
    assert [e.action for e in _actions(db, "deviation.raised")] == ["deviation.raised"]
    assert [e.action for e in _actions(db, "instance.exception_recorded")] == ["instance.exception_recorded"]


def test_run_forever_polls_until_stopped(db: Any) -> None:
    import threading

    stop = threading.Event()
    reports = []

    def on_report(report: Any) -> None:
        reports.append(report.as_dict())
        if len(reports) == 2:
            stop.set()

    Scheduler(db).run_forever(0.01, stop, on_report=on_report)
    assert len(reports) == 2 and reports[0]["fired"] == 0


def test_scheduler_command_refuses_a_bad_configuration(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from engine.scheduler_cli import scheduler

    result = CliRunner().invoke(scheduler, ["--once"], env={"GMP_INSTANCE_PATH": str(tmp_path),
                                                            "GMP_SCRIPT_TIMEOUT_SECONDS": "soon"})
    assert result.exit_code == 1
    assert "invalid value 'soon' for GMP_SCRIPT_TIMEOUT_SECONDS" in result.output


def test_record_due_timers_at_save_time(db: Any, services: Any, frozen_clock: Any) -> None:
    from engine.scheduler import record_due_timers

    deploy_file(db, services, "hold_release.bpmn")
    instance_id = _start(db, "hold_release")
    with UnitOfWork(db, actor("alice")) as uow:
        opened = instances.open_instance(uow, instance_id)
        assert record_due_timers(uow.session, db, instance_id, opened.workflow) == 1
        assert record_due_timers(uow.session, db, instance_id, opened.workflow) == 1  # idempotent
        uow.commit()
    with db.session() as s:
        (row,) = s.execute(select(DueTimer)).scalars()
    assert (row.instance_id, row.element_id, row.due_at, row.state) == (
        instance_id, "hold", "2026-01-05T08:10:00.000000Z", "waiting")
    assert Scheduler(db).run_once().discovered_timers == 1  # discovery finds the same row, adds none
    with db.session() as s:
        assert s.execute(select(func.count()).select_from(DueTimer)).scalar_one() == 1
