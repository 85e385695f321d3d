"""Instrument calibration records and the calibration status computed on the product clock.

    record_calibration(uow, "BAL-01", calibrated_on="2026-11-20", result="pass",
                       reference="REF-W-01", certificate="CAL-2026-117", credentials=..., settings=...)
    instrument_state(session, "BAL-01").status   # in_calibration | due | overdue | out_of_tolerance | not_calibrated

The next due date is the calibration date plus the instrument's calibration interval (its
master data revision in force when the calibration is recorded). Status, computed from the
dates whenever it is read (no job has to run):

    not_calibrated    no calibration recorded
    out_of_tolerance  the newest calibration failed (as found out of tolerance)
    overdue           today is after the due date
    due               the due date is within the instrument's warning days (default 14)
    in_calibration    otherwise

A reference standard named by a calibration must itself be in calibration. Recording a
calibration takes a role of `calibration.record` (masterdata/record_rules.yaml) and is
signed 'approved'.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import clock
from core.config import Settings
from masterdata import changes
from masterdata.errors import RecordInvalid, RecordNotFound, RecordStateError
from masterdata.record_models import CalibrationRow
from masterdata.signed import RecordRules, as_date, load_record_rules, refuse, require_role, sign_record, text, today
from signatures.credentials import Credentials

PASS, FAIL = "pass", "out_of_tolerance"
RESULTS = (PASS, FAIL)
IN_CALIBRATION, DUE, OVERDUE, OUT_OF_TOLERANCE, NOT_CALIBRATED = (
    "in_calibration", "due", "overdue", "out_of_tolerance", "not_calibrated")
STATUS_LABELS = {IN_CALIBRATION: ("In calibration", "校准有效"), DUE: ("Due", "即将到期"), OVERDUE: ("Overdue", "已过期"),
                 OUT_OF_TOLERANCE: ("Out of tolerance", "超出允差"), NOT_CALIBRATED: ("Not calibrated", "未校准")}
USABLE = (IN_CALIBRATION, DUE)
DEFAULT_WARNING_DAYS = 14


@dataclass(frozen=True)
class Calibration:
    id: int
    instrument: str
    calibrated_on: str
    result: str
    due_on: str
    reference: str | None
    certificate: str | None
    note: str
    recorded_by: str
    recorded_at: str
    signature_id: str


@dataclass(frozen=True)
class InstrumentState:
    instrument: str
    status: str
    last_good: str | None       # date of the newest passed calibration
    due_on: str | None          # its next due date
    last_result: str | None
    warning_days: int

    @property
    def usable(self) -> bool:
        return self.status in USABLE


def _calibration(row: CalibrationRow) -> Calibration:
    return Calibration(row.id, row.instrument, row.calibrated_on, row.result, row.due_on, row.reference,
                       row.certificate, row.note, row.recorded_by, row.recorded_at, row.signature_id)


def calibrations(session: Session, instrument: str) -> list[Calibration]:
    """The instrument's calibrations, oldest first."""
    return [_calibration(r) for r in session.scalars(select(CalibrationRow).where(
        CalibrationRow.instrument == instrument).order_by(CalibrationRow.id))]


def instrument_state(session: Session, instrument: str, on: date | None = None) -> InstrumentState:
    item = changes.effective(session, "instrument", instrument)
    warning = int(item.data.get("warning_days", DEFAULT_WARNING_DAYS)) if item is not None else DEFAULT_WARNING_DAYS
    found = calibrations(session, instrument)
    if not found:
        return InstrumentState(instrument, NOT_CALIBRATED, None, None, None, warning)
    last = found[-1]
    good = next((c for c in reversed(found) if c.result == PASS), None)
    day = on or today()
    if last.result == FAIL:
        status = OUT_OF_TOLERANCE
    elif day > date.fromisoformat(last.due_on):
        status = OVERDUE
    elif day >= date.fromisoformat(last.due_on) - timedelta(days=warning):
        status = DUE
    else:
        status = IN_CALIBRATION
    return InstrumentState(instrument, status, good.calibrated_on if good else None,
                           good.due_on if good and last.result == PASS else None, last.result, warning)


