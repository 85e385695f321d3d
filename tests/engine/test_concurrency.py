"""Concurrent completions on one instance never lose an update."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from engine import instances, persistence, tasks
from engine.errors import ConcurrentUpdate
from engine.models import ProcessInstance
from store.db import Database
from store.uow import UnitOfWork
from tests.conftest import make_database_url
from tests.engine.conftest import actor, deploy, sig

ROOT = Path(__file__).resolve().parents[2]
CLEAR = {"room": "G-101", "previous_product_removed": True, "line_clear": True}


def ready(db, iid):
    with db.session() as s:
        return {t["bpmn_id"]: t["id"] for t in instances.inspect(s, iid)["tasks"]
                if t["state"] == "ready" and t["manual"]}


def start_and_split(db, services):
    deploy(db, services)
    with UnitOfWork(db, actor("alice")) as uow:
        iid = instances.start(uow, "line_clearance").id
        uow.commit()
    with UnitOfWork(db, actor("alice")) as uow:
        tasks.complete_task(uow, ready(db, iid)["record_clearance"], CLEAR,
                            [sig("alice", "performed"), sig("bob", "verified")], services=services)
        uow.commit()
    return iid


@pytest.mark.req("URS-ENG-008", "ALCOA-COMPLETE")
def test_two_processes_complete_parallel_tasks_at_once_on_postgresql(request, tmp_path, services, pg_server):
    url = make_database_url("postgresql", request, tmp_path)
    db = Database(url)
    iid = start_and_split(db, services)
    ids = ready(db, iid)
    with db.session() as s:
        before = s.execute(select(ProcessInstance.lock_version)).scalar_one()
    go = tmp_path / "go"
    jobs = [("sam", ids["review_documents"], {"documents_complete": True}, "reviewed"),
            ("bob", ids["check_equipment"], {"equipment_id": "GRAN-01", "status": "clean"}, "-")]
    procs = [subprocess.Popen([sys.executable, "-m", "tests.engine.worker", url, task_id, user, json.dumps(data),
                               meaning, str(go)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for user, task_id, data, meaning in jobs]
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready"
    go.write_text("go")
    outputs = [proc.communicate(timeout=120) for proc in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err
        assert out.strip().startswith("ok running")
    persistence.CACHE.clear()
    assert list(ready(db, iid)) == ["qa_approval"]
    with db.session() as s:
        view = instances.inspect(s, iid)
        after = s.execute(select(ProcessInstance.lock_version)).scalar_one()
    done = {t["bpmn_id"] for t in view["tasks"] if t["state"] == "completed"}
    assert {"review_documents", "check_equipment", "join"} <= done
    assert after == before + 2
    db.dispose()


@pytest.mark.req("URS-ENG-008")
def test_saving_a_stale_copy_raises_concurrent_update(db, services, frozen_clock):
    iid = start_and_split(db, services)
    with db.session() as s:
        stale = s.execute(select(ProcessInstance).where(ProcessInstance.id == iid)).scalar_one()
        s.expunge(stale)
        s.rollback()
    wf = persistence.CACHE.take(str(db.url), iid, stale.lock_version)
    assert wf is not None
    with UnitOfWork(db, actor("sam")) as uow:
        tasks.complete_task(uow, ready(db, iid)["review_documents"], {"documents_complete": True},
                            [sig("sam", "reviewed")], services=services)
        uow.commit()
    with db.session() as s:
        with pytest.raises(ConcurrentUpdate, match=f"instance {iid} was changed by someone else meanwhile"):
            persistence.save(s, stale, wf)
        s.rollback()
