"""Operators: the inbox of tasks they may claim, the task form, sign and complete.

The form is rendered and checked by forms/ (units, limits with exception comments,
equipment captures, critical entries, calculated values); completion goes through
`engine.tasks.complete_task`, whose form check is bound here to
`forms.validate_submission` with everything the page collected, so the engine stores the
validated data and, under the key `_form`, its provenance (source of each value,
exceptions, overrides, who entered and who verified). The signature dialog asks the
completer's components and, when the task names a verifier, the second person's.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Mapping

from flask import Blueprint, Response, current_app, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from web.signing import typed_credentials
from web.uow import database, settings, unit_of_work
from web.wording import refusal_text

bp = Blueprint("tasks", __name__, url_prefix="/tasks")
PROVENANCE_KEY = "_form"


@dataclass(frozen=True)
class TaskForm:
    task_id: str
    instance_id: int
    instance_title: str
    bpmn_id: str
    name: str
    lane: str | None
    claimed_by: str | None
    schema: dict[str, Any] | None
    ui_schema: dict[str, Any] | None
    meanings: tuple[str, ...]
    verifier_meaning: str | None
    rules: Any = None
    properties: Mapping[str, str] | None = None
    version_id: int | None = None
    setpoint: Mapping[str, Any] | None = None  # the set-point write the signature authorises, if declared
    form_problem: str | None = None  # why the form cannot be shown for this instance (its rows' data missing)


def load_task_form(session: Any, task_id: str) -> TaskForm:
    """The task with its form (schema, UI schema) and the signatures it asks for."""
    from engine.tasks import task_definition

    definition = task_definition(session, task_id)
    row, rules = definition.row, definition.rules
    files = definition.forms()
    schema = files.get(rules.form_schema) if rules.form_schema else None
    ui_schema = files.get(rules.form_ui_schema) if rules.form_ui_schema else None
    problem = None
    if schema is not None and row.body:
        from engine.spiff.serializer import row_data
        from forms import RowsSourceError, bind_rows

        try:  # rows a repeating group takes from the instance data (x-gmp-rows-from) come preset
            schema, ui_schema = bind_rows(schema, ui_schema, row_data(row.body))
        except RowsSourceError as exc:
            problem = str(exc)
    return TaskForm(row.id, row.instance_id, definition.instance.title or "", row.bpmn_id or row.spec_name,
                    row.bpmn_name or row.bpmn_id or row.spec_name, row.lane, row.claimed_by, schema, ui_schema,
                    tuple(rules.signature_meanings), rules.verifier_meaning, rules, definition.properties,
                    definition.instance.version_id, _declared_setpoint(session, definition.properties, schema),
                    problem)


def _declared_setpoint(session: Any, properties: Mapping[str, str], schema: Any) -> dict[str, Any] | None:
    """What the signer is told before signing: the tag, the field, the tag's allowed range."""
    from connectors.signed_setpoint import declared_tag

    info = declared_tag(session, properties)
    if info is None:
        return None

    def label(path: str | None) -> str:
        node: Any = schema or {}
        for part in (path or "").split("."):
            node = ((node or {}).get("properties") or {}).get(part) if isinstance(node, dict) else None
        from web.i18n import current_language

        if not isinstance(node, dict):
            return path or ""
        zh = ((node.get("x-gmp-i18n") or {}).get("zh") or {}).get("title")
        return (zh if current_language() == "zh" and zh else node.get("title")) or path or ""

    return {**info, "value_label": label(info["value_field"]), "tag_label": label(info["tag_field"])}


def _signed_setpoint(session: Any, task_id: str) -> dict[str, Any] | None:
    """The set-point this task's signature authorised and where it stands (None: none)."""
    import json

    from connectors.signed_setpoint import task_setpoint
    from engine.models import InstanceTask

    row = session.get(InstanceTask, task_id)
    if row is None or not row.body:
        return None
    return task_setpoint(session, row.instance_id, row.id, json.loads(row.body).get("internal_data") or {})


def gate_refusal(uow: Any, form: TaskForm, user: Any, stage: str = "open") -> Any:
    """Why the task's gates would refuse this user now (training, equipment, supplier, ...), or None.
    Gates do not change anything; data- and signature-dependent checks run again at completion."""
    from engine.tasks import gate_refusal as engine_gate_refusal

    return engine_gate_refusal(uow, form.task_id, user.user_id, stage=stage, services=engine_services())


