"""QA: the process library under change control (P11-10k, A11-10).

Definitions with their versions; a new process from a template; import or upload of .bpmn
(with its JSON forms) from any modeler as a draft, problems and all (engine.drafts), with a
choice of process when a file holds several; the bpmn-js modeler with a GMP group for our
extension properties whose known choices come from `web.choices`, and the draft's problems
marked on their elements; saving makes a new draft with a reason and keeps the modeler open;
a JSON Schema / UI-schema editor with a live preview rendered by the server (forms/);
submitting a draft runs the full checks and notifies the users who can approve it; the
review page shows the draft beside the version it replaces with the differences coloured
and listed (web.review); a second QA user approves with a signature (the author's own
approval is refused by the engine).
"""
from __future__ import annotations

import base64
import json
import re
from typing import Any

from flask import Blueprint, Response, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from core import clock
from core.errors import ValidationError
from web.errors import wants_json
from web.uow import database, settings, unit_of_work

bp = Blueprint("library", __name__, url_prefix="/library")
MAX_FILES = 50
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.\- ]")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,99}$")


class UploadInvalid(ValidationError):
    """The uploaded files cannot form a process bundle."""


def _services():  # type: ignore[no-untyped-def]
    from engine.ports import default_services

    return default_services(settings(), g.user.session_id)


def _version(session: Any, key: str, number: int):  # type: ignore[no-untyped-def]
    from engine.definitions import find_version

    return find_version(session, key, number)


def _key_of(session: Any, version: Any) -> str:
    from engine.models import ProcessDefinition

    return str(session.get(ProcessDefinition, version.definition_id).key)


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    from engine.definitions import list_definitions
    from web.choices import business_roles, choice_context

    with unit_of_work() as uow:
        definitions = list_definitions(uow.session)
        names = {d["key"]: _process_label(uow.session, d) for d in definitions}
        roles = business_roles(choice_context(uow.session))
    return render_template("library/index.html", definitions=definitions, names=names, roles=roles)


def _process_label(session: Any, definition: dict[str, Any]) -> str:
    from web.labels import element_label

    versions = definition["versions"]
    if not versions:
        return str(definition["name"])
    latest = versions[-1]
    return element_label(session, latest["id"], definition["key"], str(definition["name"]))


@bp.get("/<key>")
def definition(key: str):  # type: ignore[no-untyped-def]
    from engine.definitions import get_definition, history, version_files

    with unit_of_work() as uow:
        item = get_definition(uow.session, key)
        versions = history(uow.session, key)
        files = {v["version"]: sorted(version_files(_version(uow.session, key, v["version"]))) for v in versions}
        label = _process_label(uow.session, {"key": key, "name": item.name, "versions": versions})
        return render_template("library/definition.html", definition=item, versions=versions, files=files,
                               label=label)


# ---------------------------------------------------------------- new process, import, upload
def _safe_name(name: str) -> str:
    """A file name the engine accepts (downloads are often named 'diagram (1).bpmn')."""
    stem = name.replace("\\", "/").rsplit("/", 1)[-1]
    return _UNSAFE_NAME.sub("_", stem).strip() or "diagram.bpmn"


def bundle_from_upload() -> dict[str, bytes]:
    """Uploaded files: .bpmn/.dmn at the top, .json forms under forms/ (the path the BPMN names).
    Files carried by the process chooser come back base64-encoded in `carried` fields."""
    files: dict[str, bytes] = {}
    for carried in request.form.getlist("carried"):
        name, _sep, content = carried.partition(":")
        try:
            files[name] = base64.b64decode(content, validate=True)
        except ValueError as exc:
            raise UploadInvalid(_("The upload was damaged on its way back; choose the files again.")) from exc
    if files:
        return files
    uploads = [f for f in request.files.getlist("files") if f and f.filename]
    if not uploads:
        raise UploadInvalid(_("Choose at least one .bpmn file."))
    if len(uploads) > MAX_FILES:
        raise UploadInvalid(_("At most %(count)s files per upload.", count=MAX_FILES))
    for upload in uploads:
        name = _safe_name(upload.filename)
        if name.endswith((".bpmn", ".dmn")):
            files[name] = upload.read()
        elif name.endswith(".json"):
            files[f"forms/{name}"] = upload.read()
        else:
            raise UploadInvalid(_("%(name)s is neither a .bpmn, .dmn nor a .json form.", name=name))
    return files


