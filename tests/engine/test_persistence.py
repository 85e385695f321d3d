"""Persistence: a step writes only what it changed; a cold load equals the warm workflow."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core import clock
from engine import instances, persistence, tasks
from engine.definitions import version_spec
from engine.models import InstanceTask, ProcessDefinitionVersion, ProcessInstance
from engine.spiff.script_engine import is_restricted
from store.uow import UnitOfWork
from tests.engine.conftest import actor, chain_bpmn, deploy


@pytest.mark.req("URS-ENG-008")
def test_a_step_rewrites_a_bounded_number_of_rows(db, services, frozen_clock):
    deploy(db, services, files={"chain.bpmn": chain_bpmn(200)})
    with UnitOfWork(db, actor("alice")) as uow:
        iid = instances.start(uow, "chain").id
        uow.commit()
    for step in range(3):
        frozen_clock.advance(minutes=1)
        with UnitOfWork(db, actor("alice")) as uow:
            task_id = tasks.inbox(uow, services=services)[0].id
            tasks.complete_task(uow, task_id, {}, [], services=services)
            uow.commit()
        if step == 1:
            persistence.CACHE.clear()  # a cold load in between changes nothing about what is written
        now = clock.isoformat(clock.now())
        with db.session() as s:
            written = s.execute(select(func.count()).select_from(InstanceTask)
                                .where(InstanceTask.updated_at == now)).scalar_one()
        assert written <= 4, written
    with db.session() as s:
        assert [t["bpmn_id"] for t in instances.inspect(s, iid)["tasks"] if t["state"] == "ready"] == ["t3"]


@pytest.mark.req("URS-ENG-008", "A11-7.1")
def test_cold_load_reproduces_the_warm_workflow(db, services, frozen_clock, runtime):
    deploy(db, services, files={"chain.bpmn": chain_bpmn(5)})
    with UnitOfWork(db, actor("alice")) as uow:
        iid = instances.start(uow, "chain", data={"batch": "B-7"}).id
        uow.commit()
    with UnitOfWork(db, actor("alice")) as uow:
        tasks.complete_task(uow, tasks.inbox(uow, services=services)[0].id, {}, [], services=services)
        uow.commit()
    with db.session() as s:
        inst = s.get(ProcessInstance, iid)
        warm = persistence.CACHE.take(str(db.url), iid, inst.lock_version)
        version = s.get(ProcessDefinitionVersion, inst.version_id)
        spec, subs = version_spec(version)
        cold = persistence.load(s, inst, spec, subs)
    assert warm is not None
    for attr in ("id", "_state", "data", "_children", "_parent", "internal_data"):
        assert {str(t.id): getattr(t, attr) for t in warm.tasks.values()} == \
               {str(t.id): getattr(t, attr) for t in cold.tasks.values()}
    assert [t.id for t in warm.active_tasks()] == [t.id for t in cold.active_tasks()]
    with UnitOfWork(db, actor("alice")) as uow:  # opened for a step, a loaded workflow runs restricted
        opened = instances.open_instance(uow, iid)
        assert is_restricted(opened.workflow) and opened.workflow.script_engine.service_caller is runtime.caller
    assert cold.get_tasks(state=16)[0].data["batch"] == "B-7"


@pytest.mark.req("URS-ENG-008", "URS-FRM-010", "A11-7.1")
def test_exact_decimals_and_dates_in_task_data_survive_a_cold_load(db, services, frozen_clock):
    import json
    from datetime import date, datetime, timezone
    from decimal import Decimal

    data = {"net": Decimal("10.10"), "tiny": Decimal("0.0000001"), "rows": [{"w": Decimal("-2.5")}],
            "expiry": date(2027, 1, 31), "at": datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc), "n": 3, "f": 0.5}
    deploy(db, services, files={"chain.bpmn": chain_bpmn(2)})
    with UnitOfWork(db, actor("alice")) as uow:
        iid = instances.start(uow, "chain", data=data).id
        uow.commit()
    persistence.CACHE.clear()
    with UnitOfWork(db, actor("alice")) as uow:
        tasks.complete_task(uow, tasks.inbox(uow, services=services)[0].id, {}, [], services=services)
        uow.commit()
    with db.session() as s:
        inst = s.get(ProcessInstance, iid)
        body = s.execute(select(InstanceTask.body).where(InstanceTask.instance_id == iid, InstanceTask.bpmn_id == "t1")
                         ).scalar_one()
        spec, subs = version_spec(s.get(ProcessDefinitionVersion, inst.version_id))
        cold = persistence.load(s, inst, spec, subs)
    stored = json.loads(body)["data"]
    assert stored["net"] == {"typename": "Decimal", "value": "10.10"}
    assert stored["expiry"] == {"typename": "date", "value": "2027-01-31"}
    loaded = cold.get_tasks(state=16)[0].data
    for key, value in data.items():
        assert loaded[key] == value and type(loaded[key]) is type(value), key
    assert str(loaded["net"]) == "10.10" and type(loaded["rows"][0]["w"]) is Decimal


@pytest.mark.req("URS-ENG-008")
def test_a_rebuild_pauses_the_collector_and_always_resumes_it():
    import gc

    seen = []
    assert gc.isenabled()
    assert persistence._without_collections(lambda x: seen.append(gc.isenabled()) or x * 2, 21) == 42
    assert seen == [False] and gc.isenabled()

    def broken() -> None:
        raise ValueError("a stored task the rebuild cannot read")

    with pytest.raises(ValueError):
        persistence._without_collections(broken)
    assert gc.isenabled()  # resumed after a failed rebuild too
    gc.disable()
    try:  # a collector someone else paused stays paused
        persistence._without_collections(lambda: None)
        assert not gc.isenabled()
    finally:
        gc.enable()
