"""The special-work permit end to end on the engine, against the plant simulator over Modbus TCP:
isolation states and gas readings read from the equipment, the gates that block issue and
hand-back, the expiry and re-check timers, and the refusals for crew, approvers and windows."""
from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from audit.models import AuditEntry
from bpmn.work_permit import rules
from connectors.models import EquipmentReading
from engine import business_keys, tasks
from engine.errors import EngineError, FormDataInvalid, GateRefused
from store.uow import UnitOfWork

WINDOW = {"valid_from": "2026-01-05 08:00", "valid_until": "2026-01-05 16:00"}
REQUEST = {"work_type": "hot_work", "location": "Room 101, vessel V-101", "equipment": "V-101",
           "scope": "Weld a support bracket to the agitator frame", **WINDOW, "crew": [{"member": "tom", "duty": "welder"}]}
HOT = {m[0]: True for m in rules.HAZARD_MEASURES["hot_work"]}
POINTS = {"points": [{"tag": "ISO-BRK-02.closed", "lock_number": "L-101", "description": "agitator MCC breaker"},
                     {"tag": "ISO-VLV-02.open", "lock_number": "L-102", "description": "nitrogen inlet valve"}]}
GAS = {"detector": "GAS-01", "position": "inside V-101 at the manway"}


def isolate(site: Any, on: bool = True) -> None:
    site.sim.set("isolation.mcc_breaker_closed", not on)
    site.sim.set("isolation.n2_valve_open", not on)


def to_approval(site: Any, request: dict[str, Any] | None = None) -> int:
    pid = site.start()
    site.complete(pid, "request", "rose", request or REQUEST)
    site.complete(pid, "hazards_hot_work", "owen", HOT)
    isolate(site)
    site.complete(pid, "apply_isolations", "ivan", POINTS)
    site.complete(pid, "gas_test", "ella", GAS)
    assert site.ready(pid) == ["area_approval"]
    return pid


def to_work(site: Any) -> int:
    pid = to_approval(site)
    site.complete(pid, "area_approval", "owen", {"conditions": "fire watch until 30 min after"})
    site.complete(pid, "issue", "ella", {})
    assert site.ready(pid) == ["work"]
    return pid


def refusal(site: Any, pid: int, bpmn_id: str, user_id: str, stage: str = "open") -> Any:
    with UnitOfWork(site.db, site[user_id].actor) as uow:
        return tasks.gate_refusal(uow, site.task(pid, bpmn_id), user_id, stage=stage)


@pytest.mark.req("URS-PTW-001", "URS-PTW-002", "P11-10h", "P11-50a", "A11-5", "CN-3", "ALCOA-ORIGINAL")
def test_a_hot_work_permit_from_request_to_hand_back_with_the_plant_read(site):
    pid = to_work(site)
    with site.db.session() as session:
        assert business_keys.key_of(session, pid) == "PTW-0001"
    data = site.data(pid, "work")
    assert data["permit"]["needs_isolation"] and data["permit"]["needs_gas_test"]
    assert data["permit"]["valid_until"] == "2026-01-05T16:00:00.000000Z"
    check = data["isolation_check"]
    assert check["all_ok"] and check["expect"] == "isolated"
    assert [(p["tag"], p["lock_number"], p["value"], p["isolated"]) for p in check["points"]] == [
        ("ISO-BRK-02.closed", "L-101", False, True), ("ISO-VLV-02.open", "L-102", False, True)]
    assert all(p["read_at"] and p["origin"] == "equipment" for p in check["points"])
    gas = data["gas_test"]
    assert gas["all_ok"] and gas["source"] == "equipment"
    assert {r["gas"]: (r["tag"], r["value"], r["ok"]) for r in gas["readings"]} == {
        "o2": ("GAS-01.o2", "20.90", True), "lel": ("GAS-01.lel", "0.0", True), "h2s": ("GAS-01.h2s", "0.0", True),
        "co": ("GAS-01.co", "0", True)}

    site.complete(pid, "work", "tom", {"work_complete": True, "work_report": "bracket welded, area cooled"})
    assert site.ready(pid) == ["remove_isolations"]
    isolate(site, on=False)
    site.complete(pid, "remove_isolations", "ivan", {"locks_removed": True})
    removal = site.data(pid, "handback_requester")["removal_check"]
    assert removal["all_ok"] and removal["expect"] == "restored" and [p["value"] for p in removal["points"]] == [True, True]
    site.complete(pid, "handback_requester", "rose", {"work_status": "completed"})
    site.complete(pid, "handback_area", "owen", {"area_inspected": True, "housekeeping": True})
    assert site.status(pid) == "completed"
    with site.db.session() as session:
        stored = session.execute(select(EquipmentReading.tag_name, EquipmentReading.value_json).where(
            EquipmentReading.instance_id == str(pid)).order_by(EquipmentReading.id)).all()
    assert [(t, json.loads(v)) for t, v in stored][:2] == [("ISO-BRK-02.closed", False), ("ISO-VLV-02.open", False)]
    assert {t for t, _ in stored} >= {"GAS-01.o2", "GAS-01.lel", "GAS-01.h2s", "GAS-01.co"}


