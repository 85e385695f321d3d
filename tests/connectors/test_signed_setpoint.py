"""A user task's signature authorises a set-point write; the scheduler writes it with read-back.

End to end on both databases: a diagram whose user task declares `setpoint.tag` and
`setpoint.value_field`, an operator signs (real signature ceremony), the scheduler writes
through the connector to the plant simulator (OPC UA, or Modbus for the read-back
timeout), reads back, and the task completes; refusals and failures become the BPMN error
a boundary event on the user task catches. The record page, its JSON and its PDF show the
set-point's states.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from audit.models import AuditEntry
from connectors.models import SetpointWrite
from connectors.setpoints import writes_of
from engine import instances
from engine.errors import DefinitionCheckFailed, FormDataInvalid
from engine.models import InstanceTask, ProcessInstance
from engine.ports import EngineServices, SignatureInput, default_services, jsonschema_validate
from engine.runtime_models import OperatorJob
from engine.scheduler import Scheduler
from engine.spiff.workflow import CANCELLED, COMPLETED, STARTED
from signatures import testing
from store.uow import UnitOfWork
from tests.engine.conftest import MEANINGS, ROLES, TestSigner, deploy

PROCESS = Path(__file__).parent / "processes" / "signed_setpoint"
TAG = "FBD-01.ua.inlet_temp_sp"
POINT = "dryer.inlet_temp_sp"


def files(tag: str = TAG, **replace: str) -> dict[str, bytes]:
    bpmn = (PROCESS / "set_inlet_temp.bpmn").read_text().replace(TAG, tag)
    for old, new in replace.items():
        bpmn = bpmn.replace(old, new)
    return {"set_inlet_temp.bpmn": bpmn.encode(), "set_inlet_temp.json": (PROCESS / "set_inlet_temp.json").read_bytes()}


@pytest.fixture
def plant_runtime(runtime, registered, settings):  # type: ignore[no-untyped-def]
    from bpmn.glue import extend

    return extend(runtime, registered, settings)


def upload_services() -> EngineServices:
    return EngineServices(roles_of=lambda uow, user: ROLES.get(user, set()), sign=TestSigner(),
                          validate_form=jsonschema_validate, meanings=MEANINGS)


def sign_set_point(db, settings, people, frozen_clock, value, tag: str = TAG):  # type: ignore[no-untyped-def]
    """Deploy, start, and complete the set-point task as the operator with a real signature."""
    deploy(db, upload_services(), files=files(tag))
    operator = people.operator
    with UnitOfWork(db, operator.actor) as uow:
        instance_id = instances.start(uow, "set_dryer_inlet_temp").id
        uow.commit()
    with db.session() as session:
        task_id = session.scalars(select(InstanceTask.id).where(InstanceTask.instance_id == instance_id,
                                                                InstanceTask.bpmn_id == "set_inlet_temp")).one()
    frozen_clock.advance(seconds=31)  # a fresh TOTP step for the ceremony
    creds = testing.credentials(db, operator)
    signature = SignatureInput("performed", operator.user_id, {"password": creds.password, "totp": creds.totp})
    from engine.tasks import complete_task

    with UnitOfWork(db, operator.actor) as uow:
        complete_task(uow, task_id, {"inlet_temp": value, "comment": "drying step 3"}, [signature],
                      services=default_services(settings), settings=settings)
        uow.commit()
    return instance_id, task_id


def task_state(db, task_id):  # type: ignore[no-untyped-def]
    with db.session() as session:
        return session.get(InstanceTask, task_id).state


def instance_of(db, instance_id):  # type: ignore[no-untyped-def]
    with db.session() as session:
        row = session.get(ProcessInstance, instance_id)
        return row.status, instances.inspect(session, instance_id)["data"]


def trail(db, object_type):  # type: ignore[no-untyped-def]
    with db.session() as session:
        return [e.action for e in session.scalars(select(AuditEntry).where(AuditEntry.object_type == object_type)
                                                  .order_by(AuditEntry.seq))]


@pytest.mark.req("URS-CON-009", "URS-CON-005", "P11-10g", "P11-70", "ALCOA-COMPLETE")
def test_an_operator_signs_and_the_scheduler_writes_reads_back_and_completes_the_task(
        registered, settings, people, plant, frozen_clock, plant_runtime):
    plant.set(POINT, 60.0)
    instance_id, task_id = sign_set_point(registered, settings, people, frozen_clock, 72.5)
    # signed, not yet written: the task waits (started) with the write requested, nothing sent
    assert task_state(registered, task_id) == STARTED
    assert plant.value(POINT) == 60.0
    with registered.session() as session:
        assert writes_of(session, instance_id) == []
        body = session.get(InstanceTask, task_id).body
    internal = json.loads(body)["internal_data"]
    assert internal["gmp"]["authorises"] == {"action": "setpoint", "tag": TAG, "value": 72.5}
    assert internal["operator"]["state"] == "pending"
    try:
        report = Scheduler(registered, settings, name="worker-1", runtime=plant_runtime).run_once()
        assert plant.value(POINT) == 72.5  # the simulator's value changed
    finally:
        plant.set(POINT, 60.0)
    assert report.operations == 1
    assert task_state(registered, task_id) == COMPLETED
    status, data = instance_of(registered, instance_id)
    assert status == "completed"
    result = data["setpoint"]
    assert (result["tag"], result["value"], result["state"], result["unit"]) == (TAG, 72.5, "confirmed", "degC")
    assert result["readback"]["value"] == 72.5 and result["readback"]["origin"] == "equipment"
    signature = result["signature"]
    assert (signature["meaning"], signature["signer"]) == ("performed", "op.chen")
    # a later step reached the signature's id and meaning through the process data
    assert data["authorised_by"] == {"signature": signature["id"], "meaning": "performed", "read_back": 72.5}
    with registered.session() as session:
        (write,) = writes_of(session, instance_id, task_id)
        from signatures.models import Signature

        row = session.get(Signature, int(signature["id"]))
        assert (row.record_type, row.record_id, row.signer_id) == ("task", task_id, "op.chen")
    assert (write.state, write.tag, write.value, write.signature_id, write.requested_by, write.readback) == \
        ("confirmed", TAG, 72.5, signature["id"], "op.chen", 72.5)
    assert trail(registered, "setpoint_write") == ["tag.write_requested", "tag.write_confirmed"]
    # the signed task record carries the set-point it authorised
    with registered.session() as session:
        completed = session.scalars(select(AuditEntry).where(AuditEntry.action == "task.completed")).one()
    assert '"authorises"' in completed.details and TAG in completed.details


FAILURES = {
    # name: (tag, value, expected code, what the record says, simulator set-up)
    "unregistered_tag": ("FBD-02.ua.inlet_temp_sp", 70.0, "equipment_refused", "not in the effective tag registry"),
    "read_only_tag": ("FBD-01.ua.inlet_temp", 70.0, "equipment_refused", "is read-only"),
    "out_of_range": (TAG, 95.0, "setpoint_refused", "outside the allowed range"),
    "readback_mismatch": (TAG, 70.0, "readback_mismatch", "read-back mismatch"),
    "readback_timeout": ("FBD-01.inlet_temp_sp", 70.0, "setpoint_unconfirmed", "read-back failed"),
    "connector_down": (TAG, 70.0, "equipment_unavailable", ""),
}


@pytest.mark.req("URS-CON-009", "URS-CON-004", "URS-CON-005", "P11-10h", "A11-5")
@pytest.mark.parametrize("case", list(FAILURES))
def test_a_refused_or_failed_write_is_the_bpmn_error_the_diagram_catches(
        case, registered, settings, people, plant, frozen_clock, plant_runtime):
    tag, value, code, detail = FAILURES[case]
    plant.set(POINT, 60.0)
    instance_id, task_id = sign_set_point(registered, settings, people, frozen_clock, value, tag=tag)
    scheduler_settings = dataclasses.replace(settings, connector_timeout_seconds=1.0)
    if case == "readback_mismatch":
        plant.lock_writes(POINT)  # the device acknowledges the write but keeps its value
    elif case == "readback_timeout":
        plant.freeze_after_write()  # the device takes the value, then stops answering
    elif case == "connector_down":
        plant.disconnect("opcua")
    try:
        report = Scheduler(registered, scheduler_settings, name="worker-1", runtime=plant_runtime).run_once()
    finally:
        plant.lock_writes(POINT, False)
        plant.thaw()
        if case == "connector_down":
            plant.reconnect("opcua")
    assert report.operations == 1
    try:
        if case == "readback_timeout":
            assert plant.value(POINT) == 70.0  # it did take the value: only the confirmation is missing
        else:
            assert plant.value(POINT) == 60.0
    finally:
        plant.set(POINT, 60.0)
    status, data = instance_of(registered, instance_id)
    assert status == "completed"  # through the boundary event to "Set-point not confirmed"
    assert task_state(registered, task_id) == CANCELLED
    error = data["setpoint_error"]
    assert error["code"] == code and detail in error["message"]
    details = error["details"]
    assert (details["tag"], details["value"], details["signer"], details["signature_meaning"]) == \
        (tag, value, "op.chen", "performed")
    assert details["signature_id"].isdigit()
    assert "setpoint" not in data and "authorised_by" not in data
    with registered.session() as session:
        writes = writes_of(session, instance_id, task_id)
        ended = session.scalars(select(AuditEntry.details).where(AuditEntry.action == "operator.failed")).one()
    assert code in ended
    if case in ("readback_mismatch", "readback_timeout", "connector_down"):
        (write,) = writes  # requested, then failed: visible with its detail
        assert write.state == "failed" and details["write_id"] == write.write_id
        assert trail(registered, "setpoint_write") == ["tag.write_requested", "tag.write_failed"]
    else:  # refused before anything was requested or sent
        assert writes == []
        refusal = "equipment.data_refused" if case == "unregistered_tag" else "tag.write_refused"
        assert refusal in trail(registered, "equipment_tag")  # a security event for an unregistered tag


@pytest.mark.req("URS-CON-009", "ALCOA-COMPLETE")
def test_a_write_requested_but_never_confirmed_is_not_sent_again(registered, settings, people, plant, frozen_clock,
                                                                 plant_runtime):
    """The scheduler stopped between sending and read-back: on the next run the write is
    recorded failed as unconfirmed and the diagram's error path takes over; nothing is
    written twice on one signature."""
    from connectors.setpoints import request_write

    instance_id, task_id = sign_set_point(registered, settings, people, frozen_clock, 66.0)
    with registered.session() as session:
        body = session.get(InstanceTask, task_id).body
    pending = json.loads(body)["internal_data"]["operator"]["params"]
    with UnitOfWork(registered, people.operator.actor) as uow:  # what a scheduler that then died committed
        request_write(uow, settings, TAG, 66.0, instance_id=instance_id, task_id=task_id,
                      signature_id=pending["signature"]["id"], task_document=pending["document"],
                      task_meaning="performed")
        uow.commit()
    Scheduler(registered, settings, name="worker-2", runtime=plant_runtime).run_once()
    assert plant.value(POINT) == 60.0
    status, data = instance_of(registered, instance_id)
    assert status == "completed" and data["setpoint_error"]["code"] == "setpoint_unconfirmed"
    with registered.session() as session:
        (write,) = writes_of(session, instance_id)
        assert session.scalars(select(SetpointWrite)).all() != []
    assert write.state == "failed" and write.detail.startswith("unconfirmed")


@pytest.mark.req("URS-CON-009")
def test_the_form_must_give_the_set_point_and_the_declaration_is_checked_at_upload(
        registered, settings, people, plant, frozen_clock, plant_runtime):
    from connectors.signed_setpoint import build
    from engine import definitions

    with pytest.raises(FormDataInvalid, match="inlet_temp: enter the set-point to write"):
        build({"setpoint.tag": TAG, "setpoint.value_field": "inlet_temp"}, {"comment": "x"})
    assert build({"setpoint.tag_field": "which", "setpoint.value_field": "v"}, {"which": TAG, "v": 5}) == \
        {"tag": TAG, "value": 5.0}
    bad = {
        "no signature": ('<spiffworkflow:property name="signature.meaning" value="performed" />', "",
                         "the task must ask for its completer's signature"),
        "unknown field": ('value="inlet_temp" />', 'value="outlet_temp" />', "names field 'outlet_temp', which is not"),
        "text field": ('value="inlet_temp" />', 'value="comment" />', "field 'comment' is string"),
        "two tags": ('<spiffworkflow:property name="setpoint.tag" value="FBD-01.ua.inlet_temp_sp" />',
                     '<spiffworkflow:property name="setpoint.tag" value="FBD-01.ua.inlet_temp_sp" />'
                     '<spiffworkflow:property name="setpoint.tag_field" value="comment" />', "both set"),
        "no value field": ('<spiffworkflow:property name="setpoint.value_field" value="inlet_temp" />', "",
                           "needs setpoint.value_field"),
        "typo": ('name="setpoint.value_field"', 'name="setpoint.value_feild"', "unknown extension property"),
        "nothing catches a failed write": ('attachedToRef="set_inlet_temp"', 'attachedToRef="note_signature"',
                                           "element 'set_inlet_temp': the signed action 'setpoint' can be refused, fail or stay "
                                           r"unconfirmed \(equipment_unavailable, .*\): attach a boundary error event"),
    }
    for name, (old, new, message) in bad.items():
        with UnitOfWork(registered, people.engineer.actor) as uow:
            with pytest.raises(DefinitionCheckFailed, match=message):
                definitions.upload(uow, files(**{old: new}), reason=name, roles={"operator"},
                                   services=upload_services())


@pytest.mark.req("URS-CON-009", "P11-10b", "P11-50b", "CN-6")
def test_the_task_page_the_completed_page_and_the_record_show_each_state(
        registered, settings, people, plant, frozen_clock, plant_runtime):
    import re
    import subprocess

    from app import create_app
    from tests.conftest import TEST_PASSPHRASE, TEST_SECRET
    from tests.web.test_access_matrix import open_session

    app = create_app({"instance_path": settings.instance_path, "database_url": settings.database_url,
                      "secret_key": TEST_SECRET, "server_key_passphrase": TEST_PASSPHRASE}, runtime=plant_runtime)
    app.config["TESTING"] = True
    client = app.test_client()
    operator = people.operator
    deploy(registered, upload_services(), files=files())
    ids = []
    for _ in range(2):
        with UnitOfWork(registered, operator.actor) as uow:
            ids.append(instances.start(uow, "set_dryer_inlet_temp").id)
            uow.commit()
    open_session(registered, client, operator)
    plant.set(POINT, 60.0)
    try:
        for instance_id, value in zip(ids, ("72.5", "95.0")):
            with registered.session() as session:
                task_id = session.scalars(select(InstanceTask.id).where(InstanceTask.instance_id == instance_id)
                                          .where(InstanceTask.bpmn_id == "set_inlet_temp")).one()
            page = client.get(f"/tasks/{task_id}").get_data(as_text=True)
            notice = re.search(r'data-testid="setpoint-notice">(.*?)</p>', page, re.S).group(1)
            assert "Inlet air set-point" in notice and TAG in notice and "30.0 to 80.0 degC" in notice
            frozen_clock.advance(seconds=31)
            done = client.post(f"/tasks/{task_id}", data={"csrf_token": "walk-token", "f:inlet_temp": value,
                                                         "f:comment": "drying step 3",
                                                         "sig_password": operator.password,
                                                         "sig_totp": testing.next_totp(registered, operator)})
            html = done.get_data(as_text=True)
            assert done.status_code == 200, html
            assert 'data-state="requested"' in html and "waiting for the scheduler" in html and "Task signed" in html
            assert f"{value} degC" in html
            assert f'data-setpoint-poll="/tasks/{task_id}/setpoint"' in html
            opened = client.get(f"/tasks/{task_id}")  # signed: the task page follows the write
            assert opened.status_code == 302 and opened.headers["Location"].endswith(f"/tasks/{task_id}/setpoint")
            assert 'data-state="requested"' in client.get(f"/tasks/{task_id}/setpoint").get_data(as_text=True)
        Scheduler(registered, settings, name="worker-1", runtime=plant_runtime).run_once()
        with registered.session() as session:
            jobs = [(j.state, j.error) for j in session.scalars(select(OperatorJob))]
        assert plant.value(POINT) == 72.5, jobs
    finally:
        plant.set(POINT, 60.0)
    confirmed_task = _task_of(registered, ids[0])
    status = client.get(f"/tasks/{confirmed_task}/setpoint").get_data(as_text=True)
    assert 'data-state="confirmed"' in status and "confirmed by read-back" in status
    with client.session_transaction() as sess:
        sess["lang"] = "zh"
    status_zh = client.get(f"/tasks/{confirmed_task}/setpoint").get_data(as_text=True)
    assert "设定值写入" in status_zh and "已经回读确认" in status_zh and "授权人" in status_zh
    with client.session_transaction() as sess:
        sess["lang"] = "en"
    record = json.loads(client.get(f"/records/{ids[0]}.json").get_data(as_text=True))
    (setpoint,) = record["tasks"][0]["setpoints"]
    assert (setpoint["tag"], setpoint["value"], setpoint["unit"], setpoint["state"], setpoint["readback"]) == \
        (TAG, 72.5, "degC", "confirmed", 72.5)
    assert setpoint["signature"]["meaning"] == "performed" and setpoint["signature"]["signer"] == "op.chen"
    actions = [e["action"] for e in record["timeline"]]
    assert actions.index("tag.write_requested") < actions.index("tag.write_confirmed") < actions.index("operator.completed")
    failed = json.loads(client.get(f"/records/{ids[1]}.json").get_data(as_text=True))["tasks"][0]["setpoints"][0]
    assert failed["state"] == "failed" and failed["code"] == "setpoint_refused"
    assert "outside the allowed range" in failed["detail"]
    page = client.get(f"/records/{ids[1]}").get_data(as_text=True)
    assert 'data-state="failed"' in page and "outside the allowed range" in page
    pdf = client.get(f"/records/{ids[0]}.pdf")
    assert pdf.status_code == 200
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf.data, capture_output=True, check=True).stdout.decode()
    assert TAG in text and "confirmed by read-back" in text and "72.5" in text
    assert client.get(f"/tasks/{ids[0]}/setpoint").status_code == 404  # not a task id
    # a signed correction of the task's record verifies the first version, set-point included
    frozen_clock.advance(seconds=31)
    corrected = client.post(f"/records/{ids[0]}/tasks/{confirmed_task}/correct", data={
        "csrf_token": "walk-token", "field": "comment", "value": "drying step 4", "reason": "wrong step noted",
        "sig_password": operator.password, "sig_totp": testing.next_totp(registered, operator)})
    assert corrected.status_code == 302, corrected.get_data(as_text=True)
    app.extensions["gmp.db"].dispose()


def _task_of(db, instance_id):  # type: ignore[no-untyped-def]
    with db.session() as session:
        return session.scalars(select(InstanceTask.id).where(InstanceTask.instance_id == instance_id,
                                                             InstanceTask.bpmn_id == "set_inlet_temp")).one()


@pytest.mark.req("URS-CON-009", "URS-LIB-001")
def test_an_imported_draft_lists_a_set_point_task_that_nothing_catches_on_its_element():
    from bpmn.glue import extend
    from engine import drafts
    from engine.install import build_runtime

    uncaught = files(**{'attachedToRef="set_inlet_temp"': 'attachedToRef="note_signature"'})
    found = drafts.inspect(uncaught, roles={"operator"}, meanings=MEANINGS, runtime=extend(build_runtime()))
    assert [(p.element_id, p.message.split(":")[0]) for p in found.problems] == [
        ("set_inlet_temp", "the signed action 'setpoint' can be refused, fail or stay unconfirmed (equipment_unavailable, "
                           "equipment_refused, setpoint_refused, readback_mismatch, setpoint_unconfirmed, "
                           "condition_timeout, equipment_error)")]
    caught = drafts.inspect(files(), roles={"operator"}, meanings=MEANINGS, runtime=extend(build_runtime()))
    assert caught.problems == []
