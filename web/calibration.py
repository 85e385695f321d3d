"""The instrument status board: every instrument in force, its calibration status computed on the
product clock (what the equipment gate decides), due date and open work order, coloured by status
(bpmn.calibration.service.board)."""
from __future__ import annotations

from flask import Blueprint, render_template

from web.uow import database

bp = Blueprint("calibration", __name__, url_prefix="/calibration")


@bp.get("/")
def board():  # type: ignore[no-untyped-def]
    from bpmn.calibration.service import board as instrument_board
    from core import clock

    with database().read_session() as session:
        rows = instrument_board(session)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return render_template("calibration/board.html", rows=rows, counts=counts, today=clock.now().date().isoformat())
