"""Supplier evaluation end to end on both databases: request, questionnaire, performance computed
from the system, the risk decision table, the audit of a high-risk supplier with a finding raised
as a CAPA, QC's qualification lots, the signed decision drafting the approved supplier list entry
under change control (a second QA person approves it), the supplier gate at dispensing reading it,
and the yearly re-evaluation started by its timer."""
from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest

from bpmn.supplier_evaluation import service
from core import clock
from engine.errors import GateRefused
from engine.links import related
from engine.tasks import gate_refusal
from masterdata import changes, lots
from store.uow import UnitOfWork

REQ = pytest.mark.req


def day(offset: int) -> date:
    return clock.now().date() + timedelta(days=offset)


def requested(sup: Any, supplier: str = "SUP-C", material: str = "MAT-LAC", criticality: str = "high",
              certification: str = "gmp") -> int:
    instance = sup.start("supplier_evaluation", user="rob")
    sup.complete(instance, "request", "rob", {"supplier": supplier, "material": material, "criticality": criticality,
                                              "scope": "lactose monohydrate, all grades"})
    sup.complete(instance, "questionnaire", "paula", {
        "quality_system": "documented QMS, internal audits yearly", "certification": certification,
        "certificates": "GMP cert 2025-117, valid 2028", "change_notification": True}, ("performed",))
    return instance


def qualified(sup: Any, instance: int, result: str = "pass") -> None:
    sup.complete(instance, "qualification", "cora", {"lots": [{"lot": "QL-1", "result": result, "report": "QC-R-1"},
                                                              {"lot": "QL-2", "result": result}],
                                                     "qualification_result": result}, ("performed",))


def approve_asl(sup: Any, instance: int) -> None:
    set_id = sup.inspect(instance)["data"]["asl"]["change_set"]
    sup.act("rita", changes.approve_set, sup.catalogue, set_id, reason="evaluation reviewed")
    sup.complete(instance, "confirm_asl", "rita", {"asl_comment": "in force"})


def dispensing_refusal(sup: Any, lot: str) -> Any:
    batch = sup.start("dispense_stub", {"lot": lot})
    with UnitOfWork(sup.db, sup["alice"].actor) as uow:
        return gate_refusal(uow, sup.task(batch, "dispense"), "alice", stage="claim")


