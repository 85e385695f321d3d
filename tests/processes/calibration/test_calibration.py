"""The calibration work order end to end on both databases: readings over the connector from
the simulated calibration bench, the reference standard that must itself be in calibration,
errors against tolerance in exact decimals, an out-of-tolerance finding raising a deviation
with the batches that used the instrument since its last good calibration, the signed review
and approval recording the calibration with its next due date, the equipment gate that an
overdue instrument closes and a calibration opens again, and the daily planning timer."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from sqlalchemy import select

from bpmn.calibration import service
from connectors.models import EquipmentReading
from core import clock
from engine.errors import GateRefused, TaskRefused
from engine.links import related
from engine.tasks import gate_refusal
from masterdata import calibration, equipment_log
from store.uow import UnitOfWork

REQ = pytest.mark.req


def day(offset: int) -> str:
    return (clock.now().date() + timedelta(days=offset)).isoformat()


def calibrate_directly(cal: Any, instrument: str, offset: int, result: str = "pass", reference: str | None = None) -> None:
    cal.act("mike", calibration.record_calibration, instrument, calibrated_on=day(offset), result=result,
            reference=reference, note="earlier calibration" if result == "pass" else "found out of tolerance")


def work_order(cal: Any, instrument: str = "PT-102") -> int:
    with UnitOfWork(cal.db, cal["mia"].actor) as uow:
        data = service.start_data(uow.session, instrument)
        from engine import instances

        instance = instances.start(uow, "calibration", title=f"Calibration {instrument}", data=data,
                                   settings=cal.settings)
        uow.commit()
        return int(instance.id)


def apply(cal: Any, instance: int, nominal: int, user: str = "tom") -> None:
    cal.sim.set("cal.dp_reference", float(nominal))
    cal.complete(instance, "apply_point", user, {"nominal": nominal})


def apply_left(cal: Any, instance: int, nominal: int, user: str = "tom") -> None:
    """After an adjustment: the reference applies the point and the as-left reading is read back."""
    cal.sim.set("cal.dp_reference", float(nominal))
    cal.complete(instance, "apply_left_point", user, {"left_nominal": nominal})


def status(cal: Any, instrument: str) -> Any:
    with cal.db.session() as session:
        return calibration.instrument_state(session, instrument)


def used(cal: Any, equipment: str, batch: int) -> None:
    """The batch logs the equipment in use (contract: masterdata.equipment_log) and frees it."""
    for status_, who in (("clean", "alice"), ("released", "sam")):
        cal.act(who, equipment_log.log_equipment, equipment, status_, note="per SOP")
    cal.act("alice", equipment_log.log_equipment, equipment, "in_use", instance_id=batch, note="batch")
    cal.act("alice", equipment_log.log_equipment, equipment, "dirty", note="batch finished")


@REQ("URS-CAL-001", "URS-CAL-004", "P11-10h", "P11-10e", "A11-5")
def test_happy_path_reads_the_bench_over_the_connector_and_sets_the_next_due_date(cal):
    calibrate_directly(cal, "REF-P-01", -30)
    instance = work_order(cal)
    assert cal.inspect(instance)["business_key"] == "CAL-PT-102-0001"
    assert cal.ready(instance) == ["setup"]
    cal.complete(instance, "setup", "tom", {"reference_standard": "REF-P-01", "conditions": "21 °C"})
    order = cal.inspect(instance)["data"]["work_order"]
    assert order["connected"] is True and order["test_points"] == ["500", "2500", "4500"]
    assert order["equipment"] == ["FBD-01"] and order["tolerance"] == "25"
    cal.sim.set("cal.dp_transmitter_offset", 12.5)  # within ±25 Pa
    for number, nominal in enumerate((500, 2500, 4500)):
        # beside the task: the planned points, those read, the next one; the entry carries the instrument's unit
        plan = record_sections(cal, instance)["points_to_apply"]
        assert [(r["nominal"], r["status"]) for r in plan["rows"]] == [
            (p, "read (已读取)" if i < number else "NEXT: apply now (下一个: 现在施加)" if i == number else
             "to apply (待施加)") for i, p in enumerate(["500", "2500", "4500"])]
        assert [c.get("unit") for c in plan["columns"]] == [None, "Pa", None, "Pa", "Pa"]
        assert "Tolerance ±25 Pa" in plan["notes"][0]
        assert apply_form_unit(cal, instance) == "Pa"
        apply(cal, instance, nominal)
    assert record_sections(cal, instance)["work_order"]["rows"][3] == {"item": "Range (量程)", "value": "0 – 5000 Pa"}
    assert "points_to_apply" not in record_sections(cal, instance)  # the round is read: nothing left to apply
    data = cal.inspect(instance)["data"]
    assert [(p["nominal"], p["reference"], p["as_found"], p["source"]) for p in data["points"]] == [
        ("500", "500.0", "512.5", "equipment"), ("2500", "2500.0", "2512.5", "equipment"),
        ("4500", "4500.0", "4512.5", "equipment")]
    assert data["points"][0]["instrument_reading"]["tag"] == "PT-102.dp"
    assert data["points"][0]["reference_reading"]["tag"] == "REF-P-01.dp"
    assert data["evaluation"]["result"] == "pass" and data["evaluation"]["max_error"] == "12.5"
    assert cal.ready(instance) == ["review"]
    with pytest.raises(TaskRefused):  # the review lane is the verifier's: the technician is refused
        cal.complete(instance, "review", "tom", {"decision": "accepted"}, ("reviewed",))
    cal.complete(instance, "review", "vic", {"decision": "accepted", "review_comment": "readings checked"},
                 ("reviewed",))
    done = cal.complete(instance, "approve", "mia", {"approval_comment": "approved"}, ("approved",))
    assert done.instance_status == "completed"
    state = status(cal, "PT-102")
    assert state.status == "in_calibration" and state.due_on == day(365) and state.last_good == day(0)
    with cal.db.session() as session:
        newest = calibration.calibrations(session, "PT-102")[-1]
    assert newest.reference == "REF-P-01" and newest.certificate == "CAL-PT-102-0001"
    assert newest.signature_id == done.signatures[0].signature_id  # signed by the work order's approval


@REQ("URS-CAL-001", "URS-CAL-003", "P11-10h", "A11-5")
def test_a_reference_standard_out_of_calibration_is_refused(cal):
    calibrate_directly(cal, "REF-P-01", -30)
    calibrate_directly(cal, "REF-P-02", -400)  # due 35 days ago: overdue
    instance = work_order(cal)
    for reference, code in (("REF-P-02", "reference_not_in_calibration"), ("REF-X", "unknown_reference"),
                            ("PT-102", "reference_is_instrument"), ("PT-103", "not_a_reference")):
        with pytest.raises(GateRefused) as refused:
            cal.complete(instance, "setup", "tom", {"reference_standard": reference})
        assert refused.value.code == code, reference
    assert str(refused.value) == "PT-103 is not a reference standard"
    with pytest.raises(GateRefused, match=r"reference standard REF-P-02 is overdue \(due "):
        cal.complete(instance, "setup", "tom", {"reference_standard": "REF-P-02"})
    assert cal.ready(instance) == ["setup"]  # nothing changed
    cal.complete(instance, "setup", "tom", {"reference_standard": "REF-P-01"})
    assert cal.ready(instance) == ["apply_point"]
    # a test point the work order does not plan, or one recorded already, is refused
    with pytest.raises(GateRefused, match=r"1000 Pa is not a test point of the work order \(500, 2500, 4500 Pa\)"):
        apply(cal, instance, 1000)
    apply(cal, instance, 500)
    with pytest.raises(GateRefused, match="test point 500 Pa has been recorded already"):
        apply(cal, instance, 500)
    assert len(cal.inspect(instance)["data"]["points"]) == 1


@REQ("URS-CAL-002", "URS-CAL-004", "P11-10h", "A11-5", "A11-13", "CN-3")
def test_out_of_tolerance_as_found_raises_a_deviation_with_the_batches_since_the_last_good_calibration(cal):
    calibrate_directly(cal, "REF-P-01", -30)
    old = cal.start("uses_dryer", key="B-2025-0099")
    used(cal, "FBD-01", old)                      # used before PT-102's last good calibration
    cal.clock.advance(days=1)
    calibrate_directly(cal, "PT-102", 0, reference="REF-P-01")
    cal.clock.advance(days=1)
    first, second = cal.start("uses_dryer", key="B-2026-0001"), cal.start("uses_dryer", key="B-2026-0002")
    used(cal, "FBD-01", first)
    used(cal, "FBD-01", second)
    used(cal, "GR-01", cal.start("uses_dryer", key="B-2026-0003"))  # another equipment: not impacted
    cal.clock.advance(days=3)
    with cal.db.session() as session:
        assert service.impacted_batches(session, "PT-102") == ["B-2026-0001", "B-2026-0002"]

    instance = work_order(cal)
    cal.complete(instance, "setup", "tom", {"reference_standard": "REF-P-01"})
    cal.sim.set("cal.dp_transmitter_offset", 40.0)  # outside ±25 Pa
    for nominal in (500, 2500, 4500):
        apply(cal, instance, nominal)
    data = cal.inspect(instance)["data"]
    assert data["evaluation"]["result"] == "out_of_tolerance" and data["evaluation"]["max_error"] == "40.0"
    # PT-102 is connected: the technician adjusts it, and the as-left readings are read back over
    # the connector at each planned point; still out of tolerance -> adjust again (a new read-back)
    assert cal.ready(instance) == ["adjust_instrument"]
    cal.complete(instance, "adjust_instrument", "tom", {"adjustment": "zero trimmed"}, ("performed",))
    cal.sim.set("cal.dp_transmitter_offset", 30.0)
    for nominal in (500, 2500, 4500):
        apply_left(cal, instance, nominal)
    assert cal.inspect(instance)["data"]["as_left_evaluation"]["result"] == "out_of_tolerance"
    assert cal.ready(instance) == ["adjust_instrument"]
    cal.complete(instance, "adjust_instrument", "tom", {"adjustment": "zero offset corrected by -28 Pa"}, ("performed",))
    cal.sim.set("cal.dp_transmitter_offset", 2.0)
    apply_left(cal, instance, 500)
    with pytest.raises(GateRefused, match="test point 500 Pa has been recorded already"):
        cal.complete(instance, "apply_left_point", "tom", {"left_nominal": 500})
    with pytest.raises(GateRefused, match=r"1500 Pa is not a test point of the work order"):
        cal.complete(instance, "apply_left_point", "tom", {"left_nominal": 1500})
    for nominal in (2500, 4500):
        apply_left(cal, instance, nominal)
    data = cal.inspect(instance)["data"]
    assert [(p["nominal"], p["reference"], p["as_left"], p["source"]) for p in data["as_left"]] == [
        ("500", "500.0", "502", "equipment"), ("2500", "2500.0", "2502", "equipment"),
        ("4500", "4500.0", "4502", "equipment")]
    assert {p["instrument_reading"]["tag"] for p in data["as_left"]} == {"PT-102.dp"}
    assert data["as_left_evaluation"]["result"] == "pass" and data["as_left_evaluation"]["max_error"] == "2.0"
    with cal.db.session() as session:
        read_back = session.execute(select(EquipmentReading.tag_name).where(
            EquipmentReading.instance_id == str(instance), EquipmentReading.task_id == "read_left_point")).scalars().all()
    assert len(read_back) == 12 and set(read_back) == {"PT-102.dp", "REF-P-01.dp"}  # two rounds of three points
    data = cal.inspect(instance)["data"]
    assert data["oot"]["impacted_batches"] == ["B-2026-0001", "B-2026-0002"]
    with cal.db.session() as session:
        raised = related(session, instance, process="deviation")
    assert [(r.relation, r.instance_id) for r in raised] == [("raised", int(data["oot"]["deviation_instance"]))]
    deviation = cal.inspect(int(data["oot"]["deviation_instance"]))
    context = deviation["data"]["deviation"]["context"]
    assert deviation["process"] == "deviation"
    assert context["source_kind"] == "calibration_oot" and context["instrument"] == "PT-102"
    assert context["impacted_batches"] == ["B-2026-0001", "B-2026-0002"]
    assert context["value"] == "40.0" and context["limit_low"] == "-25" and context["limit_high"] == "25"
    assert context["unit"] == "Pa" and context["equipment"] == "FBD-01"
    assert deviation["data"]["deviation"]["source_instance_id"] == instance
    cal.complete(instance, "review", "vic", {"decision": "accepted"}, ("reviewed",))
    cal.complete(instance, "approve", "mia", {}, ("approved",))
    with cal.db.session() as session:
        found = calibration.calibrations(session, "PT-102")
    assert [c.result for c in found[-2:]] == ["out_of_tolerance", "pass"]
    sections = record_sections(cal, instance)
    order = {r["item"]: r["value"] for r in sections["work_order"]["rows"]}
    assert order["As found (校前)"] == "Out of tolerance (超出允差), largest error 40.0 Pa"
    assert order["As left (校后)"] == "Pass (合格), largest error 2.0 Pa"
    assert [order["Adjustment 1 (调整)"], order["Adjustment 2 (调整)"]] == ["zero trimmed", "zero offset corrected by -28 Pa"]
    assert order["Batches since the last good calibration (上次合格校准以来的批次)"] == "B-2026-0001, B-2026-0002"
    assert order["Recorded (已记录)"].startswith(f"calibrated on {day(0)}, next due {day(365)}")
    points = sections["test_points"]["rows"]
    assert [(r["reading"], r["nominal"], r["error"], r["within"]) for r in points][::3] == [
        ("as found (校前)", "500", "40.0", "NO (否)"), ("as left 1 (校后)", "500", "30.0", "NO (否)"),
        ("as left 2 (校后)", "500", "2.0", "yes (是)")]
    assert {r["source"] for r in points} == {"equipment (设备): PT-102.dp"}
    assert status(cal, "PT-102").status == "in_calibration"


@REQ("URS-CAL-002", "URS-GATE-002", "P11-10h", "A11-5")
def test_an_overdue_instrument_closes_the_equipment_gate_until_its_work_order_is_approved(cal):
    calibrate_directly(cal, "REF-P-01", -30)
    calibrate_directly(cal, "PT-102", -360, reference="REF-P-01")   # due in 5 days
    calibrate_directly(cal, "PT-103", -30)
    for status_, who in (("clean", "alice"), ("released", "sam")):
        cal.act(who, equipment_log.log_equipment, "FBD-01", status_, note="per SOP")
    batch = cal.start("uses_dryer", key="B-2026-0010")
    with UnitOfWork(cal.db, cal["olga"].actor) as uow:
        assert gate_refusal(uow, cal.task(batch, "dry"), "olga", stage="claim") is None
    cal.clock.advance(days=6)                                       # PT-102 overdue now
    assert status(cal, "PT-102").status == "overdue"
    with UnitOfWork(cal.db, cal["olga"].actor) as uow:
        found = gate_refusal(uow, cal.task(batch, "dry"), "olga", stage="claim")
    assert (found.gate, found.code) == ("equipment", "instrument_overdue")
    assert found.detail == f"instrument PT-102 of FBD-01 is overdue for calibration (due {day(-1)})"
    # the manual path: PT-103 style entry is not needed here; PT-102 is read over the connector
    instance = work_order(cal)
    cal.complete(instance, "setup", "tom", {"reference_standard": "REF-P-01"})
    for nominal in (500, 2500, 4500):
        apply(cal, instance, nominal)
    cal.complete(instance, "review", "vic", {"decision": "accepted"}, ("reviewed",))
    cal.complete(instance, "approve", "mia", {}, ("approved",))
    with UnitOfWork(cal.db, cal["olga"].actor) as uow:
        assert gate_refusal(uow, cal.task(batch, "dry"), "olga", stage="claim") is None


@REQ("URS-CAL-004", "CN-3", "A11-5", "A11-6")
def test_an_instrument_without_a_connector_is_entered_by_hand_with_a_second_person(cal):
    calibrate_directly(cal, "REF-P-01", -30)
    instance = work_order(cal, "PT-103")
    cal.complete(instance, "setup", "tom", {"reference_standard": "REF-P-01"})
    assert cal.ready(instance) == ["enter_points"]
    rows = [{"nominal": 1000, "reference": D("1000.0"), "as_found": D("1003.5")}]
    with pytest.raises(GateRefused, match=r"1 test point\(s\) recorded; the work order plans 1000, 4000 Pa"):
        cal.complete(instance, "enter_points", "tom", {"points": rows}, ("performed",), "tina")
    with pytest.raises(TaskRefused):  # the verifier must be a second person
        cal.complete(instance, "enter_points", "tom", {"points": rows + [
            {"nominal": 4000, "reference": D("4000.0"), "as_found": D("3990.1")}]}, ("performed",), "tom")
    cal.complete(instance, "enter_points", "tom", {"points": rows + [
        {"nominal": 4000, "reference": D("4000.0"), "as_found": D("3990.1")}], "reason": "no connector"},
        ("performed",), "tina")
    evaluation = cal.inspect(instance)["data"]["evaluation"]
    assert [(p["error"], p["within"]) for p in evaluation["points"]] == [("3.5", True), ("-9.9", True)]
    assert evaluation["max_error"] == "-9.9" and evaluation["result"] == "pass"
    # returned by the reviewer: the work starts again from the reference standard
    cal.complete(instance, "review", "vic", {"decision": "returned", "review_comment": "repeat at 20 °C"},
                 ("reviewed",))
    assert cal.ready(instance) == ["setup"]


@REQ("URS-CAL-002", "URS-CAL-004", "CN-3", "A11-5")
def test_an_instrument_without_a_connector_has_its_as_left_entered_and_verified_by_a_second_person(cal):
    calibrate_directly(cal, "REF-P-01", -30)
    instance = work_order(cal, "PT-103")
    cal.complete(instance, "setup", "tom", {"reference_standard": "REF-P-01"})
    cal.complete(instance, "enter_points", "tom", {"points": [
        {"nominal": 1000, "reference": D("1000.0"), "as_found": D("1031.0")},
        {"nominal": 4000, "reference": D("4000.0"), "as_found": D("4012.0")}]}, ("performed",), "tina")
    assert cal.inspect(instance)["data"]["evaluation"]["result"] == "out_of_tolerance"
    assert cal.ready(instance) == ["adjust"]  # nothing to read back: typed, with a second person
    rows = [{"nominal": 1000, "reference": D("1000.0"), "as_left": D("1001.5")},
            {"nominal": 4000, "reference": D("4000.0"), "as_left": D("3999.0")}]
    with pytest.raises(TaskRefused):  # the verifier must be a second person
        cal.complete(instance, "adjust", "tom", {"adjustment": "span trimmed", "as_left": rows}, ("performed",), "tom")
    cal.complete(instance, "adjust", "tom", {"adjustment": "span trimmed", "as_left": rows}, ("performed",), "tina")
    data = cal.inspect(instance)["data"]
    assert data["as_left_evaluation"]["result"] == "pass" and data["as_left_evaluation"]["max_error"] == "1.5"
    assert "oot" in data and cal.ready(instance) == ["review"]
    points = record_sections(cal, instance)["test_points"]["rows"]
    by_hand = "entered by hand, verified (手工录入, 已复核)"
    assert [(r["reading"], r["value"], r["source"]) for r in points] == [
        ("as found (校前)", "1031.0", by_hand), ("as found (校前)", "4012.0", by_hand),
        ("as left 1 (校后)", "1001.5", by_hand), ("as left 1 (校后)", "3999.0", by_hand)]


def apply_form_unit(cal: Any, instance: int) -> Any:
    """The unit the bound "Apply a test point" form shows beside the nominal value (x-gmp-unit-from)."""
    from engine.spiff.serializer import row_data
    from engine.tasks import task_definition
    from forms import bind_rows, load_definition

    with cal.db.session() as session:
        definition = task_definition(session, cal.task(instance, "apply_point"))
        schema = definition.forms()[definition.rules.form_schema]
        bound, ui = bind_rows(schema, None, row_data(definition.row.body))
    return load_definition(bound, ui).spec_at(["nominal"]).unit


def record_sections(cal: Any, instance: int) -> dict[str, Any]:
    """The work order's own sections as the record (and the task page) builds them."""
    from engine.record_sections import build_sections
    from engine.runtime import current_runtime

    with cal.db.session() as session:
        found = build_sections(current_runtime().record_sections, session, "calibration", instance, {})
    assert all(s["error"] is None for s in found), found
    return {s["key"]: s for s in found}


