"""The record of a process instance, complete (P11-10b): timeline, the data of every task with
its source and who/when, signatures (manifestations), exceptions and verifications, its
business key and its links to other records (both ways, retracted ones marked); as a page,
as JSON and as PDF (PDF/A-3b, both scripts). The list of records searches business keys,
titles and numbers; QA and supervisors link records and QA retracts a link made in error.
"""
from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import or_, select

from forms.errors import N_
from web.uow import database, settings, unit_of_work

bp = Blueprint("records", __name__, url_prefix="/records")


def build_record(session: Any, instance_id: int) -> dict[str, Any]:
    """Everything about one instance, as plain JSON-able data (exact decimals as their digits)."""
    from audit.canonical import jsonable
    from audit.models import AuditEntry
    from engine.instances import inspect
    from engine.links import related
    from engine.models import InstanceTask
    from signatures.manifestation import manifestations
    from signatures.service import signatures_for
    from web.corrections import task_data
    from web.models import FormCorrection

    header = inspect(session, instance_id)
    linked = related(session, instance_id, include_retracted=True)
    rows = list(session.execute(select(InstanceTask).where(InstanceTask.instance_id == instance_id,
                                                           InstanceTask.dropped.is_(False))
                                .order_by(InstanceTask.seq)).scalars())
    tasks = []
    for row in rows:
        if not row.manual:
            continue
        data, gmp = task_data(row)
        if not gmp:
            continue
        provenance = data.pop("_form", None) or {}
        fields = provenance.get("fields") or {}
        signed = signatures_for(session, "task", row.id)
        corrections = [json.loads(c.correction) for c in session.execute(
            select(FormCorrection).where(FormCorrection.task_id == row.id).order_by(FormCorrection.id)).scalars()]
        by_field: dict[str, list[dict[str, Any]]] = {}
        for item in corrections:
            by_field.setdefault(item["field"], []).append(item)
        definition = _definition(session, row.id)
        view = _current(definition, fields, corrections)
        if definition is not None:
            from forms.validation import sort_key

            fields = {path: fields[path] for path in sorted(fields, key=lambda p: sort_key(definition, p))}
        values = []
        for path, info in fields.items():
            now = view.get(path)
            values.append({
                "field": path, "label": _label(definition, path),
                "value": now.value if now is not None else (
                    by_field[path][-1]["corrected"] if path in by_field else info.get("value")),
                "original": info.get("value"), "corrections": by_field.get(path, []),
                "changed_since_first_entry": now.changed_since_first_entry if now is not None else path in by_field,
                "recalculated": bool(now is not None and now.recalculated), "unit": info.get("unit"),
                "source": info.get("source"), "out_of_limits": info.get("out_of_limits"),
                "exception_comment": info.get("exception_comment"), "override_reason": info.get("override_reason"),
                "capture": info.get("capture"), "limits": info.get("limits"),
                "needs_verification": info.get("needs_verification")})
        tasks.append({
            "task_id": row.id, "bpmn_id": row.bpmn_id, "name": row.bpmn_name or row.bpmn_id, "lane": row.lane,
            "completed_by": gmp.get("completed_by"), "completed_at": row.updated_at,
            "record_hash": gmp.get("record_hash"), "values": values,
            "tables": _tables(definition, values),
            "entered_by": provenance.get("entered_by"), "verified_by": provenance.get("verified_by"),
            "late_entry": provenance.get("late_entry"),
            "signatures": [m.__dict__ for m in manifestations(signed, settings())],
            "corrections": corrections,
            "setpoints": _setpoints(session, row),
        })
    task_ids = [row.id for row in rows]
    link_ids = sorted({str(r.link_id) for r in linked})
    write_ids = [sp["write_id"] for t in tasks for sp in t["setpoints"] if sp.get("write_id")]
    entries = session.execute(select(AuditEntry).where(or_(
        (AuditEntry.object_type == "process_instance") & (AuditEntry.object_id == str(instance_id)),
        (AuditEntry.object_type == "task") & (AuditEntry.object_id.in_(task_ids) if task_ids else False),
        (AuditEntry.object_type == "instance_link") & (AuditEntry.object_id.in_(link_ids) if link_ids else False),
        (AuditEntry.object_type == "setpoint_write") & (AuditEntry.object_id.in_(write_ids) if write_ids else False),
    )).order_by(AuditEntry.seq)).scalars()
    from web.record_names import object_names

    entries = list(entries)
    names = object_names(session, {(e.object_type, e.object_id) for e in entries})
    timeline = [{"seq": e.seq, "ts": e.ts, "actor_id": e.actor_id, "actor_name": e.actor_name, "action": e.action,
                 "object": f"{e.object_type}/{e.object_id}", "name": names.get((e.object_type, e.object_id)),
                 "reason": e.reason} for e in entries]
    exceptions = [{"task": t["name"], **v} for t in tasks for v in t["values"] if v["out_of_limits"]]
    late_entries = [{"task": t["name"], "task_id": t["task_id"], **t["late_entry"]} for t in tasks if t["late_entry"]]
    return jsonable({"instance": {k: header[k] for k in ("id", "title", "process", "version", "business_key",
                                                           "status", "started_at", "started_by", "ended_at",
                                                           "cancel_reason")},
                     "data": header["data"],  # typed values restored by inspect
                     "tasks": tasks, "exceptions": exceptions, "late_entries": late_entries,
                     "timeline": timeline, "links": [r.as_dict() for r in linked]})


