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


def build_record(session: Any, instance_id: int, runtime: Any = None) -> dict[str, Any]:
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
        if not fields and definition is not None:  # completed without the form's record (a service call)
            fields = _plain_fields(definition.fields, data)
        view = _current(definition, fields, corrections)
        signed_record = _signed_record(session, row.id, definition)
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
                "needs_verification": info.get("needs_verification"),
                "entered_by": provenance.get("entered_by") or gmp.get("completed_by"), "entered_at": row.updated_at,
                "verified_by": provenance.get("verified_by") if (info.get("needs_verification")
                                                                 or info.get("override_reason")) else None})
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
            "signed_record": signed_record,
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
    for item in timeline:
        item["changed_after_first_entry"] = item["action"] in CHANGE_ACTIONS
    phases = sampled_phases(session, instance_id, {row.bpmn_id: row.bpmn_name or row.bpmn_id for row in rows})
    element_names = {row.bpmn_id: row.bpmn_name or row.bpmn_id for row in rows}
    exceptions = _exceptions(session, instance_id, tasks, phases, element_names)
    late_entries = [{"task": t["name"], "task_id": t["task_id"], **t["late_entry"]} for t in tasks if t["late_entry"]]
    record = {"instance": {k: header[k] for k in ("id", "title", "process", "version", "business_key",
                                                    "status", "started_at", "started_by", "ended_at",
                                                    "cancel_reason")},
              "data": header["data"],  # typed values restored by inspect
              "tasks": tasks, "exceptions": exceptions, "late_entries": late_entries,
              "changed_after_first_entry": [
                  {"task": t["name"], "task_id": t["task_id"], "field": v["field"], "label": v["label"], **c}
                  for t in tasks for v in t["values"] for c in v["corrections"]],
              "signatures": [{"task": t["name"], "task_id": t["task_id"], **s} for t in tasks for s in t["signatures"]],
              "phases": phases,
              "timeline": timeline, "links": [r.as_dict() for r in linked]}
    record = jsonable(record)
    record["sections"] = jsonable(_sections(session, header["process"], instance_id, record, runtime))
    return record


# Audit actions that change data after its first entry (Annex 11 §8: flagged on the record).
CHANGE_ACTIONS = frozenset({"task.value_corrected", "task.late_entry_recorded", "instance.data_changed"})