@pytest.mark.req("URS-PTW-001", "P11-10h")
def test_work_at_height_needs_neither_isolation_nor_gas_test(site):
    site.grant("tom", "SOP-EHS-004")
    pid = site.start()
    site.complete(pid, "request", "rose", {**REQUEST, "work_type": "work_at_height"})
    assert site.ready(pid) == ["hazards_work_at_height"]
    with pytest.raises(GateRefused, match="1 measure.*Tools tethered against falling"):
        site.complete(pid, "hazards_work_at_height", "owen",
                      {m[0]: True for m in rules.HAZARD_MEASURES["work_at_height"]} | {"tools_tethered": False})
    site.complete(pid, "hazards_work_at_height", "owen", {m[0]: True for m in rules.HAZARD_MEASURES["work_at_height"]})
    assert site.ready(pid) == ["area_approval"]
    site.complete(pid, "area_approval", "owen", {})
    site.complete(pid, "issue", "ella", {})
    site.complete(pid, "work", "tom", {"work_complete": True, "work_report": "lamp replaced"})
    assert site.ready(pid) == ["handback_requester"]


@pytest.mark.req("URS-PTW-002", "P11-10h", "A11-5")
def test_a_breaker_still_energised_blocks_the_permit(site):
    pid = site.start()
    site.complete(pid, "request", "rose", REQUEST)
    site.complete(pid, "hazards_hot_work", "owen", HOT)
    site.sim.set("isolation.n2_valve_open", False)  # the valve is closed, the MCC breaker still closed (energised)
    site.complete(pid, "apply_isolations", "ivan", POINTS)
    assert site.ready(pid) == ["apply_isolations"]  # read back: not isolated, so isolate again
    check = site.data(pid, "apply_isolations")["isolation_check"]
    assert not check["all_ok"]
    assert [(p["tag"], p["value"], p["ok"]) for p in check["points"]] == [
        ("ISO-BRK-02.closed", True, False), ("ISO-VLV-02.open", False, True)]
    site.sim.set("isolation.mcc_breaker_closed", False)
    site.complete(pid, "apply_isolations", "ivan", POINTS)
    site.complete(pid, "gas_test", "ella", GAS)
    site.complete(pid, "area_approval", "owen", {})
    # someone switches the breaker back on before the permit is issued: the issue gate reads it now
    site.sim.set("isolation.mcc_breaker_closed", True)
    found = refusal(site, pid, "issue", "ella")
    assert (found.gate, found.code) == ("permit_issue", "not_isolated") and found.params["tag"] == "ISO-BRK-02.closed"
    with pytest.raises(GateRefused, match="isolation point ISO-BRK-02.closed reads True now: it is not isolated"):
        site.complete(pid, "issue", "ella", {})
    assert site.ready(pid) == ["issue"]
    with site.db.session() as session:
        refused = session.execute(select(AuditEntry).where(AuditEntry.action == "task.refused")).scalars().all()
        assert refused and "ISO-BRK-02.closed" in refused[-1].reason
    site.sim.set("isolation.mcc_breaker_closed", False)
    assert refusal(site, pid, "issue", "ella") is None
    site.complete(pid, "issue", "ella", {})
    assert site.ready(pid) == ["work"]


