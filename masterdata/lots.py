"""Material lots and their QC status, as signed records.

    receive_lot(uow, lot="L-2026-001", material="MAT-001", supplier="SUP-01", quantity="250",
                unit="kg", expiry="2028-06-30", credentials=..., settings=...)    # in quarantine
    change_lot_status(uow, "L-2026-001", "released", reason="COA and ID test passed", ...)
    lot_state(session, "L-2026-001")      # status, expiry, supplier approval, as of now

A lot arrives in quarantine. QC (roles in masterdata/record_rules.yaml) releases or rejects
it, or puts a released lot back on hold; a rejected lot stays rejected. A lot is never
released after its expiry date, nor while its supplier is not approved for its material on
the approved supplier list. Every record is signed by the person who makes it and is an
audit entry with the old and new status; the tables are append-only.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import clock
from core.config import Settings
from masterdata import changes
from masterdata.errors import RecordInvalid, RecordNotFound, RecordStateError
from masterdata.record_models import LotRow, LotStatusRow
from masterdata.signed import RecordRules, as_date, load_record_rules, refuse, require_role, sign_record, text, today
from signatures.credentials import Credentials

QUARANTINE, RELEASED, REJECTED = "quarantine", "released", "rejected"
STATUSES = (QUARANTINE, RELEASED, REJECTED)
STATUS_LABELS = {QUARANTINE: ("Quarantine", "待验"), RELEASED: ("Released", "放行"), REJECTED: ("Rejected", "拒收")}
MEANINGS = {QUARANTINE: "reviewed", RELEASED: "released", REJECTED: "rejected"}
ALLOWED = {QUARANTINE: (RELEASED, REJECTED), RELEASED: (QUARANTINE, REJECTED), REJECTED: ()}
LOT_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")


@dataclass(frozen=True)
class LotState:
    lot: str
    material: str
    supplier: str
    supplier_lot: str | None
    quantity: str
    unit: str
    expiry: str
    received_by: str
    received_at: str
    status: str
    status_by: str
    status_at: str
    status_reason: str
    signature_id: str

    def expired(self, on: date | None = None) -> bool:
        """True from the day after the expiry date (a lot may be used on its expiry date)."""
        return (on or today()) > date.fromisoformat(self.expiry)


@dataclass(frozen=True)
class LotStatusChange:
    lot: str
    status: str
    previous_status: str | None
    reason: str
    changed_by: str
    changed_at: str
    signature_id: str


def _status_rows(session: Session, lot: str) -> list[LotStatusRow]:
    return list(session.scalars(select(LotStatusRow).where(LotStatusRow.lot == lot).order_by(LotStatusRow.id)))


def _state(row: LotRow, last: LotStatusRow) -> LotState:
    return LotState(row.lot, row.material, row.supplier, row.supplier_lot, row.quantity, row.unit, row.expiry,
                    row.received_by, row.received_at, last.status, last.changed_by, last.changed_at, last.reason,
                    last.signature_id)


def lot_state(session: Session, lot: str) -> LotState:
    row = session.scalar(select(LotRow).where(LotRow.lot == lot))
    if row is None:
        raise RecordNotFound(f"no lot {lot!r}")
    return _state(row, _status_rows(session, lot)[-1])


def find_lot(session: Session, lot: str) -> LotState | None:
    try:
        return lot_state(session, lot)
    except RecordNotFound:
        return None


def lots(session: Session, *, material: str | None = None, status: str | None = None) -> list[LotState]:
    """Every lot (of a material, in a status), by lot code."""
    latest = select(LotStatusRow.lot, func.max(LotStatusRow.id).label("last")).group_by(LotStatusRow.lot).subquery()
    stmt = (select(LotRow, LotStatusRow).join(latest, latest.c.lot == LotRow.lot)
            .join(LotStatusRow, LotStatusRow.id == latest.c.last).order_by(LotRow.lot))
    if material:
        stmt = stmt.where(LotRow.material == material)
    if status:
        stmt = stmt.where(LotStatusRow.status == status)
    return [_state(row, last) for row, last in session.execute(stmt).all()]


def status_history(session: Session, lot: str) -> list[LotStatusChange]:
    return [LotStatusChange(r.lot, r.status, r.previous_status, r.reason, r.changed_by, r.changed_at, r.signature_id)
            for r in _status_rows(session, lot)]


def supplier_approval(session: Session, supplier: str, material: str, on: date | None = None
                      ) -> tuple[str, dict[str, Any] | None]:
    """('approved' | 'conditional' | 'rejected' | 'expired' | 'not_listed', the list entry) for a
    supplier and a material on the approved supplier list in force now."""
    entry = changes.effective(session, "approved_supplier", f"{supplier}:{material}")
    if entry is None:
        return "not_listed", None
    data = entry.data
    if data["status"] != "rejected" and (on or today()) > date.fromisoformat(data["valid_until"]):
        return "expired", data
    return str(data["status"]), data


def _quantity(value: Any) -> str:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise RecordInvalid(f"quantity {value!r} is not a number", [("quantity", "not a number")]) from None
    if not number.is_finite() or number <= 0:
        raise RecordInvalid(f"quantity {value!r}: must be above zero", [("quantity", "must be above zero")])
    return str(number)


def receive_lot(uow: Any, *, lot: str, material: str, supplier: str, quantity: Any, unit: str, expiry: Any,
                credentials: Credentials, settings: Settings, supplier_lot: str | None = None,
                note: str | None = None, auth_session: Any = None, rules: RecordRules | None = None) -> LotState:
    """Record a received lot (in quarantine), signed 'created' by the person receiving it."""
    session: Session = uow.session
    code = str(lot or "").strip()
    require_role(uow, rules or load_record_rules(settings), "lot.receive", what=f"receive lot {code}",
                 object_type="md_lot", object_id=code or "?")
    try:
        if not LOT_CODE.match(code):
            raise RecordInvalid(f"lot code {lot!r}: letters, digits and . _ / - only, at most 64 characters",
                                [("lot", "invalid")])
        if session.scalar(select(LotRow.id).where(LotRow.lot == code)) is not None:
            raise RecordStateError(f"lot {code} was received already")
        mat = changes.effective(session, "material", str(material or "").strip())
        if mat is None:
            raise RecordInvalid(f"material {material!r} is not in the master data in force",
                                [("material", "unknown")])
        sup = changes.effective(session, "supplier", str(supplier or "").strip())
        if sup is None:
            raise RecordInvalid(f"supplier {supplier!r} is not in the master data in force",
                                [("supplier", "unknown")])
        amount = _quantity(quantity)
        if str(unit or "").strip() != mat.data["unit"]:
            raise RecordInvalid(f"unit {unit!r}: material {mat.key} is kept in {mat.data['unit']}",
                                [("unit", f"expected {mat.data['unit']}")])
        expires = as_date(expiry, "expiry")
        note_text = text(note, "note", required=False) or None
        batch_ref = text(supplier_lot, "supplier_lot", required=False, limit=100) or None
    except (RecordInvalid, RecordStateError) as exc:
        refuse(uow, exc, "md_lot", code or "?", "receive")
    now = clock.isoformat(clock.now())
    content = {"lot": code, "material": mat.key, "material_revision": mat.revision, "supplier": sup.key,
               "supplier_revision": sup.revision, "supplier_lot": batch_ref, "quantity": amount, "unit": mat.data["unit"],
               "expiry": expires.isoformat(), "status": QUARANTINE}
    seq = sign_record(uow, "md_lot", code, content, "created", credentials, settings, auth_session=auth_session,
                      reason=note_text)
    row = LotRow(lot=code, material=mat.key, material_revision=mat.revision, supplier=sup.key,
                 supplier_revision=sup.revision, supplier_lot=batch_ref, quantity=amount, unit=mat.data["unit"],
                 expiry=expires.isoformat(), received_by=uow.actor.user_id, received_at=now, note=note_text,
                 signature_id=seq)
    status = LotStatusRow(lot=code, status=QUARANTINE, previous_status=None, reason=note_text or "received",
                          changed_by=uow.actor.user_id, changed_at=now, signature_id=seq)
    session.add_all([row, status])
    session.flush()
    uow.audit("md_lot.received", "md_lot", code, reason=note_text,
              changes=[[k, None, v] for k, v in content.items() if v is not None],
              details={"signature_id": seq, "expired_on_receipt": expires < today()})
    return _state(row, status)


def change_lot_status(uow: Any, lot: str, status: str, *, reason: str, credentials: Credentials,
                      settings: Settings, auth_session: Any = None, rules: RecordRules | None = None) -> LotState:
    """QC releases, rejects or quarantines a lot; signed (released / rejected / reviewed)."""
    session: Session = uow.session
    require_role(uow, rules or load_record_rules(settings), "lot.status", what=f"change the QC status of lot {lot}",
                 object_type="md_lot", object_id=str(lot))
    try:
        current = lot_state(session, lot)
        if status not in STATUSES:
            raise RecordInvalid(f"unknown QC status {status!r}: {', '.join(STATUSES)}", [("status", "unknown")])
        why = text(reason, "reason")
        if status == current.status:
            raise RecordStateError(f"lot {lot} is {status} already")
        if status not in ALLOWED[current.status]:
            raise RecordStateError(f"lot {lot} is {current.status}: it cannot become {status}"
                                   + (" (a rejected lot stays rejected)" if current.status == REJECTED else ""))
        if status == RELEASED:
            if current.expired():
                raise RecordStateError(f"lot {lot} expired on {current.expiry}: it cannot be released")
            approval, _entry = supplier_approval(session, current.supplier, current.material)
            if approval not in ("approved", "conditional"):
                raise RecordStateError(f"lot {lot}: supplier {current.supplier} is {approval.replace('_', ' ')} "
                                       f"for material {current.material} on the approved supplier list: "
                                       "the lot cannot be released")
    except (RecordInvalid, RecordStateError, RecordNotFound) as exc:
        refuse(uow, exc, "md_lot", str(lot), f"status:{status}")
    number = len(_status_rows(session, lot)) + 1
    content = {"lot": lot, "status": status, "previous_status": current.status, "reason": why,
               "material": current.material, "supplier": current.supplier, "expiry": current.expiry}
    seq = sign_record(uow, "md_lot_status", f"{lot}/{number}", content, MEANINGS[status], credentials, settings,
                      auth_session=auth_session, reason=why)
    row = LotStatusRow(lot=lot, status=status, previous_status=current.status, reason=why,
                       changed_by=uow.actor.user_id, changed_at=clock.isoformat(clock.now()), signature_id=seq)
    session.add(row)
    session.flush()
    uow.audit(f"md_lot.{status}", "md_lot", lot, reason=why, changes=[["status", current.status, status]],
              details={"signature_id": seq})
    return lot_state(session, lot)
