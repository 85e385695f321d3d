"""The equipment logbook: signed entries that give a piece of equipment its status.

    log_equipment(uow, "GR-01", "clean", note="cleaned per SOP-CLN-004", credentials=..., settings=...)
    log_equipment(uow, "GR-01", "released", note="visual check passed", ...)   # released for use
    equipment_state(session, "GR-01")

Statuses: clean, released (released for use), in_use, dirty, out_of_service. The status is
that of the newest entry. Allowed steps:

    clean           from anything but in use (cleaning needs the equipment free)
    released        only from clean, within the equipment's clean hold time
    in_use          only from released (the entry may name the process instance using it)
    dirty           from anything but out of service
    out_of_service  from anything

"Released for use" means released and clean: the clean time of a release is that of the
cleaning entry before it, and the release lapses when the clean hold time of the equipment
(master data `clean_hold_hours`) passes on the product clock. Releasing for use takes a
role of its own (masterdata/record_rules.yaml `equipment.release`) and is signed
'released'; the other entries are signed 'performed'.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import clock
from core.config import Settings
from masterdata import changes
from masterdata.errors import RecordInvalid, RecordNotFound, RecordNotPermitted, RecordStateError
from masterdata.record_models import EquipmentLogRow
from masterdata.signed import RecordRules, load_record_rules, refuse, require_role, sign_record, text
from signatures.credentials import Credentials

CLEAN, RELEASED, IN_USE, DIRTY, OUT_OF_SERVICE = "clean", "released", "in_use", "dirty", "out_of_service"
STATUSES = (CLEAN, RELEASED, IN_USE, DIRTY, OUT_OF_SERVICE)
STATUS_LABELS = {CLEAN: ("Clean", "已清洁"), RELEASED: ("Released for use", "放行使用"), IN_USE: ("In use", "使用中"),
                 DIRTY: ("Dirty", "待清洁"), OUT_OF_SERVICE: ("Out of service", "停用")}
FROM = {CLEAN: (None, CLEAN, RELEASED, DIRTY, OUT_OF_SERVICE), RELEASED: (CLEAN,), IN_USE: (RELEASED,),
        DIRTY: (None, CLEAN, RELEASED, IN_USE, DIRTY), OUT_OF_SERVICE: (None, CLEAN, RELEASED, IN_USE, DIRTY)}


@dataclass(frozen=True)
class LogEntry:
    id: int
    equipment: str
    status: str
    previous_status: str | None
    instance_id: int | None
    note: str
    entered_by: str
    entered_at: str
    signature_id: str


@dataclass(frozen=True)
class EquipmentState:
    """The equipment's status now: that of its newest entry (None: no entry yet)."""

    equipment: str
    status: str | None
    since: str | None
    by: str | None
    instance_id: int | None
    clean_since: str | None        # the cleaning entry the current clean / released status rests on
    clean_until: str | None        # end of the clean hold time (None: no hold time)

    @property
    def clean(self) -> bool:
        return self.status in (CLEAN, RELEASED, IN_USE) and not self.hold_lapsed()

    def hold_lapsed(self, now: datetime | None = None) -> bool:
        return self.clean_until is not None and clock.isoformat(now or clock.now()) > self.clean_until

    @property
    def released_for_use(self) -> bool:
        return self.status == RELEASED and not self.hold_lapsed()


def _entry(row: EquipmentLogRow) -> LogEntry:
    return LogEntry(row.id, row.equipment, row.status, row.previous_status, row.instance_id, row.note,
                    row.entered_by, row.entered_at, row.signature_id)


def logbook(session: Session, equipment: str) -> list[LogEntry]:
    """The equipment's logbook, oldest first."""
    return [_entry(r) for r in session.scalars(select(EquipmentLogRow).where(EquipmentLogRow.equipment == equipment)
                                               .order_by(EquipmentLogRow.id))]


def _hold_hours(session: Session, equipment: str) -> int | None:
    item = changes.effective(session, "equipment", equipment)
    return int(item.data["clean_hold_hours"]) if item is not None and item.data.get("clean_hold_hours") else None


def equipment_state(session: Session, equipment: str) -> EquipmentState:
    entries = logbook(session, equipment)
    if not entries:
        return EquipmentState(equipment, None, None, None, None, None, None)
    last = entries[-1]
    clean_since = None
    if last.status in (CLEAN, RELEASED, IN_USE):
        for entry in reversed(entries):
            if entry.status == CLEAN:
                clean_since = entry.entered_at
                break
            if entry.status in (DIRTY, OUT_OF_SERVICE):
                break
    clean_until = None
    hours = _hold_hours(session, equipment)
    if clean_since is not None and hours is not None:
        start = datetime.fromisoformat(clean_since.replace("Z", "+00:00"))
        clean_until = clock.isoformat(start + timedelta(hours=hours))
    return EquipmentState(equipment, last.status, last.entered_at, last.entered_by, last.instance_id, clean_since,
                          clean_until)


