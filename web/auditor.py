"""Auditor pages (read-only): the audit trail with filters (choices for record type, user and
action; the action matches by prefix), a record's history with its signatures and names
(engine steps folded under "details"), one-click verification of the whole chain, exports
(JSONL, CSV, PDF) as background jobs with progress (web.export_jobs), and the signed review
of a range of entries (A11-9). Views over audit/ and signatures/.
"""
from __future__ import annotations

import json
from datetime import datetime, time, timezone

from flask import Blueprint, g, jsonify, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from core.errors import GmpError, ValidationError
from web.uow import database, settings, unit_of_work

bp = Blueprint("audit_ui", __name__, url_prefix="/audit")
PAGE_SIZE = 100


class BadFilter(ValidationError):
    """A filter value on the audit-trail page is not valid."""


class ExportJobNotFound(GmpError):
    """No export job of this user by that ID (or not ready yet)."""

    http_status = 404


def _date(args, name: str, end: bool = False) -> datetime | None:  # type: ignore[no-untyped-def]
    text = (args.get(name) or "").strip()
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


def current_filter(args=None):  # type: ignore[no-untyped-def]
    from audit.errors import AuditError
    from audit.filters import ExportFilter

    args = request.args if args is None else args
    object_id = (args.get("object_id") or "").strip()
    try:
        return ExportFilter(object_type=(args.get("object_type") or "").strip() or None,
                            object_ids=(object_id,) if object_id else (),
                            actor_id=(args.get("user") or "").strip() or None,
                            action_prefix=(args.get("action") or "").strip() or None,
                            since=_date(args, "since"), until=_date(args, "until", end=True))
    except AuditError as exc:
        raise BadFilter(str(exc)) from exc


def _choices(session) -> dict[str, list]:  # type: ignore[no-untyped-def]
    """What the filters offer: record types and users found in the trail, actions and their groups."""
    from audit.models import AuditEntry

    types = sorted(session.execute(select(AuditEntry.object_type).distinct()).scalars())
    actions = sorted(session.execute(select(AuditEntry.action).distinct()).scalars())
    groups = sorted({a.split(".", 1)[0] for a in actions if "." in a})
    users: dict[str, str] = {}
    for user_id, name in session.execute(select(AuditEntry.actor_id, AuditEntry.actor_name)
                                         .group_by(AuditEntry.actor_id, AuditEntry.actor_name)):
        users.setdefault(user_id, name)
    return {"types": types, "actions": [f"{group}." for group in groups] + actions,
            "users": sorted(users.items())}


def _views(session, rows) -> list[dict]:  # type: ignore[no-untyped-def]
    from web.record_names import object_names

    names = object_names(session, {(r.object_type, r.object_id) for r in rows})
    views = []
    for row in rows:
        view = _entry_view(row)
        view["name"] = names.get((row.object_type, row.object_id))
        views.append(view)
    return views


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
        entries = _views(session, rows)
        choices = _choices(session)
    args = {k: v for k, v in request.args.items() if k != "before" and v}
    from web.export_jobs import FORMATS

    return render_template("audit/trail.html", entries=entries, args=args, more=more,
                           next_before=rows[-1].seq if more and rows else None, formats=list(FORMATS),
                           choices=choices, described=flt.describe())