@bp.post("/upload")
def upload():  # type: ignore[no-untyped-def]
    """Import: any well-formed BPMN becomes a draft; the modeler opens with its problems marked."""
    from engine.drafts import ProcessChoiceNeeded, import_draft
    from engine.errors import DefinitionError

    files = bundle_from_upload()
    reason = request.form.get("reason") or ""
    process_id = request.form.get("process_id") or None
    try:
        with unit_of_work() as uow:
            version, problems = import_draft(uow, files, reason=reason, process_id=process_id, services=_services())
            key, number = _key_of(uow.session, version), version.version
            uow.commit()
    except ProcessChoiceNeeded as exc:
        carried = [f"{name}:{base64.b64encode(content).decode()}" for name, content in sorted(files.items())]
        return render_template("library/choose_process.html", choices=exc.choices, carried=carried,
                               reason=reason)
    except DefinitionError:
        raise
    if problems:
        flash(_("Imported as draft v%(n)s with %(count)s problem(s) to fix before approval; they are marked in the "
                "diagram.", n=number, count=len(problems)), "warning")
    else:
        flash(_("Imported as draft v%(n)s; it passes every check.", n=number), "info")
    return redirect(url_for("library.modeler", key=key, number=number))


NEW_PROCESS_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
                  xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
                  xmlns:di="http://www.omg.org/spec/DD/20100524/DI"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
                  id="defs_{key}" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:collaboration id="collaboration_{key}">
    <bpmn:participant id="pool_{key}" name="{name}" processRef="{key}"/>
  </bpmn:collaboration>
  <bpmn:process id="{key}" name="{name}" isExecutable="true">
    <bpmn:laneSet id="lanes_{key}">
      <bpmn:lane id="lane_{role}" name="{role}">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>first_step</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>end</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start" name="{start}">
      <bpmn:outgoing>flow_1</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:sequenceFlow id="flow_1" sourceRef="start" targetRef="first_step"/>
    <bpmn:userTask id="first_step" name="{step}">
      <bpmn:incoming>flow_1</bpmn:incoming>
      <bpmn:outgoing>flow_2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="flow_2" sourceRef="first_step" targetRef="end"/>
    <bpmn:endEvent id="end" name="{end}">
      <bpmn:incoming>flow_2</bpmn:incoming>
    </bpmn:endEvent>
  </bpmn:process>
  <bpmndi:BPMNDiagram id="diagram_{key}">
    <bpmndi:BPMNPlane id="plane_{key}" bpmnElement="collaboration_{key}">
      <bpmndi:BPMNShape id="pool_{key}_di" bpmnElement="pool_{key}" isHorizontal="true">
        <dc:Bounds x="120" y="60" width="600" height="180"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="lane_{role}_di" bpmnElement="lane_{role}" isHorizontal="true">
        <dc:Bounds x="150" y="60" width="570" height="180"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="start_di" bpmnElement="start"><dc:Bounds x="212" y="132" width="36" height="36"/></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="first_step_di" bpmnElement="first_step"><dc:Bounds x="330" y="110" width="100" height="80"/></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="end_di" bpmnElement="end"><dc:Bounds x="542" y="132" width="36" height="36"/></bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="flow_1_di" bpmnElement="flow_1"><di:waypoint x="248" y="150"/><di:waypoint x="330" y="150"/></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="flow_2_di" bpmnElement="flow_2"><di:waypoint x="430" y="150"/><di:waypoint x="542" y="150"/></bpmndi:BPMNEdge>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


def new_process_files(key: str, name: str, role: str) -> dict[str, bytes]:
    """A runnable start: one pool, one lane for `role`, start -> first step -> end, with layout."""
    from xml.sax.saxutils import escape

    def attr(text: str) -> str:
        return escape(text, {'"': "&quot;"})

    xml = NEW_PROCESS_TEMPLATE.format(key=key, name=attr(name), role=attr(role), start=attr(_("Start")),
                                      step=attr(_("First step")), end=attr(_("Done")))
    return {f"{key}.bpmn": xml.encode("utf-8")}


