"""The deviation process's other paths and every refusal (both databases): the
classification table case by case, a report recorded by QA for a deviation started without
one, an overdue investigation escalated (timer and notifications), CAPA actions starting a
document revision and a retraining as linked instances, an ineffective CAPA sent back to
planning, a rejected batch, and each bad input refused with its code, nothing changed."""
from __future__ import annotations

import json
from itertools import product

import pytest
from sqlalchemy import select

from audit.models import AuditEntry
from bpmn.deviation_capa import FOLDER
from engine import links
from engine.errors import FormDataInvalid, GateRefused
from engine.models import InstanceTask, ProcessInstance
from engine.scheduler import Scheduler
from engine.spiff.workflow import READY
from tests.processes.deviation_capa.conftest import STUBS, bundle, ready, task_data
from tests.processes.deviation_capa.test_deviation_flow import TRIAGE, batch, investigation, raise_deviation

# The classification every combination must give (the table's specification, read row by row).
EXPECTED = {
    "high": {"rare": {"high": "major", "medium": "major", "low": "critical"},
             "occasional": {"high": "major", "medium": "major", "low": "critical"},
             "frequent": {"high": "critical", "medium": "critical", "low": "critical"}},
    "medium": {"rare": {"high": "minor", "medium": "minor", "low": "major"},
               "occasional": {"high": "minor", "medium": "major", "low": "major"},
               "frequent": {"high": "major", "medium": "major", "low": "major"}},
    "low": {"rare": {"high": "minor", "medium": "minor", "low": "minor"},
            "occasional": {"high": "minor", "medium": "minor", "low": "minor"},
            "frequent": {"high": "minor", "medium": "minor", "low": "major"}},
}
CLASSIFY_ONLY = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
 xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d" targetNamespace="x">
 <bpmn:process id="classify_only" isExecutable="true">
  <bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="c"/>
  <bpmn:businessRuleTask id="c"><bpmn:extensionElements>
   <spiffworkflow:calledDecisionId>deviation_class</spiffworkflow:calledDecisionId></bpmn:extensionElements>
  </bpmn:businessRuleTask><bpmn:sequenceFlow id="f2" sourceRef="c" targetRef="e"/><bpmn:endEvent id="e"/>
 </bpmn:process></bpmn:definitions>"""


@pytest.mark.req("URS-DEV-001", "A11-13")
def test_the_classification_table_gives_each_of_the_27_combinations_its_class():
    """The shipped decision table (deviation_class.dmn), run by the engine's script engine."""
    from SpiffWorkflow.bpmn import BpmnWorkflow
    from SpiffWorkflow.spiff.parser.process import VALIDATOR

    from engine.spiff.parser import GmpBpmnParser
    from engine.spiff.script_engine import attach_script_engine, make_script_engine

    parser = GmpBpmnParser(validator=VALIDATOR)
    parser.add_dmn_str((FOLDER / "deviation_class.dmn").read_bytes(), filename="deviation_class.dmn")
    parser.add_bpmn_str(CLASSIFY_ONLY.encode(), filename="classify_only.bpmn")
    spec, subprocesses = parser.get_spec("classify_only"), parser.get_subprocess_specs("classify_only")
    engine = make_script_engine()
    found = {}
    for severity, occurrence, detectability in product(("low", "medium", "high"), ("rare", "occasional", "frequent"),
                                                       ("high", "medium", "low")):
        wf = BpmnWorkflow(spec, subprocesses)
        attach_script_engine(wf, engine=engine)
        wf.task_tree.set_data(severity=severity, occurrence=occurrence, detectability=detectability)
        wf.do_engine_steps()
        assert wf.is_completed()
        found[severity, occurrence, detectability] = wf.data["classification"]
    expected = {(s, o, d): EXPECTED[s][o][d] for s, o, d in found}
    assert found == expected
    assert sorted(set(found.values())) == ["critical", "major", "minor"]


