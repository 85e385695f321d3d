"""The library's gates on real master data, through the engine's task services (claim,
inbox, completion): training, equipment, supplier, QP. Each refuses with a code and the
parameters that name what is missing, admits once the data allows it, and closes again
the moment a date passes on the product clock. Gates read only the revision in force."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from audit.models import AuditEntry
from engine import definitions, instances, tasks
from engine.errors import GateRefused
from engine.models import InstanceTask
from engine.ports import SignatureInput, default_services
from masterdata import calibration, checks, equipment_log, lots, qualifications
from store.uow import UnitOfWork

PROCESS = Path(__file__).resolve().parent / "processes" / "gated"


@pytest.fixture
def gated(stocked, runtime):  # type: ignore[no-untyped-def]
    """The plant, the library's gates in this test's runtime, and the `gated` process approved."""
    from bpmn.glue import extend

    extend(runtime)
    plant = stocked
    files = {str(p.relative_to(PROCESS)): p.read_bytes() for p in sorted(PROCESS.rglob("*")) if p.is_file()}
    services = default_services(plant.settings)
    with UnitOfWork(plant.db, plant["quinn"].actor) as uow:
        version = definitions.upload(uow, files, reason="gated steps", services=services)
        uow.commit()
    creds = plant.creds("rita")
    with UnitOfWork(plant.db, plant["rita"].actor) as uow:
        definitions.approve(uow, version.id, SignatureInput("approved", "rita", {
            "password": creds.password, "totp": creds.totp}), services=services)
        uow.commit()
    return plant


def start(plant, data: dict[str, Any] | None = None) -> int:  # type: ignore[no-untyped-def]
    with UnitOfWork(plant.db, plant["sam"].actor) as uow:
        instance = instances.start(uow, "gated", title="Batch B-001", data=data or {}, settings=plant.settings)
        uow.commit()
        return instance.id


def task_id(plant, instance_id: int, bpmn_id: str) -> str:  # type: ignore[no-untyped-def]
    with plant.db.session() as session:
        return session.scalar(select(InstanceTask.id).where(InstanceTask.instance_id == instance_id,
                                                            InstanceTask.bpmn_id == bpmn_id))


def refusal(plant, instance_id: int, bpmn_id: str, user: str = "alice"):  # type: ignore[no-untyped-def]
    """Why claiming the task would be refused for `user` now (None: admitted)."""
    with UnitOfWork(plant.db, plant[user].actor) as uow:
        return tasks.gate_refusal(uow, task_id(plant, instance_id, bpmn_id), user, stage="claim")


def claim(plant, instance_id: int, bpmn_id: str, user: str = "alice"):  # type: ignore[no-untyped-def]
    with UnitOfWork(plant.db, plant[user].actor) as uow:
        row = tasks.claim(uow, task_id(plant, instance_id, bpmn_id))
        uow.commit()
        return row.claimed_by


def grant(plant, user, sop, version, **kw):  # type: ignore[no-untyped-def]
    kw.setdefault("basis", "read and understood; practical assessment passed")
    return plant.act("tess", qualifications.grant_qualification, user, sop, version, **kw)


def log(plant, equipment, status, who="alice", **kw):  # type: ignore[no-untyped-def]
    return plant.act(who, equipment_log.log_equipment, equipment, status, note=kw.pop("note", "per SOP"), **kw)


def ready(plant, equipment):  # type: ignore[no-untyped-def]
    log(plant, equipment, "clean")
    log(plant, equipment, "released", who="sam")


def code(found) -> tuple[str | None, str | None]:  # type: ignore[no-untyped-def]
    return (found.gate, found.code) if found is not None else (None, None)


@pytest.mark.req("URS-GATE-001", "URS-GATE-005", "URS-MD-008", "P11-10i", "A11-10", "CN-3")
def test_training_gate_needs_a_current_qualification_on_the_version_in_force(gated):
    plant = gated
    ready(plant, "GR-02")
    batch = start(plant, {"recipe": "RCP-PARA-500"})
    found = refusal(plant, batch, "granulate")
    assert code(found) == ("training", "not_qualified")
    assert found.detail == "Alice Operator holds no qualification on SOP-PRD-012 v4 (effective since 2026-01-01)"
    with pytest.raises(GateRefused, match="Alice Operator holds no qualification on SOP-PRD-012 v4"):
        claim(plant, batch, "granulate")
    with plant.db.session() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "task.claim_refused")).all()[-1]
        assert entry.actor_id == "alice" and "SOP-PRD-012 v4" in entry.reason

    grant(plant, "alice", "SOP-PRD-012", 4, valid_until="2026-12-31")
    assert refusal(plant, batch, "granulate") is None

    # v5 approved today, in force from 1 February: the gate reads v4 until then
    plant.put_in_force("document", {"SOP-PRD-012": {"title": "Granulation", "type": "sop", "version": 5,
                                                    "effective_date": "2026-02-01"}},
                       action="change", effective_from="2026-02-01")
    assert refusal(plant, batch, "granulate") is None
    plant.clock.advance(days=27)  # 2026-02-01
    found = refusal(plant, batch, "granulate")
    assert code(found) == ("training", "old_version")
    assert found.detail == "Alice Operator holds SOP-PRD-012 v4; the task needs v5, effective since 2026-02-01"
    assert found.params["held"] == 4 and found.params["version"] == 5
    grant(plant, "alice", "SOP-PRD-012", 5, valid_until="2026-02-10")
    assert claim(plant, batch, "granulate") == "alice"

    # the validity end closes the gate the next day, without a job
    plant.clock.advance(days=10)  # 2026-02-11
    assert refusal(plant, batch, "granulate").detail == \
        "Alice Operator's qualification on SOP-PRD-012 v5 expired on 2026-02-10"


@pytest.mark.req("URS-GATE-001", "URS-MD-005", "P11-10i")
def test_training_gate_refuses_a_revoked_or_unknown_sop_and_reads_the_recipe_sops(gated):
    plant = gated
    ready(plant, "GR-02")
    batch = start(plant, {"recipe": "RCP-PARA-500"})
    held = grant(plant, "bob", "SOP-PRD-012", 4)
    assert refusal(plant, batch, "granulate", "bob") is None
    plant.act("quinn", qualifications.revoke_qualification, held.id, reason="failed the practical re-assessment")
    found = refusal(plant, batch, "granulate", "bob")
    assert code(found) == ("training", "revoked") and found.detail == \
        "Bob Operator's qualification on SOP-PRD-012 v4 was revoked on 2026-01-05"
    with plant.db.session() as session:
        assert checks.required_sops(session, ["@recipe", "SOP-X"], {"recipe": "RCP-PARA-500"}) == \
            ["SOP-PRD-012", "SOP-DSP-001", "SOP-X"]
        problems = checks.training_problems(session, "bob", ["SOP-X", "SOP-DSP-001"])
        assert [p.code for p in problems] == ["unknown_sop", "not_qualified"]
    grant(plant, "bob", "SOP-PRD-012", 4, granted_on="2026-01-20")
    assert code(refusal(plant, batch, "granulate", "bob")) == ("training", "not_yet_valid")


@pytest.mark.req("URS-GATE-002", "URS-GATE-005", "URS-MD-002", "URS-MD-004", "P11-10h")
def test_equipment_gate_needs_released_clean_equipment_with_instruments_in_calibration(gated):
    plant = gated
    batch = start(plant)
    assert refusal(plant, batch, "weigh").detail == \
        "BAL-01 has no logbook entry: it has not been released for use"
    log(plant, "BAL-01", "clean")
    assert code(refusal(plant, batch, "weigh")) == ("equipment", "not_released")
    log(plant, "BAL-01", "released", who="sam")
    assert refusal(plant, batch, "weigh").detail == "instrument WT-01 of BAL-01 has no calibration"
    plant.act("mike", calibration.record_calibration, "WT-01", calibrated_on="2025-10-10", result="pass")
    assert refusal(plant, batch, "weigh") is None  # due on 2026-01-08: 'due' still admits
    plant.clock.advance(days=4)  # 2026-01-09
    found = refusal(plant, batch, "weigh")
    assert code(found) == ("equipment", "instrument_overdue")
    assert found.detail == "instrument WT-01 of BAL-01 is overdue for calibration (due 2026-01-08)"
    plant.act("mike", calibration.record_calibration, "WT-01", calibrated_on="2026-01-09", result="out_of_tolerance",
              note="as found +0.2 kg")
    assert code(refusal(plant, batch, "weigh")) == ("equipment", "instrument_out_of_tolerance")
    plant.act("mike", calibration.record_calibration, "WT-01", calibrated_on="2026-01-09", result="pass",
              note="adjusted")
    assert refusal(plant, batch, "weigh") is None
    log(plant, "BAL-01", "in_use", instance_id=batch, note="batch B-001")
    assert refusal(plant, batch, "weigh") is None  # in use by this batch
    other = start(plant)
    assert refusal(plant, other, "weigh").detail == f"BAL-01 is in use by process instance {batch}"
    log(plant, "BAL-01", "dirty")
    assert code(refusal(plant, batch, "weigh")) == ("equipment", "not_clean")
    log(plant, "BAL-01", "out_of_service", who="sam", note="load cell drifting")
    assert code(refusal(plant, batch, "weigh")) == ("equipment", "out_of_service")


@pytest.mark.req("URS-GATE-002", "URS-MD-008", "P11-10h", "A11-10")
def test_equipment_named_by_class_resolves_through_the_batch_and_its_recipe_in_force(gated):
    plant = gated
    grant(plant, "alice", "SOP-PRD-012", 4)
    no_recipe = start(plant)
    assert refusal(plant, no_recipe, "granulate").detail == \
        "equipment class granulator: the batch names no recipe or equipment of this class"
    batch = start(plant, {"recipe": "RCP-PARA-500"})
    assert refusal(plant, batch, "granulate").detail == \
        "GR-01 has no logbook entry: it has not been released for use"
    ready(plant, "GR-02")  # the recipe allows GR-01 or GR-02: one ready is enough
    assert refusal(plant, batch, "granulate") is None
    assigned = start(plant, {"recipe": "RCP-PARA-500", "equipment": {"granulator": "GR-01"}})
    assert code(refusal(plant, assigned, "granulate")) == ("equipment", "no_logbook")  # the batch's own choice
    ready(plant, "GR-01")
    assert refusal(plant, assigned, "granulate").detail == "instrument TT-01 of GR-01 has no calibration"
    # a recipe revision approved for later is not read until it is in force
    changed = dict(plant_recipe(plant))
    changed["equipment"] = [{"class": "blender"}, {"class": "balance"}]
    changed["phases"] = [{"name": "Blending", "equipment_class": "blender"}]
    plant.put_in_force("recipe", {"RCP-PARA-500": changed}, action="change", effective_from="2026-01-20")
    assert refusal(plant, batch, "granulate") is None
    plant.clock.advance(days=15)
    assert refusal(plant, batch, "granulate").detail == "equipment class granulator is not in recipe RCP-PARA-500"
    # a batch that pinned its recipe revision keeps it
    pinned = start(plant, {"recipe": "RCP-PARA-500", "recipe_revision": 1})
    assert refusal(plant, pinned, "granulate") is None


def plant_recipe(plant):  # type: ignore[no-untyped-def]
    from masterdata import changes

    with plant.db.session() as session:
        return changes.effective(session, "recipe", "RCP-PARA-500").data


def receive(plant, lot, material="MAT-API", supplier="SUP-A", expiry="2027-06-30"):  # type: ignore[no-untyped-def]
    return plant.act("cora", lots.receive_lot, lot=lot, material=material, supplier=supplier, quantity="20",
                     unit="kg", expiry=expiry)


@pytest.mark.req("URS-GATE-003", "URS-GATE-005", "URS-MD-001", "P11-10f")
def test_supplier_gate_needs_a_released_unexpired_lot_from_an_approved_supplier(gated):
    plant = gated
    receive(plant, "L-OK")
    receive(plant, "L-LAC", material="MAT-LAC")
    receive(plant, "L-OLD", expiry="2026-01-04")
    receive(plant, "L-REJ", material="MAT-LAC", supplier="SUP-B")
    receive(plant, "L-NEW", supplier="SUP-B")
    cases = {"L-404": ("unknown_lot", "lot L-404 is not known"),
             "L-OLD": ("lot_expired", "lot L-OLD of MAT-API expired on 2026-01-04"),
             "L-REJ": ("supplier_rejected", "lot L-REJ: supplier SUP-B is rejected for MAT-LAC"),
             "L-NEW": ("supplier_not_approved", "lot L-NEW: supplier SUP-B is not on the approved supplier list "
                                                "for MAT-API"),
             "L-OK": ("lot_quarantined", "lot L-OK of MAT-API is in quarantine: QC has not released it")}
    for lot, (which, detail) in cases.items():
        found = refusal(plant, start(plant, {"lot": lot}), "dispense")
        assert (found.gate, found.code, found.detail) == ("supplier", which, detail)
    plant.act("cora", lots.change_lot_status, "L-OK", "released", reason="COA reviewed, ID test passed")
    plant.act("cora", lots.change_lot_status, "L-LAC", "released", reason="COA reviewed, ID test passed")
    batch = start(plant, {"lot": "L-OK"})
    assert refusal(plant, batch, "dispense") is None
    assert refusal(plant, start(plant, {"lot": "L-LAC"}), "dispense") is None

    # at completion the lot typed in the form is checked
    claim(plant, batch, "dispense")
    with UnitOfWork(plant.db, plant["alice"].actor) as uow:
        with pytest.raises(GateRefused, match="lot L-OLD of MAT-API expired on 2026-01-04"):
            tasks.complete_task(uow, task_id(plant, batch, "dispense"), {"lot": "L-OLD"}, settings=plant.settings)
    with UnitOfWork(plant.db, plant["alice"].actor) as uow:
        tasks.complete_task(uow, task_id(plant, batch, "dispense"), {"lot": "L-OK"}, settings=plant.settings)
        uow.commit()

    # the approval of SUP-A for MAT-LAC ends on 2026-03-31; from 1 April its lots are refused
    plant.clock.advance(days=86)
    found = refusal(plant, start(plant, {"lot": "L-LAC"}), "dispense")
    assert found.detail == "lot L-LAC: the approval of supplier SUP-A for MAT-LAC ended on 2026-03-31"


@pytest.mark.req("URS-GATE-004", "A11-15", "CN-8")
def test_qp_gate_admits_only_a_qualified_person(gated):
    plant = gated
    batch = start(plant)
    found = refusal(plant, batch, "release", "quinn")
    assert (found.gate, found.code, found.detail) == ("qp", "not_qp", "only a qualified person may take 'release'; "
                                                                       "Quinn QA is not one")
    assert refusal(plant, batch, "release", "peter") is None
    assert claim(plant, batch, "release", "peter") == "peter"

    class Signed:
        def __init__(self, signer_id: str, meaning: str) -> None:
            self.signer_id, self.meaning = signer_id, meaning

    with plant.db.session() as session:
        assert checks.qp_problems(session, "peter", {"qp"}, [Signed("peter", "released")]) == []
        problems = checks.qp_problems(session, "peter", {"qp"}, [Signed("rita", "released")])
        assert [(p.code, p.params["name"]) for p in problems] == [("signer_not_qp", "Rita Reviewer")]


@pytest.mark.req("URS-GATE-005", "P11-10i")
def test_the_inbox_shows_each_users_refusal(gated):
    plant = gated
    start(plant, {"recipe": "RCP-PARA-500", "lot": "L-404"})
    with UnitOfWork(plant.db, plant["alice"].actor) as uow:
        views = {view.bpmn_id: view.refusal for view in tasks.inbox(uow)}
    assert set(views) == {"granulate", "weigh", "dispense"}
    assert (views["granulate"].gate, views["granulate"].code) == ("training", "not_qualified")
    assert views["weigh"].code == "no_logbook" and views["dispense"].code == "unknown_lot"


@pytest.mark.req("URS-MD-008", "A11-10")
def test_a_batch_is_ordered_only_from_a_recipe_in_force(plant):
    from masterdata import recipes
    from masterdata.errors import RecordStateError
    from tests.masterdata.conftest import RECIPES

    with plant.db.session() as session:
        with pytest.raises(RecordStateError, match="no master recipe 'RCP-PARA-500'"):
            recipes.order_data(session, "RCP-PARA-500")
    plant.put_in_force("recipe", RECIPES, effective_from="2026-01-10")
    with plant.db.session() as session:
        with pytest.raises(RecordStateError, match=r"master recipe RCP-PARA-500 has no revision in force \(r1 "
                                                   r"approved\): a batch is ordered only from an effective recipe"):
            recipes.order_data(session, "RCP-PARA-500")
    plant.clock.advance(days=5)
    with plant.db.session() as session:
        assert recipes.order_data(session, "RCP-PARA-500") == {
            "recipe": "RCP-PARA-500", "recipe_revision": 1, "product": "Paracetamol 500 mg tablets",
            "batch_size": {"quantity": 100, "unit": "kg"}}