@pytest.mark.req("URS-PTW-001", "P11-10h", "CN-3")
def test_a_gas_reading_out_of_range_blocks_the_permit(site):
    pid = site.start()
    site.complete(pid, "request", "rose", REQUEST)
    site.complete(pid, "hazards_hot_work", "owen", HOT)
    isolate(site)
    site.complete(pid, "apply_isolations", "ivan", POINTS)
    site.sim.set("gas.lel", 12.0)
    site.sim.set("gas.h2s", 7.5)
    site.complete(pid, "gas_test", "ella", GAS)
    assert site.ready(pid) == ["gas_test"]  # ventilate and test again
    gas = site.data(pid, "gas_test")["gas_test"]
    assert not gas["all_ok"] and gas["out_of_range"] == ["lel", "h2s"]
    assert {r["gas"]: r["value"] for r in gas["readings"]} == {"o2": "20.90", "lel": "12.0", "h2s": "7.5", "co": "0"}
    site.sim.set("gas.lel", 9.9)  # just below 10 % LEL passes; H2S still high
    site.complete(pid, "gas_test", "ella", GAS)
    assert site.ready(pid) == ["gas_test"]
    assert site.data(pid, "gas_test")["gas_test"]["out_of_range"] == ["h2s"]
    site.sim.set("gas.h2s", 0.0)
    site.sim.set("gas.lel", 10.0)  # 10 % LEL itself is out
    site.complete(pid, "gas_test", "ella", GAS)
    assert site.data(pid, "gas_test")["gas_test"]["out_of_range"] == ["lel"]

    # the detector cannot be reached: readings entered by hand, verified by a second person
    site.sim.set("gas.lel", 0.0)
    site.sim.disconnect("modbus")
    try:
        site.complete(pid, "gas_test", "ella", GAS)
    finally:
        site.sim.reconnect("modbus")
    assert site.ready(pid) == ["enter_gas"]
    manual = {"manual_detector": "portable PGD-7 SN 4411", "o2": 18.9, "lel": 0, "h2s": 0, "co": 3,
              "why_manual": "fixed detector offline"}
    with pytest.raises(EngineError, match="verif"):
        site.complete(pid, "enter_gas", "ella", manual)  # a manual critical entry needs a verifier
    site.complete(pid, "enter_gas", "ella", manual, verifier="eric")
    assert site.ready(pid) == ["gas_test"]  # O2 18.9 % is below 19.5 %
    gas = site.data(pid, "gas_test")["gas_test"]
    assert gas["source"] == "manual" and gas["out_of_range"] == ["o2"]
    site.complete(pid, "gas_test", "ella", GAS)
    assert site.ready(pid) == ["area_approval"]
    site.complete(pid, "area_approval", "owen", {})
    site.clock.advance(hours=3)  # the gas test is too old to issue on
    with pytest.raises(GateRefused, match="more than 2 hours ago: test again"):
        site.complete(pid, "issue", "ella", {})


@pytest.mark.req("URS-PTW-002", "A11-5")
def test_an_expired_permit_suspends_the_work_and_notifies_the_crew(site):
    from engine.scheduler import Scheduler

    pid = to_work(site)
    scheduler = Scheduler(site.db, site.settings)
    site.clock.advance(hours=1, minutes=1)  # the hourly re-check of hot work: isolations and gas read again
    scheduler.run_once()
    assert site.ready(pid) == ["work"]  # passed: the work goes on
    recheck = site.data(pid, "work")["last_recheck"]
    assert recheck["ok"] and recheck["problems"] == []
    with site.db.session() as session:
        rechecks = session.execute(select(EquipmentReading.tag_name).where(
            EquipmentReading.instance_id == str(pid), EquipmentReading.task_id == "periodic_recheck")).scalars().all()
    assert set(rechecks) == {"ISO-BRK-02.closed", "ISO-VLV-02.open", "GAS-01.o2", "GAS-01.lel", "GAS-01.h2s", "GAS-01.co"}

    site.clock.value = site.clock.value.replace(hour=16, minute=0, second=1)
    scheduler.run_once()
    assert site.ready(pid) == ["remove_isolations"]  # the work task is gone: suspended
    with site.db.session() as session:
        titles = session.execute(select(_notifications().c.user_id, _notifications().c.title)).all()
        entry = session.execute(select(AuditEntry).where(AuditEntry.action == "permit.suspended")).scalar_one()
    assert ("tom", "Permit expired: stop work now (Hot work at Room 101, vessel V-101)") in titles
    assert ("rose", "Permit expired: stop work now (Hot work at Room 101, vessel V-101)") in titles
    assert "2026-01-05T16:00:00.000000Z" in entry.reason
    suspension = site.data(pid, "remove_isolations")["suspension"]
    assert suspension["notified"] == ["tom", "rose"]


def suspended_by_co(site: Any, pid: int, scheduler: Any) -> None:
    """Carbon monoxide builds up: the next hourly re-check fails."""
    site.sim.set("gas.co", 60.0)
    site.clock.advance(hours=1, minutes=1)
    scheduler.run_once()