def equipment_fields(form: TaskForm) -> dict[str, str]:
    """Field name -> registered tag, for the form's top-level equipment-captured fields
    (a repeating group's rows capture one by one: `capture_field`)."""
    from forms import load_definition

    if form.schema is None:
        return {}
    definition = load_definition(form.schema, form.ui_schema)
    return {spec.name: spec.equipment_tag for spec in definition.fields if spec.equipment_tag}


def _captured_value(tag: str, row: Any) -> Any:
    from core.clock import parse_iso
    from forms import CapturedValue

    return CapturedValue(tag=tag, value=json.loads(row.value_json), captured_at=parse_iso(row.source_timestamp),
                         unit=row.unit or None, stable=row.quality == "good", reading_id=row.id)


def latest_captures(session: Any, form: TaskForm) -> dict[str, Any]:
    """The newest stored reading of each top-level equipment field's tag for this task, as forms.CapturedValue."""
    from sqlalchemy import select

    from connectors.models import EquipmentReading

    captured = {}
    for name, tag in equipment_fields(form).items():
        row = session.execute(select(EquipmentReading).where(EquipmentReading.task_id == form.task_id,
                                                             EquipmentReading.tag_name == tag)
                              .order_by(EquipmentReading.id.desc()).limit(1)).scalar_one_or_none()
        if row is not None:
            captured[name] = _captured_value(tag, row)
    return captured


def row_captures(session: Any, form: TaskForm, readings: Mapping[str, str]) -> dict[str, Any]:
    """The readings a submission names for its rows' equipment fields (``cap:PATH`` = reading id),
    each checked to be a reading of this task from the field's own tag; others are left out
    (the field then reports that nothing was captured)."""
    from connectors.models import EquipmentReading
    from forms import load_definition

    if form.schema is None or not readings:
        return {}
    definition = load_definition(form.schema, form.ui_schema)
    captured: dict[str, Any] = {}
    used: set[int] = set()
    for path, reading_id in readings.items():
        spec = definition.spec_at(path)
        if spec is None or spec.equipment_tag is None or not str(reading_id).isdigit():
            continue
        row = session.get(EquipmentReading, int(reading_id))
        if row is None or row.task_id != form.task_id or row.tag_name != spec.equipment_tag or row.id in used:
            continue
        used.add(row.id)
        captured[path] = _captured_value(spec.equipment_tag, row)
    return captured


@bp.post("/<task_id>/capture-field")
def capture_field(task_id: str):  # type: ignore[no-untyped-def]
    """Read one equipment field of a row now (JSON in: {"field": PATH}); the reading is stored as
    original data and its id goes back into the form, which submits it with the row."""
    from flask_babel import gettext

    from connectors.errors import ConnectorError
    from connectors.service import client_for, read_tag
    from forms import load_definition
    from forms.html import display
    from forms.numbers import quantize, reading_decimal

    path = str((request.get_json(silent=True) or {}).get("field") or "")
    with unit_of_work() as uow:
        form = load_task_form(uow.session, task_id)
        spec = load_definition(form.schema, form.ui_schema).spec_at(path) if form.schema is not None else None
        if spec is None or spec.equipment_tag is None:
            return jsonify(ok=False, error=gettext("This field is not captured from equipment.")), 422
        try:
            read_tag(uow, spec.equipment_tag, client=client_for(settings()), purpose="form",
                     instance_id=str(form.instance_id), task_id=task_id)
            uow.session.flush()
        except ConnectorError as exc:
            return jsonify(ok=False, error=gettext("The equipment could not be read: %(error)s", error=str(exc))), 502
        from sqlalchemy import select

        from connectors.models import EquipmentReading

        row = uow.session.execute(select(EquipmentReading).where(
            EquipmentReading.task_id == task_id, EquipmentReading.tag_name == spec.equipment_tag)
            .order_by(EquipmentReading.id.desc()).limit(1)).scalar_one()
        reading_id, value, unit, at, good = row.id, json.loads(row.value_json), row.unit, row.source_timestamp, row.quality
        uow.commit()
    number = reading_decimal(value) if spec.type == "number" else None
    if number is not None and spec.decimals is not None:
        number = quantize(number, spec.decimals)
    text = display(number if number is not None else value)
    source = gettext("Captured from equipment") + f" {spec.equipment_tag} · {at[:19].replace('T', ' ')} UTC"
    if good != "good":
        source += " · " + gettext("not stable")
    return jsonify(ok=True, reading_id=reading_id, text=text, unit=unit, source=source)


