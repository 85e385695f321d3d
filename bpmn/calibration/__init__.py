"""Calibration of instruments (process `calibration`, GMP_PROCESSES.md §5): the work order
diagram, its forms, and what it plugs into the engine runtime.

`install(runtime, env)` adds:
- the gate `calibration` (named in a task's `gates`; decides at completion): the reference
  standard chosen must be a reference standard in force, in the instrument's unit, and itself
  in calibration; a test point applied must be one the work order plans and not recorded yet;
  entered test points (as found, as left) must be exactly the planned ones;
- the operators the diagrams call:
    calibration.prepare(instrument, reference_standard)   -> the work order (service.work_order)
    calibration.read_point(work_order, reference_standard, nominal, reading) -> the points so far
        plus this one, read over the connector: the reference standard's tag and the instrument's
        tag (`reading` as_found, or as_left: read back after an adjustment)
    calibration.start_as_left()                            -> no as-left reading yet (a new
        adjustment round: the as-left points are read back again)
    calibration.evaluate(work_order, points, reading)     -> error per point against the tolerance
    calibration.raise_deviation(work_order, evaluation)   -> an out-of-tolerance deviation carrying
        the batches that used the instrument since its last good calibration
    calibration.record(work_order, evaluation, reference_standard) -> the calibration recorded
        (masterdata.calibration, signed by the work order's approval), the next due date
    calibration.plan_work_orders()                        -> work orders started (process
        `calibration_schedule` runs it daily on a timer)
- its record sections (bpmn.calibration.sections): the work order, the test points of every round.
Nothing registers at import time.
"""
from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Mapping

from bpmn.calibration import sections, service
from engine.gates import Gate, GateContext
from engine.operators import OperatorFailed, Param
from forms.errors import N_

FOLDER = Path(__file__).resolve().parent
DIAGRAMS = {"calibration": FOLDER / "work_order", "calibration_schedule": FOLDER / "schedule"}
GATE = "calibration"
GATE_CODES = {
    "unknown_instrument": N_("instrument %(instrument)s is not in the master data in force"),
    "unknown_reference": N_("reference standard %(reference)s is not in the master data in force"),
    "reference_is_instrument": N_("%(reference)s cannot be its own reference standard"),
    "not_a_reference": N_("%(reference)s is not a reference standard"),
    "reference_unit": N_("reference standard %(reference)s measures in %(unit)s; the instrument in %(expected)s"),
    "reference_not_in_calibration": N_("reference standard %(reference)s is %(status)s (due %(due)s): a calibration "
                                       "needs a reference standard that is itself in calibration"),
    "unplanned_point": N_("%(point)s is not a test point of the work order (%(planned)s)"),
    "point_recorded": N_("test point %(point)s has been recorded already"),
    "points_missing": N_("%(recorded)s test point(s) recorded; the work order plans %(planned)s"),
    "point_twice": N_("each planned test point is recorded once: %(planned)s"),
    "not_a_number": N_("%(what)s: %(value)s is not a number"),
}
OPERATOR_CODES = ("unknown_instrument", "reference_not_connected", "equipment_unavailable", "equipment_refused",
                  "equipment_error", "points_missing", "unplanned_point", "point_twice", "not_a_number",
                  "no_approval")


def _order_of(ctx: GateContext) -> Mapping[str, Any] | None:
    data = ctx.instance_data
    if isinstance(data.get("work_order"), Mapping):
        return data["work_order"]
    instrument = (data.get("calibration") or {}).get("instrument")
    if instrument is None:
        return None
    try:
        return service.work_order(ctx.uow.session, instrument)
    except service.CalibrationError as exc:
        raise ctx.refuse(exc.code, **exc.params) from exc


def _gate(ctx: GateContext) -> None:
    order = _order_of(ctx)
    if order is None:
        return
    data = ctx.data
    if "reference_standard" in data:
        problem = service.reference_problem(ctx.uow.session, order, str(data["reference_standard"]))
        if problem is not None:
            raise ctx.refuse(problem[0], **problem[1])
    try:
        for field, recorded in (("nominal", "points"), ("left_nominal", "as_left")):
            if field not in data:
                continue
            nominal = service.number(data[field], "nominal")
            planned = [service.number(p, "test point") for p in order["test_points"]]
            shown = f"{service.text(nominal)} {order['unit']}"
            if nominal not in planned:
                raise ctx.refuse("unplanned_point", point=shown,
                                 planned=f"{', '.join(service.text(p) for p in planned)} {order['unit']}")
            done = [service.number(p["nominal"], "nominal") for p in ctx.instance_data.get(recorded) or []]
            if nominal in done:
                raise ctx.refuse("point_recorded", point=shown)
        for field, reading in (("points", "as_found"), ("as_left", "as_left")):
            if field in data:
                service.evaluate_points(order, list(data[field] or []), reading)
    except service.CalibrationError as exc:
        raise ctx.refuse(exc.code, **exc.params) from exc


