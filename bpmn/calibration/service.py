"""Calibration work orders: what the `calibration` process computes (no Flask, no SpiffWorkflow).

    work_order(session, "PT-102")            # instrument, unit, tolerance, test points, tag, equipment served
    evaluate(order, points)                  # error per point against the tolerance, in exact decimals
    impacted_batches(session, "PT-102")      # batches that used the instrument since its last good calibration
    plan_work_orders(uow, runtime, settings) # start a work order for each instrument that needs one

A work order is an instance of the process `calibration` with business key
CAL-<instrument>-NNNN. The error of a test point is as-found minus reference; the point is
within tolerance when the error's absolute value is at most the instrument's tolerance
(master data `tolerance.value`, in the instrument's unit). Numbers are `Decimal` from the
reading (forms.numbers.reading_decimal: the shortest decimal of the float register) or the
keyboard to the record, and travel in task data as decimal text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.business_keys import keys_of
from engine.models import ProcessDefinition, ProcessInstance
from engine.runtime_models import BusinessKey
from forms.numbers import format_decimal, parse_decimal, to_decimal
from masterdata import calibration as md_calibration
from masterdata import changes
from masterdata.record_models import EquipmentLogRow

PROCESS_ID = "calibration"
SCHEDULE_PROCESS_ID = "calibration_schedule"
PASS, FAIL = md_calibration.PASS, md_calibration.FAIL
KEY_SHAPE = re.compile(r"^CAL-(.+)-([0-9]{4,})$")
NEEDS_WORK_ORDER = (md_calibration.DUE, md_calibration.OVERDUE, md_calibration.NOT_CALIBRATED,
                    md_calibration.OUT_OF_TOLERANCE)


class CalibrationError(ValueError):
    """A calibration input that cannot be used (unknown instrument, missing or wrong test point):
    a code and the parameters of its message (bpmn.calibration.GATE_CODES)."""

    def __init__(self, code: str, message: str, **params: Any) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


def text(value: Decimal) -> str:
    """A decimal as its exact digits in plain notation (task data, record)."""
    return format_decimal(value)


def number(value: Any, what: str) -> Decimal:
    """A number from task data or master data: decimal text, int, float or Decimal, exactly."""
    found = parse_decimal(value) if isinstance(value, str) else to_decimal(value)
    if found is None:
        raise CalibrationError("not_a_number", f"{what}: {value!r} is not a number", what=what, value=str(value))
    return found


# ---------------------------------------------------------------- the instrument and what it serves
def served_equipment(session: Session, instrument: str) -> list[str]:
    """Equipment the instrument serves: the instrument's own `equipment` and every piece of
    equipment in force whose `instruments` list names it."""
    found: list[str] = []
    item = changes.effective(session, "instrument", instrument)
    if item is not None and item.data.get("equipment"):
        found.append(str(item.data["equipment"]))
    for revision in changes.effective_items(session, "equipment"):
        if instrument in (revision.data.get("instruments") or []) and revision.key not in found:
            found.append(revision.key)
    return found


def default_points(data: Mapping[str, Any]) -> list[Decimal]:
    """The instrument's test points, else 10 %, 50 % and 90 % of its range."""
    if data.get("test_points"):
        return [number(p, "test point") for p in data["test_points"]]
    low, high = number(data["range"]["min"], "range"), number(data["range"]["max"], "range")
    span = high - low
    return [low + span * Decimal(pct) / 100 for pct in (10, 50, 90)]


def work_order(session: Session, instrument: str) -> dict[str, Any]:
    """What a work order needs to know about its instrument (JSON-able, decimals as text)."""
    code = str(instrument or "").strip()
    item = changes.effective(session, "instrument", code)
    if item is None:
        raise CalibrationError("unknown_instrument", f"instrument {instrument!r} is not in the master data in force",
                               instrument=str(instrument))
    data = item.data
    state = md_calibration.instrument_state(session, code)
    return {"instrument": code, "name": data.get("name", code), "instrument_revision": item.revision,
            "unit": data["range"]["unit"], "tolerance": text(number(data["tolerance"]["value"], "tolerance")),
            "range_min": text(number(data["range"]["min"], "range")),
            "range_max": text(number(data["range"]["max"], "range")),
            "test_points": [text(p) for p in default_points(data)], "tag": data.get("tag"),
            "connected": bool(data.get("tag")), "interval_days": int(data["interval_days"]),
            "equipment": served_equipment(session, code), "status": state.status, "due_on": state.due_on,
            "last_good": state.last_good}


