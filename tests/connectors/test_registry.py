"""The tag registry: revisions, approval by a QA signature, audit, registered sources only."""
from __future__ import annotations

import json

import pytest
import yaml
from sqlalchemy import select

from audit.canonical import Actor
from audit.models import AuditEntry
from connectors import registry, service
from connectors.errors import ApprovalNotPermitted, RegistryError, RevisionStateError, UnregisteredTag
from connectors.models import ConnectorSecurityEvent, EquipmentReading, EquipmentTag, RevisionStatus
from masterdata import changes
from signatures import testing
from signatures.errors import AuthenticationFailed
from signatures.models import Signature
from store.uow import UnitOfWork
from tests.connectors.conftest import OPERATOR_LABEL, PLANT_TAGS, endpoint_overrides, import_and_approve

PLANT_TAG_COUNT = len(yaml.safe_load(PLANT_TAGS.read_text())["tags"])  # tags in connectors/plant_tags.yaml

OPERATOR = Actor(*OPERATOR_LABEL)  # an actor label: these tests need no operator account


def _import(db, people, plant, raw=None):
    with UnitOfWork(db, people.engineer.actor) as uow:
        number = registry.import_revision(uow, raw or PLANT_TAGS.read_bytes(), "plant_tags.yaml",
                                          reason="initial plant tags", endpoint_overrides=endpoint_overrides(plant)).number
        uow.commit()
    return number


def _approve(db, settings, person, number, reason="checked"):
    with UnitOfWork(db, person.actor) as uow:
        revision = registry.approve_revision(uow, number, credentials=testing.credentials(db, person),
                                             settings=settings, reason=reason)
        uow.commit()
    return revision


def _actions(db, object_type="tag_registry_revision"):
    with db.session() as session:
        return [(e.action, e.object_id, e.actor_id) for e in
                session.scalars(select(AuditEntry).where(AuditEntry.object_type == object_type).order_by(AuditEntry.seq))]


@pytest.mark.req("URS-CON-001", "P11-10k", "A11-10", "P11-70")
def test_an_import_takes_effect_only_after_a_qa_signature_by_another_user(db, settings, people, plant):
    number = _import(db, people, plant)
    with db.session() as session:
        assert registry.effective_tags(session) == {}  # pending: not effective yet
    with pytest.raises(ApprovalNotPermitted, match="imported by eng.li: a different user must approve it"):
        _approve(db, settings, people.engineer, number)
    with pytest.raises(ApprovalNotPermitted, match="op.chen does not hold the qa role"):
        _approve(db, settings, people.operator, number)
    revision = _approve(db, settings, people.qa, number)
    assert revision.decided_by == "qa.wang" and revision.status == RevisionStatus.APPROVED.value
    with db.session() as session:
        tags = registry.effective_tags(session)
        signature = session.get(Signature, int(revision.approval_signature))
        assert (signature.meaning, signature.record_type, signature.record_id) == \
            ("approved", "tag_registry_revision", str(number))
        revision_row = session.scalar(select(registry.TagRegistryRevision))
        from signatures.service import verify_signatures
        verify_signatures(session, registry.revision_record(revision_row), settings, required=True)
    assert len(tags) == PLANT_TAG_COUNT and tags["FBD-01.inlet_temp_sp"].definition.high == 80.0
    assert _actions(db) == [("tag_registry.imported", str(number), "eng.li"),
                            ("tag_registry.approval_refused", str(number), "eng.li"),
                            ("tag_registry.approval_refused", str(number), "op.chen"),
                            ("signature.created", str(number), "qa.wang"),
                            ("tag_registry.approved", str(number), "qa.wang")]


def test_a_wrong_password_approves_nothing(db, settings, people, plant):
    number = _import(db, people, plant)
    with UnitOfWork(db, people.qa.actor) as uow:
        with pytest.raises(AuthenticationFailed):
            registry.approve_revision(uow, number, credentials=testing.Credentials("qa.wang", "wrong password", "000000"),
                                      settings=settings, reason="x")
    with db.session() as session:
        assert registry.effective_tags(session) == {}