@bp.post("/<task_id>/capture")
def capture(task_id: str):  # type: ignore[no-untyped-def]
    """Read every equipment field's registered tag now and store the readings as original data."""
    from connectors.service import client_for, read_tag

    with unit_of_work() as uow:
        form = load_task_form(uow.session, task_id)
        for tag in equipment_fields(form).values():
            read_tag(uow, tag, client=client_for(settings()), purpose="form", instance_id=str(form.instance_id),
                     task_id=task_id)
        uow.commit()
    return redirect(url_for("tasks.task", task_id=task_id))


@bp.get("/<task_id>/live")
def live(task_id: str):  # type: ignore[no-untyped-def]
    """Current equipment values for display (not stored; the capture is what the record keeps)."""
    from connectors.errors import ConnectorError
    from connectors.registry import lookup
    from connectors.service import client_for
    from forms import load_definition
    from forms.html import display
    from forms.numbers import reading_decimal
    from web.i18n import current_language

    values: dict[str, Any] = {}
    with unit_of_work() as uow:
        form = load_task_form(uow.session, task_id)
        definition = load_definition(form.schema, form.ui_schema) if form.schema is not None else None
        for name, tag in equipment_fields(form).items():
            label = definition.field(name).label(current_language()) if definition is not None else name
            try:
                registered = lookup(uow, tag, action="read")
                reading = client_for(settings()).read(registered.definition, registered.revision)
            except ConnectorError as exc:
                values[name] = {"label": label, "error": str(exc)}
            else:
                number = reading_decimal(reading.value) if isinstance(reading.value, float) else None
                values[name] = {"label": label, "value": reading.value, "unit": reading.unit,
                                "text": display(number if number is not None else reading.value),
                                "quality": reading.quality.value}
    return jsonify(values)


def ready_task_ids(session: Any, instance_id: int) -> set[str]:
    from engine.tasks import ready_task_ids as engine_ready_task_ids

    return engine_ready_task_ids(session, instance_id)


def notify_new_tasks(uow: Any, form: TaskForm, task_ids: list[str]) -> int:
    """In-application notification of each newly ready task to the active holders of its lane role."""
    from engine.models import InstanceTask
    from notifications.queue import notify
    from signatures.identities import list_users, roles_of

    sent = 0
    for task_id in task_ids:
        row = uow.session.get(InstanceTask, task_id)
        if row is None or not row.lane:
            continue
        for person in list_users(uow.session):
            if person.status == "active" and row.lane in roles_of(uow.session, person.user_id):
                notify(uow, person.user_id, "task_assigned", row.bpmn_name or row.bpmn_id or row.spec_name,
                       form.instance_title, url_for("tasks.task", task_id=task_id))
                sent += 1
    return sent


def engine_services(validator: Any = None):  # type: ignore[no-untyped-def]
    from engine.ports import default_services

    services = default_services(settings(), g.user.session_id)
    return dataclasses.replace(services, validate_form=validator) if validator else services


@bp.get("/")
def inbox():  # type: ignore[no-untyped-def]
    from engine.listing import inbox_page
    from web.labels import instance_labels, role_labels

    with unit_of_work() as uow:
        args = request.args
        page = inbox_page(uow, g.user.user_id, services=engine_services(), page=args.get("page", 1, type=int) or 1,
                          per_page=args.get("per_page", 50, type=int) or 50, search=args.get("q") or "",
                          lane=(args.get("lane") or "").strip() or None)
        names: dict[str, str] = {}
        labels: dict[int, dict[str, str]] = {}
        for t in page.items:
            if t.instance_id not in labels:
                labels[t.instance_id] = instance_labels(uow.session, t.instance_id)
            names[t.id] = labels[t.instance_id].get(t.bpmn_id or "") or t.name or t.bpmn_id or ""
        role_names = role_labels(uow.session)
    return render_template("tasks/inbox.html", tasks=page.items, page=page, roles=sorted(g.user.roles), names=names,
                           role_names=role_names)


