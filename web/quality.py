"""Quality pages: the QA overview and the deviation report anyone can file.

- `/quality/` (QA overview): open deviations by class and age, CAPA actions due, document
  revisions under way, qualifications ending within 30 days, and a chart of the deviations
  opened per month by class (server-rendered SVG). Figures from bpmn.deviation_capa.overview.
- `/quality/deviations/new`: every business user reports a deviation on the process's own
  report form (bpmn/deviation_capa/forms/report.json, in the reader's language); the report
  starts the `deviation` process with it (context `source_kind: manual`), linked to the batch
  it names (which goes on hold). A bad entry is shown again with its errors; nothing is started.
"""
from __future__ import annotations

import json
from datetime import date
from typing import Any
from xml.sax.saxutils import escape

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup

from forms.errors import N_
from web.uow import database, settings, unit_of_work

bp = Blueprint("quality", __name__, url_prefix="/quality")

CLASS_LABELS = {"critical": N_("Critical"), "major": N_("Major"), "minor": N_("Minor"),
                "unclassified": N_("Not yet classified")}
CLASS_COLOURS = {"critical": "#b3261e", "major": "#e07b00", "minor": "#2f6db5", "unclassified": "#8a8f98"}


def report_form() -> tuple[dict[str, Any], dict[str, Any]]:
    from bpmn.deviation_capa import FOLDER

    return (json.loads((FOLDER / "forms" / "report.json").read_text(encoding="utf-8")),
            json.loads((FOLDER / "forms" / "report.ui.json").read_text(encoding="utf-8")))


def chart_svg(months: list[dict[str, Any]]) -> Markup:
    """Stacked bars: deviations opened per month, one colour per class, with axis, legend and a text equivalent."""
    width, height, left, bottom, top = 720, 260, 44, 40, 34
    plot_w, plot_h = width - left - 16, height - bottom - top
    classes = list(CLASS_LABELS)
    highest = max([m["total"] for m in months] + [1])
    step = max(1, -(-highest // 4))
    ceiling = step * 4
    bar_w = plot_w / max(len(months), 1)
    title = _("Deviations opened per month, by class")
    summary = "; ".join(f"{m['month']}: {m['total']}" for m in months if m["total"]) or _("none in these months")
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
             f'aria-labelledby="chart-title chart-desc" class="chart" data-testid="deviation-chart">',
             f'<title id="chart-title">{escape(title)}</title><desc id="chart-desc">{escape(summary)}</desc>']
    for i in range(5):
        y = top + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 16}" y2="{y:.1f}" stroke="#d9dce1" stroke-width="1"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#444">{step * i}</text>')
    for index, month in enumerate(months):
        x = left + index * bar_w + bar_w * 0.15
        y = top + plot_h
        for name in classes:
            count = month.get(name, 0)
            if not count:
                continue
            h = plot_h * count / ceiling
            y -= h
            label = f"{month['month']} · {_(CLASS_LABELS[name])}: {count}"
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w * 0.7:.1f}" height="{h:.1f}" '
                         f'fill="{CLASS_COLOURS[name]}" data-month="{month["month"]}" data-class="{name}" '
                         f'data-count="{count}"><title>{escape(label)}</title></rect>')
        parts.append(f'<text x="{x + bar_w * 0.35:.1f}" y="{top + plot_h + 16}" text-anchor="middle" font-size="10" '
                     f'fill="#444">{month["month"][2:]}</text>')
    x = left
    for name in classes:
        text = _(CLASS_LABELS[name])
        parts.append(f'<rect x="{x}" y="8" width="12" height="12" fill="{CLASS_COLOURS[name]}"/>'
                     f'<text x="{x + 16}" y="18" font-size="12" fill="#222">{escape(text)}</text>')
        x += 26 + 8 * len(text) if text.isascii() else 26 + 14 * len(text)
    parts.append("</svg>")
    return Markup("".join(parts))


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    from bpmn.deviation_capa.overview import overview

    with database().read_session() as session:
        found = overview(session)
    return render_template("quality/index.html", o=found, chart=chart_svg(found["months"]), labels=CLASS_LABELS,
                           colours=CLASS_COLOURS)


def _render_report(submission: Any = None, errors: Any = None, message: str | None = None, status: int = 200):  # type: ignore[no-untyped-def]
    from forms import render_form
    from web.i18n import current_language

    schema, ui = report_form()
    fields = render_form(schema, ui, submission=submission, errors=errors, gettext=_, language=current_language())
    return render_template("quality/report.html", fields=fields, message=message), status


@bp.get("/deviations/new")
def report():  # type: ignore[no-untyped-def]
    return _render_report()


class ReportRefused(Exception):
    """A report entry the form accepts but the plant does not (a date to come, an unknown batch)."""


def _check_report(session: Any, data: dict[str, Any]) -> None:
    from bpmn.deviation_capa.checks import resolve_batch, today
    from engine.errors import BusinessKeyError, InstanceNotFound

    occurred = data.get("occurred_on")
    if occurred and date.fromisoformat(str(occurred)[:10]) > today():
        raise ReportRefused(_("The date it happened (%(day)s) is after today: enter the day it happened.", day=occurred))
    batch = str(data.get("batch") or "").strip()
    if batch:
        try:
            resolve_batch(session, batch)
        except (InstanceNotFound, BusinessKeyError):
            raise ReportRefused(_("There is no batch %(batch)s: enter its batch number as on the batch record "
                                  "(e.g. B-2026-0001), or leave the field empty.", batch=batch)) from None


@bp.post("/deviations/new")
def file_report():  # type: ignore[no-untyped-def]
    from engine import instances
    from engine.business_keys import key_of
    from engine.errors import EngineError
    from forms import check_html_submission, parse_html_submission
    from forms.errors import FormInvalid
    from web.wording import refusal_text

    schema, ui = report_form()
    submission = parse_html_submission(schema, ui, request.form)
    try:
        checked = check_html_submission(schema, ui, submission, entered_by=g.user.user_id)
    except FormInvalid as exc:
        return _render_report(submission=submission, errors=exc, status=422)
    report_data = dict(checked.data.get("deviation") or {})
    try:
        with unit_of_work() as uow:
            _check_report(uow.session, report_data)
            context = {"source_kind": "manual", **{k: report_data[k] for k in ("batch", "equipment", "material")
                                                   if report_data.get(k)}}
            deviation = {**report_data, "context": context, "reported_by": g.user.user_id}
            title = str(report_data.get("title") or "").strip()
            started = instances.start(uow, "deviation", title=f"Deviation: {title}"[:200],
                                      data={"deviation": deviation}, settings=settings())
            key = key_of(uow.session, started.id) or f"#{started.id}"
            instance_id = started.id
            uow.commit()
    except ReportRefused as exc:
        return _render_report(submission=submission, message=str(exc), status=422)
    except EngineError as exc:
        return _render_report(submission=submission, message=refusal_text(exc),
                              status=getattr(exc, "http_status", 422))
    flash(_("Deviation %(key)s reported. QA triages it; it is in QA's inbox.", key=key), "info")
    return redirect(url_for("records.record", instance_id=instance_id))