# ---------------------------------------------------------------- operators
def _session(context: Any) -> Any:
    uow = getattr(context, "uow", None)
    if uow is None:
        raise OperatorFailed("equipment_error", "calibration operators run inside an engine step")
    return uow.session


def _failed(exc: service.CalibrationError) -> OperatorFailed:
    return OperatorFailed(exc.code, str(exc), {k: v for k, v in exc.params.items() if isinstance(v, (str, int))})


def _prepare(context: Any, instrument: str, reference_standard: str = "") -> dict[str, Any]:
    session = _session(context)
    try:
        order = service.work_order(session, instrument)
    except service.CalibrationError as exc:
        raise _failed(exc) from exc
    ref_tag = service.reference_tag(session, reference_standard) if reference_standard else None
    order["reference_standard"] = reference_standard or None
    order["reference_tag"] = ref_tag
    order["connected"] = bool(order["tag"] and ref_tag)
    work = (context.task_data.get("calibration") or {}).get("work_order")
    order["work_order"] = work
    return order


def _read(context: Any, tag: str, fallback: Any) -> dict[str, Any]:
    from connectors.errors import ConnectorError
    from connectors.operators import environment_of, read_tag

    uow = context.uow
    try:
        return read_tag(environment_of(context, fallback), tag, actor=uow.actor, instance_id=str(context.instance_id),
                        task_id=context.element_id, uow=uow)
    except ConnectorError as exc:
        from connectors.operators import _failed as connector_failed

        raise connector_failed(exc) from exc


def _read_point(context: Any, work_order: dict, reference_standard: str, nominal: Any, reading: str = "as_found",
                *, fallback: Any = None) -> list[dict[str, Any]]:
    from forms.numbers import reading_decimal

    if not work_order.get("tag") or not work_order.get("reference_tag"):
        raise OperatorFailed("reference_not_connected", f"{work_order['instrument']} or reference standard "
                             f"{reference_standard} is not read over a connector: enter the readings")
    if reading not in ("as_found", "as_left"):
        raise OperatorFailed("equipment_error", f"unknown reading {reading!r}: as_found or as_left")
    points = [dict(p) for p in context.task_data.get("points" if reading == "as_found" else "as_left") or []]
    reference = _read(context, work_order["reference_tag"], fallback)
    instrument = _read(context, work_order["tag"], fallback)
    points.append({"nominal": service.text(service.number(nominal, "nominal")),
                   "reference": service.text(reading_decimal(reference["value"])),
                   reading: service.text(reading_decimal(instrument["value"])), "source": "equipment",
                   "reference_reading": {k: reference[k] for k in ("tag", "value", "unit", "source_timestamp")},
                   "instrument_reading": {k: instrument[k] for k in ("tag", "value", "unit", "source_timestamp")}})
    return points


def _start_as_left(context: Any) -> list[dict[str, Any]]:
    return []


def _evaluate(context: Any, work_order: dict, points: list, reading: str = "as_found") -> dict[str, Any]:
    try:
        return service.evaluate(work_order, [dict(p) for p in points], reading)
    except service.CalibrationError as exc:
        raise _failed(exc) from exc


def _raise_deviation(context: Any, work_order: dict, evaluation: dict) -> dict[str, Any]:
    session = _session(context)
    instrument = work_order["instrument"]
    since = work_order.get("last_good")
    batches = service.impacted_batches(session, instrument, since)
    tolerance = service.number(work_order["tolerance"], "tolerance")
    unit = work_order["unit"]
    title = (f"{instrument} found out of tolerance: as-found error {evaluation['max_error']} {unit}, "
             f"tolerance ±{work_order['tolerance']} {unit}")
    context_data = {"source_kind": "calibration_oot", "instrument": instrument,
                    "equipment": ", ".join(work_order.get("equipment") or []),
                    "value": evaluation["max_error"], "limit_low": service.text(-tolerance),
                    "limit_high": service.text(tolerance), "unit": unit, "impacted_batches": batches,
                    "work_order": work_order.get("work_order"), "last_good_calibration": since,
                    "points": evaluation["points"]}
    deviation = context.raise_deviation(title, context_data, "major")
    return {"deviation_instance": deviation, "impacted_batches": batches, "since": since}


