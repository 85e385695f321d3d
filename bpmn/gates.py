"""The process library's gates, on the master data (masterdata.checks):

    training    `qualification.sops`: the claimant holds a current qualification on the version in
                force of every SOP the task names (`@recipe`: the SOPs of the batch's recipe)
    equipment   `equipment`: every piece of equipment the task names (by id, or by class through
                the batch) is released for use and clean, and its instruments are in calibration
    supplier    `material.lots`: the data fields holding lot codes (`lot`, `materials.*.lot`); each
                lot is not expired, comes from a supplier approved for its material, is QC-released
    qp          named in `gates`: only a qualified person takes the task and signs its release

Each refusal has a code and parameters; its English template is marked for the catalogues
(`N_`) and translated by the web interface (web.i18n.refusal_text). `install(runtime)` adds
properties and gates to a runtime (bpmn.glue does it).
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from engine.gates import Gate, GateContext
from engine.properties import TaskProperty, split_list
from forms.errors import N_
from masterdata import checks

TRAINING_GATE, EQUIPMENT_GATE, SUPPLIER_GATE, QP_GATE = "training", "equipment", "supplier", "qp"
LOTS_PROPERTY = "material.lots"

TRAINING_CODES = {
    "unknown_sop": N_("%(sop)s is not in the document register in force: nobody can be qualified on it"),
    "not_qualified": N_("%(name)s holds no qualification on %(sop)s v%(version)s (effective since %(since)s)"),
    "old_version": N_("%(name)s holds %(sop)s v%(held)s; the task needs v%(version)s, effective since %(since)s"),
    "expired": N_("%(name)s's qualification on %(sop)s v%(version)s expired on %(until)s"),
    "revoked": N_("%(name)s's qualification on %(sop)s v%(version)s was revoked on %(revoked)s"),
    "not_yet_valid": N_("%(name)s's qualification on %(sop)s v%(version)s is valid only from %(granted)s"),
}
EQUIPMENT_CODES = {
    "unknown_equipment": N_("equipment %(equipment)s is not in the master data in force"),
    "no_logbook": N_("%(equipment)s has no logbook entry: it has not been released for use"),
    "out_of_service": N_("%(equipment)s is out of service (since %(since)s)"),
    "not_clean": N_("%(equipment)s is dirty (since %(since)s): it must be cleaned and released for use"),
    "clean_expired": N_("%(equipment)s: its clean hold time ended at %(until)s; it must be cleaned again"),
    "in_use": N_("%(equipment)s is in use by process instance %(instance)s"),
    "not_released": N_("%(equipment)s is clean but not released for use"),
    "unknown_instrument": N_("instrument %(instrument)s of %(equipment)s is not in the master data in force"),
    "instrument_overdue": N_("instrument %(instrument)s of %(equipment)s is overdue for calibration (due %(due)s)"),
    "instrument_out_of_tolerance": N_("instrument %(instrument)s of %(equipment)s is out of tolerance"),
    "instrument_not_calibrated": N_("instrument %(instrument)s of %(equipment)s has no calibration"),
    "class_unresolved": N_("equipment class %(equipment)s: the batch names no recipe or equipment of this class"),
    "class_not_in_recipe": N_("equipment class %(equipment)s is not in recipe %(recipe)s"),
}
SUPPLIER_CODES = {
    "unknown_lot": N_("lot %(lot)s is not known"),
    "lot_expired": N_("lot %(lot)s of %(material)s expired on %(expiry)s"),
    "supplier_not_approved": N_("lot %(lot)s: supplier %(supplier)s is not on the approved supplier list for "
                                "%(material)s"),
    "supplier_rejected": N_("lot %(lot)s: supplier %(supplier)s is rejected for %(material)s"),
    "supplier_approval_expired": N_("lot %(lot)s: the approval of supplier %(supplier)s for %(material)s ended on "
                                    "%(until)s"),
    "lot_quarantined": N_("lot %(lot)s of %(material)s is in quarantine: QC has not released it"),
    "lot_rejected": N_("lot %(lot)s of %(material)s was rejected by QC"),
}
QP_CODES = {
    "not_qp": N_("only a qualified person may take '%(task)s'; %(name)s is not one"),
    "signer_not_qp": N_("the '%(meaning)s' signature must be a qualified person's; %(name)s is not one"),
}


def _session(ctx: GateContext) -> Any:
    return ctx.uow.session


def _refuse_first(ctx: GateContext, problems: list[checks.Problem]) -> None:
    if problems:
        raise ctx.refuse(problems[0].code, **problems[0].params)


def _data(ctx: GateContext) -> Mapping[str, Any]:
    return {**dict(ctx.instance_data), **dict(ctx.data)}


def _training(ctx: GateContext) -> None:
    session = _session(ctx)
    sops = checks.required_sops(session, split_list(ctx.properties.get("qualification.sops")), _data(ctx))
    _refuse_first(ctx, checks.training_problems(session, ctx.user_id, sops))


def _equipment(ctx: GateContext) -> None:
    names = split_list(ctx.properties.get("equipment"))
    _refuse_first(ctx, checks.equipment_problems(_session(ctx), names, _data(ctx), ctx.instance_id))


def values_at(data: Any, path: str) -> list[Any]:
    """Values at a dotted path; `*` walks every item of a list: 'materials.*.lot'."""
    current = [data]
    for part in path.split("."):
        found = []
        for value in current:
            if part == "*" and isinstance(value, list):
                found.extend(value)
            elif isinstance(value, Mapping) and part in value:
                found.append(value[part])
            elif isinstance(value, list) and part.isdigit() and 0 < int(part) <= len(value):
                found.append(value[int(part) - 1])
        current = found
    return current


def lot_codes(data: Mapping[str, Any], paths: Iterable[str]) -> list[str]:
    codes: list[str] = []
    for path in paths:
        for value in values_at(data, path):
            text = str(value).strip() if value is not None else ""
            if text and text not in codes:
                codes.append(text)
    return codes


def _supplier(ctx: GateContext) -> None:
    codes = lot_codes(_data(ctx), split_list(ctx.properties.get(LOTS_PROPERTY)))
    _refuse_first(ctx, checks.lot_problems(_session(ctx), codes))


def _qp(ctx: GateContext) -> None:
    _refuse_first(ctx, checks.qp_problems(_session(ctx), ctx.user_id, ctx.user_roles, ctx.signatures))


PROPERTIES: tuple[TaskProperty, ...] = (
    TaskProperty(LOTS_PROPERTY, "data fields holding the material lot codes the task uses (e.g. lot, "
                 "materials.*.lot); each lot must pass the supplier gate", is_list=True, gates=(SUPPLIER_GATE,),
                 label_en="Material lot fields", label_zh="物料批号字段"),
)

GATES: tuple[Gate, ...] = (
    Gate(TRAINING_GATE, _training, codes=TRAINING_CODES, consumes=("qualification.sops",),
         description="the claimant holds a current qualification on the version in force of every SOP named"),
    Gate(EQUIPMENT_GATE, _equipment, codes=EQUIPMENT_CODES, consumes=("equipment",),
         description="the equipment is released for use and clean; its instruments are in calibration"),
    Gate(SUPPLIER_GATE, _supplier, codes=SUPPLIER_CODES, consumes=(LOTS_PROPERTY,),
         description="each lot is QC-released, not expired, from a supplier approved for its material"),
    Gate(QP_GATE, _qp, codes=QP_CODES, description="only a qualified person takes the task and signs its release"),
)


def install(runtime: Any) -> Any:
    """Add the library's master data properties and gates to `runtime` (not frozen)."""
    for prop in PROPERTIES:
        if prop.name not in runtime.properties:
            runtime.properties.register(prop)
    for gate in GATES:
        if gate.name not in runtime.gates:
            runtime.gates.register(gate)
    return runtime


def messages() -> dict[str, str]:
    """Every refusal template of the library's gates (code -> English), for the catalogue test."""
    return {f"{gate.name}.{code}": template for gate in GATES for code, template in gate.codes.items()}
