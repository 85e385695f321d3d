"""The active-permits board: every special-work permit with its location, work type, time window
and status (bpmn.work_permit.board), newest first; closed and cancelled ones on request."""
from __future__ import annotations

from flask import Blueprint, render_template, request

from web.uow import database

bp = Blueprint("work_permit", __name__, url_prefix="/permits")


@bp.get("/")
def board():  # type: ignore[no-untyped-def]
    from bpmn.work_permit.board import permits

    include_closed = request.args.get("all") == "1"
    with database().read_session() as session:
        rows = permits(session, include_closed=include_closed)
    return render_template("work_permit/board.html", rows=rows, include_closed=include_closed)