def reference_problem(session: Session, order: Mapping[str, Any], reference: str, on: date | None = None
                      ) -> tuple[str, dict[str, Any]] | None:
    """Why `reference` cannot serve as the reference standard of the work order (code, params), or None."""
    code = str(reference or "").strip()
    item = changes.effective(session, "instrument", code)
    if item is None:
        return "unknown_reference", {"reference": code or "?"}
    if code == order["instrument"]:
        return "reference_is_instrument", {"reference": code}
    if not item.data.get("reference"):
        return "not_a_reference", {"reference": code}
    if item.data["range"]["unit"] != order["unit"]:
        return "reference_unit", {"reference": code, "unit": item.data["range"]["unit"], "expected": order["unit"]}
    state = md_calibration.instrument_state(session, code, on)
    if not state.usable:
        return "reference_not_in_calibration", {
            "reference": code, "status": md_calibration.STATUS_LABELS[state.status][0].lower(),
            "due": state.due_on or "-"}
    return None


def reference_tag(session: Session, reference: str) -> str | None:
    item = changes.effective(session, "instrument", str(reference or "").strip())
    return str(item.data["tag"]) if item is not None and item.data.get("tag") else None


# ---------------------------------------------------------------- evaluation
@dataclass(frozen=True)
class PointResult:
    nominal: Decimal
    reference: Decimal
    reading: Decimal
    error: Decimal
    within: bool

    def document(self, reading_name: str) -> dict[str, Any]:
        return {"nominal": text(self.nominal), "reference": text(self.reference), reading_name: text(self.reading),
                "error": text(self.error), "within": self.within}


def evaluate_points(order: Mapping[str, Any], points: Sequence[Mapping[str, Any]], reading: str = "as_found"
                    ) -> list[PointResult]:
    """Each test point's error (reading - reference) against the tolerance, exactly."""
    tolerance = number(order["tolerance"], "tolerance")
    planned = [number(p, "test point") for p in order["test_points"]]
    plan = f"{', '.join(text(p) for p in planned)} {order['unit']}"
    if len(points) != len(planned):
        raise CalibrationError("points_missing", f"{len(points)} test point(s) recorded; the work order plans "
                               f"{len(planned)}: {plan}", recorded=len(points), planned=plan)
    results = []
    for index, point in enumerate(points, start=1):
        nominal = number(point.get("nominal"), f"test point {index}: nominal")
        if nominal not in planned:
            raise CalibrationError("unplanned_point", f"{text(nominal)} {order['unit']} is not a test point of the "
                                   f"work order ({plan})", point=f"{text(nominal)} {order['unit']}", planned=plan)
        ref = number(point.get("reference"), f"test point {index}: reference value")
        value = number(point.get(reading), f"test point {index}: {reading.replace('_', '-')} reading")
        error = value - ref
        results.append(PointResult(nominal, ref, value, error, abs(error) <= tolerance))
    seen = [r.nominal for r in results]
    if sorted(seen) != sorted(planned):
        raise CalibrationError("point_twice", f"each planned test point is recorded once: {plan}", planned=plan)
    return results


def evaluate(order: Mapping[str, Any], points: Sequence[Mapping[str, Any]], reading: str = "as_found"
             ) -> dict[str, Any]:
    results = evaluate_points(order, points, reading)
    worst = max(results, key=lambda r: abs(r.error))
    return {"result": PASS if all(r.within for r in results) else FAIL, "reading": reading,
            "points": [r.document(reading) for r in results], "max_error": text(worst.error),
            "tolerance": order["tolerance"], "unit": order["unit"]}


# ---------------------------------------------------------------- impact of an out-of-tolerance finding
def impacted_batches(session: Session, instrument: str, since: str | None = None) -> list[str]:
    """Batch numbers (business keys; else `#<instance id>`) of the process instances logged
    `in_use` on equipment the instrument serves since its last good calibration (`since`, a
    date; default: the instrument's newest passed calibration; no such calibration: all)."""
    if since is None:
        since = md_calibration.instrument_state(session, instrument).last_good
    equipment = served_equipment(session, instrument)
    if not equipment:
        return []
    query = select(EquipmentLogRow.instance_id).where(
        EquipmentLogRow.equipment.in_(equipment), EquipmentLogRow.status == "in_use",
        EquipmentLogRow.instance_id.is_not(None)).order_by(EquipmentLogRow.id)
    if since:
        query = query.where(EquipmentLogRow.entered_at >= since)
    ids: list[int] = []
    for (instance_id,) in session.execute(query):
        if instance_id not in ids:
            ids.append(int(instance_id))
    keys = keys_of(session, ids)
    return [keys.get(i) or f"#{i}" for i in ids]


