"""What the gates of the process library check, on the master data in force and the records,
as of now on the product clock (an expiry, a due date or a validity end closes a gate the
moment it passes; no job has to run). Each check returns the problems it finds as
`Problem(code, params)`; the library's gates (bpmn.gates) turn the first into a refusal.

    training_problems(session, user_id, ["SOP-PRD-012"])
    equipment_problems(session, ["GR-01", "fluid_bed_dryer"], instance_data, instance_id)
    lot_problems(session, ["L-2026-001"])
    qp_problems(session, user_id, roles)

Only the effective revision of master data is read (masterdata.changes.effective): a draft or
a revision approved for a later date changes nothing until it is in force.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Iterable, Mapping, Sequence

from sqlalchemy.orm import Session

from masterdata import calibration, changes, equipment_log, lots, qualifications
from masterdata.signed import today

QP_ROLE = "qp"


@dataclass(frozen=True)
class Problem:
    code: str
    params: dict[str, Any] = field(default_factory=dict)


def _name(session: Session, user_id: str) -> str:
    from signatures.models import UserAccount

    user = session.get(UserAccount, user_id)
    return user.printed_name if user is not None else user_id


# ---------------------------------------------------------------- training
def recipe_of(session: Session, instance_data: Mapping[str, Any]) -> changes.Revision | None:
    """The master recipe a batch runs: `recipe` (its code) in the instance data, at the revision
    in `recipe_revision` when the batch pinned one, else the revision in force."""
    code = instance_data.get("recipe")
    if not isinstance(code, str) or not code:
        return None
    pinned = instance_data.get("recipe_revision")
    if isinstance(pinned, int) and not isinstance(pinned, bool):
        try:
            change = changes.find_change(session, "recipe", code, pinned)
        except changes.ChangeError:
            return None
        if change.status not in changes.IN_FORCE_STATUSES:
            return None
        return changes.Revision(change.kind, change.key, change.revision, change.data, change.effective_from or "",
                                change.approved_by or "", change.approved_at or "", change.signature_id, change.id,
                                change.change_set_id)
    return changes.effective(session, "recipe", code)


def required_sops(session: Session, names: Iterable[str], instance_data: Mapping[str, Any]) -> list[str]:
    """The SOP ids a task names; `@recipe` stands for the SOPs of the batch's recipe."""
    found: list[str] = []
    for name in names:
        if name == "@recipe":
            recipe = recipe_of(session, instance_data)
            items = list((recipe.data.get("sops") or []) if recipe is not None else [])
        else:
            items = [name]
        found.extend(item for item in items if item not in found)
    return found


def training_problems(session: Session, user_id: str, sops: Sequence[str], on: date | None = None) -> list[Problem]:
    """For each SOP: the user holds a current qualification on the version in force in the register."""
    day = on or today()
    problems: list[Problem] = []
    held = qualifications.qualifications_of(session, user_id)
    for sop in sops:
        doc = changes.effective(session, "document", sop)
        if doc is None:
            problems.append(Problem("unknown_sop", {"sop": sop}))
            continue
        version, since = int(doc.data["version"]), str(doc.data["effective_date"])
        mine = [q for q in held if q.sop == sop]
        exact = [q for q in mine if q.version == version]
        if any(q.state(day) == qualifications.CURRENT for q in exact):
            continue
        base = {"name": _name(session, user_id), "sop": sop, "version": version, "since": since}
        if exact:
            last = exact[-1]
            state = last.state(day)
            if state == qualifications.EXPIRED:
                problems.append(Problem("expired", {**base, "until": last.valid_until}))
            elif state == qualifications.REVOKED:
                problems.append(Problem("revoked", {**base, "revoked": (last.revoked_at or "")[:10]}))
            else:
                problems.append(Problem("not_yet_valid", {**base, "granted": last.granted_on}))
            continue
        other = sorted((q for q in mine if q.state(day) == qualifications.CURRENT), key=lambda q: q.version)
        if other:
            problems.append(Problem("old_version", {**base, "held": other[-1].version}))
        else:
            problems.append(Problem("not_qualified", base))
    return problems


# ---------------------------------------------------------------- equipment
def _instruments_of(session: Session, equipment: changes.Revision) -> list[str]:
    listed = list(equipment.data.get("instruments") or [])
    for item in changes.effective_items(session, "instrument"):
        if item.data.get("equipment") == equipment.key and item.key not in listed:
            listed.append(item.key)
    return listed