def record_calibration(uow: Any, instrument: str, *, calibrated_on: Any, result: str,
                       credentials: Credentials | None = None, settings: Settings, reference: str | None = None,
                       certificate: str | None = None, note: str = "", auth_session: Any = None,
                       rules: RecordRules | None = None, signature_id: str | None = None) -> InstrumentState:
    """Record a reviewed calibration (signed 'approved'); the instrument's new status.

    Either the recorder signs it here (`credentials`), or it was signed 'approved' already by
    the approval step of a calibration work order (`signature_id`: that signature, made by
    the unit of work's person over the work order's record)."""
    if (credentials is None) == (signature_id is None):
        raise ValueError("record_calibration takes either credentials or the signature_id of an approval")
    session: Session = uow.session
    code = str(instrument or "").strip()
    require_role(uow, rules or load_record_rules(settings), "calibration.record",
                 what=f"record a calibration of {code}", object_type="md_instrument", object_id=code or "?")
    try:
        item = changes.effective(session, "instrument", code)
        if item is None:
            raise RecordNotFound(f"instrument {instrument!r} is not in the master data in force")
        if result not in RESULTS:
            raise RecordInvalid(f"unknown calibration result {result!r}: {', '.join(RESULTS)}",
                                [("result", "unknown")])
        day = as_date(calibrated_on, "calibrated_on")
        if day > today():
            raise RecordInvalid(f"calibration date {day.isoformat()} is in the future", [("calibrated_on", "future")])
        earlier = calibrations(session, code)
        if earlier and day < date.fromisoformat(earlier[-1].calibrated_on):
            raise RecordStateError(f"{code} was calibrated on {earlier[-1].calibrated_on} already: a calibration "
                                   "is recorded in date order")
        ref = text(reference, "reference", required=False, limit=200) or None
        if ref is not None:
            if ref == code:
                raise RecordInvalid("an instrument is not its own reference standard", [("reference", "same")])
            ref_state = instrument_state(session, ref, day)
            if not ref_state.usable:
                raise RecordStateError(f"reference standard {ref} is {STATUS_LABELS[ref_state.status][0].lower()}: "
                                       "a calibration needs a reference that is itself in calibration")
        cert = text(certificate, "certificate", required=False, limit=200) or None
        why = text(note, "note", required=result == FAIL)
    except (RecordInvalid, RecordStateError, RecordNotFound) as exc:
        refuse(uow, exc, "md_instrument", code or "?", "calibrate")
    interval = int(item.data["interval_days"])
    due = (day + timedelta(days=interval)).isoformat()
    before = instrument_state(session, code)
    number = len(earlier) + 1
    content = {"instrument": code, "instrument_revision": item.revision, "calibration": number,
               "calibrated_on": day.isoformat(), "result": result, "due_on": due, "interval_days": interval,
               "reference": ref, "certificate": cert, "note": why}
    if signature_id is not None:
        seq = str(signature_id)
    else:
        assert credentials is not None
        seq = sign_record(uow, "md_calibration", f"{code}/{number}", content, "approved", credentials, settings,
                          auth_session=auth_session, reason=why or None)
    session.add(CalibrationRow(instrument=code, instrument_revision=item.revision, calibrated_on=day.isoformat(),
                               result=result, due_on=due, reference=ref, certificate=cert, note=why,
                               recorded_by=uow.actor.user_id, recorded_at=clock.isoformat(clock.now()),
                               signature_id=seq))
    session.flush()
    after = instrument_state(session, code)
    uow.audit("md_instrument.calibrated", "md_instrument", code, reason=why or None,
              changes=[["status", before.status, after.status], ["last_result", before.last_result, result],
                       ["due_on", before.due_on, after.due_on]],
              details={"signature_id": seq, "calibrated_on": day.isoformat(), "reference": ref,
                       "certificate": cert})
    return after
