"""Starting a supplier evaluation on its own page (the `supplier_evaluation` diagram names it in
`start.page`, so the home page links here and a title-only start is refused).

The requester picks the supplier and the material from the master data in force (names with codes),
says what triggers the evaluation and why; the evaluation starts with the start data
`{"evaluation": {"supplier", "material", "trigger", "reason"}}` (the request form shows supplier and
material, read-only) and the process's own business key (SE-0001). A refused start stores nothing
and shows the reason on the form, entries kept."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from forms.errors import N_
from web.uow import database, settings, unit_of_work

bp = Blueprint("suppliers", __name__, url_prefix="/suppliers")
FIELDS = ("supplier", "material", "trigger", "reason")
TRIGGER_LABELS = {
    "new_supplier": N_("New supplier"),
    "new_material": N_("New material or service from an approved supplier"),
    "change_at_supplier": N_("Change at the supplier (site, process, ownership)"),
    "quality_issue": N_("Quality issue (complaints, OOS results, rejected lots)"),
    "other": N_("Other (say which in the reason)"),
}
REFUSALS = {
    "supplier_required": N_("Choose the supplier."),
    "material_required": N_("Choose the material."),
    "unknown_supplier": N_("Supplier %(supplier)s is not in the master data in force: choose one from the list."),
    "unknown_material": N_("Material %(material)s is not in the master data in force: choose one from the list."),
    "unknown_trigger": N_("Choose what triggers this evaluation."),
    "reason_required": N_("Give the reason for this evaluation."),
}


def _choices(session: Any, kind: str) -> list[tuple[str, str]]:
    from masterdata import changes

    return [(item.key, str(item.data.get("name") or item.key)) for item in changes.effective_items(session, kind)]


def _page(form: dict[str, str], message: str | None = None, status: int = 200):  # type: ignore[no-untyped-def]
    with database().read_session() as session:
        suppliers, materials = _choices(session, "supplier"), _choices(session, "material")
    triggers = [(code, _(label)) for code, label in TRIGGER_LABELS.items()]
    return render_template("suppliers/evaluate.html", suppliers=suppliers, materials=materials, triggers=triggers,
                           form=form, message=message), status


def _may_start(session: Any) -> None:
    from bpmn.supplier_evaluation.service import PROCESS_ID
    from engine.definitions import approved_version
    from web.pages import NotAStarter, startable

    approved_version(session, PROCESS_ID)  # not deployed or not approved: 404 / 409 with the engine's words
    if PROCESS_ID not in {p["key"] for p in startable(session, g.user.roles)}:
        raise NotAStarter(_("Your roles do not start this process. Its starter roles are named in the process "
                            "(ask QA), or a QA user starts it from the library."))


@bp.get("/evaluate")
def evaluate():  # type: ignore[no-untyped-def]
    with database().read_session() as session:
        _may_start(session)
    return _page({"supplier": request.args.get("supplier", "")[:64], "material": request.args.get("material", "")[:64]})


@bp.post("/evaluate")
def evaluate_start():  # type: ignore[no-untyped-def]
    from bpmn.supplier_evaluation.service import SupplierError, start_evaluation
    from engine.business_keys import key_of

    form = {k: (request.form.get(k) or "").strip()[:2000] for k in FIELDS}
    try:
        with unit_of_work() as uow:
            _may_start(uow.session)
            instance = start_evaluation(uow, form["supplier"][:64], form["material"][:64], form["trigger"],
                                        form["reason"], settings=settings())
            instance_id = instance.id
            key = key_of(uow.session, instance_id)
            uow.commit()
    except SupplierError as exc:
        return _page(form, _(REFUSALS[exc.code], **{k: str(v)[:64] for k, v in exc.params.items()}), 422)
    flash(_("Evaluation %(key)s started (#%(id)s): the request is next.", key=key or instance_id, id=instance_id),
          "info")
    return redirect(url_for("tasks.inbox"))