def board_status(site: Any, pid: int) -> str:
    from bpmn.work_permit.board import permits

    with site.db.session() as session:
        return next(p.status for p in permits(session) if p.instance_id == pid)


RESUME = {"cause": "exhaust fan off, welding fumes accumulated", "action_taken": "fan restarted, vessel ventilated 20 min",
          "next_step": "retest"}


@pytest.mark.req("URS-PTW-002", "P11-10h", "A11-5", "A11-12")
def test_a_failed_re_check_suspends_the_work_until_a_re_test_passes(site):
    from bpmn.work_permit.record import suspension_section
    from engine.scheduler import Scheduler

    pid = to_work(site)
    scheduler = Scheduler(site.db, site.settings)
    suspended_by_co(site, pid, scheduler)
    assert site.ready(pid) == ["resume_work"]  # the work task is withdrawn, not only a notification
    assert board_status(site, pid) == "suspended_recheck"
    with site.db.session() as session:
        notes = session.execute(select(_notifications().c.user_id, _notifications().c.title)).all()
        exceptions = session.execute(select(_exceptions().c.kind, _exceptions().c.details_json)).all()
        entry = session.execute(select(AuditEntry).where(AuditEntry.action == "permit.suspended")).scalar_one()
    assert {(u, t.split(" (")[0]) for u, t in notes} == {("tom", "Stop work and leave the area"),
                                                         ("rose", "Stop work and leave the area")}
    assert exceptions[0][0] == "permit_recheck_failed"  # no deviation process in force here
    details = json.loads(exceptions[0][1])
    assert details["source_kind"] == "gas_test" and details["tag"] == "GAS-01.co" and details["value"] == "60"
    assert entry.object_id == str(pid) and "re-check failed" in entry.reason and "gas out of range: co" in entry.reason
    with pytest.raises(FormDataInvalid):  # the cause and what was done are required
        site.complete(pid, "resume_work", "ella", {"next_step": "retest"})
    assert site.ready(pid) == ["resume_work"]

    # the re-test while the gas is still there: the work stays suspended
    site.complete(pid, "resume_work", "ella", {**RESUME, "action_taken": "fan restarted"})
    assert site.ready(pid) == ["resume_work"]
    assert board_status(site, pid) == "suspended_recheck"
    site.clock.advance(hours=1)  # no hourly re-check while suspended: the next re-test is by hand
    scheduler.run_once()
    assert site.ready(pid) == ["resume_work"]

    # ventilated: the re-test passes and the work resumes
    site.sim.set("gas.co", 0.0)
    site.complete(pid, "resume_work", "ella", RESUME)
    assert site.ready(pid) == ["work"]
    assert board_status(site, pid) == "active"
    with site.db.session() as session:
        rows = suspension_section(session, pid, {})["rows"]
    assert [r["event"] for r in rows] == [
        "re-check FAILED", "work SUSPENDED, crew told to stop", "re-test requested", "re-check FAILED",
        "work SUSPENDED, crew told to stop", "re-test requested", "re-check passed: work resumes"]
    assert "gas out of range: co" in rows[0]["why"] and "(exception recorded)" in rows[1]["why"]
    assert rows[5]["why"] == "cause: exhaust fan off, welding fumes accumulated; done: fan restarted, vessel ventilated 20 min"
    site.complete(pid, "work", "tom", {"work_complete": True, "work_report": "bracket welded after the stop"})
    assert site.ready(pid) == ["remove_isolations"]


@pytest.mark.req("URS-PTW-002", "A11-5")
def test_a_suspended_permit_can_be_closed_out_and_ends_with_its_window(site):
    from engine.scheduler import Scheduler

    scheduler = Scheduler(site.db, site.settings)
    other = to_work(site)
    suspended_by_co(site, other, scheduler)
    site.sim.set("gas.co", 0.0)
    site.complete(other, "resume_work", "ella", {**RESUME, "next_step": "close_out"})
    assert site.ready(other) == ["remove_isolations"]  # not resumed: straight to close-out

    pid = to_work(site)
    suspended_by_co(site, pid, scheduler)
    site.sim.set("gas.co", 0.0)
    site.clock.value = site.clock.value.replace(hour=16, minute=0, second=1)  # the window ends while suspended
    scheduler.run_once()
    assert site.ready(pid) == ["remove_isolations"]
    assert site.data(pid, "remove_isolations")["suspension"]["reason"] == (
        "the permit window ended at 2026-01-05T16:00:00.000000Z")


