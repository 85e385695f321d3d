"""The sandbox on the engine core's path (a user completing a task, as a web request does):
clear errors naming the element, nothing saved, and a runaway script stopped at the limit."""
from __future__ import annotations

from typing import Any

import pytest

from engine import instances, tasks
from engine.scripting import ScriptSecurityError, ScriptTimeoutError
from store.uow import UnitOfWork
from tests.engine_runtime.conftest import actor, deploy_bundle
from tests.engine_runtime.support import render


def _deploy(db: Any, services: Any, script: str, settings: Any = None) -> int:
    files = {"confirm_then_script.bpmn": render("scheduled/confirm_then_script.bpmn", {"SCRIPT": script}).encode()}
    deploy_bundle(db, services, files, "confirm_then_script")
    with UnitOfWork(db, actor("alice")) as uow:
        instance_id = instances.start(uow, "confirm_then_script", settings=settings).id
        uow.commit()
    return instance_id


def _confirm(db: Any, services: Any, instance_id: int, settings: Any = None) -> None:
    with UnitOfWork(db, actor("alice")) as uow:
        view = next(t for t in tasks.inbox(uow, "alice", services=services) if t.instance_id == instance_id)
        tasks.complete_task(uow, view.id, {}, services=services, settings=settings)
        uow.commit()


def _ready(db: Any, instance_id: int) -> list[str]:
    with db.session() as s:
        return [t["bpmn_id"] for t in instances.inspect(s, instance_id)["tasks"] if t["state"] == "ready"]


@pytest.mark.req("URS-RUN-001", "P11-10g")
def test_hostile_script_is_refused_through_the_engine_and_changes_nothing(db: Any, services: Any) -> None:
    instance_id = _deploy(db, services, "result = open('/etc/passwd').read()")
    with pytest.raises(ScriptSecurityError, match=r"script task 'compute' \(Compute\) script, line 1: "
                                                  r"'open' is not available in BPMN scripts"):
        _confirm(db, services, instance_id)
    assert _ready(db, instance_id) == ["confirm"]  # rolled back: the user task is still to do


@pytest.mark.req("URS-RUN-002", "A11-7.1")
def test_runaway_script_stops_at_the_configured_limit_through_the_engine(db: Any, services: Any, settings: Any) -> None:
    from dataclasses import replace

    quick = replace(settings, script_timeout_seconds=1)
    instance_id = _deploy(db, services, "n = 0\nwhile True:\n    n += 1", quick)
    with pytest.raises(ScriptTimeoutError, match=r"script task 'compute' \(Compute\) script.*stopped after 1 s"):
        _confirm(db, services, instance_id, settings=quick)
    assert _ready(db, instance_id) == ["confirm"]
