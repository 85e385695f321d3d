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
        value, exception = review_items(session, batch)
        readings = session.scalars(select(EquipmentReading).where(EquipmentReading.instance_id == str(batch))).all()
    assert exception.kind == "dispensing_tolerance" and "MAT-MGST" in exception.message
    assert exception.reference.startswith("E:")
    assert value.kind == "value_out_of_limits" and value.reference.endswith(":dispensing.3.net")
    assert value.message == "container residue; QA to assess"
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
    items = plant.data(batch)["review"]["items"]  # the QA review's rows come preset with what QA assesses
    assert [(i["reference"], i["kind"]) for i in items] == [(value.reference, "value_out_of_limits"),
                                                            (exception.reference, "dispensing_tolerance")]
    assert "MAT-MGST" in items[1]["what"]
    flow.qa_review(plant, batch, [value.reference, exception.reference])
    assert plant.status(batch) == "qa_approved"
    assessed = plant.data(batch)["assessments"]
    assert [(a["exception_ref"], a["kind"]) for a in assessed] == [(i["reference"], i["kind"]) for i in items]
    plant.complete("peter", batch, "qp_decision", {"decision": "release", "decision_reason": "meets its specification"})
    plant.complete("peter", batch, "qp_release", meanings=("released",))
    assert plant.status(batch) == "released"
    with plant.db.session() as session:
        assert session.get(ProcessInstance, batch).status == "completed"


def refusal(plant, user, batch, bpmn_id):  # type: ignore[no-untyped-def]
    from engine.errors import EngineError

    with pytest.raises(EngineError) as caught:
        plant.claim(user, plant.task_id(batch, bpmn_id))
    return caught.value


@pytest.mark.req("URS-GATE-001", "URS-GATE-002", "URS-EBR-004", "P11-10i", "CN-6")
def test_an_untrained_operator_is_refused_at_claim_and_an_overdue_instrument_blocks_the_phase(plant):
    batch = plant.order("B-2026-0002")
    flow.sign_order_and_clear_line(plant, batch)
    refused = refusal(plant, "victor", batch, "dispense")  # his SOP-DSP-001 qualification expired yesterday
    assert (refused.gate, refused.code) == ("training", "expired") and "SOP-DSP-001" in str(refused)
    flow.dispense(plant, batch)
    refused = refusal(plant, "lin", batch, "set_granulation")  # she holds SOP-PRD-012 v3; v4 is in force
    assert (refused.gate, refused.code) == ("training", "old_version")
    flow.phase(plant, batch, "granulation", 150)
    refused = refusal(plant, "alice", batch, "set_drying")  # PT-102 of FBD-01 is overdue
    assert (refused.gate, refused.code) == ("equipment", "instrument_overdue") and "PT-102" in str(refused)
    from engine.errors import EngineError

    with pytest.raises(EngineError, match="PT-102"):
        flow.phase(plant, batch, "drying", 60)
    plant.calibrate("PT-102")
    flow.phase(plant, batch, "drying", 60)
    assert plant.data(batch)["drying_cpp"]["in_limits"] is True


@pytest.mark.req("URS-EBR-003", "URS-GATE-003", "P11-10h", "CN-3")
@pytest.mark.parametrize("lot, code", [("L-LAC-2511", "lot_expired"), ("L-MCC-2602", "lot_quarantined"),
                                       ("L-LAC-2602", "supplier_not_approved"), ("L-PVP-2601", "lot_wrong_material")])
def test_a_lot_expired_quarantined_from_an_unapproved_supplier_or_of_another_material_is_refused(plant, lot, code):
    from engine.errors import EngineError

    batch = plant.order("B-2026-0003")
    flow.sign_order_and_clear_line(plant, batch)
    with pytest.raises(EngineError) as caught:
        flow.dispense(plant, batch, lots={"MAT-LAC": lot})
    assert caught.value.code == code and lot in str(caught.value)
    assert plant.ready(batch) == ["dispense"]
    with plant.db.session() as session:
        assert review_items(session, batch) == []  # nothing recorded by the refused attempt
    flow.dispense(plant, batch)  # the right lot passes
    assert plant.ready(batch) == ["set_granulation"]


@pytest.mark.req("URS-EBR-002", "URS-EBR-003", "A11-6", "CN-3", "P11-10g")
def test_the_verifier_cannot_be_the_operator(plant):
    from engine.errors import EngineError

    batch = plant.order("B-2026-0004")
    plant.complete("sam", batch, "sign_order", {"planned_date": "2026-12-04"}, meanings=("approved",))
    clearance = {"room": "Dispensary 001", "previous_product_removed": True, "previous_documents_removed": True,
                 "equipment_clean": True, "area_clean": True}
    plant.grant("victor", "SOP-CLN-004", 3)
    plant.complete("victor", batch, "line_clearance", clearance, meanings=("performed",))
    refused = refusal(plant, "victor", batch, "verify_clearance")  # he cleared the line himself
    assert refused.gate == "four_eyes_previous"
    with pytest.raises(EngineError, match="role 'verifier'"):  # the operator is no verifier
        plant.complete("alice", batch, "verify_clearance", {"line_clear": True}, meanings=("verified",))
    assert plant.ready(batch) == ["verify_clearance"]