def test_the_process_classifies_by_the_table_at_triage(dev_site):
    plant = dev_site
    deviation = raise_deviation(plant, batch(plant, "B-2026-0001"), {"source_kind": "yield", "batch": "B-2026-0001"})
    plant.complete(deviation, "triage", "quinn", {**TRIAGE, "severity": "high", "occurrence": "frequent",
                                                  "detectability": "low"}, ("classified",))
    assert task_data(plant.db, deviation, "investigate")["classification"] == "critical"


@pytest.mark.req("URS-DEV-001", "A11-13", "ALCOA-COMPLETE")
def test_a_deviation_started_without_a_report_asks_qa_to_record_it_and_an_unknown_batch_never_stops_a_raise(dev_site):
    plant = dev_site
    one = batch(plant, "B-2026-0001")
    started = plant.start("deviation", user="quinn", title="Reported by phone")
    assert ready(plant.db, started) == ["report"]
    with pytest.raises(FormDataInvalid):  # the title is required
        plant.complete(started, "report", "quinn", {"deviation": {"description": "x", "occurred_on": "2026-01-05"}})
    plant.complete(started, "report", "quinn", {"deviation": {
        "title": "Label roll mixed up", "description": "Wrong label roll found at line 2",
        "occurred_on": "2026-01-05", "batch": "B-2026-0001", "severity": "major"}})
    assert ready(plant.db, started) == ["triage"]
    with plant.db.session() as session:
        assert [(r.relation, r.instance_id) for r in links.related(session, started)] == [("affects", one)]
    assert plant.refusal(one, "release", "peter").code == "deviation_open"

    raised = raise_deviation(plant, one, {"source_kind": "calibration_oot", "impacted_batches": ["B-9999-0001", ""]})
    data = task_data(plant.db, raised, "triage")
    assert data["intake"] == {"reported": True, "linked": [], "unresolved": ["B-9999-0001"]}


def _refused(plant, deviation, bpmn_id, user, data, meanings, code):  # type: ignore[no-untyped-def]
    with pytest.raises(GateRefused) as caught:
        plant.complete(deviation, bpmn_id, user, data, meanings)
    assert caught.value.code == code, caught.value.detail
    return caught.value.detail