def key_from_name(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    if not slug or not slug[0].isalpha():
        slug = "process_" + slug
    return slug[:60].rstrip("_")


@bp.post("/new")
def new_process():  # type: ignore[no-untyped-def]
    from engine.definitions import get_definition
    from engine.drafts import import_draft
    from engine.errors import DefinitionNotFound

    name = (request.form.get("name") or "").strip()
    if not name:
        raise UploadInvalid(_("Give the new process a name."))
    if len(name) > 200:
        raise UploadInvalid(_("The name is longer than 200 characters."))
    key = (request.form.get("key") or "").strip() or key_from_name(name)
    if not _KEY.match(key):
        raise UploadInvalid(_("The process id may use letters, digits, '_', '-' and '.', starting with a letter "
                              "(at most 100 characters)."))
    role = (request.form.get("role") or "operator").strip()
    with unit_of_work() as uow:
        try:
            get_definition(uow.session, key)
        except DefinitionNotFound:
            pass
        else:
            raise UploadInvalid(_("A process with the id %(key)s exists already: open it from the library, or "
                                  "choose another id.", key=key))
        version, _problems = import_draft(uow, new_process_files(key, name, role),
                                          reason=(request.form.get("reason") or "").strip() or _("New process"),
                                          process_id=key, services=_services())
        number = version.version
        uow.commit()
    return redirect(url_for("library.modeler", key=key, number=number))


# ---------------------------------------------------------------- files
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


# ---------------------------------------------------------------- the modeler
def problems_for_page(session: Any, version: Any) -> list[dict[str, Any]]:
    """The version's problems, each with its element's name, worded for the reader."""
    from engine.drafts import version_problems
    from web.wording import problem_text

    elements = json.loads(version.elements_json)
    out = []
    for problem in version_problems(session, version, services=_services()):
        element = elements.get(problem.element_id or "", {})
        out.append({"element_id": problem.element_id, "name": element.get("name") or "",
                    "tag": element.get("tag") or "", "file": problem.file, "line": problem.line,
                    "message": problem_text(problem.message)})
    return out


@bp.get("/<key>/v<int:number>/modeler")
def modeler(key: str, number: int):  # type: ignore[no-untyped-def]
    from engine.definitions import version_files

    with unit_of_work() as uow:
        version = _version(uow.session, key, number)
        files = version_files(version)
        problems = problems_for_page(uow.session, version)
        status, version_id = version.status, version.id
    diagrams = sorted(n for n in files if n.endswith(".bpmn"))
    name = request.args.get("file") or (diagrams[0] if diagrams else "")
    return render_template("library/modeler.html", key=key, number=number, name=name, diagrams=diagrams,
                           problems=problems, status=status, version_id=version_id, gmp_fields=gmp_fields())


USER_TASK_ONLY = ("form", "signature.")  # properties a service task never carries (forms, signatures)
FIELD_ORDER = ("formJsonSchemaFilename", "formUiSchemaFilename", "signature.meaning", "signature.verifier", "gates")


def gmp_fields() -> list[dict[str, Any]]:
    """The task properties of the engine runtime, for the modeler's GMP group: name, one value
    or a list, the label in the reader's language, and whether service tasks carry it.

    A property a library adds to the runtime (bpmn.glue, a later library) appears in the
    modeler without a change here."""
    from engine.runtime import current_runtime
    from web.i18n import current_language

    zh = current_language() == "zh"
    out = []
    props = current_runtime().properties.all()
    props.sort(key=lambda p: (FIELD_ORDER.index(p.name) if p.name in FIELD_ORDER else len(FIELD_ORDER), p.name))
    for prop in props:
        label = (zh and prop.label_zh) or (_(prop.label_en) if prop.label_en else prop.name)
        out.append({"name": prop.name, "kind": "list" if prop.is_list else "single", "label": label,
                    "service": not prop.name.startswith(USER_TASK_ONLY)})
    return out


@bp.post("/<key>/v<int:number>/save")
def save(key: str, number: int):  # type: ignore[no-untyped-def]
    """A new draft from version `number` with one file replaced (modeler or form editor).

    The draft is stored whatever the checks find; the answer (JSON for the modeler) lists its
    problems, so the modeler stays open and marks them."""
    from engine.definitions import version_files
    from engine.drafts import import_draft

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
    with unit_of_work() as uow:
        version, _problems = import_draft(uow, files, reason=request.form.get("reason") or "", process_id=key,
                                          services=_services())
        new_number, version_id = version.version, version.id
        uow.commit()
    if not wants_json():
        return redirect(url_for("library.definition", key=key, _anchor=f"v{new_number}"))
    with unit_of_work() as uow:
        from engine.definitions import get_version

        problems = problems_for_page(uow.session, get_version(uow.session, version_id))
    return jsonify(ok=True, version=new_number, version_id=version_id, problems=problems,
                   modeler=url_for("library.modeler", key=key, number=new_number, file=name),
                   save=url_for("library.save", key=key, number=new_number),
                   submit=url_for("library.submit", version_id=version_id),
                   message=_("Saved as draft v%(n)s.", n=new_number) + " " + (
                       _("%(count)s problem(s) to fix before approval are marked in the diagram.",
                         count=len(problems)) if problems else _("It passes every check.")))


@bp.post("/versions/<int:version_id>/submit")
def submit(version_id: int):  # type: ignore[no-untyped-def]
    """Full checks; then the users who can approve are notified that the draft waits."""
    from engine.definitions import get_version
    from engine.definitions import submit as engine_submit
    from engine.errors import DefinitionCheckFailed

    try:
        with unit_of_work() as uow:
            version = engine_submit(uow, version_id, services=_services())
            key, number = _key_of(uow.session, version), version.version
            notified = notify_approvers(uow, version, key)
            uow.commit()
    except DefinitionCheckFailed as exc:
        with unit_of_work() as uow:
            version = get_version(uow.session, version_id)
            key, number = _key_of(uow.session, version), version.version
        message = _("v%(n)s cannot be submitted for approval: %(count)s problem(s) are marked in the diagram.",
                    n=number, count=len(exc.problems))
        if wants_json():
            return jsonify(ok=False, message=message), 422
        flash(message, "error")
        return redirect(url_for("library.modeler", key=key, number=number))
    message = _("v%(n)s is submitted for approval; %(count)s user(s) who can approve it were notified.",
                n=number, count=notified)
    if wants_json():
        return jsonify(ok=True, message=message, review=url_for("library.approve", version_id=version_id))
    flash(message, "info")
    return redirect(url_for("library.definition", key=key, _anchor=f"v{number}"))


def notify_approvers(uow: Any, version: Any, key: str) -> int:
    """One notification to each active QA user other than the author."""
    from flask_babel import force_locale

    from engine.definitions import APPROVER_ROLE
    from notifications.queue import notify
    from signatures.identities import list_users, roles_of
    from web.current_user import preferred_language

    sent = 0
    for person in list_users(uow.session):
        if person.status != "active" or person.user_id == version.created_by:
            continue
        if APPROVER_ROLE in {str(getattr(r, "name", r)) for r in roles_of(uow.session, person.user_id)}:
            with force_locale(preferred_language(uow.session, person.user_id) or settings().default_language):
                title = _("%(key)s v%(n)s: waiting for your approval", key=key, n=version.version)
            notify(uow, person.user_id, "approval_waiting", title, f"{version.created_by}: {version.change_reason}",
                   url_for("library.approve", version_id=version.id))
            sent += 1
    return sent


# ---------------------------------------------------------------- review and approval
@bp.route("/versions/<int:version_id>/approve", methods=["GET", "POST"])
def approve(version_id: int):  # type: ignore[no-untyped-def]
    from engine.definitions import approve as engine_approve
    from engine.definitions import get_version, status_now
    from engine.errors import EngineError
    from engine.ports import SignatureInput
    from web.review import review_for_approval
    from web.signing import manifestation_html
    from web.wording import refusal_text

    user = g.user
    message = manifest = None
    status = 200
    if request.method == "POST":
        credentials = {"password": request.form.get("sig_password") or "",
                       "totp": (request.form.get("sig_totp") or "").strip()}
        try:
            with unit_of_work() as uow:
                engine_approve(uow, version_id, SignatureInput("approved", user.user_id, credentials),
                               services=_services(), reason=(request.form.get("reason") or "").strip() or None,
                               effective_from=(request.form.get("effective_from") or "").strip() or None)
                uow.commit()
        except EngineError as exc:
            message, status = refusal_text(exc), exc.http_status
    with unit_of_work() as uow:
        version = get_version(uow.session, version_id)
        key = _key_of(uow.session, version)
        state, effective_from = status_now(uow.session, version)
        if version.status == "approved" or state in ("scheduled", "superseded"):
            from signatures.service import signatures_for

            manifest = manifestation_html(signatures_for(uow.session, "process_definition_version",
                                                         f"{key}:v{version.version}"))
        review = review_for_approval(uow.session, version)
        problems = problems_for_page(uow.session, version) if version.status in ("draft", "submitted") else []
        return render_template("library/approve.html", version=version, key=key, message=message,
                               manifest=manifest, review=review, problems=problems, state=state,
                               effective_from=effective_from, today=clock.now().date().isoformat()), status


@bp.get("/<key>/compare")
def compare(key: str):  # type: ignore[no-untyped-def]
    from web.review import review_versions

    old, new = request.args.get("old", type=int), request.args.get("new", type=int)
    if not old or not new:
        raise UploadInvalid(_("Choose two versions to compare."))
    with unit_of_work() as uow:
        review = review_versions(uow.session, _version(uow.session, key, old), _version(uow.session, key, new))
    return render_template("library/compare.html", key=key, review=review)


# ---------------------------------------------------------------- forms
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


# ---------------------------------------------------------------- starting
@bp.post("/<key>/start")
def start(key: str):  # type: ignore[no-untyped-def]
    from engine.instances import start as engine_start

    title = (request.form.get("title") or "").strip() or None
    business_key = (request.form.get("business_key") or "").strip() or None
    with unit_of_work() as uow:
        instance = engine_start(uow, key, title=title, settings=settings(), business_key=business_key)
        instance_id = instance.id
        uow.commit()
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
