"""Equipment tag registry under change control: revisions (pending, approved, superseded,
rejected) with their tags; import of a definition file (validation); approval by QA with a
signature, or rejection with a reason. Views over connectors.registry.
"""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from core.errors import ValidationError
from web.uow import settings, unit_of_work

bp = Blueprint("equipment", __name__, url_prefix="/equipment")


class ImportInvalid(ValidationError):
    """The uploaded tag definition file is missing."""


@bp.get("/tags")
def revisions():  # type: ignore[no-untyped-def]
    from connectors.models import TagRegistryRevision
    from connectors.registry import revision_tags

    number = request.args.get("revision", type=int)
    with unit_of_work() as uow:
        rows = list(uow.session.execute(select(TagRegistryRevision).order_by(TagRegistryRevision.number.desc()))
                    .scalars())
        shown = number or next((r.number for r in rows if r.status == "approved"), rows[0].number if rows else None)
        tags = revision_tags(uow.session, shown) if shown else []
        return render_template("equipment/tags.html", rows=rows, shown=shown, tags=tags)


@bp.post("/tags/import")
def import_tags():  # type: ignore[no-untyped-def]
    from connectors.registry import import_revision

    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ImportInvalid(_("Choose a tag definition file."))
    with unit_of_work() as uow:
        revision = import_revision(uow, upload.read(), upload.filename, reason=request.form.get("reason") or "")
        number = revision.number
        uow.commit()
    flash(_("Revision %(n)s imported; a QA user approves it before it takes effect.", n=number), "info")
    return redirect(url_for("equipment.revisions", revision=number))


@bp.post("/tags/<int:number>/<decision>")
def decide(number: int, decision: str):  # type: ignore[no-untyped-def]
    from connectors.registry import approve_revision, reject_revision
    from core.errors import NotFound
    from signatures.credentials import Credentials

    reason = request.form.get("reason") or ""
    with unit_of_work() as uow:
        if decision == "approve":
            credentials = Credentials(g.user.user_id, request.form.get("sig_password") or "",
                                      (request.form.get("sig_totp") or "").strip() or None)
            approve_revision(uow, number, credentials=credentials, settings=settings(), reason=reason)
        elif decision == "reject":
            reject_revision(uow, number, reason=reason)
        else:
            raise NotFound(_("Unknown action %(action)s.", action=decision))
        uow.commit()
    return redirect(url_for("equipment.revisions", revision=number))
