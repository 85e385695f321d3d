"""A call activity calls a separately approved definition by process id, pinned when called."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from audit.models import AuditEntry
from engine import definitions, instances, persistence, tasks
from engine.errors import CalledProcessError, DefinitionCheckFailed, FormDataInvalid, WorkflowRuntimeError
from store.uow import UnitOfWork
from tests.engine.conftest import ALL_ROLES, actor, deploy, sig

REQ = pytest.mark.req("URS-ENG-011", "P11-10k")
NS = ('xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
      'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" targetNamespace="http://gmp.example/t"')


def qc_process(task_name: str) -> dict[str, bytes]:
    """The QC test, approved on its own: one QA task with a form."""
    bpmn = (f'<?xml version="1.0" encoding="UTF-8"?><bpmn:definitions {NS} id="d_qc">'
            '<bpmn:process id="qc_test" name="QC test" isExecutable="true">'
            '<bpmn:laneSet id="ls"><bpmn:lane id="l" name="qa"><bpmn:flowNodeRef>qc_check</bpmn:flowNodeRef>'
            '</bpmn:lane></bpmn:laneSet>'
            '<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="qc_check"/>'
            f'<bpmn:userTask id="qc_check" name="{task_name}"><bpmn:extensionElements><spiffworkflow:properties>'
            '<spiffworkflow:property name="formJsonSchemaFilename" value="forms/qc.json"/>'
            '</spiffworkflow:properties></bpmn:extensionElements></bpmn:userTask>'
            '<bpmn:sequenceFlow id="f2" sourceRef="qc_check" targetRef="e"/><bpmn:endEvent id="e"/>'
            '</bpmn:process></bpmn:definitions>')
    form = {"type": "object", "properties": {"assay": {"type": "number", "minimum": 90, "maximum": 110}},
            "required": ["assay"], "additionalProperties": False}
    return {"qc_test.bpmn": bpmn.encode(), "forms/qc.json": json.dumps(form).encode()}


def batch_process(called: str = "qc_test") -> dict[str, bytes]:
    """A batch that calls the QC test (not among its own files), then releases."""
    bpmn = (f'<?xml version="1.0" encoding="UTF-8"?><bpmn:definitions {NS} id="d_batch">'
            '<bpmn:process id="batch" name="Batch" isExecutable="true">'
            '<bpmn:laneSet id="ls"><bpmn:lane id="l" name="operator"><bpmn:flowNodeRef>release</bpmn:flowNodeRef>'
            '</bpmn:lane></bpmn:laneSet>'
            '<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="run_qc"/>'
            f'<bpmn:callActivity id="run_qc" name="Run the QC test" calledElement="{called}"/>'
            '<bpmn:sequenceFlow id="f2" sourceRef="run_qc" targetRef="release"/>'
            '<bpmn:userTask id="release" name="Release the batch"/>'
            '<bpmn:sequenceFlow id="f3" sourceRef="release" targetRef="e"/><bpmn:endEvent id="e"/>'
            '</bpmn:process></bpmn:definitions>')
    return {"batch.bpmn": bpmn.encode()}


def _start(db, key: str = "batch") -> int:  # type: ignore[no-untyped-def]
    with UnitOfWork(db, actor("alice")) as uow:
        iid = instances.start(uow, key).id
        uow.commit()
    return iid


def _ready(db, services, user: str, iid: int) -> list[tasks.TaskView]:  # type: ignore[no-untyped-def]
    with UnitOfWork(db, actor(user)) as uow:
        return [t for t in tasks.inbox(uow, services=services) if t.instance_id == iid]


@REQ
def test_a_call_activity_reaches_the_approved_process_pinned_to_its_version(db, services, frozen_clock):
    qc_v1 = deploy(db, services, files=qc_process("Assay (method v1)"), reason="QC test v1")
    deploy(db, services, files=batch_process(), reason="batch calls the QC test")
    first = _start(db)
    (qc_task,) = _ready(db, services, "quinn", first)
    assert qc_task.name == "Assay (method v1)"
    with db.session() as s:
        called = s.execute(select(AuditEntry).where(AuditEntry.action == "instance.process_called")).scalar_one()
        form = tasks.task_definition(s, qc_task.id).forms()["forms/qc.json"]  # the called version's form
    assert json.loads(called.details) == {"element_id": "run_qc", "process": "qc_test", "version_id": qc_v1}
    assert form["properties"]["assay"]["maximum"] == 110

    qc_v2 = deploy(db, services, files=qc_process("Assay (method v2)"), reason="QC test v2: new method")
    persistence.CACHE.clear()  # the pin survives a cold load
    with UnitOfWork(db, actor("quinn")) as uow:
        with pytest.raises(FormDataInvalid, match="assay"):
            tasks.complete_task(uow, qc_task.id, {"assay": 120}, [], services=services)
    with UnitOfWork(db, actor("quinn")) as uow:
        tasks.complete_task(uow, qc_task.id, {"assay": 99.5}, [], services=services)
        uow.commit()
    (release,) = _ready(db, services, "alice", first)
    assert release.bpmn_id == "release"

    second = _start(db)  # a call that starts now reaches the version in effect now
    (qc_task_2,) = _ready(db, services, "quinn", second)
    assert qc_task_2.name == "Assay (method v2)"
    with db.session() as s:
        pins = [json.loads(e.details)["version_id"] for e in s.execute(
            select(AuditEntry).where(AuditEntry.action == "instance.process_called").order_by(AuditEntry.seq)).scalars()]
        state = json.loads(instances.get_instance(s, first).workflow_json)
    assert pins == [qc_v1, qc_v2]
    assert state["called"] == {"qc_test@" + str(qc_v1): qc_v1}
    with UnitOfWork(db, actor("alice")) as uow:
        done = tasks.complete_task(uow, release.id, {}, [], services=services)
        uow.commit()
    assert done.instance_status == "completed"
    with db.session() as s:
        assert instances.inspect(s, first)["data"]["assay"] == 99.5  # the called process's data came back


@REQ
@pytest.mark.parametrize("called,why", [
    ("no_such_process", "no process definition has that id"),
    ("qc_test", "the definition has no approved version"),
])
def test_a_call_of_a_process_that_cannot_be_called_is_refused_at_upload(db, services, called, why):
    with UnitOfWork(db, actor("anna")) as uow:
        definitions.upload(uow, qc_process("Assay"), reason="draft only", roles=ALL_ROLES, services=services)
        uow.commit()
    with pytest.raises(DefinitionCheckFailed, match=rf"batch\.bpmn:\d+, element 'run_qc': call activity calls "
                                                    rf"process '{called}', which is not in the uploaded files and {why}"):
        with UnitOfWork(db, actor("anna")) as uow:
            definitions.upload(uow, batch_process(called), reason="batch", roles=ALL_ROLES, services=services)


@REQ
def test_a_called_process_that_lost_its_approval_refuses_the_step(db, services, frozen_clock):
    deploy(db, services, files=qc_process("Assay"), reason="QC test v1")
    deploy(db, services, files=batch_process(), reason="batch")
    with db.session() as s:  # the called definition lost its approval (no version in force left)
        from engine.models import ProcessDefinition, ProcessDefinitionVersion
        from masterdata.models import ChangeRow

        definition = s.execute(select(ProcessDefinition).where(ProcessDefinition.key == "qc_test")).scalar_one()
        s.execute(ProcessDefinitionVersion.__table__.update()
                  .where(ProcessDefinitionVersion.definition_id == definition.id).values(status="superseded"))
        s.execute(ChangeRow.__table__.update().where(ChangeRow.kind == "process_definition",
                                                     ChangeRow.item_key == "qc_test").values(status="withdrawn"))
        s.commit()
    with pytest.raises(CalledProcessError, match="called process 'qc_test': process 'qc_test' has no approved version"):
        _start(db)
    assert issubclass(CalledProcessError, WorkflowRuntimeError)


@REQ
def test_a_call_activity_pins_the_version_in_force_when_called_not_one_approved_for_later(db, services, frozen_clock):
    """v2 of the called process approved to take effect on a later date: a call before the date runs v1,
    a call after it v2, each pinned to the version in force at the moment of the call (no job)."""
    qc_v1 = deploy(db, services, files=qc_process("Assay (method v1)"), reason="QC test v1")
    deploy(db, services, files=batch_process(), reason="batch calls the QC test")
    with UnitOfWork(db, actor("anna")) as uow:
        v2 = definitions.upload(uow, qc_process("Assay (method v2)"), reason="QC test v2 from 2026-01-10",
                                roles=ALL_ROLES, services=services).id
        uow.commit()
    with UnitOfWork(db, actor("quinn")) as uow:
        definitions.approve(uow, v2, sig("quinn", "approved"), services=services, effective_from="2026-01-10")
        uow.commit()
    before = _start(db)
    (task,) = _ready(db, services, "quinn", before)
    assert task.name == "Assay (method v1)"
    frozen_clock.advance(days=5)  # 2026-01-10 08:00
    after = _start(db)
    (task_2,) = _ready(db, services, "quinn", after)
    assert task_2.name == "Assay (method v2)"
    persistence.CACHE.clear()
    (task,) = _ready(db, services, "quinn", before)  # the first call stays on v1
    assert task.name == "Assay (method v1)"
    with db.session() as s:
        pins = [json.loads(e.details)["version_id"] for e in s.execute(
            select(AuditEntry).where(AuditEntry.action == "instance.process_called").order_by(AuditEntry.seq)).scalars()]
    assert pins == [qc_v1, v2]