@pytest.mark.req("URS-DEV-001", "URS-DEV-002", "P11-10f", "A11-13")
def test_bad_triage_investigation_capa_and_closure_entries_are_refused_and_change_nothing(dev_site):
    plant = dev_site
    one, two = batch(plant, "B-2026-0001"), batch(plant, "B-2026-0002")
    deviation = raise_deviation(plant, one, {"source_kind": "ipc_oos", "batch": "B-2026-0001"})
    with plant.db.session() as session:
        links_before = len(links.links_of(session, deviation))
    refusals = {
        "unknown_owner": {**TRIAGE, "investigation_owner": "nobody"},
        "owner_not_investigator": {**TRIAGE, "investigation_owner": "alice"},
        "due_in_past": {**TRIAGE, "investigation_due": "2026-01-04"},
        "unknown_batch": {**TRIAGE, "affected_batches": [{"batch": "B-2026-0404"}]},
    }
    details = {code: _refused(plant, deviation, "triage", "quinn", data, ("classified",), code)
               for code, data in refusals.items()}
    assert details["unknown_owner"] == "the investigation owner nobody is not a user of this system"
    assert details["due_in_past"] == "the due date 2026-01-04 is in the past (today is 2026-01-05)"
    assert details["unknown_batch"].startswith("batch B-2026-0404 is not known: give its batch number")
    with pytest.raises(FormDataInvalid):
        plant.complete(deviation, "triage", "quinn", {**TRIAGE, "severity": "enormous"}, ("classified",))
    assert ready(plant.db, deviation) == ["triage"]
    with plant.db.session() as session:
        assert len(links.links_of(session, deviation)) == links_before
        refused = session.scalars(select(AuditEntry).where(AuditEntry.action == "task.refused")).all()
        assert {json.loads(e.details or "{}").get("code") for e in refused} >= set(refusals)

    plant.complete(deviation, "triage", "quinn", {**TRIAGE, "affected_batches": [{"batch": "B-2026-0002"}]},
                   ("classified",))
    assert plant.refusal(two, "release", "peter").code == "deviation_open"  # named at triage: on hold

    with pytest.raises(GateRefused, match="only they may take it"):
        plant.claim(deviation, "investigate", "olga")
    assert _refused(plant, deviation, "investigate", "ivan", investigation("B-2026-0001"), ("performed",),
                    "impact_missing") == "the product impact on batch B-2026-0002 is not assessed"
    _refused(plant, deviation, "investigate", "ivan", investigation("B-2026-0001", "B-2026-0002", "B-2026-0002"),
             ("performed",), "impact_twice")
    other = batch(plant, "B-2026-0003")
    assert other
    _refused(plant, deviation, "investigate", "ivan", investigation("B-2026-0001", "B-2026-0002", "B-2026-0003"),
             ("performed",), "impact_not_linked")
    plant.complete(deviation, "investigate", "ivan", investigation("B-2026-0001", "B-2026-0002"), ("performed",))

    good = {"kind": "corrective", "description": "Retrain the line", "owner": "ivan", "due": "2026-01-20",
            "starts": "none"}
    for code, bad in {"unknown_owner": {"owner": "ghost"}, "owner_not_investigator": {"owner": "quinn"},
                      "due_in_past": {"due": "2025-12-31"}, "document_missing": {"starts": "document_revision"},
                      "revision_process_missing": {"starts": "document_revision", "document": "SOP-PRD-012"},
                      "trainee_missing": {"starts": "retraining", "document": "SOP-PRD-012"}}.items():
        detail = _refused(plant, deviation, "capa_plan", "ivan", {"actions": [good, {**good, **bad}]}, (), code)
        assert detail.startswith("action 2: "), detail
    with pytest.raises(FormDataInvalid):
        plant.complete(deviation, "capa_plan", "ivan", {"actions": []})
    assert ready(plant.db, deviation) == ["capa_plan"]


def _approve(plant, deviation, actions):  # type: ignore[no-untyped-def]
    plant.complete(deviation, "capa_plan", "ivan", {"actions": actions})
    plant.complete(deviation, "review_capa", "quinn", {"decision": "approve", "effectiveness_days": 10})
    plant.complete(deviation, "approve_capa", "rita", {}, ("approved",))


def _action_tasks(plant, deviation) -> dict[str, tuple[str, dict]]:  # type: ignore[no-untyped-def, type-arg]
    with plant.db.session() as session:
        rows = session.execute(select(InstanceTask.id, InstanceTask.body).where(
            InstanceTask.instance_id == deviation, InstanceTask.bpmn_id == "do_action", InstanceTask.state == READY,
            InstanceTask.dropped.is_(False))).all()
    return {json.loads(body)["data"]["action"]["description"]: (tid, json.loads(body)["data"]["action"])
            for tid, body in rows}


def _at_capa(plant, context=None):  # type: ignore[no-untyped-def]
    one = batch(plant, "B-2026-0001")
    deviation = raise_deviation(plant, one, context or {"source_kind": "ipc_oos", "batch": "B-2026-0001"})
    plant.complete(deviation, "triage", "quinn", TRIAGE, ("classified",))
    plant.complete(deviation, "investigate", "ivan", investigation("B-2026-0001"), ("performed",))
    return one, deviation


