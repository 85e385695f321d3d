"""Isolation points and the atmosphere, read from the plant over the equipment connector.

    read_points(env, uow, points, expect, ...)   each isolation point read now and stored as original
                                                 data: {tag, lock_number, value, isolated, ok, read_at, ...}
    live_points(env, uow, points, expect)        the same reading, not stored (the issue gate's check)
    read_gas(env, uow, detector, ...)            the detector's O2, flammables, H2S and CO now, each
                                                 against the permit's limits (rules.GAS_LIMITS)
    gas_entry(values)                            readings entered by hand (a detector without a
                                                 connection), judged against the same limits

`expect` is "isolated" before the work (every point must read isolated) or "restored" at
close-out (every point must read energised again: the locks are off). A point that cannot
be read is not ok: nobody may assume a state the plant did not report.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Mapping

from bpmn.work_permit import rules
from connectors import service
from connectors.errors import ConnectorError
from connectors.operators import ConnectorEnvironment, reading_document
from connectors.registry import lookup
from core import clock
from store.uow import UnitOfWork

ISOLATED, RESTORED = "isolated", "restored"


class PointsInvalid(ValueError):
    """The isolation points given cannot be read (none given, not an isolation tag, listed twice)."""


def _check_points(points: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    rows = [{"tag": str(p.get("tag") or "").strip(), "lock_number": str(p.get("lock_number") or "").strip()}
            for p in points or []]
    if not rows:
        raise PointsInvalid("no isolation points are listed")
    seen: set[str] = set()
    for row in rows:
        if not rules.is_isolation_tag(row["tag"]):
            raise PointsInvalid(f"{row['tag'] or '(empty)'} is not an isolation point: its tag must name the energised "
                                f"state ({', '.join(rules.ENERGISED_SUFFIXES)})")
        if row["tag"] in seen:
            raise PointsInvalid(f"isolation point {row['tag']} is listed twice")
        seen.add(row["tag"])
    return rows


def _judge(row: Mapping[str, str], value: Any, expect: str) -> bool:
    isolated = rules.isolated(row["tag"], value)
    return isolated if expect == ISOLATED else not isolated


def read_points(env: ConnectorEnvironment, uow: UnitOfWork, points: Iterable[Mapping[str, Any]], expect: str, *,
                instance_id: str | None = None, task_id: str | None = None) -> dict[str, Any]:
    """Read every point now (stored as equipment-originated readings of this instance and task)."""
    if expect not in (ISOLATED, RESTORED):
        raise PointsInvalid(f"expect must be {ISOLATED!r} or {RESTORED!r}, not {expect!r}")
    results = []
    for row in _check_points(points):
        try:
            reading = service.read_tag(uow, row["tag"], client=env.client, purpose="permit",
                                       instance_id=instance_id, task_id=task_id)
        except ConnectorError as exc:
            results.append({**row, "value": None, "isolated": None, "ok": False, "error": str(exc),
                            "read_at": clock.isoformat(clock.now())})
            continue
        doc = reading_document(reading)
        isolated = rules.isolated(row["tag"], reading.value)
        results.append({**row, "value": reading.value, "isolated": isolated,
                        "ok": isolated if expect == ISOLATED else not isolated,
                        "read_at": doc["source_timestamp"], "quality": doc["quality"], "origin": doc["origin"],
                        "equipment_id": doc["equipment_id"], "registry_revision": doc["registry_revision"]})
    return {"expect": expect, "points": results, "all_ok": all(r["ok"] for r in results),
            "checked_at": clock.isoformat(clock.now())}


def live_points(env: ConnectorEnvironment, uow: UnitOfWork, points: Iterable[Mapping[str, Any]],
                expect: str) -> list[dict[str, Any]]:
    """Each point read now, not stored: [{tag, value, ok, error?}] (the gates' check)."""
    found = []
    for row in _check_points(points):
        try:
            registered = lookup(uow, row["tag"], action="read")
            value = env.client.read(registered.definition, registered.revision).value
        except ConnectorError as exc:
            found.append({"tag": row["tag"], "value": None, "ok": False, "error": str(exc)})
            continue
        found.append({"tag": row["tag"], "value": value, "ok": _judge(row, value, expect)})
    return found


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _resolution(value: Any, scale: Any) -> Any:
    """A scaled register reading at the detector's resolution (raw 2090 x 0.01 -> 20.90, not 20.900000000000002)."""
    number = _decimal(value)
    step = _decimal(scale)
    if number is None or step is None or step <= 0 or step >= 1:
        return value
    return number.quantize(step.normalize())


def _judge_gas(limit: rules.GasLimit, value: Any, source: dict[str, Any]) -> dict[str, Any]:
    number = _decimal(value)
    ok = number is not None and limit.within(number)
    return {"gas": limit.name, "value": None if number is None else str(number), "unit": limit.unit,
            "limit": limit.text(), "ok": ok, **source}


def read_gas(env: ConnectorEnvironment, uow: UnitOfWork, detector: str, *, instance_id: str | None = None,
             task_id: str | None = None) -> dict[str, Any]:
    """The detector's readings now, each stored and judged against the permit's limits.
    A gas the detector cannot report raises ConnectorError (the diagram turns to a manual entry)."""
    if detector not in rules.GAS_DETECTORS:
        raise PointsInvalid(f"unknown gas detector {detector!r}: expected one of {', '.join(rules.GAS_DETECTORS)}")
    readings = []
    for limit in rules.GAS_LIMITS:
        tag = f"{detector}.{limit.tag_suffix}"
        reading = service.read_tag(uow, tag, client=env.client, purpose="permit", instance_id=instance_id,
                                   task_id=task_id)
        doc = reading_document(reading)
        readings.append(_judge_gas(limit, _resolution(reading.value, reading.tag.scale), {
            "tag": tag, "source": "equipment", "read_at": doc["source_timestamp"], "quality": doc["quality"]}))
    return _gas_result(readings, "equipment", detector)


def gas_entry(values: Mapping[str, Any], detector: str = "") -> dict[str, Any]:
    """Readings entered by hand, judged against the same limits (the form asked a second person to verify)."""
    at = clock.isoformat(clock.now())
    readings = [_judge_gas(limit, values.get(limit.name), {"tag": None, "source": "manual", "read_at": at})
                for limit in rules.GAS_LIMITS]
    return _gas_result(readings, "manual", detector)


def _gas_result(readings: list[dict[str, Any]], source: str, detector: str) -> dict[str, Any]:
    return {"detector": detector, "source": source, "readings": readings, "all_ok": all(r["ok"] for r in readings),
            "out_of_range": [r["gas"] for r in readings if not r["ok"]], "tested_at": clock.isoformat(clock.now())}
