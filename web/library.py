"""QA: the process library under change control (P11-10k, A11-10).

Definitions with their versions; upload and download of .bpmn (with its JSON forms); the
bpmn-js modeler with a panel for our extension properties (forms, signatures, gates,
SOPs, equipment); a JSON Schema / UI-schema editor with a live preview rendered by the
server (forms/); saving makes a new draft with a reason; a second QA user approves a draft
with a signature (the author's own approval is refused by the engine); compare versions.
"""
from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from core.errors import ValidationError
from web.uow import database, settings, unit_of_work

bp = Blueprint("library", __name__, url_prefix="/library")
MAX_FILES = 50


class UploadInvalid(ValidationError):
    """The uploaded files cannot form a process bundle."""


def _services():  # type: ignore[no-untyped-def]
    from engine.ports import default_services

    return default_services(settings(), g.user.session_id)


def _version(session: Any, key: str, number: int):  # type: ignore[no-untyped-def]
    from engine.definitions import find_version

    return find_version(session, key, number)


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    from engine.definitions import list_definitions

    with unit_of_work() as uow:
        definitions = list_definitions(uow.session)
    return render_template("library/index.html", definitions=definitions)


@bp.get("/<key>")
def definition(key: str):  # type: ignore[no-untyped-def]
    from engine.definitions import get_definition, history, version_files

    with unit_of_work() as uow:
        item = get_definition(uow.session, key)
        versions = history(uow.session, key)
        files = {v["version"]: sorted(version_files(_version(uow.session, key, v["version"]))) for v in versions}
        return render_template("library/definition.html", definition=item, versions=versions, files=files)


def bundle_from_upload() -> dict[str, bytes]:
    """Uploaded files: .bpmn at the top, .json forms under forms/ (the path the BPMN names)."""
    files: dict[str, bytes] = {}
    uploads = [f for f in request.files.getlist("files") if f and f.filename]
    if not uploads:
        raise UploadInvalid(_("Choose at least one .bpmn file."))
    if len(uploads) > MAX_FILES:
        raise UploadInvalid(_("At most %(count)s files per upload.", count=MAX_FILES))
    for upload in uploads:
        name = upload.filename.replace("\\", "/").rsplit("/", 1)[-1]
        if name.endswith((".bpmn", ".dmn")):
            files[name] = upload.read()
        elif name.endswith(".json"):
            files[f"forms/{name}"] = upload.read()
        else:
            raise UploadInvalid(_("%(name)s is neither a .bpmn, .dmn nor a .json form.", name=name))
    return files


@bp.post("/upload")
def upload():  # type: ignore[no-untyped-def]
    from engine.definitions import upload as store

    files = bundle_from_upload()
    return _store(files, request.form.get("reason") or "", store)


def _store(files: dict[str, bytes], reason: str, store: Any, process_id: str | None = None):  # type: ignore[no-untyped-def]
    with unit_of_work() as uow:
        version = store(uow, files, reason=reason, process_id=process_id, services=_services())
        number = version.version
        key = _key_of(uow.session, version)
        uow.commit()
    return redirect(url_for("library.definition", key=key, _anchor=f"v{number}"))


def _key_of(session: Any, version: Any) -> str:
    from engine.models import ProcessDefinition

    return str(session.get(ProcessDefinition, version.definition_id).key)


