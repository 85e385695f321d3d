"""Tasks inside an embedded subprocess persist and reload; a failing step changes nothing."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from audit.models import AuditEntry
from engine import instances, persistence, tasks
from engine.errors import EngineError
from engine.models import InstanceTask, ProcessInstance
from store.uow import UnitOfWork
from tests.engine.conftest import actor, deploy


def ready(db, iid):
    with db.session() as s:
        return {t["bpmn_id"]: t["id"] for t in instances.inspect(s, iid)["tasks"]
                if t["state"] == "ready" and t["manual"]}


@pytest.mark.req("URS-ENG-008")
def test_subprocess_task_survives_restart_and_a_failing_gateway_changes_nothing(db, services, frozen_clock):
    deploy(db, services, "sub_gateway")
    with UnitOfWork(db, actor("alice")) as uow:
        iid = instances.start(uow, "sub_gateway").id
        uow.commit()
    persistence.CACHE.clear()
    assert list(ready(db, iid)) == ["enter_weight"]
    with db.session() as s:
        keys = set(s.execute(select(InstanceTask.workflow_key).where(InstanceTask.bpmn_id == "enter_weight")).scalars())
    assert keys and "" not in keys  # stored under its subprocess

    task_id = ready(db, iid)["enter_weight"]
    with db.session() as s:
        before = (s.execute(select(ProcessInstance.lock_version)).scalar_one(),
                  s.execute(select(func.count()).select_from(AuditEntry)).scalar_one())
    with pytest.raises(EngineError, match="unknown_name|route"):
        with UnitOfWork(db, actor("alice")) as uow:
            tasks.complete_task(uow, task_id, {"weight_kg": 8.0}, [], services=services)
            uow.commit()
    with db.session() as s:
        after = (s.execute(select(ProcessInstance.lock_version)).scalar_one(),
                 s.execute(select(func.count()).select_from(AuditEntry)).scalar_one())
    assert after == before
    assert list(ready(db, iid)) == ["enter_weight"]

    with UnitOfWork(db, actor("alice")) as uow:
        tasks.complete_task(uow, task_id, {"weight_kg": 10.1}, [], services=services)
        uow.commit()
    persistence.CACHE.clear()
    assert list(ready(db, iid)) == ["after"]
    with UnitOfWork(db, actor("alice")) as uow:
        assert tasks.complete_task(uow, ready(db, iid)["after"], {}, [], services=services).instance_status == \
            "completed"
        uow.commit()