def log_equipment(uow: Any, equipment: str, status: str, *, note: str, credentials: Credentials, settings: Settings,
                  instance_id: int | None = None, auth_session: Any = None,
                  rules: RecordRules | None = None) -> EquipmentState:
    """Add a signed logbook entry; the equipment's new status."""
    session: Session = uow.session
    code = str(equipment or "").strip()
    action = "equipment.release" if status == RELEASED else "equipment.entry"
    require_role(uow, rules or load_record_rules(settings), action,
                 what=f"record '{status}' in the logbook of {code}", object_type="md_equipment", object_id=code or "?")
    try:
        if changes.effective(session, "equipment", code) is None:
            raise RecordNotFound(f"equipment {equipment!r} is not in the master data in force")
        if status not in STATUSES:
            raise RecordInvalid(f"unknown logbook status {status!r}: {', '.join(STATUSES)}", [("status", "unknown")])
        why = text(note, "note")
        current = equipment_state(session, code)
        if current.status not in FROM[status]:
            shown = STATUS_LABELS[current.status][0].lower() if current.status else "without a logbook entry"
            raise RecordStateError(f"{code} is {shown}: it cannot be recorded as "
                                   f"{STATUS_LABELS[status][0].lower()}"
                                   + (" (only clean equipment is released for use)" if status == RELEASED else ""))
        if status == RELEASED and current.hold_lapsed():
            raise RecordStateError(f"{code}: the clean hold time ended at {current.clean_until}: clean it again "
                                   "before releasing it")
        if instance_id is not None and status != IN_USE:
            raise RecordInvalid("only an 'in use' entry names a process instance", [("instance_id", "not allowed")])
    except (RecordInvalid, RecordStateError, RecordNotFound) as exc:
        refuse(uow, exc, "md_equipment", code or "?", f"log:{status}")
    number = len(logbook(session, code)) + 1
    content = {"equipment": code, "entry": number, "status": status, "previous_status": current.status,
               "note": why, "instance_id": instance_id}
    seq = sign_record(uow, "md_equipment_log", f"{code}/{number}", content,
                      "released" if status == RELEASED else "performed", credentials, settings,
                      auth_session=auth_session, reason=why)
    session.add(EquipmentLogRow(equipment=code, status=status, previous_status=current.status,
                                instance_id=instance_id, note=why, entered_by=uow.actor.user_id,
                                entered_at=clock.isoformat(clock.now()), signature_id=seq))
    session.flush()
    uow.audit("md_equipment.logged", "md_equipment", code, reason=why,
              changes=[["status", current.status, status]],
              details={"signature_id": seq, "entry": number, "instance_id": instance_id})
    return equipment_state(session, code)


def log_use_under_signature(uow: Any, equipment: str, status: str, *, instance_id: int, signature_seq: int | str,
                            note: str, settings: Settings | None = None,
                            rules: RecordRules | None = None) -> EquipmentState:
    """A logbook entry a process step makes for its equipment (`in_use` with the instance, or
    `dirty` after use), covered by the signature the operator gave at that step (e.g. the
    signed set-point that started the phase): the entry names that signature, its signer is
    the entry's author and must hold a role allowed to make logbook entries. Repeating the
    entry the equipment already has for this instance changes nothing."""
    from signatures.accounts import roles_of
    from signatures.models import Signature

    session: Session = uow.session
    code = str(equipment or "").strip()
    try:
        if status not in (IN_USE, DIRTY):
            raise RecordInvalid(f"a process step logs its equipment in use or dirty, not {status!r}",
                                [("status", "not allowed")])
        signature = session.get(Signature, int(signature_seq)) if str(signature_seq).isdigit() else None
        if signature is None:
            raise RecordNotFound(f"signature {signature_seq!r} does not exist: the entry must be covered by one")
        allowed = set((rules or load_record_rules(settings)).roles("equipment.entry"))
        if not roles_of(session, signature.signer_id) & allowed:
            raise RecordNotPermitted(f"{signature.signer_id} may not make logbook entries for {code}")
        if changes.effective(session, "equipment", code) is None:
            raise RecordNotFound(f"equipment {equipment!r} is not in the master data in force")
        current = equipment_state(session, code)
        if current.status == status and (status != IN_USE or current.instance_id == instance_id):
            return current
        if current.status not in FROM[status]:
            shown = STATUS_LABELS[current.status][0].lower() if current.status else "without a logbook entry"
            raise RecordStateError(f"{code} is {shown}: it cannot be recorded as {STATUS_LABELS[status][0].lower()}")
        if status == IN_USE and current.hold_lapsed():
            raise RecordStateError(f"{code}: the clean hold time ended at {current.clean_until}")
        why = text(note, "note")
    except (RecordInvalid, RecordStateError, RecordNotFound, RecordNotPermitted) as exc:
        refuse(uow, exc, "md_equipment", code or "?", f"log:{status}")
    number = len(logbook(session, code)) + 1
    session.add(EquipmentLogRow(equipment=code, status=status, previous_status=current.status,
                                instance_id=instance_id if status == IN_USE else None, note=why,
                                entered_by=signature.signer_id, entered_at=clock.isoformat(clock.now()),
                                signature_id=str(signature.seq)))
    session.flush()
    uow.audit("md_equipment.logged", "md_equipment", code, reason=why, changes=[["status", current.status, status]],
              details={"signature_id": str(signature.seq), "entry": number, "instance_id": instance_id,
                       "covered_by": {"record_type": signature.record_type, "record_id": signature.record_id,
                                      "meaning": signature.meaning, "signer": signature.signer_id}})
    return equipment_state(session, code)
