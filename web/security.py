"""CSRF protection (a per-session token checked on every unsafe request) and security headers.

The token lives in the signed session cookie; every form carries it as `csrf_token`,
scripts send it as the `X-CSRF-Token` header. A missing or wrong token refuses the
request before any view runs, and changes nothing.
"""
from __future__ import annotations

import hmac
import secrets

from flask import Flask, Response, g, request, session

from web.errors import CsrfRefused

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
FIELD = "csrf_token"
HEADER = "X-CSRF-Token"


def csrf_token() -> str:
    token = session.get(FIELD)
    if not token:
        token = session[FIELD] = secrets.token_urlsafe(32)
    return str(token)


def check_csrf() -> None:
    if request.method in SAFE_METHODS or request.routing_exception is not None:
        return  # no route (404/405): the error handler answers
    if g.get("api") is not None:
        return  # the API: a bearer token, never a cookie, authenticates the call (web.api.auth)
    expected = session.get(FIELD)
    sent = request.headers.get(HEADER) or request.form.get(FIELD)
    if not expected or not sent or not hmac.compare_digest(str(expected), str(sent)):
        raise CsrfRefused("the form has expired or was not sent from this application: reload the page and try again")


def security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'")
    if request.endpoint and request.endpoint != "assets.static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.after_request(security_headers)