@REQ("URS-SUP-001", "URS-GATE-003", "P11-10f", "A11-10", "CN-3")
def test_a_high_risk_supplier_is_audited_approved_and_its_lot_admitted_at_dispensing(sup):
    sup.act("cora", lots.receive_lot, lot="L-C1", material="MAT-LAC", supplier="SUP-C", quantity="25", unit="kg",
            expiry=day(400).isoformat(), note="first delivery")
    found = dispensing_refusal(sup, "L-C1")
    assert (found.gate, found.code) == ("supplier", "supplier_not_approved")

    instance = requested(sup, certification="none")
    data = sup.inspect(instance)["data"]
    assert (data["performance"]["history"], data["performance"]["lots_received"]) == ("good", 1)
    assert data["risk"] == "high" and sup.ready(instance) == ["audit"]
    sup.complete(instance, "audit", "sue", {"audit_date": day(0).isoformat(), "audit_outcome": "satisfactory", "findings": [
        {"finding": "No change control for raw material sources", "classification": "major", "capa": True},
        {"finding": "Training records not signed", "classification": "minor", "capa": False}]}, ("performed",))
    capas = sup.inspect(instance)["data"]["capas"]["deviations"]
    assert len(capas) == 1
    deviation = sup.inspect(int(capas[0]))
    context = deviation["data"]["deviation"]["context"]
    assert (context["source_kind"], context["supplier"], context["material"]) == ("audit_finding", "SUP-C", "MAT-LAC")
    assert deviation["data"]["deviation"]["severity"] == "major"
    with sup.db.session() as session:
        assert [r.instance_id for r in related(session, instance, process="deviation")] == [int(capas[0])]
    qualified(sup, instance)
    sup.complete(instance, "decide", "quinn", {"decision": "approved", "valid_until": day(365).isoformat(),
                                               "rationale": "audit satisfactory, lots comply"}, ("approved",))
    # the entry is drafted under change control: not in force until a second QA person approves it
    with pytest.raises(GateRefused, match="entry SUP-C:MAT-LAC is draft: a second QA person approves it"):
        sup.complete(instance, "confirm_asl", "rita", {})
    approve_asl(sup, instance)
    with sup.db.session() as session:
        entry = changes.effective(session, "approved_supplier", "SUP-C:MAT-LAC")
    assert entry.data["status"] == "approved" and entry.data["valid_until"] == day(365).isoformat()
    assert entry.data["scope"] == "lactose monohydrate, all grades" and "conditions" not in entry.data
    sup.act("cora", lots.change_lot_status, "L-C1", "released", reason="COA reviewed, identity test passed")
    assert dispensing_refusal(sup, "L-C1") is None  # the supplier gate reads the new entry
    assert sup.ready(instance) == []  # waiting for the re-evaluation
    sections = record_sections(sup, instance)
    assert list(sections) == ["evaluation", "audit", "qualification", "decision"]
    evaluation = {r["item"]: r["value"] for r in sections["evaluation"]["rows"]}
    assert evaluation["Criticality (关键程度)"] == "high (高)"
    assert evaluation["History (历史)"] == "good (良好)"
    assert evaluation["Risk (decision table supplier_risk) (风险)"] == "HIGH: audit required (高:需审计)"
    deviation_key = sup.inspect(int(capas[0]))["business_key"] or f"#{capas[0]}"  # the stand-in has no key
    assert [(r["finding"], r["capa"]) for r in sections["audit"]["rows"]] == [
        ("No change control for raw material sources", deviation_key),
        ("Training records not signed", "no CAPA")]
    assert [r["result"] for r in sections["qualification"]["rows"]] == ["complies (符合)"] * 2
    decision = {r["item"]: r["value"] for r in sections["decision"]["rows"]}
    assert decision["Approved supplier list entry (合格供应商名录条目)"] == (
        f"SUP-C:MAT-LAC (approved, valid until {day(365).isoformat()})")
    assert decision["Entry approved by a second QA person (第二名 QA 批准)"] == "yes (是)"


def record_sections(sup: Any, instance: int) -> dict[str, Any]:
    """The evaluation's own sections as the record (and the task page) builds them."""
    from engine.record_sections import build_sections
    from engine.runtime import current_runtime

    with sup.db.session() as session:
        found = build_sections(current_runtime().record_sections, session, "supplier_evaluation", instance, {})
    assert all(s["error"] is None for s in found), found
    return {s["key"]: s for s in found}


@REQ("URS-SUP-001", "URS-GATE-003", "P11-10f")
def test_a_rejected_suppliers_lot_is_refused_at_dispensing(sup):
    instance = requested(sup, criticality="low", certification="none")
    assert sup.inspect(instance)["data"]["risk"] == "low" and sup.ready(instance) == ["qualification"]
    qualified(sup, instance, "fail")
    with pytest.raises(GateRefused, match="the qualification lots did not comply"):
        sup.complete(instance, "decide", "quinn", {"decision": "approved", "valid_until": day(300).isoformat()}, ("approved",))
    sup.complete(instance, "decide", "quinn", {"decision": "rejected", "rationale": "lots failed"}, ("approved",))
    approve_asl(sup, instance)
    assert sup.inspect(instance)["status"] == "completed"
    sup.act("cora", lots.receive_lot, lot="L-C2", material="MAT-LAC", supplier="SUP-C", quantity="25", unit="kg",
            expiry=day(400).isoformat())
    found = dispensing_refusal(sup, "L-C2")
    assert (found.gate, found.code, found.detail) == (
        "supplier", "supplier_rejected", "lot L-C2: supplier SUP-C is rejected for MAT-LAC")