@pytest.mark.req("URS-DEV-003", "A11-13", "P11-10f")
def test_capa_actions_start_a_document_revision_and_a_retraining_linked_both_ways(dev_site):
    plant = dev_site
    plant.deploy(bundle(STUBS / "stub_document"))
    plant.deploy(bundle(STUBS / "stub_training"))
    one, deviation = _at_capa(plant)
    _refused(plant, deviation, "capa_plan", "ivan", {"actions": [{
        "kind": "preventive", "description": "Retrain", "owner": "ivan", "due": "2026-01-20", "starts": "retraining",
        "document": "SOP-PRD-012", "trainee": "alice"}]}, (), "version_missing")
    _approve(plant, deviation, [
        {"kind": "corrective", "description": "Revise SOP-PRD-012", "owner": "ivan", "due": "2026-01-20",
         "starts": "document_revision", "document": "SOP-PRD-012"},
        {"kind": "preventive", "description": "Retrain Alice", "owner": "olga", "due": "2026-01-25",
         "starts": "retraining", "document": "SOP-PRD-012", "document_version": 5, "trainee": "alice"}])
    with plant.db.session() as session:
        started = {r.process: r for r in links.related(session, deviation, relation="started")}
        assert set(started) == {"document_lifecycle", "training"}
        revision, training = started["document_lifecycle"], started["training"]
        assert (revision.business_key, training.business_key) == ("REV-001", "TRN-0001")
        back = links.related(session, revision.instance_id, relation="started_by")
        assert [(r.instance_id, r.business_key) for r in back] == [(deviation, "DEV-2026-0001")]
    assert task_data(plant.db, revision.instance_id, "close")["document"] == {
        "code": "SOP-PRD-012", "reason": "CAPA DEV-2026-0001: Revise SOP-PRD-012", "capa": "DEV-2026-0001"}
    assert task_data(plant.db, training.instance_id, "close")["training"] == {
        "trainee": "alice", "documents": [{"code": "SOP-PRD-012", "version": 5}], "trigger": "capa",
        "reason": "CAPA DEV-2026-0001: Retrain Alice"}

    tasks = _action_tasks(plant, deviation)
    revise_id, revise = tasks["Revise SOP-PRD-012"]
    assert revise["linked"] == {"process": "document_lifecycle", "instance_id": revision.instance_id,
                                "business_key": "REV-001"}
    result = {"result": {"evidence": "SOP-PRD-012 v5 effective", "done_on": "2026-01-08"}}
    with pytest.raises(GateRefused, match="the document revision REV-001 this action started is still open"):
        plant.complete(deviation, "do_action", "ivan", result, ("performed",), task_id=revise_id)
    plant.complete(revision.instance_id, "close", "dora")
    plant.complete(deviation, "do_action", "ivan", result, ("performed",), task_id=revise_id)
    train_id, _ = tasks["Retrain Alice"]
    with pytest.raises(GateRefused) as caught:
        plant.complete(deviation, "do_action", "olga", result, ("performed",), task_id=train_id)
    assert caught.value.code == "training_open"
    plant.complete(training.instance_id, "close", "tess")
    plant.complete(deviation, "do_action", "olga", result, ("performed",), task_id=train_id)
    assert ready(plant.db, deviation) == []


