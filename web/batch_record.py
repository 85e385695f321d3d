"""Batch pages: the list of batches with their status, ordering a batch from an effective master
recipe (planner), and one batch's page: its order, bill of materials with the protective
equipment, steps with their signatures, set-points with read-back, samplings, exceptions, linked
deviations and the entries changed after first entry. The data comes from bpmn.batch_record.page;
the full executed record is the record page (web.records)."""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from forms.errors import N_
from web.uow import database, settings, unit_of_work

bp = Blueprint("batches", __name__, url_prefix="/batches")
ORDER_ROLES = ("planner",)


def _recipes(session):  # type: ignore[no-untyped-def]
    from masterdata import changes

    return [{"code": r.key, "product": r.data.get("product"), "product_zh": r.data.get("product_zh"),
             "revision": r.revision, "size": r.data.get("batch_size")}
            for r in changes.effective_items(session, "recipe")]


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    from bpmn.batch_record.page import batches

    with database().read_session() as session:
        rows = batches(session)
        recipes = _recipes(session)
    can_order = bool(set(g.user.roles) & set(ORDER_ROLES))
    return render_template("batch_record/index.html", batches=rows, recipes=recipes, can_order=can_order,
                           form={})


@bp.post("/order")
def order():  # type: ignore[no-untyped-def]
    from bpmn.batch_record.page import batches
    from bpmn.batch_record.plan import OrderRefused
    from bpmn.batch_record.plan import order as order_batch
    from core.errors import GmpError
    from masterdata.errors import ChangeError

    if not set(g.user.roles) & set(ORDER_ROLES):
        abort(403)
    form = {k: (request.form.get(k) or "").strip()[:60] for k in ("recipe", "batch_number", "planned_date", "quantity")}
    message = None
    try:
        quantity = float(form["quantity"]) if form["quantity"] else None
    except ValueError:
        quantity, message = None, _("Enter the batch size as a number of kilograms.")
    if message is None:
        if not form["planned_date"]:
            message = _("Enter the planned start date.")
        else:
            try:
                with unit_of_work() as uow:
                    started = order_batch(uow, form["recipe"], form["batch_number"], planned_date=form["planned_date"],
                                          quantity=quantity, settings=settings())
                    number = started.id
                    uow.commit()
            except (OrderRefused, ChangeError, GmpError) as exc:
                from web.wording import refusal_text

                message = refusal_text(exc) if isinstance(exc, GmpError) else str(exc)
    if message is not None:
        with database().read_session() as session:
            rows, recipes = batches(session), _recipes(session)
        return render_template("batch_record/index.html", batches=rows, recipes=recipes, can_order=True,
                               form=form, message=message), 422
    flash(_("Batch %(number)s ordered: sign the order in your tasks.", number=form["batch_number"].upper()), "info")
    with database().read_session() as session:
        from engine.business_keys import key_of

        key = key_of(session, number)
    return redirect(url_for("batches.batch", number=key))


@bp.get("/<number>")
def batch(number: str):  # type: ignore[no-untyped-def]
    from bpmn.batch_record.page import batch_view, instance_for

    with database().read_session() as session:
        instance_id = instance_for(session, number[:60])
        if instance_id is None:
            abort(404)
        view = batch_view(session, instance_id)
        labels = _labels(session, view)
    return render_template("batch_record/batch.html", batch=view, labels=labels)


# words of the batch page that come from the process (states, phases, kinds, decisions), translated here
STATE_WORDS = {"ready": N_("ready"), "started": N_("started"), "completed": N_("completed"), "error": N_("error"),
               "cancelled": N_("cancelled"), "requested": N_("requested"), "confirmed": N_("confirmed"),
               "failed": N_("failed"), "running": N_("running")}
PHASE_WORDS = {"granulation": N_("Granulation"), "drying": N_("Drying")}
KIND_WORDS = {"value_out_of_limits": N_("value outside its limits"), "dispensing_tolerance": N_("dispensing tolerance"),
              "cpp_excursion": N_("critical parameter excursion"), "ipc_oos": N_("in-process control out of specification"),
              "yield": N_("yield outside its range"), "setpoint_readback": N_("set-point read-back"),
              "sample_out_of_limits": N_("sample outside its limits"), "deviation": N_("deviation")}
DECISION_WORDS = {"release": N_("release"), "reject": N_("reject"), "accepted": N_("accepted"),
                  "rejected": N_("not acceptable")}
RELATION_WORDS = {"raised": N_("raised from this batch"), "affected_by": N_("affects this batch")}


def _labels(session, view):  # type: ignore[no-untyped-def]
    """What the page shows in the reader's language: step names (the diagram's translations), roles,
    signature meanings, states, phases, exception kinds, decisions."""
    from engine.models import ProcessInstance
    from web.labels import current_language, element_label, role_labels
    from web.signing import meaning_labels

    zh = current_language() == "zh"
    instance = session.get(ProcessInstance, view["instance_id"])
    version = instance.version_id if instance is not None else None
    words = {**STATE_WORDS, **PHASE_WORDS, **KIND_WORDS, **DECISION_WORDS, **RELATION_WORDS}
    meanings = {}
    for step in view["steps"]:
        for sig in step["signatures"]:
            en, cn = meaning_labels(sig["meaning"])
            meanings[sig["meaning"]] = cn if zh and cn else en
    return {"steps": {s["bpmn_id"]: element_label(session, version, s["bpmn_id"], s["name"] or s["bpmn_id"])
                      for s in view["steps"]},
            "roles": role_labels(session), "meanings": meanings,
            "words": {key: _(text) for key, text in words.items()}}


STATUS_WORDS = (N_("Planned"), N_("In progress"), N_("On hold"), N_("Completed"), N_("QA approved"), N_("Released"),
                N_("Rejected"))
