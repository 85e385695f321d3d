"""Liveness and readiness."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import select

from audit.models import AuditHead

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    db = current_app.extensions["gmp.db"]
    with db.read_session() as session:
        head = session.execute(select(AuditHead.seq)).scalar_one_or_none()
    return jsonify(status="ok", audit_head=head)