@pytest.mark.req("URS-DEV-003", "A11-13", "P11-10f")
def test_an_ineffective_capa_goes_back_to_planning_and_a_rejected_batch_is_recorded(dev_site):
    from bpmn.deviation_capa.records import dispositions_of

    plant = dev_site
    one, deviation = _at_capa(plant)
    action = {"kind": "corrective", "description": "Fix", "owner": "ivan", "due": "2026-01-20", "starts": "none"}
    _approve(plant, deviation, [action])
    tid, _ = _action_tasks(plant, deviation)["Fix"]
    plant.complete(deviation, "do_action", "ivan", {"result": {"evidence": "done", "done_on": "2026-01-06"}},
                   ("performed",), task_id=tid)
    plant.clock.advance(days=9)
    Scheduler(plant.db, plant.settings).run_once()
    assert ready(plant.db, deviation) == []  # ten days
    plant.clock.advance(days=1)
    Scheduler(plant.db, plant.settings).run_once()
    plant.complete(deviation, "effectiveness", "quinn", {"effective": "no", "effectiveness_evidence": "it recurred"},
                   ("reviewed",))
    assert ready(plant.db, deviation) == ["capa_plan"]
    _approve(plant, deviation, [{**action, "description": "Fix properly", "due": "2026-01-30"}])
    tid, _ = _action_tasks(plant, deviation)["Fix properly"]
    plant.complete(deviation, "do_action", "ivan", {"result": {"evidence": "done", "done_on": "2026-01-16"}},
                   ("performed",), task_id=tid)
    plant.clock.advance(days=10)
    Scheduler(plant.db, plant.settings).run_once()
    plant.complete(deviation, "effectiveness", "quinn", {"effective": "yes", "effectiveness_evidence": "no repeat"},
                   ("reviewed",))
    assert _refused(plant, deviation, "close", "quinn", {"closure_summary": "closed"}, ("closed",),
                    "disposition_missing") == "no disposition (release or reject) for batch B-2026-0001"
    plant.complete(deviation, "close", "quinn", {
        "dispositions": [{"batch": "B-2026-0001", "disposition": "reject", "rationale": "impact confirmed"}],
        "closure_summary": "batch rejected"}, ("closed",))
    assert plant.status(deviation) == "completed"
    with plant.db.session() as session:
        assert dispositions_of(session, one) == [{"deviation": "DEV-2026-0001", "deviation_instance_id": deviation,
                                                  "disposition": "reject", "rationale": "impact confirmed",
                                                  "at": dispositions_of(session, one)[0]["at"], "by": "quinn"}]


@pytest.mark.req("URS-DEV-002", "A11-13")
def test_an_overdue_investigation_is_escalated_to_qa_and_notified(dev_site):
    from notifications.models import Notification
    from notifications.overdue import OVERDUE_KIND, notify_overdue

    plant = dev_site
    one = batch(plant, "B-2026-0001")
    deviation = raise_deviation(plant, one, {"source_kind": "ipc_oos", "batch": "B-2026-0001"})
    plant.complete(deviation, "triage", "quinn", {**TRIAGE, "investigation_due": "2026-01-05"}, ("classified",))
    scheduler = Scheduler(plant.db, plant.settings)
    scheduler.run_once()
    assert ready(plant.db, deviation) == ["investigate"]
    plant.clock.advance(hours=14)  # 2026-01-05 22:00: due today, not overdue
    scheduler.run_once()
    assert ready(plant.db, deviation) == ["investigate"]
    assert notify_overdue(plant.db, plant.settings).notified == 0
    plant.clock.advance(hours=3)  # 2026-01-06 01:00: overdue
    scheduler.run_once()
    assert ready(plant.db, deviation) == ["investigate", "escalate"]
    notify_overdue(plant.db, plant.settings)
    with plant.db.session() as session:
        sent = session.execute(select(Notification.user_id, Notification.title).where(
            Notification.kind == OVERDUE_KIND)).all()
    assert sorted(sent) == [("ivan", "Overdue: Investigate: root cause and product impact"),
                            ("olga", "Overdue: Investigate: root cause and product impact"),
                            ("quinn", "Overdue: Escalation: investigation overdue"),
                            ("rita", "Overdue: Escalation: investigation overdue")]
    with pytest.raises(FormDataInvalid):
        plant.complete(deviation, "escalate", "quinn", {})
    plant.complete(deviation, "escalate", "quinn", {"escalation_action": "Owner reminded; new target 2026-01-09"})
    plant.complete(deviation, "investigate", "ivan", investigation("B-2026-0001"), ("performed",))
    assert ready(plant.db, deviation) == ["capa_plan"]
    with plant.db.session() as session:
        assert session.get(ProcessInstance, deviation).status == "running"