@bp.post("/<task_id>/claim")
def claim(task_id: str):  # type: ignore[no-untyped-def]
    from engine.errors import GateRefused
    from engine.tasks import claim as engine_claim

    try:
        with unit_of_work() as uow:
            engine_claim(uow, task_id, services=engine_services())
            uow.commit()
    except GateRefused as exc:  # recorded as task.claim_refused; the inbox says why
        flash(_("The task was not claimed: %(reason)s", reason=refusal_text(exc)), "error")
        return redirect(url_for("tasks.inbox"))
    return redirect(url_for("tasks.task", task_id=task_id))


@bp.post("/<task_id>/release")
def release(task_id: str):  # type: ignore[no-untyped-def]
    from engine.tasks import release as engine_release

    with unit_of_work() as uow:
        engine_release(uow, task_id, reason=(request.form.get("reason") or "").strip() or None)
        uow.commit()
    flash(_("The task is back in the inbox."), "info")
    return redirect(url_for("tasks.inbox"))


def _render(form: TaskForm, *, submission: Any = None, errors: Any = None, message: str | None = None,
            status: int = 200, captured: Mapping[str, Any] | None = None,
            refusal: Any = None):  # type: ignore[no-untyped-def]
    """The task page; a submission shown again keeps every value and text as typed, with its errors."""
    from flask_babel import gettext

    from forms import render_form
    from web.i18n import current_language
    from web.labels import element_label, role_labels

    fields = None
    if form.form_problem is not None:  # the instance lacks the data the form's rows come from
        message = message or form.form_problem
    elif form.schema is not None:
        fields = render_form(form.schema, form.ui_schema, submission=submission, errors=errors, captured=captured,
                             gettext=gettext, language=current_language(), capture_buttons=True)
    with unit_of_work() as uow:
        title = element_label(uow.session, form.version_id, form.bpmn_id, form.name)
        role = role_labels(uow.session).get(form.lane or "", form.lane)
        context = task_context(uow.session, form)
    return render_template("tasks/task.html", form=form, fields=fields, message=message, refusal=refusal,
                           title=title, role=role, context_sections=context,
                           equipment=bool(equipment_fields(form))), status


def task_context(session: Any, form: TaskForm) -> list[dict[str, Any]]:
    """What the task is about: the process's own record sections (engine.record_sections) of the
    instance as it stands, shown above the form; a section that cannot be built here is left out."""
    from sqlalchemy import select

    from engine.errors import RuntimeNotInstalled
    from engine.models import ProcessDefinition, ProcessDefinitionVersion
    from engine.record_sections import build_sections
    from engine.runtime import current_runtime

    process = session.scalar(select(ProcessDefinition.key).join(
        ProcessDefinitionVersion, ProcessDefinitionVersion.definition_id == ProcessDefinition.id)
        .where(ProcessDefinitionVersion.id == form.version_id)) if form.version_id else None
    if not process:
        return []
    try:
        registry = current_runtime().record_sections
    except RuntimeNotInstalled:
        return []
    return [s for s in build_sections(registry, session, process, form.instance_id, {})
            if not s["error"] and (s["rows"] or s["notes"])]


@bp.get("/<task_id>")
def task(task_id: str):  # type: ignore[no-untyped-def]
    with unit_of_work() as uow:
        if _signed_setpoint(uow.session, task_id) is not None:  # signed already: follow its write
            return redirect(url_for("tasks.setpoint", task_id=task_id))
        form = load_task_form(uow.session, task_id)
        page = (form.properties or {}).get("web.page")
        if page and page in current_app.view_functions:  # a process's own page for this task (e.g. the exam)
            return redirect(url_for(page, task_id=task_id))
        captured = latest_captures(uow.session, form)
        refusal = gate_refusal(uow, form, g.user)
    return _render(form, captured=captured, refusal=refusal)