@pytest.mark.req("URS-CON-001", "P11-10k", "URS-MD-020", "URS-MD-021")
def test_a_revision_changes_and_retires_single_tags_and_records_what_changed(db, settings, people, plant, frozen_clock):
    first = import_and_approve(db, settings, people, plant)
    doc = yaml.safe_load(PLANT_TAGS.read_text())
    changed = dict(doc["tags"][0], high=50)
    second = _import(db, people, plant, yaml.safe_dump({"endpoints": doc["endpoints"], "tags": [changed],
                                                        "retire": ["GAS-01.lel"]}).encode())
    with db.session() as session:
        imported = session.scalars(select(AuditEntry).where(AuditEntry.action == "tag_registry.imported")
                                   .order_by(AuditEntry.seq)).all()[-1]
        assert [(c.key, c.action) for c in registry.revision_changes(session, second)] == \
            [("GAS-01.lel", "retire"), ("SCALE-01.net_weight", "change")]
    details = json.loads(imported.details)
    assert details["retired"] == ["GAS-01.lel"] and details["changed"] == ["SCALE-01.net_weight"]
    assert details["added"] == [] and details["unchanged"] == []
    frozen_clock.advance(seconds=31)  # a fresh TOTP code for the second signature
    _approve(db, settings, people.qa, second, "LEL moved to the new detector")
    with db.session() as session:
        tags = registry.effective_tags(session)
        assert "GAS-01.lel" not in tags and len(tags) == PLANT_TAG_COUNT - 1
        assert tags["SCALE-01.net_weight"].definition.high == 50 and tags["SCALE-01.net_weight"].revision == second
        assert tags["FBD-01.inlet_temp_sp"].revision == first  # untouched tags stay on their revision
        statuses = {r.number: r.status for r in session.scalars(select(registry.TagRegistryRevision))}
        assert len(registry.revision_tags(session, first)) == PLANT_TAG_COUNT  # the old revision stays readable
        history = changes.history(session, "tag", "SCALE-01.net_weight")
        assert [(c.revision, c.status) for c in history] == [(1, "superseded"), (2, "effective")]
        assert [d.as_list() for d in changes.compare(history[0], history[1])] == [["high", 60.0, 50.0]]
    assert statuses == {first: "approved", second: "approved"}  # 28 tags of the first are still in force


@pytest.mark.req("URS-CON-001", "P11-10k", "URS-MD-020")
def test_approving_a_five_tag_file_leaves_the_other_plant_tags_in_force(db, settings, people, plant, frozen_clock):
    first = import_and_approve(db, settings, people, plant)
    doc = yaml.safe_load(PLANT_TAGS.read_text())
    five = [dict(t, description=f"{t.get('description', '')} (recalibrated)") for t in doc["tags"][:4]]
    five.append(dict(doc["tags"][0], name="SCALE-02.net_weight", equipment_id="SCALE-02"))
    frozen_clock.advance(seconds=31)
    second = import_and_approve(db, settings, people, plant, yaml.safe_dump({"endpoints": doc["endpoints"],
                                                                             "tags": five}).encode())
    with db.session() as session:
        tags = registry.effective_tags(session)
        assert len(tags) == PLANT_TAG_COUNT + 1  # the plant tags (4 changed) and one new: nothing silently superseded
        assert {n for n, t in tags.items() if t.revision == second} == {t["name"] for t in five}
        revisions = {r.number: r.status for r in session.scalars(select(registry.TagRegistryRevision))}
    assert revisions == {first: "approved", second: "approved"}
    # a file that changes nothing is refused; retiring an unknown tag is refused
    with pytest.raises(RegistryError, match="already in effect as defined: nothing to change"):
        _import(db, people, plant, yaml.safe_dump({"endpoints": doc["endpoints"], "tags": five}).encode())
    with pytest.raises(RegistryError, match="cannot retire NOPE-1.x: not in the effective registry"):
        _import(db, people, plant, yaml.safe_dump({"endpoints": doc["endpoints"], "retire": ["NOPE-1.x"]}).encode())


@pytest.mark.req("URS-CON-001", "P11-10k")
def test_a_revision_whose_tags_are_all_replaced_is_superseded(db, settings, people, plant, frozen_clock):
    doc = yaml.safe_load(PLANT_TAGS.read_text())
    small = {"endpoints": doc["endpoints"], "tags": doc["tags"][:2]}
    first = import_and_approve(db, settings, people, plant, yaml.safe_dump(small).encode())
    frozen_clock.advance(seconds=31)
    second = import_and_approve(db, settings, people, plant, yaml.safe_dump(
        {"endpoints": doc["endpoints"], "tags": [dict(t, description="replaced") for t in doc["tags"][:2]]}).encode())
    with db.session() as session:
        statuses = {r.number: r.status for r in session.scalars(select(registry.TagRegistryRevision))}
    assert statuses == {first: "superseded", second: "approved"}
    assert ("tag_registry.superseded", str(first), "qa.wang") in _actions(db)


