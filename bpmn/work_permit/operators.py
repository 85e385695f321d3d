"""The permit's service-task operators (registered by bpmn.work_permit.install).

    permit.requirements(work_type, valid_from, valid_until)  -> what the work type needs (rules.Requirements)
                                                                and the window in UTC
    permit.read_isolations(points, expect)                   -> every isolation point read now (readings)
    permit.read_gas(detector)                                -> the detector's readings against the limits;
                                                                BPMN error equipment_unavailable when it
                                                                cannot be read (the diagram turns to a manual entry)
    permit.gas_entry(o2, lel, h2s, co, detector)             -> readings entered by hand, judged the same way
    permit.suspend(reason)                                   -> the work suspended: the crew and requester notified
    permit.recheck(points, detector, needs_isolation, needs_gas_test)
                                                             -> the periodic re-check during the work
    permit.recheck_failed(recheck)                           -> the crew told to stop; a deviation raised
                                                                (source_kind gas_test) where the deviation
                                                                process is in force, else an exception recorded
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Mapping

from bpmn.work_permit import crew, notify, readings, rules
from connectors.errors import ConnectorError, DeviceUnavailable
from connectors.operators import ConnectorEnvironment, environment_of
from core import clock
from engine.errors import OperatorFailed

ERROR_CODES = ("equipment_unavailable", "equipment_refused", "permit_invalid")


def _failed(exc: Exception) -> OperatorFailed:
    if isinstance(exc, DeviceUnavailable):
        return OperatorFailed("equipment_unavailable", str(exc), {})
    if isinstance(exc, ConnectorError):
        return OperatorFailed("equipment_refused", str(exc), {})
    return OperatorFailed("permit_invalid", str(exc), {})


def _ids(context: Any) -> tuple[str | None, str | None]:
    instance = getattr(context, "instance_id", None)
    return (None if instance is None else str(instance), getattr(context, "element_id", None))


def _uow(context: Any) -> Any:
    uow = getattr(context, "uow", None)
    if uow is None:
        raise OperatorFailed("permit_invalid", "the permit operators run inside an engine step", {})
    return uow


def op_requirements(context: Any, work_type: str, valid_from: str, valid_until: str) -> dict[str, Any]:
    from bpmn.work_permit.gates import parse_when

    try:
        found = rules.requirements(work_type).as_data()
    except rules.UnknownWorkType as exc:
        raise _failed(exc) from exc
    since, until = parse_when(valid_from), parse_when(valid_until)
    if since is None or until is None:
        raise OperatorFailed("permit_invalid", f"the permit window {valid_from!r} - {valid_until!r} is not a date and "
                                               "time", {})
    return {**found, "valid_from": clock.isoformat(since), "valid_until": clock.isoformat(until)}


def op_read_isolations(context: Any, points: list[Any], expect: str, *,
                       env: ConnectorEnvironment | None = None) -> dict[str, Any]:
    instance, element = _ids(context)
    uow = _uow(context)
    try:
        return readings.read_points(environment_of(context, env), uow, points, expect, instance_id=instance,
                                    task_id=element)
    except (readings.PointsInvalid, ConnectorError) as exc:
        raise _failed(exc) from exc


def op_read_gas(context: Any, detector: str, *, env: ConnectorEnvironment | None = None) -> dict[str, Any]:
    instance, element = _ids(context)
    uow = _uow(context)
    try:
        return readings.read_gas(environment_of(context, env), uow, detector, instance_id=instance,
                                 task_id=element)
    except (readings.PointsInvalid, ConnectorError) as exc:
        raise _failed(exc) from exc


def op_gas_entry(context: Any, o2: Any, lel: Any, h2s: Any, co: Any, detector: str = "") -> dict[str, Any]:
    return readings.gas_entry({"o2": o2, "lel": lel, "h2s": h2s, "co": co}, detector)


def _people(uow: Any, instance_id: Any, data: Mapping[str, Any]) -> list[str]:
    """The crew and whoever requested the permit (the signer of the request)."""
    from bpmn.work_permit.gates import signers

    requesters = [user for user, _name in signers(uow.session, int(instance_id), "request", "performed")]
    return [*crew.members(data.get("crew")), *requesters]


def _label(data: Mapping[str, Any]) -> str:
    work = rules.WORK_TYPES.get(str(data.get("work_type") or ""), ("Work", "作业"))[0]
    return f"{work} at {data.get('location') or '-'}"


def op_suspend(context: Any, reason: str) -> dict[str, Any]:
    instance, _element = _ids(context)
    data = getattr(context, "task_data", {}) or {}
    uow = _uow(context)
    title = f"Permit expired: stop work now ({_label(data)})"
    whom = notify.notify_people(uow, _people(uow, instance, data), title, reason, instance)
    at = clock.isoformat(clock.now())
    uow.audit("permit.suspended", "process_instance", instance, reason=reason, details={"notified": whom, "at": at})
    return {"suspended_at": at, "reason": reason, "notified": whom}


def op_next_check(context: Any, valid_until: str, minutes: int) -> dict[str, Any]:
    """When the work task's one timer fires: the next periodic re-check, or the end of the window if
    that comes first (`window_end`). One interrupting timer, so a re-check and the window's end can
    never both fire on the same work task."""
    from datetime import timedelta

    end = clock.parse_iso(valid_until)
    due = clock.now() + timedelta(minutes=int(minutes))
    if due >= end:
        return {"at": clock.isoformat(end), "window_end": True}
    return {"at": clock.isoformat(due), "window_end": False}


def op_recheck(context: Any, points: list[Any], detector: str, needs_isolation: bool, needs_gas_test: bool, *,
               env: ConnectorEnvironment | None = None) -> dict[str, Any]:
    instance, element = _ids(context)
    uow = _uow(context)
    found: dict[str, Any] = {"at": clock.isoformat(clock.now()), "ok": True, "problems": []}
    connector = environment_of(context, env)
    if needs_isolation and points:
        try:
            found["isolations"] = readings.read_points(connector, uow, points, readings.ISOLATED, instance_id=instance,
                                                       task_id=element)
        except readings.PointsInvalid as exc:
            raise _failed(exc) from exc
        if not found["isolations"]["all_ok"]:
            found["ok"] = False
            found["problems"] += [f"{p['tag']} not isolated" for p in found["isolations"]["points"] if not p["ok"]]
    if needs_gas_test:
        try:
            found["gas"] = readings.read_gas(connector, uow, detector or rules.GAS_DETECTORS[0],
                                             instance_id=instance, task_id=element)
        except ConnectorError as exc:
            found["gas"] = None
            found["ok"] = False
            found["problems"].append(f"gas detector not readable: {exc}")
        else:
            if not found["gas"]["all_ok"]:
                found["ok"] = False
                found["problems"].append("gas out of range: " + ", ".join(found["gas"]["out_of_range"]))
    return found


def op_recheck_failed(context: Any, recheck: Mapping[str, Any]) -> dict[str, Any]:
    instance, _element = _ids(context)
    data = getattr(context, "task_data", {}) or {}
    uow = _uow(context)
    problems = "; ".join(recheck.get("problems") or []) or "re-check failed"
    whom = notify.notify_people(uow, _people(uow, instance, data), f"Stop work and leave the area ({_label(data)})", problems,
                                instance)
    gas = recheck.get("gas") or {}
    first = next((r for r in gas.get("readings") or [] if not r.get("ok")), None)
    context_data: dict[str, Any] = {"source_kind": "gas_test" if first else "manual", "step": "recheck",
                                    "equipment": data.get("equipment"), "permit": data.get("location")}
    if first:
        limit = rules.GAS_BY_NAME[first["gas"]]
        context_data.update({"tag": first.get("tag"), "value": first.get("value"), "unit": first.get("unit"),
                             "limit_low": None if limit.low is None else str(limit.low),
                             "limit_high": None if limit.high is None else str(limit.high)})
    title = f"Permit re-check failed: {problems}"[:200]
    deviation = None
    if _deviation_in_force(uow):
        deviation = context.raise_deviation(title, context_data, "major")
    else:
        context.record_exception("permit_recheck_failed", title, context_data)
    at = clock.isoformat(clock.now())
    reason = f"re-check failed at {recheck.get('at') or at}: {problems}"
    uow.audit("permit.suspended", "process_instance", instance, reason=reason,
              details={"notified": whom, "at": at, "deviation": deviation, "recheck": recheck.get("at")})
    return {"notified": whom, "deviation": deviation, "problems": problems, "suspended_at": at, "reason": reason}


def _deviation_in_force(uow: Any) -> bool:
    from sqlalchemy import select

    from engine.messages import DEVIATION_PROCESS_KEY
    from engine.models import ProcessDefinition, ProcessDefinitionVersion

    return uow.session.execute(select(ProcessDefinitionVersion.id).join(
        ProcessDefinition, ProcessDefinition.id == ProcessDefinitionVersion.definition_id).where(
        ProcessDefinition.key == DEVIATION_PROCESS_KEY, ProcessDefinitionVersion.status == "approved")).first() is not None


def register(registry: Any, env: ConnectorEnvironment | None) -> None:
    from engine.operators import Param

    def bound(fn: Callable[..., Any]) -> Callable[..., Any]:
        return functools.partial(fn, env=env)

    registry.register("permit.requirements", op_requirements,
                      [Param("work_type", "str"), Param("valid_from", "str"), Param("valid_until", "str")],
                      description="What a work type needs (isolation, gas test, SOPs, re-check interval)",
                      error_codes=ERROR_CODES, replace=True)
    registry.register("permit.read_isolations", bound(op_read_isolations),
                      [Param("points", "list"), Param("expect", "str", description="isolated | restored")],
                      description="Read every isolation point from the equipment now", error_codes=ERROR_CODES,
                      replace=True)
    registry.register("permit.read_gas", bound(op_read_gas), [Param("detector", "str")],
                      description="Read the gas detector now and judge each gas against the permit limits",
                      error_codes=ERROR_CODES, replace=True)
    registry.register("permit.gas_entry", op_gas_entry,
                      [Param("o2", "any"), Param("lel", "any"), Param("h2s", "any"), Param("co", "any"),
                       Param("detector", "str", required=False)],
                      description="Gas readings entered by hand, judged against the permit limits",
                      error_codes=ERROR_CODES, replace=True)
    registry.register("permit.suspend", op_suspend, [Param("reason", "str")],
                      description="Suspend the work: notify the crew and the requester", error_codes=ERROR_CODES,
                      replace=True)
    registry.register("permit.next_check", op_next_check, [Param("valid_until", "str"), Param("minutes", "int")],
                      description="When the next re-check is due, or the window ends if that comes first",
                      error_codes=ERROR_CODES, replace=True)
    registry.register("permit.recheck", bound(op_recheck),
                      [Param("points", "list"), Param("detector", "str"), Param("needs_isolation", "bool"),
                       Param("needs_gas_test", "bool")],
                      description="Periodic re-check during the work: isolations and gas read again",
                      error_codes=ERROR_CODES, replace=True)
    registry.register("permit.recheck_failed", op_recheck_failed, [Param("recheck", "dict")],
                      description="Suspend the work after a failed re-check: notify the crew, raise a deviation", error_codes=ERROR_CODES,
                      replace=True)