def unit_problems(session: Session, code: str, instance_id: int | None = None) -> list[Problem]:
    """Problems of one piece of equipment: released for use and clean; instruments in calibration."""
    item = changes.effective(session, "equipment", code)
    if item is None:
        return [Problem("unknown_equipment", {"equipment": code})]
    problems: list[Problem] = []
    state = equipment_log.equipment_state(session, code)
    in_use_here = state.status == equipment_log.IN_USE and instance_id is not None and state.instance_id == instance_id
    if state.status is None:
        problems.append(Problem("no_logbook", {"equipment": code}))
    elif state.status == equipment_log.OUT_OF_SERVICE:
        problems.append(Problem("out_of_service", {"equipment": code, "since": (state.since or "")[:16]}))
    elif state.status == equipment_log.DIRTY:
        problems.append(Problem("not_clean", {"equipment": code, "since": (state.since or "")[:16]}))
    elif state.hold_lapsed():
        problems.append(Problem("clean_expired", {"equipment": code, "until": (state.clean_until or "")[:16]}))
    elif state.status == equipment_log.IN_USE and not in_use_here:
        problems.append(Problem("in_use", {"equipment": code, "instance": state.instance_id or "?"}))
    elif state.status == equipment_log.CLEAN:
        problems.append(Problem("not_released", {"equipment": code}))
    for instrument in _instruments_of(session, item):
        if changes.effective(session, "instrument", instrument) is None:
            problems.append(Problem("unknown_instrument", {"equipment": code, "instrument": instrument}))
            continue
        status = calibration.instrument_state(session, instrument)
        if status.status == calibration.OVERDUE:
            problems.append(Problem("instrument_overdue", {"equipment": code, "instrument": instrument,
                                                           "due": status.due_on}))
        elif status.status == calibration.OUT_OF_TOLERANCE:
            problems.append(Problem("instrument_out_of_tolerance", {"equipment": code, "instrument": instrument}))
        elif status.status == calibration.NOT_CALIBRATED:
            problems.append(Problem("instrument_not_calibrated", {"equipment": code, "instrument": instrument}))
    return problems


def _assigned(instance_data: Mapping[str, Any], klass: str) -> str | None:
    assigned = instance_data.get("equipment")
    if isinstance(assigned, Mapping) and isinstance(assigned.get(klass), str):
        return str(assigned[klass])
    return None


def equipment_problems(session: Session, names: Sequence[str], instance_data: Mapping[str, Any] | None = None,
                       instance_id: int | None = None) -> list[Problem]:
    """Every piece of equipment a task names, by id, or by class resolved through the batch:
    the equipment the batch assigned to the class (instance data `equipment: {class: id}`),
    else the recipe's equipment of that class (one of them must be ready)."""
    data = instance_data or {}
    problems: list[Problem] = []
    known = {item.key for item in changes.effective_items(session, "equipment")}
    for name in names:
        if name in known:
            problems.extend(unit_problems(session, name, instance_id))
            continue
        assigned = _assigned(data, name)
        if assigned is not None:
            problems.extend(unit_problems(session, assigned, instance_id))
            continue
        recipe = recipe_of(session, data)
        if recipe is None:
            problems.append(Problem("class_unresolved", {"equipment": name}))
            continue
        entry = next((e for e in recipe.data.get("equipment", []) if e.get("class") == name), None)
        if entry is None:
            problems.append(Problem("class_not_in_recipe", {"equipment": name, "recipe": recipe.key}))
            continue
        candidates = list(entry.get("equipment") or []) or sorted(
            item.key for item in changes.effective_items(session, "equipment") if item.data.get("class") == name)
        if not candidates:
            problems.append(Problem("class_unresolved", {"equipment": name}))
            continue
        found = [unit_problems(session, code, instance_id) for code in candidates]
        if all(found):
            problems.extend(found[0])
    return problems


# ---------------------------------------------------------------- supplier / lots
def lot_problems(session: Session, lot_codes: Sequence[str], on: date | None = None) -> list[Problem]:
    """Each lot: not expired, its supplier approved for its material, QC-released."""
    day = on or today()
    problems: list[Problem] = []
    for code in lot_codes:
        state = lots.find_lot(session, code)
        if state is None:
            problems.append(Problem("unknown_lot", {"lot": code}))
            continue
        base = {"lot": code, "material": state.material, "supplier": state.supplier}
        if state.expired(day):
            problems.append(Problem("lot_expired", {**base, "expiry": state.expiry}))
            continue
        approval, entry = lots.supplier_approval(session, state.supplier, state.material, day)
        if approval == "not_listed":
            problems.append(Problem("supplier_not_approved", base))
            continue
        if approval == "rejected":
            problems.append(Problem("supplier_rejected", base))
            continue
        if approval == "expired":
            problems.append(Problem("supplier_approval_expired", {**base, "until": (entry or {}).get("valid_until")}))
            continue
        if state.status != lots.RELEASED:
            problems.append(Problem("lot_quarantined" if state.status == lots.QUARANTINE else "lot_rejected",
                                    {**base, "status": state.status}))
    return problems


# ---------------------------------------------------------------- QP
def qp_problems(session: Session, user_id: str, roles: Iterable[str], signatures: Sequence[Any] = (),
                meanings: Sequence[str] = ("released", "rejected")) -> list[Problem]:
    """The user is a qualified person, and so is every signer of a release or rejection."""
    from signatures.accounts import roles_of

    if QP_ROLE not in set(roles):
        return [Problem("not_qp", {"name": _name(session, user_id)})]
    for signature in signatures:
        if getattr(signature, "meaning", None) in meanings and QP_ROLE not in roles_of(session, signature.signer_id):
            return [Problem("signer_not_qp", {"name": _name(session, signature.signer_id),
                                              "meaning": signature.meaning})]
    return []
