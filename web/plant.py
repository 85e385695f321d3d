"""The plant's status as the gates see it now (read-only): lots with their QC status and
expiry, equipment with its logbook status and instruments with their calibration status,
and people's qualifications. Every state is computed on the product clock when the page is
read (masterdata/), so what the page shows is what a gate would decide.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request

from web.uow import database

bp = Blueprint("plant", __name__, url_prefix="/plant")


def plant_status(session: Any, user: str | None = None) -> dict[str, Any]:
    from masterdata import calibration, changes, equipment_log, lots, qualifications

    today = lots.today()
    lot_rows = [{"lot": s.lot, "material": s.material, "supplier": s.supplier, "quantity": s.quantity,
                 "unit": s.unit, "expiry": s.expiry, "expired": s.expired(today), "status": s.status,
                 "status_label": lots.STATUS_LABELS[s.status], "approval": lots.supplier_approval(
                     session, s.supplier, s.material, today)[0]} for s in lots.lots(session)]
    equipment = []
    for item in changes.effective_items(session, "equipment"):
        state = equipment_log.equipment_state(session, item.key)
        instruments = []
        for code in item.data.get("instruments") or []:
            found = calibration.instrument_state(session, code)
            instruments.append({"code": code, "status": found.status, "label": calibration.STATUS_LABELS[found.status],
                                "due_on": found.due_on})
        equipment.append({"code": item.key, "name": item.data["name"], "class": item.data["class"],
                          "location": item.data["location"], "status": state.status,
                          "label": equipment_log.STATUS_LABELS.get(state.status or "", ("-", "-")),
                          "since": state.since, "released": state.released_for_use, "lapsed": state.hold_lapsed(),
                          "clean_until": state.clean_until, "instruments": instruments})
    people = [{"user": q.user_id, "sop": q.sop, "version": q.version, "granted_on": q.granted_on,
               "valid_until": q.valid_until, "state": q.state(today),
               "label": qualifications.STATE_LABELS[q.state(today)]}
              for q in qualifications.qualifications_of(session, user or None)]
    return {"today": today.isoformat(), "lots": lot_rows, "equipment": equipment, "qualifications": people}


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    user = (request.args.get("user") or "").strip()[:64]
    with database().read_session() as session:
        status = plant_status(session, user)
    return render_template("plant/index.html", status=status, user=user)