def _approval_signature(session: Any, instance_id: Any) -> tuple[str, str]:
    from sqlalchemy import select

    from engine.models import InstanceTask
    from signatures.models import Signature

    task_ids = list(session.execute(select(InstanceTask.id).where(
        InstanceTask.instance_id == int(instance_id), InstanceTask.bpmn_id == "approve")).scalars())
    row = session.execute(select(Signature).where(Signature.record_type == "task", Signature.record_id.in_(
        [str(t) for t in task_ids]), Signature.meaning == "approved").order_by(Signature.seq.desc())).scalars().first()
    if row is None:
        raise OperatorFailed("no_approval", "the work order has no approval signature to record the calibration with")
    return str(row.seq), row.signer_id


def _record(context: Any, work_order: dict, evaluation: dict, reference_standard: str) -> dict[str, Any]:
    from core import clock
    from masterdata import calibration as md_calibration

    uow = context.uow
    seq, signer = _approval_signature(uow.session, context.instance_id)
    if signer != uow.actor.user_id:
        raise OperatorFailed("no_approval", f"the approval was signed by {signer}, the step runs as "
                             f"{uow.actor.user_id}")
    day: date = clock.now().date()
    key = work_order.get("work_order") or f"#{context.instance_id}"
    settings = context.settings
    found = evaluation["result"]
    if found == service.FAIL:
        md_calibration.record_calibration(
            uow, work_order["instrument"], calibrated_on=day, result=md_calibration.FAIL, settings=settings,
            reference=reference_standard, certificate=key, signature_id=seq,
            note=f"as found out of tolerance: error {evaluation['max_error']} {work_order['unit']} "
                 f"(tolerance ±{work_order['tolerance']}); work order {key}")
    as_left = context.task_data.get("as_left_evaluation") if found == service.FAIL else evaluation
    state = md_calibration.record_calibration(
        uow, work_order["instrument"], calibrated_on=day, result=md_calibration.PASS, settings=settings,
        reference=reference_standard, certificate=key, signature_id=seq,
        note=("adjusted; as left within tolerance" if found == service.FAIL else "as found within tolerance; as left "
              "= as found") + f" (max error {as_left['max_error']} {work_order['unit']}); work order {key}")
    return {"status": state.status, "due_on": state.due_on, "calibrated_on": day.isoformat(), "signature_id": seq,
            "as_found": found}


def _plan(context: Any) -> dict[str, Any]:
    from masterdata import changes

    uow = context.uow
    started = service.plan_work_orders(uow, context.settings, getattr(context, "runtime", None))
    return {"started": started, "active": bool(changes.effective_items(uow.session, "instrument"))}


def install(runtime: Any, env: Any = None) -> Any:
    """Add the calibration gate and operators to `runtime` (not frozen)."""
    import functools

    if GATE not in runtime.gates:
        runtime.gates.register(Gate(GATE, _gate, codes=GATE_CODES, stages=("complete",),
                                    description="calibration: reference standard in calibration, planned test points"))
    sections.register(runtime)
    ops = runtime.operators
    ops.register("calibration.prepare", _prepare, [Param("instrument", "str"),
                                                   Param("reference_standard", "str", required=False)],
                 description="The calibration work order of an instrument", error_codes=OPERATOR_CODES, replace=True)
    ops.register("calibration.read_point", functools.partial(_read_point, fallback=env),
                 [Param("work_order", "dict"), Param("reference_standard", "str"), Param("nominal", "any"),
                  Param("reading", "str", required=False)],
                 description="Read the reference standard and the instrument at a test point (as found, or as left "
                             "after an adjustment)",
                 error_codes=OPERATOR_CODES, replace=True)
    ops.register("calibration.start_as_left", _start_as_left, [],
                 description="A new adjustment round: no as-left reading yet", replace=True)
    ops.register("calibration.evaluate", _evaluate, [Param("work_order", "dict"), Param("points", "list"),
                                                     Param("reading", "str", required=False)],
                 description="Errors against tolerance", error_codes=OPERATOR_CODES, replace=True)
    ops.register("calibration.raise_deviation", _raise_deviation, [Param("work_order", "dict"),
                                                                   Param("evaluation", "dict")],
                 description="Raise an out-of-tolerance deviation with the impacted batches", replace=True)
    ops.register("calibration.record", _record, [Param("work_order", "dict"), Param("evaluation", "dict"),
                                                 Param("reference_standard", "str")],
                 description="Record the approved calibration; next due date", error_codes=OPERATOR_CODES,
                 replace=True)
    ops.register("calibration.plan_work_orders", _plan, [], description="Start the work orders that are due",
                 replace=True)
    return runtime