@bp.get("/<task_id>/blank.pdf")
def blank(task_id: str):  # type: ignore[no-untyped-def]
    """This step as a blank record to fill in on paper while the system is down (web/blank_record.py)."""
    from core import clock
    from engine.definitions import get_version
    from engine.models import ProcessDefinition
    from engine.tasks import task_definition
    from web.blank_record import blank_pdf, step_of_task

    with database().read_session() as session:
        form = load_task_form(session, task_id)
        found = task_definition(session, task_id)
        version = get_version(session, found.version.id)
        process = session.get(ProcessDefinition, version.definition_id)
        key = getattr(found.instance, "business_key", None) or ""
        header = {"Process / 流程": f"{process.name} ({process.key}) v{version.version}",
                  "Instance No. / 实例编号": f"#{form.instance_id}", "Business key / 业务键": key,
                  "Title / 标题": form.instance_title, "Task / 任务": task_id,
                  "Printed / 打印": f"{clock.isoformat(clock.now())} by / 由 {g.user.printed_name} ({g.user.user_id})"}
    pdf = blank_pdf(f"Blank record 空白记录: {form.name} (#{form.instance_id})", [step_of_task(form)], header,
                    f"#{form.instance_id} {form.bpmn_id} blank record")
    return Response(pdf, mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="blank-{form.instance_id}-{form.bpmn_id}.pdf"'})


@bp.get("/<task_id>/setpoint")
def setpoint(task_id: str):  # type: ignore[no-untyped-def]
    """Where the set-point this task's signature authorised stands (requested, confirmed, failed)."""
    from werkzeug.exceptions import NotFound

    with unit_of_work() as uow:
        view = _signed_setpoint(uow.session, task_id)
        if view is None:
            raise NotFound(_("This task authorised no set-point write."))
        form = load_task_form(uow.session, task_id)
    return render_template("tasks/setpoint.html", form=form, setpoint=view)


@bp.post("/<task_id>")
def complete(task_id: str):  # type: ignore[no-untyped-def]
    from engine.errors import EngineError
    from engine.ports import SignatureInput
    from engine.tasks import complete_task
    from forms import (
        FORM_LEVEL,
        FieldError,
        FormError,
        FormInvalid,
        Submission,
        check_html_submission,
        parse_html_submission,
        validate_submission,
    )
    from web import late_entry

    user = g.user
    submission = Submission()
    with unit_of_work() as uow:
        form = load_task_form(uow.session, task_id)
        captured = latest_captures(uow.session, form)
        first_signature = bool(form.meanings) and not statement_signed(uow.session, user.user_id)
        if form.schema is not None and not first_signature:
            submission = parse_html_submission(form.schema, form.ui_schema, request.form)
            captured.update(row_captures(uow.session, form, submission.captures))
        late = None
        late_refused: late_entry.LateEntryInvalid | None = None
        if not first_signature:
            try:
                late = late_entry.from_form(request.form, uow.session, task_id, user, settings())
            except late_entry.LateEntryInvalid as exc:
                late_refused = exc
    if late_refused is not None:  # shown again after this unit of work ends (the page reads in its own)
        return _render(form, submission=submission, message=str(late_refused), status=422, captured=captured)
    if first_signature:
        return accountability_detour(form)
    verifier = (request.form.get("sig2_user_id") or "").strip() or None
    try:
        if form.schema is not None:
            result = check_html_submission(form.schema, form.ui_schema, submission, captured=captured,
                                           entered_by=user.user_id, verified_by=verifier)
            if result.needs_verification and form.verifier_meaning is None:
                from web.wording import FORM_NEEDS_VERIFIER

                raise FormInvalid([FieldError(FORM_LEVEL, "no_verifier_step", FORM_NEEDS_VERIFIER)])
    except FormInvalid as exc:
        return _render(form, submission=submission, errors=exc, status=422, captured=captured)

    def validator(schema: Any, ui_schema: Any, data: Mapping[str, Any]) -> dict[str, Any]:
        checked = validate_submission(schema, ui_schema, data, exceptions=submission.exceptions,
                                      overrides=submission.overrides, captured=captured,
                                      entered_by=user.user_id, verified_by=verifier)
        record = checked.to_record()
        record.pop("data")
        if late is not None:
            record["late_entry"] = late.to_json()
        return {**checked.data, PROVENANCE_KEY: record}

    signatures = []
    if form.meanings:
        credentials = typed_credentials("sig", user.user_id)  # prechecked: before the unit of work opens
        signatures = [SignatureInput.of(meaning, credentials) for meaning in form.meanings]
    if form.verifier_meaning and verifier:
        signatures.append(SignatureInput.of(form.verifier_meaning, typed_credentials("sig2", verifier)))
    try:
        with unit_of_work() as uow:
            before = ready_task_ids(uow.session, form.instance_id)
            if late is not None:  # in the trail before the completion it explains
                late_entry.audit(uow, task_id, form.instance_id, late)
            completion = complete_task(uow, task_id, submission.data, signatures,
                                       services=engine_services(validator), settings=settings())
            notify_new_tasks(uow, form, [t for t in completion.ready if t not in before])
            uow.commit()
    except FormInvalid as exc:
        return _render(form, submission=submission, errors=exc, captured=captured, status=422)
    except (EngineError, FormError) as exc:
        return _render(form, submission=submission, captured=captured, message=refusal_text(exc),
                       status=getattr(exc, "http_status", 422))
    from signatures.service import signatures_for
    from web.labels import element_label
    from web.signing import manifestation_html

    with unit_of_work() as uow:
        manifest = manifestation_html(signatures_for(uow.session, "task", task_id))
        title = element_label(uow.session, form.version_id, form.bpmn_id, form.name)
        signed_setpoint = _signed_setpoint(uow.session, task_id)
        following = next_tasks_for(uow.session, form, completion.ready, user)
    return render_template("tasks/completed.html", form=form, completion=completion, manifest=manifest, title=title,
                           setpoint=signed_setpoint, next_tasks=following)


def next_tasks_for(session: Any, form: TaskForm, ready: Any, user: Any) -> list[dict[str, str]]:
    """The steps of the instance now ready that this person takes next (their lane role, not claimed by
    someone else): linked from the completed page, so a loop (a calibration's test points) needs no inbox."""
    from engine.models import InstanceTask
    from web.labels import element_label

    found = []
    for ready_id in ready or ():
        row = session.get(InstanceTask, ready_id)
        if row is None or not row.manual or row.claimed_by not in (None, user.user_id):
            continue
        if row.claimed_by != user.user_id and (not row.lane or row.lane not in user.roles):
            continue
        found.append({"id": row.id, "name": element_label(session, form.version_id, row.bpmn_id or "",
                                                          row.bpmn_name or row.bpmn_id or row.spec_name)})
    return found


# ---------------------------------------------------------------- first signature
CARRY_PREFIX = "carry."


def statement_signed(session: Any, user_id: str) -> bool:
    from signatures.accountability import get_statement

    return get_statement(session, user_id) is not None


def carried_fields() -> list[tuple[str, str]]:
    """What the person typed in the task form, without the CSRF token and signature components."""
    return [(f"{CARRY_PREFIX}{name}", value) for name, values in request.form.lists()
            if name != "csrf_token" and not name.startswith(("sig_", "sig2_")) for value in values]


def accountability_detour(form: TaskForm):  # type: ignore[no-untyped-def]
    """The first signature: the statement first, then back to the task with the entries kept."""
    from web.signing import accountability_page

    return accountability_page(carried=carried_fields(),
                               resume=url_for("tasks.resume", task_id=form.task_id), task_name=form.name)


@bp.post("/<task_id>/resume")
def resume(task_id: str):  # type: ignore[no-untyped-def]
    """The task form again with the entries carried through the accountability statement."""
    from werkzeug.datastructures import MultiDict

    from forms import parse_html_submission

    with unit_of_work() as uow:
        form = load_task_form(uow.session, task_id)
        captured = latest_captures(uow.session, form)
    entries = MultiDict([(name[len(CARRY_PREFIX):], value) for name, values in request.form.lists()
                         if name.startswith(CARRY_PREFIX) for value in values])
    flash(_("The accountability statement is signed. Your entries are kept: check them and sign to complete."), "info")
    if form.schema is None:
        return _render(form, captured=captured)
    submission = parse_html_submission(form.schema, form.ui_schema, entries)  # keeps what was typed, as typed
    return _render(form, submission=submission, captured=captured)