@pytest.mark.req("URS-EBR-003", "A11-6", "CN-3", "P11-10g")
def test_the_dispensing_verifier_cannot_be_the_operator(plant):
    from engine.errors import EngineError

    batch = plant.order("B-2026-0008")
    flow.sign_order_and_clear_line(plant, batch)
    rows, captured, comments = flow.dispensing_rows(plant, batch)
    with pytest.raises(EngineError) as caught:
        plant.complete("alice", batch, "dispense", {"dispensing": rows}, meanings=("performed",),
                       verifier=("alice", "verified"), captured=captured, exceptions=comments)
    assert getattr(caught.value, "gate", None) == "four_eyes" or "second person" in str(caught.value)
    assert plant.ready(batch) == ["dispense"]
    plant.complete("alice", batch, "dispense", {"dispensing": rows}, meanings=("performed",),
                   verifier=("victor", "verified"), captured=captured, exceptions=comments)
    assert plant.ready(batch) == ["set_granulation"]


@pytest.mark.req("URS-EBR-007", "A11-15", "CN-8", "P11-10g")
def test_anyone_but_a_qp_is_refused_at_release(plant):
    from engine.errors import EngineError

    plant.calibrate("PT-102")
    batch = plant.order("B-2026-0005")
    flow.run_to_qa_approval(plant, batch)
    for user in ("quinn", "sam", "alice"):
        with pytest.raises(EngineError, match="role 'qp'"):
            plant.claim(user, plant.task_id(batch, "qp_decision"))
        with pytest.raises(EngineError):
            plant.complete(user, batch, "qp_decision", {"decision": "release", "decision_reason": "fine"})
    assert plant.status(batch) == "qa_approved"
    plant.complete("peter", batch, "qp_decision", {"decision": "reject", "decision_reason": "customer complaint"})
    plant.complete("peter", batch, "qp_reject", meanings=("rejected",))
    assert plant.status(batch) == "rejected"


@pytest.mark.req("URS-EBR-004", "URS-EBR-006", "URS-EBR-007", "URS-DEV-004", "A11-8", "P11-10f")
def test_a_cpp_excursion_raises_a_deviation_and_blocks_release_until_it_is_closed(plant):
    from engine.errors import EngineError

    plant.calibrate("PT-102")
    batch = plant.order("B-2026-0006")
    flow.sign_order_and_clear_line(plant, batch)
    flow.dispense(plant, batch)
    flow.phase(plant, batch, "granulation", 150)
    plant.sim.force("dryer.inlet_temp", 68.5)  # the inlet air runs hot during drying
    try:
        flow.phase(plant, batch, "drying", 60)
    finally:
        plant.sim.release("dryer.inlet_temp")
    data = plant.data(batch)
    cpp = data["drying_cpp"]
    assert cpp["in_limits"] is False
    context = cpp["context"]
    assert (context["source_kind"], context["batch"], context["step"], context["tag"], context["value"],
            context["limit_low"], context["limit_high"]) == (
        "cpp_excursion", "B-2026-0006", "drying", "FBD-01.inlet_temp", 68.5, 55.0, 65.0)
    assert plant.status(batch) == "on_hold"
    with plant.db.session() as session:
        items = review_items(session, batch)
    kinds = [item.kind for item in items]
    assert kinds == ["value_out_of_limits", "dispensing_tolerance", "cpp_excursion", "deviation"]
    deviation = items[-1]
    assert deviation.open and deviation.reference.startswith("DEV-")
    dev_data = plant.data(deviation.instance_id)["deviation"]
    assert dev_data["context"]["sampling_id"] == data["drying_samples"]["sampling_id"]
    assert dev_data["source_instance_id"] == batch and dev_data["source_element_id"] == "drying_cpp_deviation"
    flow.finish_production(plant, batch)
    assert plant.status(batch) == "on_hold"
    with pytest.raises(EngineError) as caught:  # QA must assess the deviation too
        flow.qa_review(plant, batch, [item.reference for item in items[:-1]])
    assert caught.value.code == "not_assessed" and deviation.reference in str(caught.value)
    flow.qa_review(plant, batch, [item.reference for item in items])
    plant.complete("peter", batch, "qp_decision", {"decision": "release", "decision_reason": "investigated"})
    refused = refusal(plant, "peter", batch, "qp_release")
    assert (refused.gate, refused.code) == ("deviations", "deviation_open")
    plant.complete("quinn", deviation.instance_id, "close")  # the stand-in deviation: investigated and closed
    assert plant.status(batch) == "qa_approved"
    plant.complete("peter", batch, "qp_release", meanings=("released",))
    assert plant.status(batch) == "released"