@REQ("URS-SUP-001", "URS-SUP-002")
@pytest.mark.parametrize("case", [
    ("SUP-C", "high", "gmp", 0, "new", "high"),
    ("SUP-A", "medium", "gmp", 0, "good", "low"),
    ("SUP-A", "medium", "none", 0, "good", "medium"),
    ("SUP-A", "high", "iso9001", 0, "good", "medium"),
    ("SUP-A", "high", "iso9001", 1, "fair", "high"),
    ("SUP-B", "low", "gmp", 3, "poor", "medium"),
])
def test_the_risk_table_crosses_criticality_history_and_certification(sup, case):
    supplier, criticality, certification, rejected, history, risk = case
    material = "MAT-API" if supplier != "SUP-B" else "MAT-LAC"
    if supplier == "SUP-A":
        sup.act("cora", lots.receive_lot, lot="L-A0", material=material, supplier=supplier, quantity="5", unit="kg",
                expiry=day(300).isoformat())
    for n in range(rejected):
        sup.act("cora", lots.receive_lot, lot=f"L-R{n}", material=material, supplier=supplier, quantity="5", unit="kg",
                expiry=day(300).isoformat())
        sup.act("cora", lots.change_lot_status, f"L-R{n}", "rejected", reason="OOS assay")
    instance = requested(sup, supplier, material, criticality, certification)
    data = sup.inspect(instance)["data"]
    assert (data["performance"]["history"], data["risk"]) == (history, risk)
    assert len(data["performance"]["lots_rejected"]) == rejected


@REQ("URS-SUP-002", "CN-5")
def test_the_yearly_re_evaluation_starts_on_its_timer_with_performance_from_the_system(sup, runtime):
    from engine import instances
    from engine.scheduler import Scheduler

    instance = requested(sup, criticality="medium")
    qualified(sup, instance)
    sup.complete(instance, "decide", "quinn", {"decision": "conditional", "valid_until": day(200).isoformat(),
                                               "conditions": "COA and identity test on every lot"}, ("approved",))
    approve_asl(sup, instance)
    asl = sup.inspect(instance)["data"]["asl"]
    assert asl["reevaluate_at"] == f"{day(170).isoformat()}T00:00:00Z"  # 30 days before the approval ends
    sup.clock.advance(days=169)
    Scheduler(sup.db, sup.settings, runtime=runtime).run_once()
    with sup.db.session() as session:
        assert related(session, instance, relation="started") == []
    sup.clock.advance(days=1)
    Scheduler(sup.db, sup.settings, runtime=runtime).run_once()
    with sup.db.session() as session:
        started = related(session, instance, relation="started")
        assert [(r.process, r.status) for r in started] == [("supplier_evaluation", "running")]
        assert instances.inspect(session, instance)["status"] == "completed"
    again = started[0].instance_id
    assert sup.inspect(again)["business_key"] == "SE-0002"
    assert sup.inspect(again)["data"]["reevaluation"]["supplier"] == "SUP-C"
    assert sup.ready(again) == ["request"]
    # the re-evaluation names supplier and material: its request presets them (read-only)
    sup.complete(again, "request", "rob", {"criticality": "medium", "scope": "lactose monohydrate, all grades"})
    assert (sup.inspect(again)["data"]["supplier"], sup.inspect(again)["data"]["material"]) == ("SUP-C", "MAT-LAC")