def _setpoints(session: Any, row: Any) -> list[dict[str, Any]]:
    """The set-point write the task's signature authorised, with its state (none: [])."""
    from connectors.signed_setpoint import task_setpoint

    internal = (json.loads(row.body) if row.body else {}).get("internal_data") or {}
    found = task_setpoint(session, row.instance_id, row.id, internal)
    return [found] if found is not None else []


def _current(definition: Any, fields: dict[str, Any], corrections: list[dict[str, Any]]) -> dict[str, Any]:
    """Each field as it stands after the corrections, calculated fields recalculated (forms.current_view)."""
    from forms import Correction, FormError, current_view

    if definition is None:
        return {}
    try:
        return current_view(dict(definition.schema), dict(definition.ui_schema),
                            {path: info.get("value") for path, info in fields.items()},
                            [Correction.from_json(item) for item in corrections])
    except (FormError, KeyError, ValueError):
        return {}


def _definition(session: Any, task_id: str) -> Any:
    """The task's form definition (for labels and rows), or None when the task has none."""
    from core.errors import GmpError
    from forms import FormDefinitionError, load_definition
    from web.operator import load_task_form

    try:
        form = load_task_form(session, task_id)
        return load_definition(form.schema, form.ui_schema) if form.schema is not None else None
    except (GmpError, FormDefinitionError):
        return None


def _label(definition: Any, path: str) -> str:
    """A field's label in the reader's language, naming its row (``Dispensing › row 2 › Net weight``)."""
    from web.i18n import current_language

    if definition is None:
        return path
    return definition.label_of(path, current_language(), lambda n: _("row %(number)s", number=n))