def _entry_view(row) -> dict:  # type: ignore[no-untyped-def]
    from audit.entry_text import format_changes, shows_site_time

    tz = settings().tz()
    at = datetime.strptime(row.ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    local = at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z") if shows_site_time(settings()) else ""
    return {"seq": row.seq, "utc": at.strftime("%Y-%m-%d %H:%M:%S"), "local": local,
            "actor_id": row.actor_id, "actor_name": row.actor_name, "action": row.action,
            "object_type": row.object_type, "object_id": row.object_id, "changes": format_changes(row.changes),
            "reason": row.reason, "details": json.loads(row.details or "{}")}


@bp.get("/record/<object_type>/<path:object_id>")
def record(object_type: str, object_id: str):  # type: ignore[no-untyped-def]
    from audit.models import AuditEntry
    from signatures.service import signatures_for
    from web.record_names import fold_engine_steps, object_names
    from web.signing import manifestation_html

    with database().read_session() as session:
        rows = list(session.execute(select(AuditEntry).where(AuditEntry.object_type == object_type,
                                                             AuditEntry.object_id == object_id)
                                    .order_by(AuditEntry.seq)).scalars())
        signatures = signatures_for(session, object_type, object_id)
        manifest = manifestation_html(signatures) if signatures else None
        entries = _views(session, rows)
        name = object_names(session, [(object_type, object_id)]).get((object_type, object_id))
    return render_template("audit/record.html", object_type=object_type, object_id=object_id, name=name,
                           entries=entries, folded_items=fold_engine_steps(entries), manifest=manifest)


@bp.post("/verify")
def verify():  # type: ignore[no-untyped-def]
    from audit.errors import AuditError
    from audit.verify import verify_trail

    try:
        report = verify_trail(database(), settings())
    except AuditError as exc:
        return render_template("audit/verify.html", ok=False, message=str(exc)), 200
    return render_template("audit/verify.html", ok=True, message=report.summary(), report=report)


@bp.post("/exports")
def export_start():  # type: ignore[no-untyped-def]
    """Start an export of the filtered trail in the background; its page shows the progress."""
    from web.export_jobs import FORMATS, start_job

    fmt = request.form.get("format", "")
    if fmt not in FORMATS:
        raise BadFilter(_("Unknown export format %(fmt)s.", fmt=fmt))
    flt = current_filter(request.form)
    job_id = start_job(settings(), g.user.user_id, fmt, flt.to_json(), flt.describe())
    return redirect(url_for("audit_ui.export_status", job_id=job_id))


def _job(job_id: str):  # type: ignore[no-untyped-def]
    from web.export_jobs import JobNotFound, job_status

    try:
        return job_status(settings(), job_id, g.user.user_id)
    except JobNotFound:
        raise ExportJobNotFound(_("There is no such export of yours (exports are kept for a day).")) from None


@bp.get("/exports/<job_id>")
def export_status(job_id: str):  # type: ignore[no-untyped-def]
    return render_template("audit/export.html", job=_job(job_id))


@bp.get("/exports/<job_id>.json")
def export_status_json(job_id: str):  # type: ignore[no-untyped-def]
    return jsonify(_job(job_id).as_json())


@bp.get("/exports/<job_id>/file")
def export_file(job_id: str):  # type: ignore[no-untyped-def]
    from web.export_jobs import FORMATS, JobNotFound, job_file

    job = _job(job_id)
    try:
        path = job_file(settings(), job_id, g.user.user_id)
    except JobNotFound:
        raise ExportJobNotFound(_("The export is not ready.")) from None
    return send_file(path, mimetype=FORMATS[job.format], as_attachment=True, download_name=job.file_name)


@bp.route("/review", methods=["GET", "POST"])
def review():  # type: ignore[no-untyped-def]
    from flask import g

    from audit.errors import ReviewError
    from audit.review import check_review, list_reviews, unreviewed_after
    from signatures.errors import SignatureError
    from signatures.review import sign_review
    from web.i18n import refusal_text
    from web.signing import manifestation_html, typed_credentials

    message, manifest, status = None, None, 200
    typed = {name: request.form.get(name, "") for name in ("first_seq", "last_seq", "comment")}
    if request.method == "POST":
        try:
            first, last = int(typed["first_seq"].strip()), int(typed["last_seq"].strip())
        except ValueError:
            message, status = _("The range must be two entry numbers."), 422
        else:
            try:
                with database().read_session() as session:
                    check_review(session, first, last, typed["comment"])  # nobody signs what cannot be recorded
                credentials = typed_credentials("sig", g.user.user_id)  # before the write transaction
                with unit_of_work() as uow:
                    _review, signature = sign_review(uow, first, last, typed["comment"], credentials,
                                                     g.user.session_id, settings())
                    uow.commit()
                    manifest = manifestation_html([signature])
            except ReviewError as exc:
                message, status = _review_problem(exc), 422
            except SignatureError as exc:
                message, status = refusal_text(exc), 422
            else:
                typed = {}
    with database().read_session() as session:
        reviews = list_reviews(session)
        pending = unreviewed_after(session)
    return render_template("audit/review.html", reviews=reviews, pending=pending, message=message,
                           manifest=manifest, typed=typed), status


def _review_problem(exc) -> str:  # type: ignore[no-untyped-def]
    """A review that cannot be recorded, worded for the auditor (audit.review.check_review's problems)."""
    context = getattr(exc, "context", {}) or {}
    problem = context.get("problem")
    if problem == "range":
        return _("Entries %(first)s to %(last)s are not a range: the first entry is 1 or more and the last is not "
                 "before the first.", first=context["first"], last=context["last"])
    if problem == "beyond":
        return _("The trail has %(head)s entries so far: a review can cover entries up to %(head)s, not %(last)s.",
                 head=context["head"], last=context["last"])
    if problem == "comment":
        return _("Please write a review comment: what you reviewed and what you found.")
    if problem == "comment_length":
        return _("The review comment has %(length)s characters; at most %(limit)s are kept. Please shorten it.",
                 length=context["length"], limit=context["limit"])
    return str(exc)
