"""Set-point writes: range check, signature, two-phase record, read-back.

1. `request_write` (one transaction): the tag is registered and read-write, the value is
   inside the tag's allowed range, and an electronic signature with meaning "performed"
   covers exactly {tag, value, instance, task} (`SetpointRecord`), is fresh and not used
   before. The write is committed as requested *before* anything is sent.
   The signature is made with `signatures.service.sign(uow, SetpointRecord.of(...), "performed", ...)`
   at the user task before the service task that writes.
2. `send_write`: the value goes to the device.
3. `confirm_write`: the value is read back (stored as a read-back reading); equal ->
   outcome "confirmed", otherwise outcome "failed" and ReadbackMismatch.
A crash between 1 and 3 leaves a request without an outcome: `unconfirmed_writes()`
lists it. `write_setpoint` runs the three steps.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.canonical import Actor, dumps, jsonable
from connectors.client import EquipmentClient, values_match
from connectors.errors import (
    ConnectorError,
    ReadbackFailed,
    ReadbackMismatch,
    SetpointNotAuthorised,
    SetpointOutOfRange,
    SetpointUnconfirmed,
    TagAccessDenied,
)
from connectors.models import SetpointWrite, SetpointWriteOutcome, WriteOutcome
from connectors.registry import RegisteredTag, lookup
from connectors.service import store_reading
from connectors.tags import Reading, TagDefinition
from core import clock
from core.config import Settings
from signatures.errors import SignatureError
from signatures.models import Signature
from signatures.records import SimpleRecord, content_sha256
from signatures.verify import verify_signature
from store.db import Database
from store.uow import UnitOfWork

MEANING = "performed"
RECORD_TYPE = "equipment_setpoint"
MANUAL_INSTANCE = "manual"  # the "instance" of a set-point changed by hand (`gmp tags write`), not by a process


def manual_change_id() -> str:
    """The "task" of a change by hand: a fresh ID, so its signature authorises exactly this change."""
    return f"change-{uuid.uuid4()}"


def parse_value(tag: TagDefinition, text: str) -> float | int | bool:
    """A value typed for `tag` (true/false for a switch, a number otherwise); SetpointOutOfRange if it is not one."""
    from connectors.codec import DataType

    raw = text.strip()
    if tag.data_type is DataType.BOOL:
        lowered = raw.lower()
        if lowered in ("true", "1", "on"):
            return True
        if lowered in ("false", "0", "off"):
            return False
        raise SetpointOutOfRange(f"tag {tag.name} takes true or false, got {text!r}", tag=tag.name)
    try:
        number = float(raw)
    except ValueError:
        raise SetpointOutOfRange(f"tag {tag.name} takes a number, got {text!r}", tag=tag.name) from None
    if number != number or number in (float("inf"), float("-inf")):
        raise SetpointOutOfRange(f"tag {tag.name} takes a number, got {text!r}", tag=tag.name)
    return int(number) if number.is_integer() and "." not in raw and "e" not in raw.lower() else number


def check_request(uow: UnitOfWork, tag_name: str, value: str | float | int | bool) -> TagDefinition:
    """Is a write of `value` (typed or as text) to `tag_name` allowed at all (registered, writable, in range)?
    Refusals are recorded (they survive the rollback); the caller does not commit anything else."""
    registered = lookup(uow, tag_name, action="write")
    tag = registered.definition
    details = {"tag": tag_name, "value": value}
    if not tag.writable:
        message = f"tag {tag_name} is read-only: write of {value!r} refused"
        uow.record_refusal("tag.write_refused", "equipment_tag", tag_name, reason=message, details=details)
        raise TagAccessDenied(message, tag=tag_name)
    if isinstance(value, str):
        try:
            value = parse_value(tag, value)
        except SetpointOutOfRange as exc:
            uow.record_refusal("tag.write_refused", "equipment_tag", tag_name, reason=str(exc), details=details)
            raise
    _check_value(uow, tag, value, details)
    return tag


@dataclass(frozen=True)
class SetpointRecord:
    """The signable record of a set-point change: exactly {tag, value, instance, task}."""

    tag: str
    value: float | bool
    instance_id: str
    task_id: str
    record_type: str = RECORD_TYPE
    record_version: int = 1

    @classmethod
    def of(cls, tag: str, value: float | int | bool, instance_id: str | int, task_id: str | int) -> "SetpointRecord":
        normal = value if isinstance(value, bool) else float(value)
        return cls(tag, normal, str(instance_id), str(task_id))

    @property
    def record_id(self) -> str:
        return f"{self.instance_id}/{self.task_id}/{self.tag}"

    def canonical_content(self) -> bytes:
        return dumps(jsonable({"tag": self.tag, "value": self.value, "instance": self.instance_id,
                               "task": self.task_id})).encode("utf-8")


@dataclass(frozen=True)
class SignatureFacts:
    """What the signature check established: who signed, when."""

    signature_id: str
    signer_id: str
    signed_at: datetime


def check_signature(uow: UnitOfWork, settings: Settings, signature_id: str, record: SetpointRecord) -> SignatureFacts:
    """The signature `signature_id` has meaning "performed", covers exactly `record` (tag, value,
    instance, task) and verifies cryptographically (signatures.verify)."""
    row = uow.session.get(Signature, int(signature_id)) if str(signature_id).isdigit() else None
    if row is None:
        raise SetpointNotAuthorised(f"no signature {signature_id!r}: a set-point write needs the signature given "
                                    "at the preceding task")
    if (row.record_type, row.record_id) != (record.record_type, record.record_id):
        raise SetpointNotAuthorised(f"signature {signature_id} signs {row.record_type}/{row.record_id}, not the "
                                    f"set-point {record.record_id}")
    if row.meaning != MEANING:
        raise SetpointNotAuthorised(f"signature {signature_id} has meaning {row.meaning!r}, a set-point write needs "
                                    f"{MEANING!r}")
    signed = replace(record, record_version=row.record_version)
    if row.content_sha256 != content_sha256(signed):
        raise SetpointNotAuthorised(f"signature {signature_id} was given for another value of {record.tag} at "
                                    f"{record.instance_id}/{record.task_id}, not {record.value!r}")
    try:
        verify_signature(uow.session, row, signed, settings)
    except SignatureError as exc:
        raise SetpointNotAuthorised(f"signature {signature_id} does not verify: {exc}") from None
    return SignatureFacts(str(row.seq), row.signer_id, clock.parse_iso(row.signed_at))


TASK_RECORD_TYPE = "task"


def check_task_signature(uow: UnitOfWork, settings: Settings, signature_id: str, record: SetpointRecord,
                         document: Mapping[str, Any], meaning: str) -> SignatureFacts:
    """The signature `signature_id` was given at the user task `record.task_id` with `meaning`,
    over exactly `document` (the signed task record), and that record authorises exactly this
    set-point ({tag, value} under `authorises`) at this instance; it verifies cryptographically."""
    row = uow.session.get(Signature, int(signature_id)) if str(signature_id).isdigit() else None
    if row is None:
        raise SetpointNotAuthorised(f"no signature {signature_id!r}: a set-point write needs the signature given "
                                    "at its task")
    if (row.record_type, row.record_id) != (TASK_RECORD_TYPE, record.task_id):
        raise SetpointNotAuthorised(f"signature {signature_id} signs {row.record_type}/{row.record_id}, not task "
                                    f"{record.task_id}")
    if row.meaning != meaning:
        raise SetpointNotAuthorised(f"signature {signature_id} has meaning {row.meaning!r}, the task's set-point "
                                    f"is authorised by its {meaning!r} signature")
    signed = SimpleRecord(TASK_RECORD_TYPE, record.task_id, row.record_version, dict(document))
    if row.content_sha256 != content_sha256(signed):
        raise SetpointNotAuthorised(f"signature {signature_id} was not given over this task record")
    authorised = document.get("authorises") or {}
    if str(document.get("instance_id")) != record.instance_id or authorised.get("tag") != record.tag or \
            not _same_value(authorised.get("value"), record.value):
        raise SetpointNotAuthorised(f"signature {signature_id} authorises {authorised.get('tag')!r} = "
                                    f"{authorised.get('value')!r} at instance {document.get('instance_id')}, not "
                                    f"{record.tag} = {record.value!r} at instance {record.instance_id}")
    try:
        verify_signature(uow.session, row, signed, settings)
    except SignatureError as exc:
        raise SetpointNotAuthorised(f"signature {signature_id} does not verify: {exc}") from None
    return SignatureFacts(str(row.seq), row.signer_id, clock.parse_iso(row.signed_at))


def _same_value(signed: Any, value: Any) -> bool:
    if isinstance(signed, bool) or isinstance(value, bool):
        return signed is value
    try:
        return float(signed) == float(value)
    except (TypeError, ValueError):
        return False


@dataclass(frozen=True)
class WriteResult:
    write_id: str
    tag: str
    value: float | int | bool
    readback: Reading


def request_write(uow: UnitOfWork, settings: Settings, tag_name: str, value: float | int | bool, *,
                  instance_id: str | int, task_id: str | int, signature_id: str,
                  max_signature_age: timedelta | None = None,
                  task_document: Mapping[str, Any] | None = None,
                  task_meaning: str = MEANING) -> tuple[str, RegisteredTag]:
    """Check everything and stage the 'write requested' row in `uow` (the caller commits).

    The authorising signature is one over the set-point record (`SetpointRecord`, meaning
    "performed"), or, with `task_document`, the signature given at a user task whose signed
    record authorises the set-point (engine.signed_actions; `task_meaning`)."""
    registered = lookup(uow, tag_name, action="write")
    tag = registered.definition
    details = {"tag": tag_name, "value": value, "instance": str(instance_id), "task": str(task_id)}
    if not tag.writable:
        message = f"tag {tag_name} is read-only: write of {value!r} refused"
        uow.record_refusal("tag.write_refused", "equipment_tag", tag_name, reason=message, details=details)
        raise TagAccessDenied(message, tag=tag_name)
    _check_value(uow, tag, value, details)
    record = SetpointRecord.of(tag_name, value, instance_id, task_id)
    try:
        if task_document is not None:
            facts = check_task_signature(uow, settings, str(signature_id), record, task_document, task_meaning)
        else:
            facts = check_signature(uow, settings, str(signature_id), record)
        max_age = max_signature_age or timedelta(minutes=settings.session_timeout_minutes)
        age = clock.now() - facts.signed_at
        if age > max_age:
            raise SetpointNotAuthorised(f"signature {signature_id} for {tag_name} is stale: given "
                                        f"{int(age.total_seconds())} s ago, at most "
                                        f"{int(max_age.total_seconds())} s allowed")
        used = uow.session.scalar(select(SetpointWrite.id).where(SetpointWrite.signature_id == signature_id))
        if used is not None:
            raise SetpointNotAuthorised(f"signature {signature_id} already authorised write {used}: "
                                        "one signature authorises one write")
    except SetpointNotAuthorised as exc:
        uow.record_refusal("tag.write_refused", "equipment_tag", tag_name, reason=str(exc), details=details)
        raise
    write_id = str(uuid.uuid4())
    uow.session.add(SetpointWrite(
        id=write_id, tag_id=registered.tag_id, tag_name=tag_name, value_json=json.dumps(value), unit=tag.unit,
        instance_id=str(instance_id), task_id=str(task_id), signature_id=signature_id,
        requested_by=facts.signer_id, requested_at=clock.isoformat(clock.now())))
    uow.audit("tag.write_requested", "setpoint_write", write_id, changes=[["value", None, value]],
              details={**details, "unit": tag.unit, "signature_id": signature_id, "signer": facts.signer_id,
                       "endpoint": tag.endpoint, "revision": registered.revision})
    return write_id, registered


def _check_value(uow: UnitOfWork, tag: TagDefinition, value: Any, details: dict[str, Any]) -> None:
    from connectors.codec import DataType

    problem = None
    if tag.data_type is DataType.BOOL:
        if not isinstance(value, bool):
            problem = f"tag {tag.name} takes true or false, got {value!r}"
    elif isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        problem = f"tag {tag.name} takes a number, got {value!r}"
    elif not tag.within_limits(value):
        problem = f"set-point {value} {tag.unit} for {tag.name} is outside the allowed range {tag.limits_text()}"
    elif tag.data_type.value in ("int16", "uint16", "int32") and tag.scale == 1.0 and float(value) != int(value):
        problem = f"tag {tag.name} takes whole numbers, got {value!r}"
    if problem:
        uow.record_refusal("tag.write_refused", "equipment_tag", tag.name, reason=problem, details=details)
        raise SetpointOutOfRange(problem, tag=tag.name)


def send_write(client: EquipmentClient, tag: TagDefinition, value: float | int | bool) -> None:
    client.write(tag, value)


def confirm_write(db: Database, actor: Actor, client: EquipmentClient, write_id: str, registered: RegisteredTag,
                  value: float | int | bool, instance_id: str, task_id: str) -> Reading:
    """Read back and record the outcome (its own transaction)."""
    tag = registered.definition
    try:
        readback = client.read(tag, registered.revision)
    except ConnectorError as exc:
        record_outcome(db, actor, write_id, WriteOutcome.FAILED, None, f"read-back failed: {exc}")
        raise ReadbackFailed(f"tag {tag.name}: write {write_id} sent but the read-back failed: {exc}",
                             tag=tag.name, write_id=write_id) from exc
    with UnitOfWork(db, actor) as uow:
        store_reading(uow, registered, readback, purpose="readback", instance_id=instance_id, task_id=task_id)
        if values_match(tag, value, readback.value):
            _outcome(uow, write_id, WriteOutcome.CONFIRMED, readback.value,
                     f"read back {readback.value} {tag.unit}")
            uow.commit()
            return readback
        detail = f"wrote {value} {tag.unit}, read back {readback.value} {tag.unit}"
        _outcome(uow, write_id, WriteOutcome.FAILED, readback.value, "read-back mismatch: " + detail)
        uow.commit()
    raise ReadbackMismatch(f"tag {tag.name}: read-back mismatch after write {write_id}: {detail}",
                           tag=tag.name, write_id=write_id)


def record_outcome(db: Database, actor: Actor, write_id: str, outcome: WriteOutcome, readback: Any,
                   detail: str) -> None:
    with UnitOfWork(db, actor) as uow:
        _outcome(uow, write_id, outcome, readback, detail)
        uow.commit()


def _outcome(uow: UnitOfWork, write_id: str, outcome: WriteOutcome, readback: Any, detail: str) -> None:
    uow.session.add(SetpointWriteOutcome(write_id=write_id, outcome=outcome.value,
                                         readback_json=None if readback is None else json.dumps(readback),
                                         detail=detail, recorded_at=clock.isoformat(clock.now())))
    uow.audit(f"tag.write_{outcome.value}", "setpoint_write", write_id, changes=[["outcome", None, outcome.value]],
              details={"readback": readback, "detail": detail})


def write_setpoint(db: Database, settings: Settings, actor: Actor, client: EquipmentClient, tag_name: str,
                   value: float | int | bool, *, instance_id: str | int, task_id: str | int, signature_id: str,
                   max_signature_age: timedelta | None = None, task_document: Mapping[str, Any] | None = None,
                   task_meaning: str = MEANING,
                   on_requested: Callable[[str], None] | None = None) -> WriteResult:
    """The whole set-point change. Raises on refusal (nothing sent), on a failed send
    (outcome 'failed' recorded) and on a read-back mismatch (outcome 'failed').
    `on_requested(write_id)` runs once the request is committed, before the value is sent."""
    with UnitOfWork(db, actor) as uow:
        write_id, registered = request_write(uow, settings, tag_name, value, instance_id=instance_id,
                                             task_id=task_id, signature_id=str(signature_id),
                                             max_signature_age=max_signature_age, task_document=task_document,
                                             task_meaning=task_meaning)
        uow.commit()
    if on_requested is not None:
        on_requested(write_id)
    try:
        send_write(client, registered.definition, value)
    except ConnectorError as exc:
        record_outcome(db, actor, write_id, WriteOutcome.FAILED, None, f"send failed: {exc}")
        raise
    readback = confirm_write(db, actor, client, write_id, registered, value, str(instance_id), str(task_id))
    return WriteResult(write_id, tag_name, value, readback)


@dataclass(frozen=True)
class UnconfirmedWrite:
    write_id: str
    tag: str
    value: Any
    unit: str
    instance_id: str
    task_id: str
    requested_by: str
    requested_at: str
    signature_id: str


def unconfirmed_writes(session: Session, instance_id: str | None = None) -> list[UnconfirmedWrite]:
    """Writes requested and never confirmed or failed (e.g. a crash after sending)."""
    query = (select(SetpointWrite).outerjoin(SetpointWriteOutcome, SetpointWriteOutcome.write_id == SetpointWrite.id)
             .where(SetpointWriteOutcome.id.is_(None)).order_by(SetpointWrite.requested_at))
    if instance_id is not None:
        query = query.where(SetpointWrite.instance_id == str(instance_id))
    return [UnconfirmedWrite(w.id, w.tag_name, json.loads(w.value_json), w.unit, w.instance_id, w.task_id,
                             w.requested_by, w.requested_at, w.signature_id) for w in session.scalars(query)]


def write_outcome(session: Session, write_id: str) -> str | None:
    return session.scalar(select(SetpointWriteOutcome.outcome).where(SetpointWriteOutcome.write_id == write_id))


def settle_unconfirmed(db: Database, actor: Actor, signature_id: str) -> None:
    """Before a write authorised by `signature_id` is attempted (again): if one was requested
    with it and never got an outcome (the scheduler stopped between sending and read-back),
    record it failed as unconfirmed and raise SetpointUnconfirmed. Nobody knows whether the
    device took the value: a person must look, the engine does not write again."""
    with db.session() as session:
        write = session.scalar(select(SetpointWrite).where(SetpointWrite.signature_id == str(signature_id)))
        if write is None or write_outcome(session, write.id) is not None:
            return
        write_id, tag = write.id, write.tag_name
    detail = ("unconfirmed: the write was requested and may have been sent, but its read-back was never "
              "recorded (the scheduler stopped); check the equipment")
    record_outcome(db, actor, write_id, WriteOutcome.FAILED, None, detail)
    raise SetpointUnconfirmed(f"tag {tag}: write {write_id} is {detail}", tag=tag, write_id=write_id)


@dataclass(frozen=True)
class WriteState:
    """Where a set-point write stands: requested (no outcome yet), confirmed or failed."""

    write_id: str
    tag: str
    value: Any
    unit: str
    state: str
    requested_at: str
    requested_by: str
    signature_id: str
    readback: Any = None
    detail: str | None = None
    recorded_at: str | None = None


def writes_of(session: Session, instance_id: str | int, task_id: str | None = None) -> list[WriteState]:
    """The set-point writes of an instance (or of one task of it), oldest first, with their state."""
    query = (select(SetpointWrite, SetpointWriteOutcome)
             .outerjoin(SetpointWriteOutcome, SetpointWriteOutcome.write_id == SetpointWrite.id)
             .where(SetpointWrite.instance_id == str(instance_id)).order_by(SetpointWrite.requested_at))
    if task_id is not None:
        query = query.where(SetpointWrite.task_id == str(task_id))
    found = []
    for write, outcome in session.execute(query):
        found.append(WriteState(
            write.id, write.tag_name, json.loads(write.value_json), write.unit,
            outcome.outcome if outcome is not None else "requested", write.requested_at, write.requested_by,
            write.signature_id,
            json.loads(outcome.readback_json) if outcome is not None and outcome.readback_json else None,
            outcome.detail if outcome is not None else None, outcome.recorded_at if outcome is not None else None))
    return found


__all__ = ["SetpointRecord", "SignatureFacts", "write_setpoint", "request_write", "confirm_write",
           "unconfirmed_writes", "write_outcome", "check_task_signature", "settle_unconfirmed", "WriteState",
           "writes_of"]