@pytest.mark.req("URS-PTW-002", "A11-5", "URS-DEV-001")
def test_a_failed_re_check_raises_a_deviation_when_the_deviation_process_is_in_force(site):
    from bpmn import deviation_capa
    from engine import definitions
    from engine.links import related
    from engine.scheduler import Scheduler

    with UnitOfWork(site.db, site["quinn"].actor) as uow:
        version = definitions.upload(uow, deviation_capa.bundle(), reason="deviation and CAPA", services=site.services)
        uow.commit()
    with UnitOfWork(site.db, site["rita"].actor) as uow:
        definitions.approve(uow, version.id, site.signature("approved", "rita"), services=site.services)
        uow.commit()
    pid = to_work(site)
    suspended_by_co(site, pid, Scheduler(site.db, site.settings))
    assert site.ready(pid) == ["resume_work"]
    stopped = site.data(pid, "resume_work")["stopped"]
    assert stopped["deviation"] is not None
    with site.db.session() as session:
        raised = related(session, pid, process="deviation")
        assert [r.instance_id for r in raised] == [int(stopped["deviation"])]
        assert session.execute(select(_exceptions().c.kind)).all() == []  # a deviation, not an exception
    deviation = site.data(int(stopped["deviation"]), _first_task(site, int(stopped["deviation"])))["deviation"]
    assert deviation["severity"] == "major" and deviation["title"].startswith("Permit re-check failed: gas out of range")
    context = deviation["context"]
    assert (context["source_kind"], context["tag"], context["value"], context["unit"], context["limit_high"]) == (
        "gas_test", "GAS-01.co", "60", "ppm", "25")
    assert int(deviation["source_instance_id"]) == pid and deviation["source_element_id"] == "recheck_failed"
    assert "(deviation #" in _suspension_rows(site, pid)[1]["why"]


def _first_task(site: Any, instance_id: int) -> str:
    from engine.models import InstanceTask

    with site.db.session() as session:
        return session.execute(select(InstanceTask.bpmn_id).where(
            InstanceTask.instance_id == instance_id, InstanceTask.manual.is_(True), InstanceTask.state == 16)
        ).scalars().first()


def _suspension_rows(site: Any, pid: int) -> list[dict[str, Any]]:
    from bpmn.work_permit.record import suspension_section

    with site.db.session() as session:
        return suspension_section(session, pid, {})["rows"]


def _notifications() -> Any:
    from notifications.models import Notification

    return Notification.__table__


def _exceptions() -> Any:
    from engine.runtime_models import InstanceException

    return InstanceException.__table__


@pytest.mark.req("URS-PTW-003", "P11-10i", "URS-GATE-001")
def test_an_untrained_or_unapproved_contractor_is_refused(site):
    from datetime import date

    site.contractor("carl", "Carl Contractor", date(2026, 6, 30))
    site.grant("carl", "SOP-EHS-001", "SOP-EHS-002")
    pid = site.start()
    crew = {**REQUEST, "crew": [{"member": "tom", "duty": "welder"}, {"member": "carl", "duty": "fire watch"}]}
    with pytest.raises(GateRefused, match="crew member Carl Contractor holds no qualification on SOP-EHS-010 v1"):
        site.complete(pid, "request", "rose", crew)
    site.grant("carl", "SOP-EHS-010")
    site.contractor("cody", "Cody Contractor", None)
    with pytest.raises(GateRefused, match="contractor Cody Contractor has no contract end date"):
        site.complete(pid, "request", "rose", {**crew, "crew": [{"member": "cody"}]})
    site.contractor("cleo", "Cleo Contractor", date(2026, 1, 5))
    site.grant("cleo", "SOP-EHS-001", "SOP-EHS-002", "SOP-EHS-010")
    with pytest.raises(GateRefused, match=r"contractor Cleo Contractor's access ends on 2026-01-05, before the permit "
                                          r"window ends \(2026-01-06T02:00:00\+00:00\)"):
        site.complete(pid, "request", "rose", {**crew, "crew": [{"member": "cleo"}], "valid_from": "2026-01-05 18:00",
                                               "valid_until": "2026-01-06 02:00"})
    assert site.ready(pid) == ["request"]
    site.complete(pid, "request", "rose", crew)
    assert site.ready(pid) == ["hazards_hot_work"]


