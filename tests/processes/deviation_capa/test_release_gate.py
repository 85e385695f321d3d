"""The release gate `deviations` (contract item 4): a batch-like record whose release task
names the gate is refused at claim and at completion while a deviation raised from it or
affecting it is open, and admitted once the deviation is closed, cancelled, or its link retracted."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from audit.models import AuditEntry
from engine import instances, links
from engine.errors import GateRefused
from engine.messages import DbOperatorActions
from store.uow import UnitOfWork
from tests.processes.deviation_capa.conftest import STUBS, bundle
from tests.web.conftest import app  # noqa: F401 - the fixture

pytestmark = pytest.mark.req("URS-DEV-004", "URS-EBR-007", "A11-13", "CN-8", "P11-10f")


@pytest.fixture
def plant(site):  # type: ignore[no-untyped-def]
    site.deploy(bundle(STUBS / "gate_batch"))
    site.deploy(bundle(STUBS / "stub_deviation"))
    return site


def batch_at_release(plant, number: str = "B-2026-0001") -> int:  # type: ignore[no-untyped-def]
    batch = plant.start("gate_batch", business_key=number, title=f"Batch {number}")
    plant.complete(batch, "make", "alice")
    return batch


def raise_from(plant, batch: int, title: str = "Granulation temperature above limit") -> int:  # type: ignore[no-untyped-def]
    """What a batch step's `raise_deviation` operator does: a deviation linked raised_from the batch."""
    with UnitOfWork(plant.db, plant["alice"].actor) as uow:
        started = DbOperatorActions(uow, batch, "make", plant.settings).raise_deviation(
            title, {"source_kind": "cpp_excursion", "batch": "B-2026-0001", "value": 72.4, "limit_high": 70}, "major")
        uow.commit()
    return int(started)


def test_an_open_deviation_raised_from_the_batch_refuses_its_release_at_claim_and_completion(plant):
    batch = batch_at_release(plant)
    assert plant.refusal(batch, "release", "peter") is None  # nothing open: admitted
    deviation = raise_from(plant, batch)
    found = plant.refusal(batch, "release", "peter")
    assert (found.gate, found.code) == ("deviations", "deviation_open")
    assert found.params["deviations"] == "DEV-2026-0001" and found.params["count"] == 1
    assert found.detail == ("'release' cannot be done while deviation DEV-2026-0001 concerning this record is open: "
                            "QA must close it first")
    with pytest.raises(GateRefused, match="DEV-2026-0001 concerning this record is open"):
        plant.claim(batch, "release", "peter")
    with pytest.raises(GateRefused, match="deviation DEV-2026-0001"):
        plant.complete(batch, "release", "peter")
    with plant.db.session() as session:
        refused = session.scalars(select(AuditEntry).where(AuditEntry.action.in_(
            ("task.claim_refused", "task.refused")))).all()
        assert [e.action for e in refused][-2:] == ["task.claim_refused", "task.refused"]
        assert all(e.actor_id == "peter" and "DEV-2026-0001" in e.reason for e in refused[-2:])
    assert plant.status(batch) == "running"  # nothing changed

    plant.complete(deviation, "close", "quinn")  # the deviation is closed
    assert plant.status(deviation) == "completed"
    assert plant.refusal(batch, "release", "peter") is None
    plant.complete(batch, "release", "peter")
    assert plant.status(batch) == "completed"


def test_a_deviation_affecting_the_batch_holds_it_and_a_retracted_link_releases_it(plant):
    batch = batch_at_release(plant)
    other = batch_at_release(plant, "B-2026-0002")
    deviation = raise_from(plant, other)
    assert plant.refusal(batch, "release", "peter") is None  # raised from another batch: not this one's
    with UnitOfWork(plant.db, plant["quinn"].actor) as uow:
        made = links.link(uow, deviation, "affects", batch, reason="same granulator campaign")
        uow.commit()
    found = plant.refusal(batch, "release", "peter")
    assert found.code == "deviation_open" and found.params["deviations"] == "DEV-2026-0001"
    with UnitOfWork(plant.db, plant["quinn"].actor) as uow:
        links.retract(uow, made.id, "linked to the wrong batch")
        uow.commit()
    assert plant.refusal(batch, "release", "peter") is None
    assert plant.refusal(other, "release", "peter").code == "deviation_open"


def test_every_open_deviation_is_named_and_a_cancelled_one_no_longer_holds(plant):
    batch = batch_at_release(plant)
    first = raise_from(plant, batch)
    raise_from(plant, batch, "Yield below limit")
    found = plant.refusal(batch, "release", "peter")
    assert found.params["deviations"] == "DEV-2026-0001, DEV-2026-0002" and found.params["count"] == 2
    with UnitOfWork(plant.db, plant["quinn"].actor) as uow:
        instances.cancel(uow, first, reason="raised twice for the same event")
        uow.commit()
    assert plant.refusal(batch, "release", "peter").params["deviations"] == "DEV-2026-0002"


def test_the_library_runtime_carries_the_gate_and_its_wording_in_both_languages(app):  # noqa: F811
    from bpmn.glue import install
    from engine.errors import GateRefused as Refused
    from web.wording import refusal_text

    runtime = install()
    assert "deviations" in runtime.gates.names()
    error = Refused("x", gate="deviations", code="deviation_open",
                    template=runtime.gates.get("deviations").codes["deviation_open"],
                    params={"task": "release", "deviations": "DEV-2026-0001", "count": 1})
    with app.test_request_context("/"):
        assert refusal_text(error, user_id="peter") == (
            "This record cannot be released while deviation DEV-2026-0001 is open. QA closes the deviation first; "
            "the batch is then released or rejected.")
    with app.test_request_context("/"):
        from flask import session

        session["lang"] = "zh"
        assert refusal_text(error, user_id="peter") == \
            "偏差 DEV-2026-0001 尚未关闭，本记录不能放行。须由 QA 先关闭该偏差，之后批次方可放行或拒收。"