@REQ("URS-SUP-001", "P11-10f")
def test_requests_and_decisions_that_cannot_stand_are_refused_changing_nothing(sup):
    instance = sup.start("supplier_evaluation", user="rob")
    for supplier, material, message in (("SUP-X", "MAT-LAC", "supplier SUP-X is not in the master data in force"),
                                        ("SUP-C", "MAT-X", "material MAT-X is not in the master data in force")):
        with pytest.raises(GateRefused, match=message):
            sup.complete(instance, "request", "rob", {"supplier": supplier, "material": material,
                                                      "criticality": "high", "scope": "x"})
    assert sup.ready(instance) == ["request"]
    instance = requested(sup, criticality="high", certification="none")
    sup.complete(instance, "audit", "sue", {"audit_date": day(0).isoformat(), "audit_outcome": "unsatisfactory"}, ("performed",))
    assert sup.inspect(instance)["data"]["capas"] == {"deviations": []}
    qualified(sup, instance)
    for decision, message in (
            ({"decision": "approved"}, "an approval names the date it is valid until"),
            ({"decision": "approved", "valid_until": day(0).isoformat()}, r"the approval must be valid after today"),
            ({"decision": "conditional", "valid_until": day(90).isoformat()}, "a conditional approval names its conditions"),
            ({"decision": "approved", "valid_until": day(90).isoformat()},
             r"a high-risk supplier is approved only after a satisfactory audit \(audit: unsatisfactory\)")):
        with pytest.raises(GateRefused, match=message):
            sup.complete(instance, "decide", "quinn", decision, ("approved",))
    assert sup.ready(instance) == ["decide"]
    with sup.db.session() as session:
        assert changes.effective(session, "approved_supplier", "SUP-C:MAT-LAC") is None
        assert service.performance(session, "SUP-C")["history"] == "new"


@REQ("URS-SUP-001", "URS-FRM-009", "P11-10f", "ALCOA-ACCURATE")
def test_an_evaluation_started_for_a_supplier_presets_it_and_refuses_a_changed_one_storing_nothing(sup):
    from sqlalchemy import func, select

    from audit.models import AuditEntry
    from engine.errors import FormDataInvalid

    instance = sup.start("supplier_evaluation", {"evaluation": {"supplier": "SUP-C", "material": "MAT-LAC"}}, user="rob")

    def completions() -> int:
        with sup.db.session() as session:
            return session.scalar(select(func.count()).select_from(AuditEntry).where(
                AuditEntry.action == "task.completed"))

    before = completions()
    for tampered, label in (({"supplier": "SUP-A"}, "Supplier (code) (supplier)"),  # in the master data: the gate
                            ({"material": "MAT-API"}, "Material (code) (material)")):  # passes, the form refuses
        with pytest.raises(FormDataInvalid, match=re.escape(f"{label}: This value is set by the form and cannot be "
                                                            "changed.")):
            sup.complete(instance, "request", "rob", {"supplier": "SUP-C", "material": "MAT-LAC", "criticality": "high",
                                                      "scope": "lactose", **tampered})
    assert sup.ready(instance) == ["request"] and completions() == before
    assert "criticality" not in sup.inspect(instance)["data"]
    # the requester gives what the start did not: criticality and scope (a copy equal to the preset is no change)
    sup.complete(instance, "request", "rob", {"criticality": "medium", "scope": "lactose monohydrate"})
    data = sup.inspect(instance)["data"]
    assert (data["supplier"], data["material"], data["criticality"]) == ("SUP-C", "MAT-LAC", "medium")
    assert sup.ready(instance) == ["questionnaire"]
    # started without them (the home page's title form): the requester names them, the gate checks them
    other = sup.start("supplier_evaluation", user="rob")
    with pytest.raises(GateRefused, match="supplier SUP-X is not in the master data in force"):
        sup.complete(other, "request", "rob", {"supplier": "SUP-X", "material": "MAT-LAC", "criticality": "low",
                                               "scope": "x"})
    sup.complete(other, "request", "rob", {"supplier": "SUP-C", "material": "MAT-LAC", "criticality": "low",
                                           "scope": "x"})
    assert sup.inspect(other)["data"]["supplier"] == "SUP-C"
