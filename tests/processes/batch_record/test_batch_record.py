"""The batch record from order to QP release on the simulated plant, through the service layer,
on SQLite and PostgreSQL, and every unhappy path of the process."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from bpmn.batch_record.review import review_items
from connectors.models import EquipmentReading
from engine.models import ProcessInstance
from masterdata import equipment_log
from tests.processes.batch_record import flow


@pytest.mark.req("URS-EBR-001", "URS-EBR-002", "URS-EBR-003", "URS-EBR-004", "URS-EBR-007", "A11-15", "CN-8", "P11-10f", "ALCOA-ORIGINAL")
def test_a_batch_runs_from_order_to_qp_release(plant):
    plant.calibrate("PT-102")  # the demo plant's overdue instrument of the dryer
    batch = plant.order("B-2026-0001")
    assert plant.status(batch) == "planned"
    assert plant.ready(batch) == ["sign_order"]
    flow.sign_order_and_clear_line(plant, batch)
    assert plant.status(batch) == "in_progress"
    flow.dispense(plant, batch)
    data = plant.data(batch)
    assert data["dispensing_check"] == {"rows": 4, "outside_tolerance": 1, "dispensed_kg": 99.96}
    with plant.db.session() as session:
        (exception,) = review_items(session, batch)
        readings = session.scalars(select(EquipmentReading).where(EquipmentReading.instance_id == str(batch))).all()
    assert exception.kind == "dispensing_tolerance" and "MAT-MGST" in exception.message
    assert {r.tag_name for r in readings} == {"SCALE-01.net_weight"} and len(readings) == 4
    assert [str(row["net"]) for row in data["dispensing"]] == ["50.100", "44.800", "4.010", "1.050"]

    flow.phase(plant, batch, "granulation", 150)
    data = plant.data(batch)
    assert data["granulation_setpoint"]["state"] == "confirmed"
    assert data["granulation_setpoint"]["readback"]["value"] == 150
    assert data["granulation_cpp"]["in_limits"] is True
    assert data["granulation_samples"]["rounds"] == 3
    with plant.db.session() as session:
        log = equipment_log.logbook(session, "GR-01")
        sampled = session.scalars(select(EquipmentReading).where(
            EquipmentReading.sampling_id == data["granulation_samples"]["sampling_id"])).all()
    assert [(e.status, e.instance_id) for e in log[-2:]] == [("in_use", batch), ("dirty", None)]
    assert len(sampled) == 3 and {r.tag_name for r in sampled} == {"FBD-01.ua.impeller_speed"}

    flow.phase(plant, batch, "drying", 60)
    assert plant.data(batch)["drying_cpp"]["in_limits"] is True
    with plant.db.session() as session:
        assert equipment_log.logbook(session, "FBD-01")[-2].instance_id == batch
    flow.finish_production(plant, batch)
    assert plant.data(batch)["yield_check"]["in_range"] is True
    assert plant.status(batch) == "completed"
    flow.qa_review(plant, batch, [exception.reference])
    assert plant.status(batch) == "qa_approved"
    plant.complete("peter", batch, "qp_decision", {"decision": "release", "decision_reason": "meets its specification"})
    plant.complete("peter", batch, "qp_release", meanings=("released",))
    assert plant.status(batch) == "released"
    with plant.db.session() as session:
        assert session.get(ProcessInstance, batch).status == "completed"