@bp.get("/<key>/v<int:number>/files/<path:name>")
def download(key: str, number: int, name: str):  # type: ignore[no-untyped-def]
    from core.errors import NotFound
    from engine.definitions import version_files

    with unit_of_work() as uow:
        files = version_files(_version(uow.session, key, number))
    if name not in files:
        raise NotFound(_("Version %(number)s of %(key)s has no file %(name)s.", number=number, key=key, name=name))
    mimetype = "application/json" if name.endswith(".json") else "application/xml"
    return Response(files[name], mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{name.rsplit("/", 1)[-1]}"'})


@bp.route("/versions/<int:version_id>/approve", methods=["GET", "POST"])
def approve(version_id: int):  # type: ignore[no-untyped-def]
    from engine.definitions import approve as engine_approve
    from engine.definitions import get_version
    from engine.errors import EngineError
    from engine.ports import SignatureInput
    from web.signing import manifestation_html

    user = g.user
    message = manifest = None
    status = 200
    if request.method == "POST":
        credentials = {"password": request.form.get("sig_password") or "",
                       "totp": (request.form.get("sig_totp") or "").strip()}
        try:
            with unit_of_work() as uow:
                engine_approve(uow, version_id, SignatureInput("approved", user.user_id, credentials),
                               services=_services(), reason=(request.form.get("reason") or "").strip() or None)
                uow.commit()
        except EngineError as exc:
            message, status = str(exc), exc.http_status
    with unit_of_work() as uow:
        version = get_version(uow.session, version_id)
        key = _key_of(uow.session, version)
        if version.status == "approved":
            from signatures.service import signatures_for

            manifest = manifestation_html(signatures_for(uow.session, "process_definition_version",
                                                         f"{key}:v{version.version}"))
        return render_template("library/approve.html", version=version, key=key, message=message,
                               manifest=manifest), status


@bp.get("/<key>/compare")
def compare(key: str):  # type: ignore[no-untyped-def]
    from engine.definitions import compare_versions

    old, new = request.args.get("old", type=int), request.args.get("new", type=int)
    if not old or not new:
        raise UploadInvalid(_("Choose two versions to compare."))
    with unit_of_work() as uow:
        diff = compare_versions(uow.session, key, old, new)
    return render_template("library/compare.html", key=key, diff=diff.as_dict())


@bp.get("/<key>/v<int:number>/modeler")
def modeler(key: str, number: int):  # type: ignore[no-untyped-def]
    from engine.definitions import version_files

    with unit_of_work() as uow:
        files = version_files(_version(uow.session, key, number))
    diagrams = sorted(n for n in files if n.endswith(".bpmn"))
    name = request.args.get("file") or (diagrams[0] if diagrams else "")
    return render_template("library/modeler.html", key=key, number=number, name=name, diagrams=diagrams)


@bp.post("/<key>/v<int:number>/save")
def save(key: str, number: int):  # type: ignore[no-untyped-def]
    """A new draft from version `number` with one file replaced (modeler or form editor)."""
    from engine.definitions import upload as store
    from engine.definitions import version_files

    name = request.form.get("name") or ""
    content = request.form.get("content") or ""
    with unit_of_work() as uow:
        files = version_files(_version(uow.session, key, number))
    if name not in files and not name.startswith("forms/"):
        raise UploadInvalid(_("%(name)s is not a file of this process.", name=name))
    if name.endswith(".json"):
        try:
            json.loads(content)
        except ValueError as exc:
            raise UploadInvalid(_("%(name)s is not valid JSON: %(error)s", name=name, error=str(exc))) from exc
    files[name] = content.encode("utf-8")
    ui_name, ui_content = request.form.get("ui_name") or "", request.form.get("ui_content")
    if ui_name and ui_content is not None:
        if not (ui_name.startswith("forms/") and ui_name.endswith(".ui.json")):
            raise UploadInvalid(_("%(name)s is not a file of this process.", name=ui_name))
        try:
            json.loads(ui_content)
        except ValueError as exc:
            raise UploadInvalid(_("%(name)s is not valid JSON: %(error)s", name=ui_name, error=str(exc))) from exc
        files[ui_name] = ui_content.encode("utf-8")
    return _store(files, request.form.get("reason") or "", store, process_id=key)


@bp.get("/<key>/v<int:number>/form/<path:name>")
def form_editor(key: str, number: int, name: str):  # type: ignore[no-untyped-def]
    from core.errors import NotFound
    from engine.definitions import version_files

    with unit_of_work() as uow:
        files = version_files(_version(uow.session, key, number))
    if name not in files:
        raise NotFound(_("Version %(number)s of %(key)s has no file %(name)s.", number=number, key=key, name=name))
    ui_name = name[:-5] + ".ui.json" if not name.endswith(".ui.json") else None
    return render_template("library/form_editor.html", key=key, number=number, name=name,
                           schema=files[name].decode("utf-8"), ui_name=ui_name,
                           ui_schema=files.get(ui_name, b"{}").decode("utf-8") if ui_name else "{}")


@bp.post("/preview")
def preview():  # type: ignore[no-untyped-def]
    """Server-rendered preview of a form being edited (JSON in, HTML out)."""
    from flask_babel import gettext

    from forms import FormDefinitionError, load_definition, render_form
    from web.i18n import current_language

    body = request.get_json(silent=True) or {}
    try:
        schema = json.loads(body.get("schema") or "{}")
        ui_schema = json.loads(body.get("ui_schema") or "{}")
    except ValueError as exc:
        return jsonify(ok=False, error=_("Not valid JSON: %(error)s", error=str(exc)))
    from flask_babel import force_locale

    from web.i18n import LANGUAGES

    language = str(body.get("language") or current_language())
    language = language if language in LANGUAGES else current_language()
    try:
        with force_locale(language):  # the interface words of the preview in the language previewed
            html = render_form(schema, ui_schema, gettext=gettext, id_prefix="preview-", language=language)
        warnings = list(load_definition(schema, ui_schema).warnings)
    except FormDefinitionError as exc:
        return jsonify(ok=False, error=str(exc))
    return jsonify(ok=True, html=str(html), warnings=warnings)


@bp.post("/<key>/start")
def start(key: str):  # type: ignore[no-untyped-def]
    from engine.instances import start as engine_start

    title = (request.form.get("title") or "").strip() or None
    business_key = (request.form.get("business_key") or "").strip() or None
    with unit_of_work() as uow:
        instance = engine_start(uow, key, title=title, settings=settings(), business_key=business_key)
        instance_id = instance.id
        uow.commit()
    from flask import flash

    if business_key:
        flash(_("Instance %(id)s started with business key %(key)s.", id=instance_id, key=business_key), "info")
    else:
        flash(_("Instance %(id)s started.", id=instance_id), "info")
    return redirect(url_for("library.definition", key=key))


@bp.get("/<key>/v<int:number>/blank.pdf")
def blank(key: str, number: int):  # type: ignore[no-untyped-def]
    """A blank record of every step of a version, printed in advance for work on paper while the
    system is down (web/blank_record.py); the instance number and business key are left blank."""
    from core import clock
    from engine.definitions import get_definition
    from web.blank_record import blank_pdf, steps_of_version

    with database().read_session() as session:
        item = get_definition(session, key)
        version = _version(session, key, number)
        steps = steps_of_version(session, version)
        name, status = item.name, version.status
    user = g.user
    header = {"Process / 流程": f"{name} ({key}) v{number} [{status}]", "Instance No. / 实例编号": "",
              "Business key (batch, document, ...) / 业务键（批号、文件号等）": "", "Title / 标题": "",
              "Printed / 打印": f"{clock.isoformat(clock.now())} by / 由 {user.printed_name} ({user.user_id})"}
    pdf = blank_pdf(f"Blank record 空白记录: {name} v{number}", steps, header, f"{key} v{number} blank record")
    return Response(pdf, mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="blank-{key}-v{number}.pdf"'})
