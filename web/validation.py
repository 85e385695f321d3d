"""Validation: build the validation pack (IQ, OQ, PQ, DQ, traceability) in the background
with visible progress, download its documents, sign as executor, and review and sign as a
second validation user (Part 11). The work is done by validation_pack/; this is the page.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from core.errors import NotFound
from web.uow import settings, unit_of_work

bp = Blueprint("validation", __name__, url_prefix="/validation")
DOWNLOADS = {"pack.json": "application/json", "pack-manifest.sha256": "text/plain"}


def _documents() -> list[str]:
    from validation_pack.documents import ORDER

    return ORDER


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    from validation_pack.jobs import list_packs

    packs = list_packs(settings())
    return render_template("validation/index.html", packs=packs,
                           reusable=[p for p in packs if p["has_oq"]])


@bp.post("/build")
def build():  # type: ignore[no-untyped-def]
    from validation_pack.jobs import start_build

    quick = request.form.get("scope", "quick") == "quick"
    pq = request.form.get("pq") == "1"
    from_pack = (request.form.get("from_pack") or "").strip() or None
    pack_id = start_build(settings(), g.user.user_id, quick=quick, pq=pq, from_pack=from_pack)
    with unit_of_work() as uow:
        uow.audit("validation_pack.build_started", "validation_pack", pack_id,
                  details={"quick": quick, "pq": pq, "from_pack": from_pack})
        uow.commit()
    return redirect(url_for("validation.pack", pack_id=pack_id))


def _pack_view(pack_id: str) -> dict[str, Any]:
    from validation_pack.jobs import pack_folder, status
    from validation_pack.pack import PACK, load_pack

    folder = pack_folder(settings(), pack_id)
    state = status(settings(), pack_id)
    view: dict[str, Any] = {"pack_id": pack_id, "status": state, "pack": None, "summary": None, "signatures": {}}
    if (folder / PACK).exists():
        import json

        pack = load_pack(folder)
        view["pack"] = pack
        view["signatures"] = {s["meaning"]: s for s in pack["signatures"].get("SUMMARY", [])}
        summary = folder / "json" / "SUMMARY.json"
        if summary.exists():
            view["summary"] = json.loads(summary.read_text(encoding="utf-8"))
    return view


@bp.get("/<pack_id>")
def pack(pack_id: str):  # type: ignore[no-untyped-def]
    view = _pack_view(pack_id)
    return render_template("validation/pack.html", documents=_documents(), **view)


@bp.get("/<pack_id>/progress")
def progress(pack_id: str):  # type: ignore[no-untyped-def]
    from validation_pack.jobs import status

    state = status(settings(), pack_id)
    return jsonify({k: state[k] for k in ("state", "stage", "done", "total")})


@bp.get("/<pack_id>/files/<name>")
def download(pack_id: str, name: str):  # type: ignore[no-untyped-def]
    from validation_pack.jobs import pack_folder

    folder = pack_folder(settings(), pack_id)
    allowed = {f"{doc}.pdf": "application/pdf" for doc in _documents()} | DOWNLOADS
    path = folder / name
    if name not in allowed or not path.is_file():
        raise NotFound(_("The pack %(pack)s has no file %(name)s.", pack=pack_id, name=name))
    return Response(path.read_bytes(), mimetype=allowed[name],
                    headers={"Content-Disposition": f'attachment; filename="{pack_id}-{name}"'})


@bp.post("/<pack_id>/sign")
def sign(pack_id: str):  # type: ignore[no-untyped-def]
    from core.errors import GmpError
    from signatures.credentials import Credentials
    from validation_pack.jobs import pack_folder, start_issue, status
    from validation_pack.pack import sign_pack
    from web.uow import database

    meaning = request.form.get("meaning") or ""
    user = g.user
    if status(settings(), pack_id)["state"] != "done":
        message, code = _("The pack is still being built or issued: sign it when it is ready."), 409
    else:
        credentials = Credentials(user.user_id, request.form.get("sig_password") or "",
                                  (request.form.get("sig_totp") or "").strip() or None)
        try:
            sign_pack(settings(), pack_folder(settings(), pack_id), meaning, credentials,
                      auth_session=user.session_id, db=database(), reissue=False)
        except GmpError as exc:
            message, code = str(exc), getattr(exc, "http_status", 422)
        else:
            start_issue(settings(), pack_id, user.user_id)
            flash(_("Signed. The documents are being issued with your signature."), "success")
            return redirect(url_for("validation.pack", pack_id=pack_id))
    view = _pack_view(pack_id)
    return render_template("validation/pack.html", documents=_documents(), message=message, **view), code
