"""The deviation process as shipped (bpmn/deviation_capa), end to end on both databases:
an exception raised from a batch arrives pre-filled and linked, QA triage classifies it
by the decision table, the batches concerned are on hold (the release gate refuses them),
the investigation, the CAPA plan reviewed and approved by signature, the actions in
parallel by their owners, the effectiveness check after its period, the signed closure;
then the release gate admits the batches."""
from __future__ import annotations

import pytest

from engine import links
from engine.business_keys import key_of
from engine.messages import DbOperatorActions
from engine.scheduler import Scheduler
from store.uow import UnitOfWork
from tests.processes.deviation_capa.conftest import ready, task_data

pytestmark = pytest.mark.req("URS-DEV-001", "URS-DEV-002", "URS-DEV-003", "A11-13", "P11-10f")

CONTEXT = {"source_kind": "cpp_excursion", "batch": "B-2026-0001", "step": "granulate", "tag": "GR-01.bowl_temp",
           "value": 72.4, "limit_low": 40, "limit_high": 70, "unit": "°C", "equipment": "GR-01",
           "impacted_batches": ["B-2026-0002"]}


def batch(plant, number: str) -> int:  # type: ignore[no-untyped-def]
    found = plant.start("gate_batch", business_key=number, title=f"Batch {number}")
    plant.complete(found, "make", "alice")
    return found


def raise_deviation(plant, source: int, context=None) -> int:  # type: ignore[no-untyped-def]
    with UnitOfWork(plant.db, plant["alice"].actor) as uow:
        started = DbOperatorActions(uow, source, "make", plant.settings).raise_deviation(
            "Bowl temperature above 70 °C", dict(context or CONTEXT), "major")
        uow.commit()
    return int(started)


TRIAGE = {"severity": "high", "occurrence": "rare", "detectability": "medium", "investigation_owner": "ivan",
          "investigation_due": "2026-01-12", "triage_note": "temperature excursion during granulation"}


def investigation(*batches: str) -> dict:  # type: ignore[type-arg]
    return {"why_1": "The bowl overheated", "why_2": "The jacket cooling valve stuck",
            "fishbone": {"machine": "valve V-12 sticks when cold"}, "root_cause": "Valve V-12 worn",
            "root_cause_category": "machine",
            "product_impact": [{"batch": b, "impact": "possible", "assessment": "dissolution to be tested"}
                               for b in batches]}


def test_an_exception_raised_from_a_batch_runs_to_closure_and_the_batches_are_released(dev_site):
    plant = dev_site
    one, two = batch(plant, "B-2026-0001"), batch(plant, "B-2026-0002")
    deviation = raise_deviation(plant, one)
    with plant.db.session() as session:
        assert key_of(session, deviation) == "DEV-2026-0001"
        seen = {(r.relation, r.business_key) for r in links.related(session, deviation)}
    assert seen == {("raised_from", "B-2026-0001"), ("affects", "B-2026-0002")}
    data = task_data(plant.db, deviation, "triage")
    assert data["deviation"]["context"]["tag"] == "GR-01.bowl_temp" and data["deviation"]["source_instance_id"] == one
    assert data["intake"]["reported"] is True and data["intake"]["unresolved"] == []
    assert ready(plant.db, deviation) == ["triage"]
    for held in (one, two):  # both batches are on hold: their release is refused
        assert plant.refusal(held, "release", "peter").code == "deviation_open"

    plant.complete(deviation, "triage", "quinn", TRIAGE, ("classified",))
    data = task_data(plant.db, deviation, "investigate")
    assert data["classification"] == "major" and data["due_at"] == "2026-01-12"
    assert plant.refusal(deviation, "investigate", "olga").code == "not_owner"  # an investigator, not the owner
    plant.complete(deviation, "investigate", "ivan", investigation("B-2026-0001", "B-2026-0002"), ("performed",))

    plan = {"actions": [
        {"kind": "corrective", "description": "Replace valve V-12", "owner": "ivan", "due": "2026-01-20",
         "starts": "none"},
        {"kind": "preventive", "description": "Add the valve to the preventive maintenance plan", "owner": "olga",
         "due": "2026-01-30", "starts": "none"}]}
    plant.complete(deviation, "capa_plan", "ivan", plan)
    plant.complete(deviation, "review_capa", "quinn", {"decision": "return", "review_comment": "add a check",
                                                        "effectiveness_days": 30})
    assert ready(plant.db, deviation) == ["capa_plan"]  # returned to the owner
    plant.complete(deviation, "capa_plan", "ivan", plan)
    plant.complete(deviation, "review_capa", "quinn", {"decision": "approve", "effectiveness_days": 30})
    plant.complete(deviation, "approve_capa", "rita", {}, ("approved",))

    assert ready(plant.db, deviation) == ["do_action", "do_action"]  # in parallel
    with plant.db.session() as session:
        from sqlalchemy import select

        from engine.models import InstanceTask

        rows = session.execute(select(InstanceTask.id, InstanceTask.body).where(
            InstanceTask.instance_id == deviation, InstanceTask.bpmn_id == "do_action",
            InstanceTask.state == 16)).all()
    import json

    owners = {json.loads(body)["data"]["action"]["owner"]: tid for tid, body in rows}
    assert set(owners) == {"ivan", "olga"}
    plant.complete(deviation, "do_action", "olga", {"result": {"evidence": "PM plan rev 7", "done_on": "2026-01-06"}},
                   ("performed",), task_id=owners["olga"])
    plant.complete(deviation, "do_action", "ivan", {"result": {"evidence": "WO-991", "done_on": "2026-01-06"}},
                   ("performed",), task_id=owners["ivan"])
    assert ready(plant.db, deviation) == []  # the effectiveness period runs
    plant.clock.advance(days=30)
    Scheduler(plant.db, plant.settings).run_once()
    assert ready(plant.db, deviation) == ["effectiveness"]
    plant.complete(deviation, "effectiveness", "quinn", {"effective": "yes", "effectiveness_evidence": "no repeat"},
                   ("reviewed",))
    assert plant.refusal(one, "release", "peter").code == "deviation_open"  # not closed yet
    plant.complete(deviation, "close", "quinn", {
        "dispositions": [{"batch": "B-2026-0001", "disposition": "release", "rationale": "dissolution passed"},
                         {"batch": "B-2026-0002", "disposition": "release", "rationale": "dissolution passed"}],
        "closure_summary": "valve replaced, PM extended"}, ("closed",))
    assert plant.status(deviation) == "completed"
    for held in (one, two):
        assert plant.refusal(held, "release", "peter") is None
