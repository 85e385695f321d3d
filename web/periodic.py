"""Periodic evaluation (A11-11): QA and auditors generate the report of a period, read it on a
page, download it as PDF/A, and QA signs it (Part 11 ceremony, meaning "reviewed").
Views over audit.periodic and web.periodic_core; `gmp report periodic` (web/report_cli.py) does the
same from a shell.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from web.periodic_core import MEANING, generate, pdf_bytes, report_record, signature_rows
from web.uow import database, settings, unit_of_work

bp = Blueprint("reports", __name__, url_prefix="/reports")


@bp.get("/periodic")
def index():  # type: ignore[no-untyped-def]
    return _index()


def _index(message: str | None = None, status: int = 200, form: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    from audit.periodic import list_reports

    with database().read_session() as session:
        reports = list_reports(session)
    return render_template("reports/periodic_index.html", reports=reports, message=message,
                           form=form or {}), status


@bp.post("/periodic")
def create():  # type: ignore[no-untyped-def]
    from audit.periodic import ReportError
    from store.canonical import Actor

    first, last = (request.form.get("from") or "").strip(), (request.form.get("to") or "").strip()
    user = g.user
    try:
        report_id = generate(database(), settings(), first, last, Actor(user.user_id, user.printed_name))
    except ReportError as exc:
        return _index(_("The report was not generated: %(reason)s", reason=str(exc)), 422, {"from": first, "to": last})
    return redirect(url_for("reports.show", report_id=report_id))


@bp.get("/periodic/<int:report_id>")
def show(report_id: int):  # type: ignore[no-untyped-def]
    return _show(report_id)


def _show(report_id: int, message: str | None = None, status: int = 200, manifest: Any = None):  # type: ignore[no-untyped-def]
    from audit.periodic import load_report, stored_content
    from web.signing import manifestation_html

    with database().read_session() as session:
        row = load_report(session, report_id)
        content = stored_content(row)
        signed = signature_rows(session, row)
        signatures = manifestation_html(signed) if signed else None
    return render_template("reports/periodic.html", row=row, content=content, signatures=signatures,
                           signed_by_me=any(s.signer_id == g.user.user_id for s in signed),
                           message=message, manifest=manifest, meaning=MEANING), status


@bp.get("/periodic/<int:report_id>.pdf")
def pdf(report_id: int):  # type: ignore[no-untyped-def]
    from audit.periodic import load_report

    with database().read_session() as session:
        row = load_report(session, report_id)
        body = pdf_bytes(session, row, settings())
    return Response(body, mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="periodic-report-{report_id}.pdf"'})


@bp.post("/periodic/<int:report_id>/sign")
def sign(report_id: int):  # type: ignore[no-untyped-def]
    from audit.periodic import load_report
    from signatures.errors import SignatureError
    from web.signing import manifestation_html, typed_credentials

    credentials = typed_credentials("sig", g.user.user_id)
    try:
        with unit_of_work() as uow:
            from signatures.service import sign as sign_record

            row = load_report(uow.session, report_id)
            signature = sign_record(uow, report_record(row), MEANING, credentials, g.user.session_id, settings(),
                                    reason=(request.form.get("comment") or "").strip() or None)
            uow.commit()
            manifest = manifestation_html([signature])
    except SignatureError as exc:
        return _show(report_id, str(exc), 422)
    return _show(report_id, manifest=manifest)