def _plain_fields(specs: Any, data: dict[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    """Field paths and values of a task completed without the form's provenance record (no
    capture, override or limit notes were recorded): each value as submitted, source "manual"."""
    found: dict[str, dict[str, Any]] = {}
    for spec in specs:
        if spec.name not in data or spec.calculated is not None:
            continue
        value, path = data[spec.name], f"{prefix}{spec.name}"
        if spec.kind == "rows" and isinstance(value, list):
            for index, row in enumerate(value):
                if isinstance(row, dict):
                    found.update(_plain_fields(spec.children, row, f"{path}.{index}."))
        elif spec.kind == "group" and isinstance(value, dict):
            found.update(_plain_fields(spec.children, value, f"{path}."))
        else:
            found[path] = {"value": value, "source": "manual", "unit": spec.unit}
    return found


def _signed_record(session: Any, task_id: str, definition: Any) -> dict[str, Any] | None:
    """The first entry of the task as its completer signed it (engine.tasks.task_record): its
    SHA-256 is the task's `record_hash` and the one in the `task.completed` audit entry."""
    from core.errors import GmpError
    from web.corrections import task_document

    try:
        first, _fields, _stored = task_document(session, task_id, definition.schema if definition else None,
                                                definition.ui_schema if definition else None)
    except (GmpError, KeyError, ValueError):
        return None
    return first


def _exceptions(session: Any, instance_id: int, tasks: list[dict[str, Any]], phases: list[dict[str, Any]],
                names: dict[str, str]) -> list[dict[str, Any]]:
    """Every exception of the instance, each with a stable `ref` and its assessment (if any):
    values entered outside their limits (``F:<task id>:<field>``), exceptions the diagram
    recorded (``E:<id>``, engine.messages.record_exception) and sampled values outside their
    limits (``S:<reading id>``). Assessments are the rows of any completed task's repeating
    group with the columns `exception_ref` and `assessment` (optional `decision`)."""
    from engine.messages import exceptions_of

    found: list[dict[str, Any]] = []
    for t in tasks:
        for v in t["values"]:
            if v["out_of_limits"]:
                found.append({"ref": f"F:{t['task_id']}:{v['field']}", "kind": "value_out_of_limits",
                              "task": t["name"], "task_id": t["task_id"], "element_id": t["bpmn_id"], **v,
                              "message": v.get("exception_comment"), "recorded_at": t["completed_at"],
                              "recorded_by": t["completed_by"]})
    for item in exceptions_of(session, instance_id):
        found.append({"ref": f"E:{item['id']}", "task": names.get(item["element_id"]), **item})
    for phase in phases:
        for parameter in phase["parameters"]:
            for sample in parameter["samples"]:
                if not sample["within_limits"]:
                    found.append({"ref": f"S:{sample['reading_id']}", "kind": "sample_out_of_limits",
                                  "element_id": phase["element_id"], "task": phase["name"], "tag": parameter["tag"],
                                  "value": sample["value"], "unit": parameter["unit"],
                                  "limits": {"min": parameter["low"], "max": parameter["high"]},
                                  "message": f"{parameter['tag']} {sample['value']} {parameter['unit']} outside "
                                             f"{parameter['low']} – {parameter['high']}",
                                  "recorded_at": sample["t"], "recorded_by": "equipment"})
    assessments = _assessments(tasks)
    for item in found:
        item["assessment"] = assessments.get(item["ref"])
    return found


def _assessments(tasks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    by_ref: dict[str, dict[str, Any]] = {}
    for t in tasks:
        for table in t["tables"]:
            keys = [c["key"] for c in table["columns"]]
            if "exception_ref" not in keys or "assessment" not in keys:
                continue
            for r in table["rows"]:
                cells = {k: (cell["value"] if cell else None) for k, cell in zip(keys, r["cells"])}
                ref = cells.get("exception_ref")
                if not ref:
                    continue
                by_ref[str(ref)] = {"assessment": cells.get("assessment"), "decision": cells.get("decision"),
                                    "assessed_by": t["completed_by"], "assessed_at": t["completed_at"],
                                    "task": t["name"], "task_id": t["task_id"],
                                    "signatures": [{"printed_name": s["printed_name"], "meaning": s["meaning"],
                                                    "utc": s["utc"]} for s in t["signatures"]]}
    return by_ref


def sampled_phases(session: Any, instance_id: int, names: dict[str, str]) -> list[dict[str, Any]]:
    """The samples the instance's phases took (connectors: readings with a sampling id), per
    phase (the element that sampled) and tag, in time order, with the tag's limits."""
    from connectors.models import EquipmentReading, EquipmentTag

    rows = session.execute(
        select(EquipmentReading.id, EquipmentReading.task_id, EquipmentReading.sampling_id, EquipmentReading.tag_name,
               EquipmentReading.value_json, EquipmentReading.unit, EquipmentReading.source_timestamp,
               EquipmentReading.within_limits, EquipmentReading.quality, EquipmentTag.low, EquipmentTag.high,
               EquipmentTag.equipment_id)
        .join(EquipmentTag, EquipmentTag.id == EquipmentReading.tag_id)
        .where(EquipmentReading.instance_id == str(instance_id), EquipmentReading.sampling_id.is_not(None))
        .order_by(EquipmentReading.id)).all()
    phases: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        element = r.task_id or ""
        phase = phases.setdefault((element, r.sampling_id), {
            "element_id": element, "name": names.get(element, element), "sampling_id": r.sampling_id,
            "parameters": {}})
        parameter = phase["parameters"].setdefault(r.tag_name, {
            "tag": r.tag_name, "equipment": r.equipment_id, "unit": r.unit, "low": r.low, "high": r.high,
            "samples": []})
        parameter["samples"].append({"reading_id": r.id, "t": r.source_timestamp, "value": json.loads(r.value_json),
                                     "within_limits": bool(r.within_limits), "quality": r.quality})
    result = []
    for phase in phases.values():
        parameters = []
        for parameter in phase["parameters"].values():
            numbers = [s["value"] for s in parameter["samples"] if isinstance(s["value"], (int, float))]
            parameter.update(count=len(parameter["samples"]), min=min(numbers) if numbers else None,
                             max=max(numbers) if numbers else None,
                             outside=sum(1 for s in parameter["samples"] if not s["within_limits"]))
            parameters.append(parameter)
        result.append({**phase, "parameters": parameters})
    return result


def _sections(session: Any, process: str, instance_id: int, record: dict[str, Any],
              runtime: Any = None) -> list[dict[str, Any]]:
    """The process's own sections (engine.record_sections), from the runtime given or the current one."""
    from engine.errors import RuntimeNotInstalled
    from engine.record_sections import build_sections
    from engine.runtime import current_runtime

    if runtime is None:
        try:
            runtime = current_runtime()
        except RuntimeNotInstalled:
            return []
    return build_sections(runtime.record_sections, session, process, instance_id, record)


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


def render_record_pdf(record: dict[str, Any], body: str) -> bytes:
    """The record as PDF/A-3b: `body` (the rendered record) with the business key and "page X of Y"
    on every page, and the record's JSON attached (record-<id>.json, the same bytes as the JSON export)."""
    from audit.pdf import FONT_STACK, html_document, render_pdf

    inst = record["instance"]
    key = inst.get("business_key") or f"#{inst['id']}"
    title = _("Record of %(title)s", title=inst.get("title") or inst["id"])
    meta = f"{key} · {inst.get('process')} v{inst.get('version')} · #{inst['id']}"
    pages = _("Page %(page)s of %(pages)s", page="\" counter(page) \"", pages="\" counter(pages) \"")
    css = ('.record-chart-box, .record-phase table { page-break-inside: avoid; } '
           '@page { @bottom-left { content: "%s"; font-family: %s; font-size: 8pt; } '
           '@bottom-right { content: "%s"; font-family: %s; font-size: 8pt; } }'
           % (key.replace('"', "'").replace("\\", ""), FONT_STACK, pages, FONT_STACK))
    attachment = (f"record-{inst['id']}.json", record_json_bytes(record))
    return render_pdf(html_document(title, body, lang="zh-CN", meta=meta, extra_css=css), attachments=[attachment])


def record_json_bytes(record: dict[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")


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
def record_chart(parameter: dict[str, Any]) -> Any:
    """The SVG chart of one sampled parameter (web.record_charts), safe to place in a page."""
    from markupsafe import Markup

    from web.record_charts import sample_chart

    return Markup(sample_chart(parameter["samples"], low=parameter.get("low"), high=parameter.get("high"),
                               unit=parameter.get("unit") or "", title=parameter["tag"]))


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

    with database().read_session() as session:
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
    body = record_json_bytes(_record(instance_id))
    return Response(body, mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="record-{instance_id}.json"'})


@bp.get("/<int:instance_id>.pdf")
def record_pdf(instance_id: int):  # type: ignore[no-untyped-def]
    record_data = _record(instance_id)
    pdf = render_record_pdf(record_data, render_template("records/record_pdf.html", record=record_data,
                                                         **_display_names(instance_id)))
    return Response(pdf, mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="record-{instance_id}.pdf"'})