@pytest.mark.req("URS-PTW-004", "P11-10g", "CN-3")
def test_the_same_person_cannot_approve_as_area_owner_and_as_ehs(site):
    pid = to_approval(site)
    site.complete(pid, "area_approval", "dual", {})
    found = refusal(site, pid, "issue", "dual")
    assert (found.gate, found.code) == ("permit_issue", "same_approver")
    with pytest.raises(GateRefused, match="Dana Owner-and-EHS approved this permit as area owner"):
        site.complete(pid, "issue", "dual", {})
    site.complete(pid, "issue", "eric", {})
    assert site.ready(pid) == ["work"]


@pytest.mark.req("URS-PTW-002", "P11-10h", "A11-5")
def test_close_out_with_an_isolation_not_removed_is_refused(site):
    pid = to_work(site)
    site.complete(pid, "work", "tom", {"work_complete": True, "work_report": "done"})
    site.sim.set("isolation.mcc_breaker_closed", True)  # the valve stays locked closed
    site.complete(pid, "remove_isolations", "ivan", {"locks_removed": True})
    assert site.ready(pid) == ["remove_isolations"]
    removal = site.data(pid, "remove_isolations")["removal_check"]
    assert [(p["tag"], p["value"], p["ok"]) for p in removal["points"]] == [
        ("ISO-BRK-02.closed", True, True), ("ISO-VLV-02.open", False, False)]
    site.sim.set("isolation.n2_valve_open", True)
    site.complete(pid, "remove_isolations", "ivan", {"locks_removed": True})
    site.complete(pid, "handback_requester", "rose", {"work_status": "completed"})
    site.sim.set("isolation.n2_valve_open", False)  # closed again before the area owner accepts
    with pytest.raises(GateRefused, match="isolation point ISO-VLV-02.open reads False now: it has not been restored"):
        site.complete(pid, "handback_area", "owen", {"area_inspected": True, "housekeeping": True})
    site.sim.set("isolation.n2_valve_open", True)
    with pytest.raises(GateRefused, match="the area must be inspected"):
        site.complete(pid, "handback_area", "owen", {"area_inspected": True, "housekeeping": False})
    site.complete(pid, "handback_area", "owen", {"area_inspected": True, "housekeeping": True})
    assert site.status(pid) == "completed"


@pytest.mark.req("URS-PTW-001", "URS-PTW-003")
@pytest.mark.parametrize("change,message", [
    ({"valid_from": "tomorrow"}, r"the permit window must give its start and end as date and time \(tomorrow - "),
    ({"valid_until": "2026-01-05 07:00"}, "the permit window ends .* before it starts"),
    ({"valid_from": "2026-01-04 06:00", "valid_until": "2026-01-04 07:00"}, "the permit window has already ended"),
    ({"valid_until": "2026-01-05 21:00"}, "a permit is valid for at most 12 hours; this window is 13 hours"),
    ({"crew": [{"member": "nobody"}]}, "crew member nobody has no user account"),
    ({"crew": [{"member": "tom"}, {"member": "tom"}]}, "crew member tom is listed twice"),
    ({"crew": []}, "name at least one crew member"),
    ({"work_type": "diving"}, "unknown work type diving"),
    ({"location": ""}, "Enter at least 1 characters"),
    ({"crew": [{"member": "ivan"}]}, "crew member Ivan Isolation holds no qualification on SOP-EHS-001 v1"),
])
def test_a_bad_request_is_refused_and_changes_nothing(site, change, message):
    pid = site.start()
    with pytest.raises((GateRefused, FormDataInvalid), match=message):
        site.complete(pid, "request", "rose", {**REQUEST, **change})
    assert site.ready(pid) == ["request"]


@pytest.mark.req("URS-PTW-001", "P11-10h")
def test_an_isolation_point_that_is_not_registered_or_not_an_isolation_tag_is_refused(site):
    pid = site.start()
    site.complete(pid, "request", "rose", REQUEST)
    site.complete(pid, "hazards_hot_work", "owen", HOT)
    with pytest.raises(FormDataInvalid, match="expected form"):
        site.complete(pid, "apply_isolations", "ivan", {"points": [{"tag": "GAS-01.o2", "lock_number": "L-1"}]})
    assert site.ready(pid) == ["apply_isolations"]
    # a point the plant cannot report is never taken as isolated: the task comes back with the reason
    site.complete(pid, "apply_isolations", "ivan", {"points": [{"tag": "ISO-BRK-99.closed", "lock_number": "L-1"}]})
    assert site.ready(pid) == ["apply_isolations"]
    point = site.data(pid, "apply_isolations")["isolation_check"]["points"][0]
    assert point["ok"] is False and point["value"] is None and "not in the effective tag registry" in point["error"]
