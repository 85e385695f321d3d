"""The batch record (process `batch_record`, business key = batch number): from the order of an
effective master recipe to the QP's release, on live equipment.

The diagram (batch_record.bpmn, lanes planner, operator, verifier, supervisor, qa, qp) and its
forms are ordinary process files uploaded and approved through the library. What it needs from
the runtime is added by `install(runtime, env)` (bpmn.glue.extend calls it):

- operators its service tasks call:
    batch.check_dispensing  each dispensed row against its target ± tolerance; a row outside is an
                            exception (kind dispensing_tolerance) for QA to assess
    batch.log_equipment     the phase's equipment `in_use` with the batch's instance id (then `dirty`
                            after the phase) in the equipment logbook, covered by the signature
                            given at the phase's signed set-point
    batch.check_cpp         a phase's sampled critical parameters against the recipe's limits; an
                            excursion is an exception and gives the deviation's title and context
    batch.check_ipc         the in-process control against its limits (exception ipc_oos)
    batch.review_items      every exception and linked deviation (reference, kind, what) for the QA review's rows
    batch.check_yield       the yield from the output and the dispensed weights; outside the
                            recipe's range an exception (kind yield)
- gate `batch_record` (at completion): the dispensing rows match the batch's bill of materials
  (one row per line, its target and tolerance, a lot of that material); a set-point lies inside
  the recipe's range; the QA review and the release have every exception and deviation assessed;
The QP's release also carries the deviation process's gate `deviations` (contract item 4):
refused while a deviation raised from the batch or affecting it is still open.

`plan.order` starts a batch; `status.batch_status` is its status; `review` lists what QA assesses.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from engine.gates import Gate, GateContext
from engine.operators import OperatorFailed, Param
from forms.errors import N_

FOLDER = Path(__file__).resolve().parent
PROCESS_KEY = "batch_record"
BATCH_GATE = "batch_record"

BATCH_CODES = {
    "bom_line_missing": N_("no dispensing row for %(material)s: every line of the bill of materials is weighed"),
    "bom_line_twice": N_("%(material)s is weighed in more than one row: one row per line of the bill of materials"),
    "bom_not_in_recipe": N_("%(material)s is not in the bill of materials of batch %(batch)s"),
    "bom_row_extra": N_("row %(row)s is not a line of the bill of materials of batch %(batch)s: one row per line"),
    "bom_target": N_("%(material)s: the target is %(target)s kg for this batch, not %(given)s kg"),
    "bom_tolerance": N_("%(material)s: the tolerance is ±%(tolerance)s kg for this batch, not ±%(given)s kg"),
    "lot_wrong_material": N_("lot %(lot)s is %(lot_material)s, not %(material)s"),
    "setpoint_outside_recipe": N_("%(parameter)s %(value)s %(unit)s is outside the recipe's range %(min)s to %(max)s"),
    "not_assessed": N_("not assessed yet: %(references)s; assess every exception and deviation"),
    "changes_not_reviewed": N_("the entries changed after first entry must be reviewed (Annex 11 §8)"),
}


# ---------------------------------------------------------------- helpers
def _num(value: Any) -> float:
    from decimal import Decimal

    return float(Decimal(str(value))) if value is not None and value != "" else 0.0


def _batch(data: Mapping[str, Any]) -> str:
    return str(data.get("batch_number") or "")


def _uow(context: Any) -> Any:
    uow = getattr(context, "uow", None)
    if uow is None:
        raise OperatorFailed("no_unit_of_work", "this operator runs inside an engine step")
    return uow


# ---------------------------------------------------------------- operators
def check_dispensing(context: Any, rows: list[Any]) -> dict[str, Any]:
    data = context.task_data
    outside = 0
    total = 0.0
    for number, row in enumerate(rows, start=1):
        net, target, tolerance = _num(row.get("net")), _num(row.get("target")), _num(row.get("tolerance"))
        total += net
        if abs(net - target) > tolerance + 1e-9:
            outside += 1
            context.record_exception(
                "dispensing_tolerance",
                f"{row.get('material')} lot {row.get('lot')}: net weight {net:g} kg outside {target:g} ± "
                f"{tolerance:g} kg (row {number})",
                {"source_kind": "dispensing_tolerance", "batch": _batch(data), "step": "dispensing", "row": number,
                 "material": row.get("material"), "lot": row.get("lot"), "value": net, "unit": "kg",
                 "limit_low": round(target - tolerance, 3), "limit_high": round(target + tolerance, 3),
                 "tag": "SCALE-01.net_weight"})
    return {"rows": len(rows), "outside_tolerance": outside, "dispensed_kg": round(total, 3)}


def _resolve_equipment(session: Any, name: str, data: Mapping[str, Any]) -> str:
    from masterdata import changes, checks

    if changes.effective(session, "equipment", name) is not None:
        return name
    assigned = data.get("equipment")
    if isinstance(assigned, Mapping) and isinstance(assigned.get(name), str):
        return str(assigned[name])
    recipe = checks.recipe_of(session, data)
    entry = next((e for e in (recipe.data.get("equipment", []) if recipe else []) if e.get("class") == name), None)
    if entry is None or not entry.get("equipment"):
        raise OperatorFailed("equipment_unresolved", f"equipment class {name} is not in the batch's recipe")
    return str(entry["equipment"][0])


def log_equipment(context: Any, equipment: str, status: str, signature_id: Any) -> dict[str, Any]:
    from masterdata import equipment_log
    from masterdata.errors import ChangeError

    uow = _uow(context)
    code = _resolve_equipment(uow.session, equipment, context.task_data)
    note = (f"batch {_batch(context.task_data)}: " +
            ("in use" if status == equipment_log.IN_USE else "used, to be cleaned") + f" ({context.element_id})")
    try:
        state = equipment_log.log_use_under_signature(uow, code, status, instance_id=int(context.instance_id),
                                                      signature_seq=signature_id, note=note,
                                                      settings=getattr(context, "settings", None))
    except ChangeError as exc:
        raise OperatorFailed("equipment_log_refused", str(exc)) from exc
    return {"equipment": code, "status": state.status, "since": state.since, "signature_id": str(signature_id)}


def check_cpp(context: Any, phase: str, samples: Mapping[str, Any]) -> dict[str, Any]:
    data = context.task_data
    entry = (data.get("plan") or {}).get(phase) or {}
    tags = samples.get("tags") or {}
    excursions = []
    for cpp in entry.get("cpp", []):
        stats = tags.get(cpp.get("tag")) if cpp.get("tag") else None
        if not stats or stats.get("count", 0) == 0:
            continue
        low, high = _num(cpp["min"]), _num(cpp["max"])
        worst = None
        if _num(stats.get("max")) > high:
            worst = _num(stats.get("max"))
        elif _num(stats.get("min")) < low:
            worst = _num(stats.get("min"))
        if worst is None:
            continue
        excursion = {"source_kind": "cpp_excursion", "batch": _batch(data), "step": phase, "tag": cpp["tag"],
                     "parameter": cpp["parameter"], "value": worst, "limit_low": low, "limit_high": high,
                     "unit": cpp.get("unit", ""), "equipment": entry.get("equipment_class"),
                     "sampling_id": samples.get("sampling_id")}
        excursions.append(excursion)
        context.record_exception("cpp_excursion", f"{entry.get('name', phase)}: {cpp['parameter']} reached "
                                 f"{worst:g} {cpp.get('unit', '')}, outside {low:g} to {high:g}", excursion)
    first = excursions[0] if excursions else None
    title = (f"Batch {_batch(data)}: {entry.get('name', phase).lower()} {first['parameter']} {first['value']:g} "
             f"{first['unit']} outside {first['limit_low']:g}-{first['limit_high']:g}") if first else ""
    return {"in_limits": not excursions, "excursions": excursions, "title": title, "context": first or {},
            "sampling_id": samples.get("sampling_id")}


def check_ipc(context: Any, results: Mapping[str, Any]) -> dict[str, Any]:
    data = context.task_data
    limits = next((item for item in data.get("ipc") or [] if item.get("test") == "loss on drying"),
                  {"test": "loss on drying", "max": 2.0, "unit": "%"})
    value = _num(results.get("loss_on_drying"))
    low = limits.get("min")
    high = limits.get("max")
    outside = (high is not None and value > _num(high)) or (low is not None and value < _num(low))
    context_data = {"source_kind": "ipc_oos", "batch": _batch(data), "step": "ipc", "parameter": "loss on drying",
                    "value": value, "limit_low": low, "limit_high": high, "unit": limits.get("unit", "%")}
    if outside:
        context.record_exception("ipc_oos", f"loss on drying {value:g} % outside its limit (max {high})", context_data)
    title = f"Batch {_batch(data)}: loss on drying {value:g} % out of specification" if outside else ""
    return {"in_limits": not outside, "value": value, "title": title, "context": context_data if outside else {}}


def check_yield(context: Any, output: float) -> dict[str, Any]:
    data = context.task_data
    dispensed = sum(_num(row.get("net")) for row in data.get("dispensing") or [])
    span = data.get("yield_range") or {}
    low, high = _num(span.get("min_pct", 0)), _num(span.get("max_pct", 100))
    pct = round(_num(output) / dispensed * 100, 2) if dispensed else 0.0
    inside = low <= pct <= high
    if not inside:
        context.record_exception("yield", f"yield {pct:g} % outside {low:g} to {high:g} %",
                                 {"source_kind": "yield", "batch": _batch(data), "step": "yield", "value": pct,
                                  "limit_low": low, "limit_high": high, "unit": "%", "output_kg": _num(output),
                                  "dispensed_kg": round(dispensed, 3)})
    return {"yield_pct": pct, "in_range": inside, "dispensed_kg": round(dispensed, 3), "output_kg": _num(output),
            "min_pct": low, "max_pct": high}


def review_items(context: Any) -> dict[str, Any]:
    """What QA assesses, listed for the QA review's rows (x-gmp-rows-from "review.items"): every
    exception of the batch and every linked deviation, with its reference, kind and what happened."""
    from bpmn.batch_record.review import review_items as items_of

    items = items_of(_uow(context).session, int(context.instance_id))
    return {"items": [{"reference": item.reference, "kind": item.kind, "what": item.message[:2000]} for item in items]}


# ---------------------------------------------------------------- gates
def _check_bom(ctx: GateContext, rows: list[Any], data: Mapping[str, Any]) -> None:
    from masterdata import lots

    bom = {line["material"]: line for line in data.get("bom") or []}
    seen: set[str] = set()
    for number, row in enumerate(rows, start=1):
        material = str(row.get("material") or "").strip()
        line = bom.get(material)
        if not material:
            raise ctx.refuse("bom_row_extra", row=number, batch=_batch(data))
        if line is None:
            raise ctx.refuse("bom_not_in_recipe", material=material, batch=_batch(data))
        if material in seen:
            raise ctx.refuse("bom_line_twice", material=material)
        seen.add(material)
        if abs(_num(row.get("target")) - _num(line["target"])) > 1e-9:
            raise ctx.refuse("bom_target", material=material, target=f"{_num(line['target']):g}",
                             given=f"{_num(row.get('target')):g}")
        if abs(_num(row.get("tolerance")) - _num(line["tolerance"])) > 1e-9:
            raise ctx.refuse("bom_tolerance", material=material, tolerance=f"{_num(line['tolerance']):g}",
                             given=f"{_num(row.get('tolerance')):g}")
        found = lots.find_lot(ctx.uow.session, str(row.get("lot") or "").strip())
        if found is not None and found.material != material:
            raise ctx.refuse("lot_wrong_material", lot=row.get("lot"), lot_material=found.material, material=material)
    for material in bom:
        if material not in seen:
            raise ctx.refuse("bom_line_missing", material=material)


def _check_setpoint(ctx: GateContext, data: Mapping[str, Any]) -> None:
    field = ctx.properties.get("setpoint.value_field")
    for entry in (data.get("plan") or {}).values():
        setpoint = entry.get("setpoint") or {}
        if entry.get("field") != field or field not in ctx.data or setpoint.get("min") is None:
            continue
        value = _num(ctx.data[field])
        if not _num(setpoint["min"]) <= value <= _num(setpoint["max"]):
            raise ctx.refuse("setpoint_outside_recipe", parameter=setpoint["parameter"], value=f"{value:g}",
                             unit=setpoint.get("unit", ""), min=f"{_num(setpoint['min']):g}",
                             max=f"{_num(setpoint['max']):g}")


def _check_assessed(ctx: GateContext, assessments: Any) -> None:
    from bpmn.batch_record.review import unassessed

    missing = unassessed(ctx.uow.session, ctx.instance_id, assessments)
    if missing:
        raise ctx.refuse("not_assessed", references=", ".join(missing))


def batch_gate(ctx: GateContext) -> None:
    data = {**dict(ctx.instance_data), **dict(ctx.data)}
    if ctx.stage != "complete":
        return
    if "dispensing" in ctx.data:
        _check_bom(ctx, list(ctx.data.get("dispensing") or []), data)
    if ctx.properties.get("setpoint.value_field"):
        _check_setpoint(ctx, data)
    if "changes_reviewed" in ctx.data:
        if not ctx.data.get("changes_reviewed"):
            raise ctx.refuse("changes_not_reviewed")
        _check_assessed(ctx, ctx.data.get("assessments"))
    elif "qp" in ctx.properties.get("gates", ""):
        _check_assessed(ctx, data.get("assessments"))


GATES = (
    Gate(BATCH_GATE, batch_gate, codes=BATCH_CODES, stages=("complete",),
         description="the batch record's checks: bill of materials, set-points in the recipe's range, "
                     "every exception and deviation assessed"),
)


def install(runtime: Any, env: Any = None) -> Any:
    """Add the batch record's operators and gates to `runtime` (not frozen)."""
    operators = runtime.operators
    operators.register("batch.check_dispensing", check_dispensing, [Param("rows", "list")],
                       description="Check dispensed rows against target ± tolerance; exceptions for QA",
                       error_codes=(), replace=True)
    operators.register("batch.log_equipment", log_equipment,
                       [Param("equipment", "str", description="equipment id or class of the batch's recipe"),
                        Param("status", "str", description="in_use or dirty"),
                        Param("signature_id", "any", description="the signature that covers the entry")],
                       description="Log the phase's equipment in the logbook under the phase's signature",
                       error_codes=("equipment_log_refused", "equipment_unresolved"), replace=True)
    operators.register("batch.check_cpp", check_cpp, [Param("phase", "str"), Param("samples", "dict")],
                       description="Check a phase's sampled critical parameters against the recipe", replace=True)
    operators.register("batch.check_ipc", check_ipc, [Param("results", "dict")],
                       description="Check the in-process control results against their limits", replace=True)
    operators.register("batch.check_yield", check_yield, [Param("output", "float")],
                       description="Compute the yield; outside the recipe's range is an exception", replace=True)
    operators.register("batch.review_items", review_items, [],
                       description="List the batch's exceptions and linked deviations for the QA review", replace=True)
    for gate in GATES:
        if gate.name not in runtime.gates:
            runtime.gates.register(gate)
    return runtime


def diagram_files() -> dict[str, bytes]:
    """The process files as the library uploads them (diagram and forms)."""
    return {str(path.relative_to(FOLDER)): path.read_bytes() for path in sorted(FOLDER.rglob("*"))
            if path.is_file() and path.suffix in (".bpmn", ".json", ".dmn")}
