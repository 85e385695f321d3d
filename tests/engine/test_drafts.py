"""Diagrams made elsewhere: imported as drafts with their problems on the elements; the full
checks when the draft is submitted for approval and when it is approved."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from audit.models import AuditEntry
from engine import definitions, drafts, instances
from engine.errors import DefinitionCheckFailed, DefinitionError, DefinitionStateError, UnsafeXmlError
from engine.models import ProcessDefinitionVersion
from store.uow import UnitOfWork
from tests.engine.conftest import ALL_ROLES, MEANINGS, PROCESSES, actor, sig

IMPORTED = PROCESSES / "imported"


def files_of(name: str) -> dict[str, bytes]:
    return {name: (IMPORTED / name).read_bytes()}


def import_as(db, services, files, *, user="anna", process_id=None, reason="brought in from SpiffArena"):
    with UnitOfWork(db, actor(user)) as uow:
        version, problems = drafts.import_draft(uow, files, reason=reason, process_id=process_id, services=services,
                                                roles=ALL_ROLES)
        uow.commit()
    return version, problems


def fixed_dialect() -> dict[str, bytes]:
    """The SpiffArena diagram finished: the task in the operator lane, the unknown operator gone."""
    text = (IMPORTED / "spiff_dialect.bpmn").read_text()
    start, end = text.index('    <bpmn:sequenceFlow id="f2"'), text.index('    <bpmn:sequenceFlow id="f3"')
    text = text[:start] + '    <bpmn:sequenceFlow id="f2" sourceRef="log_sample" targetRef="stored"/>\n' + text[end:]
    text = text.replace('<bpmn:sequenceFlow id="f3" sourceRef="notify_lims" targetRef="stored"/>', "")
    text = text.replace('<bpmn:incoming>f3</bpmn:incoming>', '<bpmn:incoming>f2</bpmn:incoming>')
    text = text.replace('<bpmn:startEvent id="arrived"', '<bpmn:laneSet id="lanes"><bpmn:lane id="lane_op" '
                        'name="operator"><bpmn:flowNodeRef>arrived</bpmn:flowNodeRef><bpmn:flowNodeRef>log_sample'
                        '</bpmn:flowNodeRef><bpmn:flowNodeRef>stored</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>\n'
                        '    <bpmn:startEvent id="arrived"')
    text = text.replace('<bpmndi:BPMNShape id="notify_lims_di" bpmnElement="notify_lims"><dc:Bounds x="400" y="80" '
                        'width="100" height="80"/></bpmndi:BPMNShape>', "")
    text = text.replace('<bpmndi:BPMNEdge id="f3_di" bpmnElement="f3"><di:waypoint x="500" y="120"/><di:waypoint '
                        'x="562" y="120"/></bpmndi:BPMNEdge>', "")
    return {"spiff_dialect.bpmn": text.encode()}


@pytest.mark.req("URS-ENG-001", "URS-ENG-002", "URS-LIB-001")
def test_spiffarena_dialect_is_read_and_each_problem_is_on_its_element():
    found = drafts.inspect(files_of("spiff_dialect.bpmn"), roles=ALL_ROLES, meanings=MEANINGS)
    assert found.process_id == "sample_receipt" and found.process_name == "Sample receipt"
    assert {(p.element_id, p.message) for p in found.problems} == {
        ("log_sample", "user task is not in a lane: put it in the lane of the role that performs it"),
        ("notify_lims", "service operator 'http/PostRequest' is not registered")}
    # `type` on the data store reference and `messageRef` on the start event are not schema problems
    assert not any("schema" in p.message for p in found.problems)
    assert found.elements["log_sample"].name == "Log the sample"


@pytest.mark.req("URS-ENG-001", "URS-LIB-001")
def test_several_processes_in_one_file_ask_which_one_and_other_pools_are_not_checked():
    with pytest.raises(drafts.ProcessChoiceNeeded, match="choose the one to import") as raised:
        drafts.inspect(files_of("two_pools.bpmn"), roles=ALL_ROLES, meanings=MEANINGS)
    assert [(c.id, c.name, c.flow_nodes) for c in raised.value.choices] == [
        ("material_receipt", "Material receipt", 3), ("supplier_delivery", "Supplier delivery", 3)]
    found = drafts.inspect(files_of("two_pools.bpmn"), "material_receipt", roles=ALL_ROLES, meanings=MEANINGS)
    # the relative namespace URI of the vendor extension does not stop the element catalogue
    assert "order_in" in found.elements
    assert [(p.element_id, p.message) for p in found.problems] == [
        ("material_receipt", 'process is not executable (set isExecutable="true")')]
    with pytest.raises(DefinitionError, match="process 'nope' is not defined in the files"):
        drafts.inspect(files_of("two_pools.bpmn"), "nope", roles=ALL_ROLES, meanings=MEANINGS)


@pytest.mark.req("URS-ENG-001", "URS-LIB-001")
def test_schema_problems_are_placed_on_elements_and_reported_with_the_other_problems():
    text = (IMPORTED / "spiff_dialect.bpmn").read_text().replace(
        '<bpmn:endEvent id="stored" name="Sample stored">', '<bpmn:endEvent id="stored" name="Sample stored" colour="red">')
    found = drafts.inspect({"x.bpmn": text.encode()}, roles=ALL_ROLES, meanings=MEANINGS)
    schema = [p for p in found.problems if p.message.startswith("BPMN schema")]
    assert len(schema) == 1 and schema[0].element_id == "stored" and "colour" in schema[0].message
    assert "bpmn:endEvent" in schema[0].message  # the namespace is shortened to its prefix
    assert any(p.element_id == "log_sample" for p in found.problems)  # found although the schema failed


@pytest.mark.req("URS-ENG-001", "URS-ENG-002", "URS-LIB-001")
@pytest.mark.parametrize("content,error,match", [
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x/>', UnsafeXmlError, "DOCTYPE declarations are not allowed"),
    (b"<bpmn:definitions", UnsafeXmlError, "not well-formed XML"),
    (b'<?xml version="1.0"?><foo/>', DefinitionError, "not a BPMN 2.0 file"),
])
def test_hostile_or_malformed_files_are_refused_and_nothing_is_stored(db, services, content, error, match):
    with pytest.raises(error, match=match):
        import_as(db, services, {"x.bpmn": content})
    with db.session() as s:
        assert s.execute(select(ProcessDefinitionVersion)).first() is None


@pytest.mark.req("URS-ENG-001", "URS-LIB-001")
@pytest.mark.parametrize("files,error,match", [
    ({"form.json": b"{}"}, DefinitionError, "the upload contains no .bpmn file"),
    ({"x.bpmn": b'<?xml version="1.0"?><foo/>'}, DefinitionError, "x.bpmn:1: not a BPMN 2.0 file"),
    ({"x.bpmn": b"<bpmn:definitions"}, UnsafeXmlError, "x.bpmn:1: not well-formed XML"),
    ({"x.bpmn": (IMPORTED / "spiff_dialect.bpmn").read_bytes(), "big.json": b" " * (2 ** 23)}, DefinitionError,
     "big.json: file is larger than"),
    ({"x.bpmn": b"<x/>", "notes.txt": b""}, DefinitionError, "notes.txt: unsupported file type"),
])
def test_an_upload_and_a_draft_import_read_files_alike(files, error, match):
    """One reader serves the upload (engine.parsing) and the draft import (engine.drafts): the
    same files are refused with the same words."""
    from engine.parsing import parse_bundle
    with pytest.raises(error, match=match) as uploaded:
        parse_bundle(files)
    with pytest.raises(error, match=match) as imported:
        drafts.inspect(files, roles=ALL_ROLES, meanings=MEANINGS)
    assert str(uploaded.value) == str(imported.value)


def test_a_draft_import_lists_every_file_that_is_not_valid_json():
    found = drafts.inspect({**files_of("spiff_dialect.bpmn"), "a.json": b"{", "b.json": b"[1,"},
                           roles=ALL_ROLES, meanings=MEANINGS)
    assert [(p.file, p.message.split(":")[0]) for p in found.problems if p.file and p.file.endswith(".json")] == [
        ("a.json", "not valid JSON"), ("b.json", "not valid JSON")]


@pytest.mark.req("URS-ENG-003", "URS-LIB-002", "P11-10k", "A11-10")
def test_imported_draft_with_problems_is_stored_but_cannot_be_submitted_or_approved(db, services, frozen_clock):
    version, problems = import_as(db, services, files_of("spiff_dialect.bpmn"))
    assert version.status == "draft" and len(problems) == 2
    with db.session() as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "definition_version.created")).scalar_one()
        details = json.loads(entry.details)
        assert details["problem_count"] == 2
        stored = s.get(ProcessDefinitionVersion, version.id)
        assert drafts.version_problems(s, stored, services=services, roles=ALL_ROLES) == problems
    with pytest.raises(DefinitionCheckFailed, match="log_sample"):
        with UnitOfWork(db, actor("anna")) as uow:
            definitions.submit(uow, version.id, services=services, roles=ALL_ROLES)
    with pytest.raises(DefinitionCheckFailed, match="notify_lims"):
        with UnitOfWork(db, actor("quinn")) as uow:
            definitions.approve(uow, version.id, sig("quinn", "approved"), services=services, roles=ALL_ROLES)
    with db.session() as s:
        actions = list(s.execute(select(AuditEntry.action)).scalars())
        assert s.get(ProcessDefinitionVersion, version.id).status == "draft"
    assert actions.count("definition_version.submission_refused") == 1
    assert actions.count("definition_version.approval_refused") == 1


@pytest.mark.req("URS-ENG-003", "URS-LIB-002", "P11-10k", "A11-10")
def test_finished_draft_is_submitted_then_approved_and_runs(db, services, frozen_clock):
    first, _ = import_as(db, services, files_of("spiff_dialect.bpmn"))
    second, problems = import_as(db, services, fixed_dialect(), reason="put in the operator lane; LIMS call removed")
    assert problems == [] and second.version == 2
    with UnitOfWork(db, actor("anna")) as uow:
        assert definitions.submit(uow, second.id, services=services, roles=ALL_ROLES).status == "submitted"
        uow.commit()
    with pytest.raises(DefinitionStateError, match="only a draft can be submitted"):
        with UnitOfWork(db, actor("anna")) as uow:
            definitions.submit(uow, second.id, services=services, roles=ALL_ROLES)
    with UnitOfWork(db, actor("quinn")) as uow:
        approved = definitions.approve(uow, second.id, sig("quinn", "approved"), services=services, roles=ALL_ROLES)
        uow.commit()
    assert approved.status == "approved"
    with UnitOfWork(db, actor("alice")) as uow:
        instance = instances.start(uow, "sample_receipt")
        uow.commit()
    assert instance.version_id == second.id
    with db.session() as s:
        assert s.get(ProcessDefinitionVersion, first.id).status == "draft"  # the first import stays as it was
