"""Auditor pages (read-only): the audit trail with filters, a record's history with its
signatures, one-click verification of the whole chain, exports (JSONL, CSV, PDF), and the
signed review of a range of entries (A11-9). Views over audit/ and signatures/.
"""
from __future__ import annotations

import json
import tempfile
from datetime import datetime, time, timezone
from pathlib import Path

from flask import Blueprint, after_this_request, render_template, request, send_file
from flask_babel import gettext as _
from sqlalchemy import select

from core.errors import ValidationError
from web.uow import database, settings, unit_of_work

bp = Blueprint("audit_ui", __name__, url_prefix="/audit")
PAGE_SIZE = 100
FORMATS = {"jsonl": "application/x-ndjson", "csv": "text/csv", "pdf": "application/pdf"}


class BadFilter(ValidationError):
    """A filter value on the audit-trail page is not valid."""


def _date(name: str, end: bool = False) -> datetime | None:
    text = (request.args.get(name) or "").strip()
    if not text:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError as exc:
        raise BadFilter(_("%(field)s must be a date (YYYY-MM-DD).", field=name)) from exc
    moment = datetime.combine(day, time.min, tzinfo=timezone.utc)
    if end:
        from datetime import timedelta

        moment += timedelta(days=1)
    return moment


def current_filter():  # type: ignore[no-untyped-def]
    from audit.errors import AuditError
    from audit.export import ExportFilter

    args = request.args
    object_id = (args.get("object_id") or "").strip()
    try:
        return ExportFilter(object_type=(args.get("object_type") or "").strip() or None,
                            object_ids=(object_id,) if object_id else (),
                            actor_id=(args.get("user") or "").strip() or None,
                            action_prefix=(args.get("action") or "").strip() or None,
                            since=_date("since"), until=_date("until", end=True))
    except AuditError as exc:
        raise BadFilter(str(exc)) from exc


@bp.get("/")
def trail():  # type: ignore[no-untyped-def]
    from audit.models import AuditEntry

    flt = current_filter()
    before = request.args.get("before", type=int)
    query = flt.where(select(AuditEntry)).order_by(AuditEntry.seq.desc()).limit(PAGE_SIZE + 1)
    if before:
        query = query.where(AuditEntry.seq < before)
    with database().read_session() as session:
        rows = list(session.execute(query).scalars())
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    entries = [_entry_view(row) for row in rows]
    args = {k: v for k, v in request.args.items() if k != "before" and v}
    return render_template("audit/trail.html", entries=entries, args=args, more=more,
                           next_before=rows[-1].seq if more and rows else None, formats=list(FORMATS))


def _entry_view(row) -> dict:  # type: ignore[no-untyped-def]
    from audit.export import format_changes

    tz = settings().tz()
    at = datetime.strptime(row.ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return {"seq": row.seq, "utc": at.strftime("%Y-%m-%d %H:%M:%S"), "local": at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z"),
            "actor_id": row.actor_id, "actor_name": row.actor_name, "action": row.action,
            "object_type": row.object_type, "object_id": row.object_id, "changes": format_changes(row.changes),
            "reason": row.reason, "details": json.loads(row.details or "{}")}


@bp.get("/record/<object_type>/<path:object_id>")
def record(object_type: str, object_id: str):  # type: ignore[no-untyped-def]
    from audit.models import AuditEntry
    from signatures.service import signatures_for
    from web.signing import manifestation_html

    with database().read_session() as session:
        rows = list(session.execute(select(AuditEntry).where(AuditEntry.object_type == object_type,
                                                             AuditEntry.object_id == object_id)
                                    .order_by(AuditEntry.seq)).scalars())
        signatures = signatures_for(session, object_type, object_id)
        manifest = manifestation_html(signatures) if signatures else None
    return render_template("audit/record.html", object_type=object_type, object_id=object_id,
                           entries=[_entry_view(r) for r in rows], manifest=manifest)


@bp.post("/verify")
def verify():  # type: ignore[no-untyped-def]
    from audit.errors import AuditError
    from audit.verify import verify_trail

    try:
        report = verify_trail(database(), settings())
    except AuditError as exc:
        return render_template("audit/verify.html", ok=False, message=str(exc)), 200
    return render_template("audit/verify.html", ok=True, message=report.summary(), report=report)


@bp.get("/export.<fmt>")
def export(fmt: str):  # type: ignore[no-untyped-def]
    from audit.errors import AuditError
    from audit.export import export as write_export

    if fmt not in FORMATS:
        raise BadFilter(_("Unknown export format %(fmt)s.", fmt=fmt))
    flt = current_filter()
    folder = Path(tempfile.mkdtemp(prefix="gmp-export-"))
    out = folder / f"audit-trail.{fmt}"
    try:
        write_export(database(), settings(), fmt, out, flt)
    except AuditError as exc:
        raise BadFilter(str(exc)) from exc

    @after_this_request
    def _cleanup(response):  # type: ignore[no-untyped-def]
        import shutil

        response.call_on_close(lambda: shutil.rmtree(folder, ignore_errors=True))
        return response

    return send_file(out, mimetype=FORMATS[fmt], as_attachment=True, download_name=out.name)


@bp.route("/review", methods=["GET", "POST"])
def review():  # type: ignore[no-untyped-def]
    from flask import g

    from audit.review import list_reviews, unreviewed_after
    from signatures.errors import SignatureError
    from signatures.review import sign_review
    from web.signing import _credentials, manifestation_html

    message, manifest, status = None, None, 200
    if request.method == "POST":
        try:
            first, last = int(request.form.get("first_seq", "")), int(request.form.get("last_seq", ""))
        except ValueError:
            message, status = _("The range must be two entry numbers."), 422
        else:
            try:
                with unit_of_work() as uow:
                    _review, signature = sign_review(uow, first, last, request.form.get("comment") or "",
                                               _credentials("sig", g.user.user_id), g.user.session_id, settings())
                    uow.commit()
                    manifest = manifestation_html([signature])
            except SignatureError as exc:
                message, status = str(exc), 422
    with database().read_session() as session:
        reviews = list_reviews(session)
        pending = unreviewed_after(session)
    return render_template("audit/review.html", reviews=reviews, pending=pending, message=message,
                           manifest=manifest), status
