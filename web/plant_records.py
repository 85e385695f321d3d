"""Operational master data records made in the browser: a lot received, its QC status
changed, an equipment logbook entry (issue 11; services in masterdata/lots.py and
masterdata/equipment_log.py).

Each record is signed in the one signature dialog with the meaning its service signs
(received lot: created; QC status: released / rejected / reviewed; logbook: performed, or
released for a release for use). Who may make which record is the record rules'
(masterdata/record_rules.yaml): the page is open to every business role and the service
refuses, worded for the reader, with nothing stored and the entries kept in the form.
The credential work of the ceremony happens before the unit of work opens.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from core.errors import GmpError
from web.uow import database, settings, unit_of_work

bp = Blueprint("plant_records", __name__, url_prefix="/plant")

LOT_FIELDS = ("lot", "material", "supplier", "supplier_lot", "quantity", "expiry", "note")
MANUAL_LOG_STATUSES = ("clean", "released", "dirty", "out_of_service")  # in use: set by the batch that uses it


def _refused(exc: GmpError) -> tuple[str, int]:
    from web.wording import refusal_text

    status = int(getattr(exc, "http_status", 422) or 422)
    return refusal_text(exc), status if 400 <= status < 500 else 422


def _credentials() -> Any:
    from web.signing import typed_credentials

    return typed_credentials("sig", g.user.user_id)


def _choices(session: Any, kind: str) -> list[tuple[str, str]]:
    from masterdata import changes

    return [(item.key, str(item.data.get("name") or item.key)) for item in changes.effective_items(session, kind)]


@bp.route("/lots/receive", methods=["GET", "POST"])
def receive_lot():  # type: ignore[no-untyped-def]
    """Goods receipt: the lot goes into quarantine, signed 'created' by the person receiving it."""
    from masterdata import lots

    entries = {name: (request.form.get(name) or "").strip() for name in LOT_FIELDS}
    message, status = None, 200
    if request.method == "POST":
        try:
            credentials = _credentials()
            with unit_of_work() as uow:
                unit = _material_unit(uow.session, entries["material"])
                received = lots.receive_lot(uow, lot=entries["lot"], material=entries["material"],
                                            supplier=entries["supplier"], quantity=entries["quantity"], unit=unit,
                                            expiry=entries["expiry"], supplier_lot=entries["supplier_lot"] or None,
                                            note=entries["note"] or None, credentials=credentials,
                                            settings=settings(), auth_session=g.user.session_id)
                uow.commit()
            flash(_("Lot %(lot)s received into quarantine.", lot=received.lot), "info")
            return redirect(url_for("plant_records.lot", lot=received.lot))
        except GmpError as exc:
            message, status = _refused(exc)
    with database().read_session() as session:
        materials, suppliers = _choices(session, "material"), _choices(session, "supplier")
    return render_template("plant/receive_lot.html", entries=entries, materials=materials, suppliers=suppliers,
                           message=message), status


def _material_unit(session: Any, material: str) -> str:
    from masterdata import changes

    found = changes.effective(session, "material", material) if material else None
    return str(found.data.get("unit") or "") if found is not None else ""


@bp.get("/lots/<path:lot>/status")
def lot(lot: str):  # type: ignore[no-untyped-def]
    """One lot: its receipt, QC status history and the status changes open to it."""
    from masterdata import lots

    with database().read_session() as session:
        state = lots.find_lot(session, lot)
        if state is None:
            abort(404)
        history = lots.status_history(session, lot)
        approval = lots.supplier_approval(session, state.supplier, state.material)[0]
    return render_template("plant/lot.html", state=state, history=history, approval=approval,
                           allowed=lots.ALLOWED[state.status], labels=lots.STATUS_LABELS, meanings=lots.MEANINGS,
                           expired=state.expired(lots.today()))


@bp.route("/lots/<path:lot>/status/<target>", methods=["GET", "POST"])
def lot_status(lot: str, target: str):  # type: ignore[no-untyped-def]
    """QC releases, rejects or returns a lot to quarantine, with a reason, signed."""
    from masterdata import lots

    if target not in lots.STATUSES:
        abort(404)
    reason = (request.form.get("reason") or "").strip()
    message, status = None, 200
    if request.method == "POST":
        try:
            credentials = _credentials()
            with unit_of_work() as uow:
                lots.change_lot_status(uow, lot, target, reason=reason, credentials=credentials, settings=settings(),
                                       auth_session=g.user.session_id)
                uow.commit()
            flash(_("Lot %(lot)s: QC status changed.", lot=lot), "info")
            return redirect(url_for("plant_records.lot", lot=lot))
        except GmpError as exc:
            message, status = _refused(exc)
    with database().read_session() as session:
        state = lots.find_lot(session, lot)
    if state is None:
        abort(404)
    return render_template("plant/lot_status.html", state=state, target=target, label=lots.STATUS_LABELS[target],
                           meaning=lots.MEANINGS[target], reason=reason, message=message), status


@bp.get("/equipment/<code>/logbook")
def equipment(code: str):  # type: ignore[no-untyped-def]
    """One piece of equipment: its logbook and the entries open to it now."""
    from masterdata import changes, equipment_log

    with database().read_session() as session:
        item = changes.effective(session, "equipment", code)
        if item is None:
            abort(404)
        state = equipment_log.equipment_state(session, code)
        entries = list(reversed(equipment_log.logbook(session, code)))
    allowed = [s for s in MANUAL_LOG_STATUSES if state.status in equipment_log.FROM[s]]
    return render_template("plant/equipment.html", item=item, state=state, entries=entries, allowed=allowed,
                           labels=equipment_log.STATUS_LABELS)


@bp.route("/equipment/<code>/logbook/<target>", methods=["GET", "POST"])
def log_entry(code: str, target: str):  # type: ignore[no-untyped-def]
    """A signed logbook entry (cleaned, released for use, dirty, out of service) with a note."""
    from masterdata import changes, equipment_log

    if target not in MANUAL_LOG_STATUSES:
        abort(404)
    note = (request.form.get("note") or "").strip()
    message, status = None, 200
    if request.method == "POST":
        try:
            credentials = _credentials()
            with unit_of_work() as uow:
                equipment_log.log_equipment(uow, code, target, note=note, credentials=credentials,
                                            settings=settings(), auth_session=g.user.session_id)
                uow.commit()
            flash(_("Logbook of %(code)s: entry recorded.", code=code), "info")
            return redirect(url_for("plant_records.equipment", code=code))
        except GmpError as exc:
            message, status = _refused(exc)
    with database().read_session() as session:
        item = changes.effective(session, "equipment", code)
    if item is None:
        abort(404)
    return render_template("plant/log_entry.html", item=item, target=target, label=equipment_log.STATUS_LABELS[target],
                           meaning="released" if target == "released" else "performed", note=note,
                           message=message), status
