"""The record of a process instance, complete (P11-10b): timeline, the data of every task with
its source and who/when, signatures (manifestations), exceptions and verifications; as a
page, as JSON and as PDF (PDF/A-3b, both scripts).
"""
from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, render_template, request
from flask_babel import gettext as _
from sqlalchemy import or_, select

from web.uow import database, settings

bp = Blueprint("records", __name__, url_prefix="/records")


def build_record(session: Any, instance_id: int) -> dict[str, Any]:
    """Everything about one instance, as plain JSON-able data."""
    from audit.models import AuditEntry
    from engine.instances import inspect
    from engine.models import InstanceTask
    from signatures.manifestation import manifestations
    from signatures.service import signatures_for

    header = inspect(session, instance_id)
    rows = list(session.execute(select(InstanceTask).where(InstanceTask.instance_id == instance_id,
                                                           InstanceTask.dropped.is_(False))
                                .order_by(InstanceTask.seq)).scalars())
    tasks = []
    for row in rows:
        body = json.loads(row.body)
        gmp = (body.get("internal_data") or {}).get("gmp")
        if not row.manual or not gmp:
            continue
        data = dict(body.get("data") or {})
        provenance = data.pop("_form", None) or {}
        fields = provenance.get("fields") or {}
        signed = signatures_for(session, "task", row.id)
        from web.models import FormCorrection

        corrections = [json.loads(c.correction) for c in session.execute(
            select(FormCorrection).where(FormCorrection.task_id == row.id).order_by(FormCorrection.id)).scalars()]
        by_field: dict[str, list[dict[str, Any]]] = {}
        for item in corrections:
            by_field.setdefault(item["field"], []).append(item)
        tasks.append({
            "task_id": row.id, "bpmn_id": row.bpmn_id, "name": row.bpmn_name or row.bpmn_id, "lane": row.lane,
            "completed_by": gmp.get("completed_by"), "completed_at": row.updated_at,
            "record_hash": gmp.get("record_hash"),
            "values": [{"field": name, "value": (by_field[name][-1]["corrected"] if name in by_field
                                                 else info.get("value")),
                        "original": info.get("value"), "corrections": by_field.get(name, []),
                        "changed_since_first_entry": name in by_field, "unit": info.get("unit"),
                        "source": info.get("source"), "out_of_limits": info.get("out_of_limits"),
                        "exception_comment": info.get("exception_comment"),
                        "override_reason": info.get("override_reason"),
                        "capture": info.get("capture"), "limits": info.get("limits"),
                        "needs_verification": info.get("needs_verification")}
                       for name, info in fields.items()],
            "entered_by": provenance.get("entered_by"), "verified_by": provenance.get("verified_by"),
            "signatures": [m.__dict__ for m in manifestations(signed, settings())],
            "corrections": corrections,
        })
    task_ids = [row.id for row in rows]
    entries = session.execute(select(AuditEntry).where(or_(
        (AuditEntry.object_type == "process_instance") & (AuditEntry.object_id == str(instance_id)),
        (AuditEntry.object_type == "task") & (AuditEntry.object_id.in_(task_ids) if task_ids else False),
    )).order_by(AuditEntry.seq)).scalars()
    timeline = [{"seq": e.seq, "ts": e.ts, "actor_id": e.actor_id, "actor_name": e.actor_name, "action": e.action,
                 "object": f"{e.object_type}/{e.object_id}", "reason": e.reason} for e in entries]
    exceptions = [{"task": t["name"], **v} for t in tasks for v in t["values"] if v["out_of_limits"]]
    return {"instance": {k: header[k] for k in ("id", "title", "process", "version", "status", "started_at",
                                                  "started_by", "ended_at", "cancel_reason")},
            "data": header["data"], "tasks": tasks, "exceptions": exceptions, "timeline": timeline}


def _record(instance_id: int) -> dict[str, Any]:
    with database().read_session() as session:
        record = build_record(session, instance_id)
    from core import clock

    record["exported_at"] = clock.isoformat(clock.now())
    return record


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


@bp.get("/<int:instance_id>")
def record(instance_id: int):  # type: ignore[no-untyped-def]
    return render_template("records/record.html", record=_record(instance_id), **_display_names(instance_id))


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