# ---------------------------------------------------------------- planning work orders
def next_key(session: Session, instrument: str) -> str:
    """CAL-<instrument>-NNNN: one more than the instrument's highest work order number."""
    prefix = f"CAL-{instrument}-"
    shape = re.compile(re.escape(prefix) + r"([0-9]+)\Z")
    highest = 0
    query = select(BusinessKey.business_key).join(ProcessDefinition, ProcessDefinition.id == BusinessKey.definition_id
                                                   ).where(ProcessDefinition.key == PROCESS_ID)
    for (key,) in session.execute(query):
        found = shape.match(key)
        if found:
            highest = max(highest, int(found.group(1)))
    return f"{prefix}{highest + 1:04d}"


def open_work_orders(session: Session) -> dict[str, str]:
    """instrument -> business key of its running work order (the key names the instrument)."""
    from engine.instances import InstanceStatus
    from engine.models import ProcessDefinitionVersion

    ids = list(session.execute(select(ProcessInstance.id).join(
        ProcessDefinitionVersion, ProcessDefinitionVersion.id == ProcessInstance.version_id).join(
        ProcessDefinition, ProcessDefinition.id == ProcessDefinitionVersion.definition_id).where(
        ProcessDefinition.key == PROCESS_ID, ProcessInstance.status == InstanceStatus.RUNNING.value)).scalars())
    found: dict[str, str] = {}
    for key in keys_of(session, ids).values():
        match = KEY_SHAPE.match(key)
        if match:
            found[match.group(1)] = key
    return found


def start_data(session: Session, instrument: str, reason: str = "due") -> dict[str, Any]:
    state = md_calibration.instrument_state(session, instrument)
    key = next_key(session, instrument)
    data: dict[str, Any] = {"calibration": {"work_order": key, "instrument": instrument, "reason": reason,
                                            "due_on": state.due_on, "status_at_order": state.status}}
    if state.due_on:
        data["due_at"] = f"{state.due_on}T23:59:59Z"  # reminders (notify_overdue) once the due date has passed
    return data


def needing_work_orders(session: Session, on: date | None = None) -> list[str]:
    """Instruments in force whose status asks for a calibration and that have no running work order."""
    running = open_work_orders(session)
    found = []
    for revision in changes.effective_items(session, "instrument"):
        if revision.key in running:
            continue
        if md_calibration.instrument_state(session, revision.key, on).status in NEEDS_WORK_ORDER:
            found.append(revision.key)
    return found


def plan_work_orders(uow: Any, settings: Any = None, runtime: Any = None, on: date | None = None) -> list[str]:
    """Start a work order for every instrument that needs one (due within its warning days,
    overdue, out of tolerance or never calibrated) and has none running; their keys."""
    from engine import instances

    started = []
    for instrument in needing_work_orders(uow.session, on):
        data = start_data(uow.session, instrument)
        key = data["calibration"]["work_order"]
        name = (changes.effective(uow.session, "instrument", instrument).data.get("name") or instrument)
        instances.start(uow, PROCESS_ID, title=f"Calibration {instrument} {name}"[:200], data=data,
                        settings=settings, runtime=runtime)
        started.append(key)
    if started:
        uow.audit("calibration.work_orders_planned", "process", PROCESS_ID, details={"work_orders": started})
    return started




# ---------------------------------------------------------------- the instrument status board
STATUS_ORDER = (md_calibration.OUT_OF_TOLERANCE, md_calibration.OVERDUE, md_calibration.NOT_CALIBRATED,
                md_calibration.DUE, md_calibration.IN_CALIBRATION)


def board(session: Session, on: date | None = None) -> list[dict[str, Any]]:
    """Every instrument in force with its status now, last good calibration, due date, the
    equipment it serves and its open work order; the most urgent first."""
    running = open_work_orders(session)
    rows = []
    for revision in changes.effective_items(session, "instrument"):
        state = md_calibration.instrument_state(session, revision.key, on)
        found = md_calibration.calibrations(session, revision.key)
        rows.append({"instrument": revision.key, "name": revision.data.get("name", revision.key),
                     "location": revision.data.get("location") or "", "reference": bool(revision.data.get("reference")),
                     "equipment": served_equipment(session, revision.key), "status": state.status,
                     "label": md_calibration.STATUS_LABELS[state.status], "last_good": state.last_good,
                     "due_on": state.due_on or (found[-1].due_on if found else None),
                     "interval_days": revision.data.get("interval_days"), "connected": bool(revision.data.get("tag")),
                     "work_order": running.get(revision.key)})
    rows.sort(key=lambda r: (STATUS_ORDER.index(r["status"]), r["due_on"] or "", r["instrument"]))
    return rows
