"""Set-point writes: range, signature over {tag, value, instance, task}, two-phase record, read-back."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from audit.canonical import Actor
from audit.models import AuditEntry
from connectors.errors import (
    DeviceUnavailable,
    ReadbackMismatch,
    SetpointNotAuthorised,
    SetpointOutOfRange,
    TagAccessDenied,
    UnregisteredTag,
)
from connectors.models import ConnectorSecurityEvent, EquipmentReading, SetpointWrite
from connectors.setpoints import SetpointRecord, unconfirmed_writes, write_outcome, write_setpoint
from core import clock
from signatures import testing
from signatures.service import sign
from store.uow import UnitOfWork

ROOT = Path(__file__).resolve().parents[2]
ENGINE = Actor("engine", "Engine worker")
CLOCK: list = []


@pytest.fixture(autouse=True)
def _clock(frozen_clock):
    CLOCK[:] = [frozen_clock]


def sign_setpoint(db, settings, person, tag, value, instance="42", task="set_inlet_temp", meaning="performed",
                  version=1):
    record = SetpointRecord.of(tag, value, instance, task)
    if version != 1:
        from dataclasses import replace
        record = replace(record, record_version=version)
    CLOCK[0].advance(seconds=31)  # a fresh TOTP code for every ceremony
    with UnitOfWork(db, person.actor) as uow:
        row = sign(uow, record, meaning, testing.credentials(db, person), None, settings)
        uow.commit()
    return str(row.seq)


def write(db, settings, client, tag, value, signature_id, instance="42", task="set_inlet_temp"):
    return write_setpoint(db, settings, ENGINE, client, tag, value, instance_id=instance, task_id=task,
                          signature_id=signature_id)


def actions(db, object_type):
    with db.session() as session:
        return [e.action for e in session.scalars(select(AuditEntry).where(AuditEntry.object_type == object_type)
                                                  .order_by(AuditEntry.seq))]


@pytest.mark.req("URS-CON-005", "P11-10g", "P11-70", "ALCOA-COMPLETE")
@pytest.mark.parametrize("tag,point,value", [("FBD-01.inlet_temp_sp", "dryer.inlet_temp_sp", 72.5),
                                             ("FBD-01.ua.inlet_temp_sp", "dryer.inlet_temp_sp", 71.0)])
def test_a_signed_write_is_requested_sent_read_back_and_confirmed(registered, settings, people, plant, client,
                                                                  tag, point, value):
    signature = sign_setpoint(registered, settings, people.operator, tag, value)
    result = write(registered, settings, client, tag, value, signature)
    try:
        assert plant.value(point) == value
    finally:
        plant.set(point, 60.0)
    assert result.readback.value == value and result.readback.tag.name == tag
    with registered.session() as session:
        row = session.get(SetpointWrite, result.write_id)
        assert (row.requested_by, row.signature_id, json.loads(row.value_json)) == ("op.chen", signature, value)
        readback = session.scalars(select(EquipmentReading).where(EquipmentReading.purpose == "readback")).one()
        assert readback.instance_id == "42" and readback.origin == "equipment"
        assert write_outcome(session, result.write_id) == "confirmed"
        assert unconfirmed_writes(session) == []
    assert actions(registered, "setpoint_write") == ["tag.write_requested", "tag.write_confirmed"]


@pytest.mark.req("URS-CON-005", "A11-6")
def test_an_out_of_range_set_point_is_refused_before_anything_is_sent(registered, settings, people, plant, client):
    signature = sign_setpoint(registered, settings, people.operator, "FBD-01.inlet_temp_sp", 95.0)
    with pytest.raises(SetpointOutOfRange, match=r"set-point 95.0 degC for FBD-01.inlet_temp_sp is outside the "
                                                 r"allowed range \[30.0, 80.0\] degC"):
        write(registered, settings, client, "FBD-01.inlet_temp_sp", 95.0, signature)
    with pytest.raises(SetpointOutOfRange, match="takes a number"):
        write(registered, settings, client, "FBD-01.inlet_temp_sp", "hot", signature)
    with pytest.raises(SetpointOutOfRange, match="takes whole numbers"):
        write(registered, settings, client, "FBD-01.impeller_speed_sp", 250.5, signature)
    assert plant.value("dryer.inlet_temp_sp") == 60.0
    with registered.session() as session:
        assert session.scalars(select(SetpointWrite)).all() == []
    assert actions(registered, "equipment_tag") == ["tag.write_refused"] * 3


@pytest.mark.req("URS-CON-004", "P11-10h")
def test_unregistered_and_read_only_tags_cannot_be_written(registered, settings, people, plant, client):
    with pytest.raises(UnregisteredTag, match="tag 'FBD-02.inlet_temp_sp' is not in the effective tag registry: write refused"):
        write(registered, settings, client, "FBD-02.inlet_temp_sp", 50.0, "1")
    with pytest.raises(TagAccessDenied, match="tag GAS-01.o2 is read-only"):
        write(registered, settings, client, "GAS-01.o2", 21.0, "1")
    with registered.session() as session:
        assert session.scalars(select(ConnectorSecurityEvent.kind)).all() == ["unregistered_tag"]
        assert session.scalars(select(SetpointWrite)).all() == []


@pytest.mark.req("URS-CON-005", "P11-70", "P11-10g")
def test_a_signature_for_another_value_meaning_or_task_is_refused(registered, settings, people, plant, client,
                                                                 frozen_clock):
    tag = "FBD-01.inlet_temp_sp"
    other_value = sign_setpoint(registered, settings, people.operator, tag, 65.0)
    with pytest.raises(SetpointNotAuthorised, match=rf"signature {other_value} was given for another value"):
        write(registered, settings, client, tag, 66.0, other_value)
    other_task = sign_setpoint(registered, settings, people.operator, tag, 66.0, task="another_task")
    with pytest.raises(SetpointNotAuthorised, match=rf"signature {other_task} signs equipment_setpoint/42/another_task/"):
        write(registered, settings, client, tag, 66.0, other_task)
    reviewed = sign_setpoint(registered, settings, people.qa, tag, 66.0, meaning="reviewed")
    with pytest.raises(SetpointNotAuthorised, match=rf"signature {reviewed} has meaning 'reviewed'"):
        write(registered, settings, client, tag, 66.0, reviewed)
    with pytest.raises(SetpointNotAuthorised, match="no signature '999'"):
        write(registered, settings, client, tag, 66.0, "999")
    assert plant.value("dryer.inlet_temp_sp") == 60.0


@pytest.mark.req("URS-CON-005", "P11-10f")
def test_a_stale_or_already_used_signature_is_refused(registered, settings, people, plant, client, frozen_clock):
    tag = "FBD-01.impeller_speed_sp"
    signature = sign_setpoint(registered, settings, people.operator, tag, 320)
    frozen_clock.advance(minutes=settings.session_timeout_minutes + 1)
    with pytest.raises(SetpointNotAuthorised, match=rf"signature {signature} for {tag} is stale"):
        write(registered, settings, client, tag, 320, signature)
    fresh = sign_setpoint(registered, settings, people.operator, tag, 320, version=2)
    write(registered, settings, client, tag, 320, fresh)
    with pytest.raises(SetpointNotAuthorised, match=rf"signature {fresh} already authorised write"):
        write(registered, settings, client, tag, 320, fresh)
    plant.set("dryer.impeller_speed_sp", 300.0)


@pytest.mark.req("URS-CON-005")
def test_a_read_back_that_differs_is_an_error_and_the_write_is_recorded_failed(registered, settings, people, plant,
                                                                              client):
    tag = "TP-01.offset"
    signature = sign_setpoint(registered, settings, people.operator, tag, 0.5)
    plant.lock_writes("cal.temp_probe_offset")  # the device acknowledges but keeps its value (local mode)
    try:
        with pytest.raises(ReadbackMismatch, match=r"tag TP-01.offset: read-back mismatch after write .*: wrote 0.5 "
                                                   r"degC, read back 0.0 degC"):
            write(registered, settings, client, tag, 0.5, signature)
    finally:
        plant.lock_writes("cal.temp_probe_offset", False)
    with registered.session() as session:
        (row,) = session.scalars(select(SetpointWrite)).all()
        assert write_outcome(session, row.id) == "failed"
    assert actions(registered, "setpoint_write") == ["tag.write_requested", "tag.write_failed"]


@pytest.mark.req("URS-CON-005", "URS-CON-003")
def test_a_write_to_a_dead_device_fails_in_time_and_is_recorded_failed(registered, settings, people, plant, client):
    tag = "PG-01.offset"
    signature = sign_setpoint(registered, settings, people.operator, tag, 0.1)
    plant.disconnect("modbus")
    try:
        with pytest.raises(DeviceUnavailable, match=r"tag PG-01.offset: .*modbus://127.0.0.1"):
            write(registered, settings, client, tag, 0.1, signature)
    finally:
        plant.reconnect("modbus")
    with registered.session() as session:
        (row,) = session.scalars(select(SetpointWrite)).all()
        assert write_outcome(session, row.id) == "failed"


@pytest.mark.req("URS-CON-005", "ALCOA-COMPLETE", "P11-10e")
def test_a_crash_between_sending_and_read_back_leaves_a_visible_unconfirmed_write(registered, settings, people,
                                                                                   plant, database_url):
    tag = "FBD-01.inlet_temp_sp"
    signature = sign_setpoint(registered, settings, people.operator, tag, 68.0, instance="77")
    offset = (clock.now() - clock._system_now()).total_seconds()  # the child runs on the same (frozen) time
    env = {**os.environ, "GMP_INSTANCE_PATH": settings.instance_path, "GMP_DATABASE_URL": database_url,
           "GMP_SECRET_KEY": settings.secret_key, "GMP_SERVER_KEY_PASSPHRASE": settings.server_key_passphrase,
           "GMP_CLOCK_OFFSET_SECONDS": str(offset)}
    child = subprocess.run([sys.executable, "-m", "tests.connectors.crash_writer", tag, "68.0", "77",
                            "set_inlet_temp", signature], cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=60)
    assert child.returncode == -9 and child.stdout.strip() == "sent", child.stderr
    try:
        assert plant.value("dryer.inlet_temp_sp") == 68.0  # the device got it ...
    finally:
        plant.set("dryer.inlet_temp_sp", 60.0)
    with registered.session() as session:
        (pending,) = unconfirmed_writes(session)  # ... and the record says it was never confirmed
        assert unconfirmed_writes(session, instance_id="78") == []
    assert (pending.tag, pending.value, pending.instance_id, pending.requested_by, pending.signature_id) == \
        (tag, 68.0, "77", "op.chen", signature)
    assert actions(registered, "setpoint_write") == ["tag.write_requested"]