@REQ("URS-CAL-001", "CN-5")
def test_the_schedule_creates_work_orders_before_the_due_date_on_its_daily_timer(cal, runtime):
    from engine.scheduler import Scheduler

    calibrate_directly(cal, "REF-P-01", -30)
    calibrate_directly(cal, "REF-P-02", -30)
    calibrate_directly(cal, "PT-102", -340, reference="REF-P-01")   # due in 25 days: warning is 14 days
    calibrate_directly(cal, "PT-103", -100)
    schedule = cal.start("calibration_schedule", user="mia")
    never = {"TT-01": "CAL-TT-01-0001", "WT-01": "CAL-WT-01-0001", "REF-01": "CAL-REF-01-0001"}
    with cal.db.session() as session:  # the instruments never calibrated get their work order at once
        assert service.open_work_orders(session) == never
    cal.clock.advance(days=10)                                        # due in 15 days: not yet
    Scheduler(cal.db, cal.settings, runtime=runtime).run_once()
    with cal.db.session() as session:
        assert service.open_work_orders(session) == never
    cal.clock.advance(days=2)                                         # due in 13 days: within its 14 warning days
    Scheduler(cal.db, cal.settings, runtime=runtime).run_once()
    with cal.db.session() as session:
        assert service.open_work_orders(session) == {**never, "PT-102": "CAL-PT-102-0001"}
    order = next(i for i in service_instances(cal) if i["business_key"] == "CAL-PT-102-0001")
    assert order["data"]["calibration"]["due_on"] == day(13) and order["data"]["due_at"] == f"{day(13)}T23:59:59Z"
    cal.clock.advance(days=1)
    Scheduler(cal.db, cal.settings, runtime=runtime).run_once()
    with cal.db.session() as session:  # one running work order per instrument is enough
        assert service.open_work_orders(session) == {**never, "PT-102": "CAL-PT-102-0001"}
    assert cal.inspect(schedule)["status"] == "running"


def service_instances(cal: Any) -> list[dict[str, Any]]:
    from engine import instances

    with cal.db.session() as session:
        found = [i["id"] for i in instances.list_instances(session, key="calibration")]
    return [cal.inspect(i) for i in found]