def _tables(definition: Any, values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The values of each repeating group as a table: one line per row, one column per field;
    values outside rows stay in the field list (``in_table`` marks the others)."""
    from forms.keywords import join_path, split_path
    from web.i18n import current_language

    if definition is None:
        return []
    tables: dict[str, dict[str, Any]] = {}
    for value in values:
        parts = split_path(value["field"])
        cut = next((i for i, p in enumerate(parts) if isinstance(p, int)), None)
        if cut is None or any(isinstance(p, int) for p in parts[cut + 1:]):
            continue  # outside rows, or a table inside a row: listed field by field
        group_path = join_path(*parts[:cut])
        spec = definition.spec_at(group_path)
        if spec is None or spec.kind != "rows":
            continue
        value["in_table"] = True
        table = tables.get(group_path)
        if table is None:
            columns = [c for c in spec.leaves()]
            table = tables[group_path] = {
                "path": group_path, "label": _label(definition, group_path),
                "columns": [{"key": c.key[len(spec.key) + 1:], "label": c.label(current_language()), "unit": c.unit}
                            for c in columns],
                "rows": {}}
        column = join_path(*parts[cut + 1:])
        table["rows"].setdefault(parts[cut], {})[column] = value
    result = []
    for table in tables.values():
        table["rows"] = [{"number": index + 1, "cells": [cells.get(c["key"]) for c in table["columns"]]}
                         for index, cells in sorted(table["rows"].items())]
        table["notes"] = [cell for r in table["rows"] for cell in r["cells"] if cell and (
            cell["out_of_limits"] or cell["override_reason"] or cell["changed_since_first_entry"]
            or cell["needs_verification"] or cell["capture"])]
        result.append(table)
    return result


def _record(instance_id: int) -> dict[str, Any]:
    with database().read_session() as session:
        record = build_record(session, instance_id)
    from core import clock

    record["exported_at"] = clock.isoformat(clock.now())
    return record


# The relation of this record to the other one, as read on the record page.
RELATIONS = {
    "raised_from": N_("raised from"), "raised": N_("raised"), "affects": N_("affects"),
    "affected_by": N_("affected by"), "started_by": N_("started by"), "started": N_("started"),
    "caused": N_("caused"), "caused_by": N_("caused by"),
}


def relation_label(name: str) -> str:
    return _(RELATIONS[name]) if name in RELATIONS else name.replace("_", " ")


@bp.app_template_global()
def relation_text(name: str) -> str:
    return relation_label(name)


@bp.app_template_global()
def may(endpoint: str) -> bool:
    """Whether the signed-in user's roles allow `endpoint` (to show a form only to those who may send it)."""
    from flask import g

    from web.access import rule_for

    user = g.get("user")
    return user is not None and rule_for(endpoint).allows(user.roles, user.kind)


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    from engine.listing import instances_page

    status = (request.args.get("status") or "").strip() or None
    with database().read_session() as session:
        page = instances_page(session, page=request.args.get("page", 1, type=int) or 1, status=status,
                              per_page=request.args.get("per_page", 50, type=int) or 50,
                              search=request.args.get("q") or "")
    return render_template("records/index.html", rows=page.items, page=page, status=status or "")


def _display_names(instance_id: int) -> dict[str, Any]:
    """Task names and roles in the reader's language (the stored record keeps the originals)."""
    from web.labels import instance_labels, role_labels

    with database().session() as session:
        return {"labels": instance_labels(session, instance_id), "roles": role_labels(session)}


def _render_record(instance_id: int, *, message: str | None = None, status: int = 200,
                   form: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    from web.record_names import fold_engine_steps

    return render_template("records/record.html", record=_record(instance_id), relations=RELATIONS,
                           link_message=message, link_form=form or {}, fold_engine_steps=fold_engine_steps,
                           **_display_names(instance_id)), status


@bp.get("/<int:instance_id>")
def record(instance_id: int):  # type: ignore[no-untyped-def]
    return _render_record(instance_id)


@bp.post("/<int:instance_id>/links")
def link(instance_id: int):  # type: ignore[no-untyped-def]
    """Link this record to another: `this <relation> other`, with a reason."""
    from engine.business_keys import instance_by_reference
    from engine.errors import EngineError
    from engine.links import link as engine_link

    form = {name: (request.form.get(name) or "").strip() for name in ("relation", "other", "reason")}
    try:
        with unit_of_work() as uow:
            other = instance_by_reference(uow.session, form["other"])
            made = engine_link(uow, instance_id, form["relation"], other, reason=form["reason"] or None)
            uow.commit()
    except EngineError as exc:
        return _render_record(instance_id, message=str(exc), status=exc.http_status, form=form)
    with database().read_session() as session:
        from engine.business_keys import key_of

        key = key_of(session, other)
    flash(_("Linked: this record %(relation)s record %(other)s.", relation=relation_label(form["relation"]),
            other=f"#{other}" + (f" ({key})" if key else "")), "info")
    return redirect(url_for("records.record", instance_id=instance_id, _anchor=f"link-{made.id}"))


@bp.post("/<int:instance_id>/links/<int:link_id>/retract")
def retract_link(instance_id: int, link_id: int):  # type: ignore[no-untyped-def]
    """Retract a link made in error, with a reason; the link stays on record, marked retracted."""
    from core.errors import NotFound
    from engine.errors import EngineError
    from engine.links import links_of, retract

    try:
        with unit_of_work() as uow:
            if link_id not in {item.id for item in links_of(uow.session, instance_id, include_retracted=True)}:
                raise NotFound(_("Record %(id)s has no link %(link)s.", id=instance_id, link=link_id))
            retract(uow, link_id, request.form.get("reason") or "")
            uow.commit()
    except EngineError as exc:
        return _render_record(instance_id, message=str(exc), status=exc.http_status)
    flash(_("The link was retracted; it stays on the record, marked as retracted."), "info")
    return redirect(url_for("records.record", instance_id=instance_id, _anchor="links"))


@bp.get("/<int:instance_id>.json")
def record_json(instance_id: int):  # type: ignore[no-untyped-def]
    body = json.dumps(_record(instance_id), ensure_ascii=False, indent=2, sort_keys=True)
    return Response(body, mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="record-{instance_id}.json"'})


@bp.get("/<int:instance_id>.pdf")
def record_pdf(instance_id: int):  # type: ignore[no-untyped-def]
    from audit.pdf import html_document, render_pdf

    record_data = _record(instance_id)
    body = render_template("records/record_pdf.html", record=record_data, **_display_names(instance_id))
    title = _("Record of %(title)s", title=record_data["instance"]["title"] or instance_id)
    pdf = render_pdf(html_document(title, body, lang="zh-CN"))
    return Response(pdf, mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="record-{instance_id}.pdf"'})