@pytest.mark.req("URS-EBR-004", "URS-CON-009", "P11-10h", "A11-5")
def test_a_set_point_that_does_not_read_back_is_caught_by_the_diagram(plant):
    batch = plant.order("B-2026-0007")
    flow.sign_order_and_clear_line(plant, batch)
    flow.dispense(plant, batch)
    plant.sim.lock_writes("dryer.impeller_speed_sp")  # the device acknowledges but keeps its value
    plant.sim.set("dryer.impeller_speed_sp", 300.0)
    try:
        flow.phase(plant, batch, "granulation", 150)
    finally:
        plant.sim.lock_writes("dryer.impeller_speed_sp", False)
    data = plant.data(batch)
    error = data["granulation_setpoint_error"]
    assert error["code"] == "readback_mismatch" and error["details"]["tag"] == "FBD-01.ua.impeller_speed_sp"
    assert plant.ready(batch) == ["set_granulation"]  # back to the set-point, a deviation raised
    with plant.db.session() as session:
        (deviation,) = [item for item in review_items(session, batch) if item.is_deviation]
    assert plant.data(deviation.instance_id)["deviation"]["context"]["source_kind"] == "setpoint_readback"
    with plant.db.session() as session:  # nothing logged in use for a set-point that did not take
        assert equipment_log.equipment_state(session, "GR-01").status == "released"
    flow.phase(plant, batch, "granulation", 150)
    assert plant.data(batch)["granulation_setpoint"]["state"] == "confirmed"
    assert plant.status(batch) == "on_hold"


@pytest.mark.req("URS-EBR-003", "URS-FRM-009", "CN-3", "ALCOA-ACCURATE")
def test_the_dispensing_rows_are_the_orders_bill_of_materials_and_a_changed_preset_is_refused(plant):
    from engine.errors import EngineError
    from forms import FormInvalid

    batch = plant.order("B-2026-0009")
    flow.sign_order_and_clear_line(plant, batch)
    bom = plant.data(batch)["bom"]
    rows, captured, comments = flow.dispensing_rows(plant, batch)
    tampered = [dict(row) for row in rows]
    tampered[0]["target"] = 60  # the gate checks the BOM before the form is validated
    with pytest.raises(EngineError) as caught:
        plant.complete("alice", batch, "dispense", {"dispensing": tampered}, meanings=("performed",),
                       verifier=("victor", "verified"), captured=captured, exceptions=comments)
    assert caught.value.code == "bom_target" and "the target is 50 kg for this batch, not 60 kg" in str(caught.value)
    tampered = [dict(row) for row in rows]
    tampered[0]["ppe"] = "none"  # a preset column the gate does not check: the form refuses the change
    with pytest.raises(FormInvalid) as invalid:
        plant.complete("alice", batch, "dispense", {"dispensing": tampered}, meanings=("performed",),
                       verifier=("victor", "verified"), captured=captured, exceptions=comments)
    assert "preset_changed" in invalid.value.codes("dispensing.0.ppe")
    assert "This value is set by the form and cannot be changed." in str(invalid.value)
    with pytest.raises(EngineError) as caught:  # one row per BOM line: none added
        plant.complete("alice", batch, "dispense", {"dispensing": [*rows, {"lot": "L-PARA-2601"}]},
                       meanings=("performed",), verifier=("victor", "verified"), captured=captured,
                       exceptions=comments)
    assert caught.value.code == "bom_row_extra" and "row 5 is not a line of the bill of materials" in str(caught.value)
    assert plant.ready(batch) == ["dispense"]
    # the operator gives the lot and the captured weight; the rest of each row comes from the order
    plant.complete("alice", batch, "dispense", {"dispensing": [{"lot": row["lot"]} for row in rows]},
                   meanings=("performed",), verifier=("victor", "verified"), captured=captured, exceptions=comments)
    dispensed = plant.data(batch)["dispensing"]
    assert [row["material"] for row in dispensed] == [line["material"] for line in bom]
    assert dispensed[0]["ppe"] == "FFP2 mask, nitrile gloves" and dispensed[0]["oeb"] == 2
    assert [str(row["target"]) for row in dispensed] == [f"{line['target']:.3f}" for line in bom]
    assert plant.ready(batch) == ["set_granulation"]