@pytest.mark.req("URS-CON-001", "URS-MD-020")
def test_a_tag_in_a_pending_revision_cannot_be_changed_by_another_import(db, settings, people, plant, frozen_clock):
    doc = yaml.safe_load(PLANT_TAGS.read_text())
    pending_number = _import(db, people, plant)
    with pytest.raises(RegistryError, match=r"SCALE-01.net_weight has an open draft"):
        _import(db, people, plant, yaml.safe_dump({"endpoints": doc["endpoints"], "tags": doc["tags"][:1]}).encode())
    with UnitOfWork(db, people.qa.actor) as uow:
        registry.reject_revision(uow, pending_number, reason="wrong endpoints")
        uow.commit()
    with db.session() as session:
        assert {c.status for c in registry.revision_changes(session, pending_number)} == {"withdrawn"}
    assert _import(db, people, plant, yaml.safe_dump({"endpoints": doc["endpoints"], "tags": doc["tags"][:1]}
                                                     ).encode()) == pending_number + 1


@pytest.mark.req("URS-CON-001")
def test_rejected_and_decided_revisions_cannot_be_decided_again(db, settings, people, plant):
    number = _import(db, people, plant)
    with UnitOfWork(db, people.qa.actor) as uow:
        with pytest.raises(RegistryError, match="a rejection needs a reason"):
            registry.reject_revision(uow, number, reason=" ")
        registry.reject_revision(uow, number, reason="wrong endpoint")
        uow.commit()
    with pytest.raises(RevisionStateError, match=f"registry revision {number} is rejected"):
        _approve(db, settings, people.qa, number)
    with pytest.raises(RegistryError, match="no registry revision 99"):
        _approve(db, settings, people.qa, 99)


def test_a_bad_file_or_missing_reason_changes_nothing(db, people):
    with UnitOfWork(db, people.engineer.actor) as uow:
        with pytest.raises(RegistryError, match="an import needs a reason"):
            registry.import_revision(uow, PLANT_TAGS.read_bytes(), "plant_tags.yaml", reason="")
        with pytest.raises(RegistryError, match="missing field 'equipment_id'"):
            registry.import_revision(uow, b"tags: [{name: X}]", "t.yaml", reason="x")
    with db.session() as session:
        assert session.scalars(select(EquipmentTag)).all() == []


@pytest.mark.req("URS-CON-002", "ALCOA-ORIGINAL")
def test_reads_of_registered_tags_are_stored_as_original_equipment_data(registered, people, plant, client):
    plant.force("scale.net_weight", 7.5)
    try:
        with UnitOfWork(registered, OPERATOR) as uow:
            reading = service.read_tag(uow, "SCALE-01.net_weight", client=client, instance_id="12", task_id="weigh")
            uow.commit()
    finally:
        plant.release()
    assert reading.value == 7.5 and reading.revision == 1
    with registered.session() as session:
        row = session.scalars(select(EquipmentReading)).one()
    assert (row.tag_name, json.loads(row.value_json), row.unit, row.origin, row.quality, row.captured_by) == \
        ("SCALE-01.net_weight", 7.5, "kg", "equipment", "good", "op.chen")


@pytest.mark.req("URS-CON-004", "P11-10h", "CN-2")
def test_reading_an_unregistered_tag_is_refused_and_logged_as_a_security_event(registered, people, client):
    with UnitOfWork(registered, OPERATOR) as uow:
        with pytest.raises(UnregisteredTag, match="tag 'REACTOR-9.pressure' is not in the effective tag registry"):
            service.read_tag(uow, "REACTOR-9.pressure", client=client)
    with registered.session() as session:
        event = session.scalars(select(ConnectorSecurityEvent)).one()
        assert session.scalars(select(EquipmentReading)).all() == []
    assert (event.kind, event.tag_name, event.actor_id) == ("unregistered_tag", "REACTOR-9.pressure", "op.chen")
    assert ("equipment.data_refused", "REACTOR-9.pressure", "op.chen") in _actions(registered, "equipment_tag")
