"""Documents: the document register with the revisions in progress, and one page per
document (versions and their register state, content files with SHA-256, lifecycle
instances, controlled copies reconciled per version). Document control starts a revision,
uploads the content file of a version being drafted and requests a withdrawal here; every
change of the register itself goes through the document lifecycle process.
"""
from __future__ import annotations

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from web.uow import database, settings, unit_of_work

bp = Blueprint("documents", __name__, url_prefix="/documents")


def _runtime():  # type: ignore[no-untyped-def]
    from engine.runtime import current_runtime

    return current_runtime()


def _refusal(exc: Exception) -> str:
    from web.wording import refusal_text

    return refusal_text(exc)


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    from bpmn.document_lifecycle.register import register_rows

    with database().read_session() as session:
        rows = register_rows(session)
    return render_template("documents/index.html", rows=rows)


@bp.post("/start")
def start():  # type: ignore[no-untyped-def]
    from core.errors import GmpError
    from engine import instances

    code = (request.form.get("code") or "").strip()
    reason = (request.form.get("reason") or "").strip()
    if not code or not reason:
        flash(_("Give the document number and the reason for the revision."), "error")
        return redirect(url_for("documents.index"))
    try:
        with unit_of_work() as uow:
            started = instances.start(uow, "document_lifecycle", title=f"{code} revision"[:200],
                                      data={"document": {"code": code, "reason": reason}}, settings=settings(),
                                      runtime=_runtime())
            uow.commit()
    except GmpError as exc:
        flash(_refusal(exc), "error")
        return redirect(url_for("documents.index"))
    flash(_("Revision of %(code)s started (process instance %(id)s): upload its content file, then draft it.",
            code=code, id=started.id), "info")
    return redirect(url_for("documents.document", code=code))


@bp.get("/d/<path:code>")
def document(code: str):  # type: ignore[no-untyped-def]
    from bpmn.document_lifecycle.register import document_page

    with database().read_session() as session:
        page = document_page(session, code)
    if not page["revisions"] and not page["instances"]:
        abort(404)
    return render_template("documents/document.html", page=page)


@bp.post("/d/<path:code>/upload")
def upload(code: str):  # type: ignore[no-untyped-def]
    from bpmn.document_lifecycle.register import lifecycle_instances
    from core.errors import GmpError
    from masterdata import documents

    file = request.files.get("file")
    try:
        instance_id = int(request.form.get("instance_id") or 0)
    except ValueError:
        instance_id = 0
    try:
        with unit_of_work() as uow:
            target = next((i for i in lifecycle_instances(uow.session, code)
                           if i["id"] == instance_id and i["drafting"]), None)
            if target is None:
                flash(_("Content is uploaded only for a version being drafted."), "error")
                return redirect(url_for("documents.document", code=code))
            data = file.read(documents.MAX_CONTENT_BYTES + 1) if file is not None else b""
            stored = documents.store_content(uow, code, target["version"], file.filename if file else "", data,
                                             file.mimetype if file else "", instance_id=instance_id)
            uow.commit()
    except GmpError as exc:
        flash(_refusal(exc), "error")
        return redirect(url_for("documents.document", code=code))
    flash(_("%(name)s stored for %(code)s v%(version)s (SHA-256 %(sha)s).", name=stored.file_name, code=code,
            version=stored.version, sha=stored.sha256[:16] + "…"), "info")
    return redirect(url_for("documents.document", code=code))


@bp.get("/content/<int:content_id>")
def content(content_id: int):  # type: ignore[no-untyped-def]
    from masterdata import documents
    from masterdata.errors import RecordNotFound

    with database().read_session() as session:
        try:
            found, data = documents.content_bytes(session, int(content_id))
        except RecordNotFound:
            abort(404)
    return Response(data, mimetype=found.media_type or "application/octet-stream",
                    headers={"Content-Disposition": f'attachment; filename="{found.file_name}"',
                             "X-Content-SHA256": found.sha256})


@bp.get("/copy/<path:number>")
def copy_pdf(number: str):  # type: ignore[no-untyped-def]
    from masterdata import documents
    from masterdata.errors import RecordNotFound

    with database().read_session() as session:
        try:
            data = documents.copy_pdf(session, number)
        except RecordNotFound:
            abort(404)
    name = number.replace("/", "_")
    return Response(data, mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'})


@bp.post("/d/<path:code>/withdraw")
def withdraw(code: str):  # type: ignore[no-untyped-def]
    from bpmn.document_lifecycle.operators import WITHDRAWAL_MESSAGE
    from bpmn.document_lifecycle.register import lifecycle_instances
    from core.errors import GmpError
    from engine.inbound import receive_message

    reason = (request.form.get("reason") or "").strip()
    if not reason:
        flash(_("A withdrawal needs a reason."), "error")
        return redirect(url_for("documents.document", code=code))
    try:
        with unit_of_work() as uow:
            running = [i for i in lifecycle_instances(uow.session, code) if i["status"] == "running"
                       and not i["steps"] and i["version"]]
            if not running:
                flash(_("%(code)s has no version in force waiting for a withdrawal.", code=code), "error")
                return redirect(url_for("documents.document", code=code))
            receive_message(uow, WITHDRAWAL_MESSAGE, {"instance_id": running[0]["id"]}, {"reason": reason},
                            settings=settings(), runtime=_runtime())
            uow.commit()
    except GmpError as exc:
        flash(_refusal(exc), "error")
        return redirect(url_for("documents.document", code=code))
    flash(_("Withdrawal of %(code)s requested: QA approves it.", code=code), "info")
    return redirect(url_for("documents.document", code=code))


def may(endpoint: str) -> bool:
    from web.access import load_matrix

    rule = load_matrix().get(endpoint)
    user = g.get("user")
    return bool(user is not None and rule is not None and rule.allows(user.roles, user.kind))


@bp.app_context_processor
def helpers():  # type: ignore[no-untyped-def]
    return {"documents_may": may}
