"""The one place where errors become answers (HTML page or JSON).

Every `core.errors.GmpError` answers with its `http_status` and its message; HTTP
errors (404, 405, ...) get the same page; anything unexpected answers 500 with a
reference number and is logged, never shown.
"""
from __future__ import annotations

import logging
import secrets
from typing import Any

from flask import Flask, current_app, g, jsonify, render_template, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from core.errors import GmpError, PermissionDenied
from forms.errors import N_

log = logging.getLogger("gmp.web")


class WebError(GmpError):
    """Root of errors raised by the web layer itself."""


class CsrfRefused(WebError):
    """The form was not sent with this session's anti-forgery token."""

    http_status = 400


class SignInRequired(WebError):
    http_status = 401


class RouteNotInMatrix(PermissionDenied, WebError):
    """A route that the role x URL matrix does not list is refused (fail closed)."""


class RoleRefused(PermissionDenied, WebError):
    """The signed-in user's roles do not allow this page (P11-10g)."""


TITLES = {
    400: N_("The request was refused"),
    401: N_("Please sign in"),
    403: N_("Access refused"),
    404: N_("Not found"),
    405: N_("Not allowed"),
    409: N_("Conflict"),
    413: N_("Too large"),
    422: N_("Please correct the entries"),
    423: N_("Locked"),
    500: N_("Something went wrong"),
}


def wants_json() -> bool:
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def answer(status: int, error: str, message: str, **extra: Any):  # type: ignore[no-untyped-def]
    title = _(TITLES.get(status, TITLES[500 if status >= 500 else 400]))
    if wants_json():
        return jsonify(error=error, status=status, title=title, message=message, **extra), status
    return render_template("error.html", status=status, title=title, message=message, error=error, **extra), status


def handle_error(exc: Exception):  # type: ignore[no-untyped-def]
    if request.path == "/api/v1" or request.path.startswith("/api/v1/"):
        from web.api.answers import api_answer

        return api_answer(exc)  # the API's own JSON errors, each naming its field
    if isinstance(exc, SignInRequired) and not wants_json():
        from flask import redirect, url_for

        return redirect(url_for("auth.login", next=request.full_path if request.method == "GET" else None))
    if isinstance(exc, GmpError):
        from web.wording import needs_accountability, refusal_text

        extra: dict[str, Any] = {}
        if hasattr(exc, "errors") and isinstance(getattr(exc, "errors"), dict):
            extra["fields"] = exc.errors  # FormInvalid: per-field messages
        if needs_accountability(exc) and "signing.accountability" in current_app.view_functions:
            back = request.referrer if request.method != "GET" else request.full_path
            extra["action"] = (url_for("signing.accountability", next=back if _local(back) else None),
                               _("Read and sign the accountability statement"))
        if getattr(exc, "template", None):  # a gate's refusal: which gate, which code
            extra.update(gate=getattr(exc, "gate", None), code=getattr(exc, "code", None))
        return answer(exc.http_status, type(exc).__name__, refusal_text(exc), **extra)
    if isinstance(exc, HTTPException):
        status = exc.code or 500
        return answer(status, type(exc).__name__, _(TITLES.get(status, exc.name)) if status != 404 else
                      _("There is no page at this address."))
    reference = secrets.token_hex(4)
    log.exception("unexpected error %s on %s %s", reference, request.method, request.path)
    g.pop("uow_error", None)
    return answer(500, "InternalError", _("An unexpected error occurred (reference %(ref)s). Nothing was saved.",
                                          ref=reference), reference=reference)


def _local(target: str | None) -> bool:
    """A path on this site (never an absolute URL elsewhere: no open redirect)."""
    if not target:
        return False
    if target.startswith(request.host_url):
        return True
    return target.startswith("/") and not target.startswith("//")


def init_app(app: Flask) -> None:
    app.register_error_handler(Exception, handle_error)
