"""A batch order: the start data of a `batch_record` instance, built from the master recipe in force.

    started = order(uow, "RCP-PARA-500", "B-2026-0001", planned_date="2026-12-04")

The recipe is pinned at its revision in force (masterdata.recipes.order_data); the order copies
what the steps check against, so that the batch keeps it whatever later revisions say:
- `bom`: one line per material, its target scaled to the batch size, tolerance in kg, OEB class
  and the protective equipment the material's master data requires;
- `plan`: per processing phase the set-point (parameter, value, unit, the CPP range it must lie in,
  the form field it is entered in) and the critical parameters sampled during the phase (tag, limits);
- `ipc` limits, `yield_range`, and `sampling` (how long the scheduler lets a phase settle at its set-point,
  then how long and how often it samples);
- `equipment` (given by the planner): the line the batch runs on, {equipment class: equipment id};
  without it each phase uses the recipe's equipment of its class.
"""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Mapping

from masterdata import changes
from masterdata.recipes import order_data

PROCESS_KEY = "batch_record"
BATCH_NUMBER = re.compile(r"^[A-Z0-9][A-Z0-9-]{2,39}$")
# a phase's recipe name -> (plan key, the set-point's form field, the tag a parameter without its own is read from)
PHASES: dict[str, dict[str, Any]] = {
    "Granulation": {"key": "granulation", "field": "impeller_speed",
                    "tags": {"impeller speed": "FBD-01.ua.impeller_speed"}},
    "Drying": {"key": "drying", "field": "inlet_temp",
               "tags": {"inlet air temperature": "FBD-01.ua.inlet_temp"}},
}
# the scheduler waits settle_s after the set-point is confirmed (the value ramps to it), then samples every
# interval_s for duration_s
DEFAULT_SAMPLING = {"settle_s": 10, "duration_s": 10, "interval_s": 1}


class OrderRefused(ValueError):
    """A batch order that cannot be made (wording for the planner)."""


def _number(value: Any) -> float:
    return float(Decimal(str(value)))


def bill_of_materials(session: Any, recipe: Mapping[str, Any], quantity: float) -> list[dict[str, Any]]:
    scale = quantity / _number(recipe["batch_size"]["quantity"])
    lines = []
    for line in recipe.get("bom", []):
        material = changes.effective(session, "material", line["material"])
        data = material.data if material is not None else {}
        target = round(_number(line["quantity"]) * scale, 3)
        lines.append({"material": line["material"], "name": data.get("name", line["material"]),
                      "name_zh": data.get("name_zh", ""), "target": target, "unit": line.get("unit", "kg"),
                      "tolerance_pct": _number(line.get("tolerance_pct", 0)),
                      "tolerance": round(target * _number(line.get("tolerance_pct", 0)) / 100, 3),
                      "oeb": int(line.get("oeb", data.get("oeb", 1))),
                      "ppe": list(data.get("protective_equipment") or [])})
    return lines


def phase_plan(recipe: Mapping[str, Any]) -> dict[str, Any]:
    plan: dict[str, Any] = {}
    for phase in recipe.get("phases", []):
        known = PHASES.get(phase.get("name"))
        if known is None:
            continue
        cpps = []
        for cpp in phase.get("cpp", []):
            tag = cpp.get("tag") or known["tags"].get(cpp["parameter"])
            cpps.append({"parameter": cpp["parameter"], "tag": tag, "min": _number(cpp["min"]),
                         "max": _number(cpp["max"]), "unit": cpp.get("unit", "")})
        sampled = [c for c in cpps if c["tag"]]
        setpoint = next(iter(phase.get("setpoints", [])), None)
        entry: dict[str, Any] = {"name": phase["name"], "equipment_class": phase.get("equipment_class"),
                                 "cpp": cpps, "tags": [c["tag"] for c in sampled], "field": known["field"]}
        if setpoint is not None:
            limits = next((c for c in cpps if c["parameter"] == setpoint["parameter"]), None)
            entry["setpoint"] = {"parameter": setpoint["parameter"], "value": _number(setpoint["value"]),
                                 "unit": setpoint.get("unit", ""),
                                 "min": limits["min"] if limits else None, "max": limits["max"] if limits else None}
        plan[known["key"]] = entry
    missing = [name for name, known in PHASES.items() if known["key"] not in plan]
    if missing:
        raise OrderRefused(f"recipe {recipe.get('code')} has no phase {', '.join(missing)}: the batch record runs "
                           "granulation, then drying")
    return plan


def order_start_data(session: Any, recipe_code: str, batch_number: str, *, planned_date: str,
                     quantity: float | None = None, sampling: Mapping[str, Any] | None = None,
                     equipment: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The start data of a batch of `recipe_code` (its revision in force)."""
    number = str(batch_number or "").strip().upper()
    if not BATCH_NUMBER.match(number):
        raise OrderRefused(f"batch number {batch_number!r}: use 3 to 40 capital letters, digits and '-', "
                           "e.g. B-2026-0001")
    base = order_data(session, recipe_code)
    recipe = changes.effective(session, "recipe", recipe_code).data
    size = dict(base["batch_size"])
    if quantity is not None:
        if quantity <= 0:
            raise OrderRefused("the batch size must be more than 0")
        size["quantity"] = quantity
    yield_range = recipe.get("yield") or {}
    ipc = [{"test": item["test"], "min": item.get("min"), "max": item.get("max"), "unit": item.get("unit", "")}
           for item in recipe.get("ipc", []) if item.get("test") == "loss on drying"]
    line = _line(session, recipe, equipment)
    return {**base, **line, "batch_number": number, "planned_date": planned_date, "batch_size": size,
            "bom": bill_of_materials(session, recipe, _number(size["quantity"])), "plan": phase_plan(recipe),
            "ipc": ipc, "yield_range": {"min_pct": _number(yield_range.get("min_pct", 0)),
                                        "max_pct": _number(yield_range.get("max_pct", 100))},
            "sampling": dict(sampling or DEFAULT_SAMPLING)}


def _line(session: Any, recipe: Mapping[str, Any], equipment: Mapping[str, str] | None) -> dict[str, Any]:
    """The planner's equipment for the recipe's classes: each an item of that class in force."""
    if not equipment:
        return {}
    classes = {entry.get("class") for entry in recipe.get("equipment", [])}
    for name, code in equipment.items():
        if name not in classes:
            raise OrderRefused(f"equipment class {name} is not in recipe {recipe.get('code')}")
        item = changes.effective(session, "equipment", str(code))
        if item is None:
            raise OrderRefused(f"equipment {code} is not in the master data in force")
        if item.data.get("class") != name:
            raise OrderRefused(f"equipment {code} is a {item.data.get('class')}, not a {name}")
    return {"equipment": {str(name): str(code) for name, code in equipment.items()}}


def order(uow: Any, recipe_code: str, batch_number: str, *, planned_date: str, quantity: float | None = None,
          sampling: Mapping[str, Any] | None = None, equipment: Mapping[str, str] | None = None,
          settings: Any = None, runtime: Any = None) -> Any:
    """Start the batch: an instance of the approved `batch_record` process keyed by its batch number."""
    from engine import instances

    data = order_start_data(uow.session, recipe_code, batch_number, planned_date=planned_date, quantity=quantity,
                            sampling=sampling, equipment=equipment)
    return instances.start(uow, PROCESS_KEY, title=f"Batch {data['batch_number']} — {data['product']}",
                           data=data, settings=settings, runtime=runtime, business_key=data["batch_number"])
