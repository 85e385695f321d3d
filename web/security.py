"""CSRF protection (a per-session token checked on every unsafe request) and security headers.

The token lives in the signed session cookie; every form carries it as `csrf_token`,
scripts send it as the `X-CSRF-Token` header. A missing or wrong token refuses the
request before any view runs, and changes nothing.
"""
from __future__ import annotations

import hmac
import re
import secrets
from urllib.parse import unquote

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


# A path of the RFC 3986 characters a URL path may hold literally (no backslash, no space, no control
# character, nothing outside ASCII), then optionally a query and/or fragment of printable ASCII.
_PATH = re.compile(r"/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*")
_REST = re.compile(r"[?#][\x21-\x5b\x5d-\x7e]*")  # printable ASCII without the backslash


def safe_next(target: str | None) -> str | None:
    r"""`target` if it is a same-site relative path after normalisation, else None.

    Redirect targets (`next`) come from the request, so they are allowed only as an absolute
    path on this site: it starts with one "/", holds only the characters a path may hold
    literally, and neither it nor its percent-decoded form (decoded until stable) has a
    backslash, a control or space character, an empty segment ("//", which browsers read as
    another host) or a "." / ".." segment. Tabs and newlines, which browsers silently drop
    ("/\t/evil.example" becomes "//evil.example"), are refused, as are schemes, hosts and
    anything that is not ASCII.
    """
    if not target or not isinstance(target, str):
        return None
    cut = min([i for i in (target.find("?"), target.find("#")) if i >= 0], default=len(target))
    path, rest = target[:cut], target[cut:]
    if not _PATH.fullmatch(path) or (rest and not _REST.fullmatch(rest)):
        return None
    decoded = path
    for _ in range(5):
        once = unquote(decoded)
        if once == decoded:
            break
        decoded = once
    else:
        return None  # still decoding after five rounds: not a path anyone types
    if "\\" in decoded or any(ord(ch) < 0x21 or ord(ch) == 0x7f for ch in decoded):
        return None
    segments = decoded.split("/")[1:]
    if not decoded.startswith("/") or any(segment in ("", ".", "..") for segment in segments[:-1]) \
            or segments[-1] in (".", ".."):
        return None
    return target


def init_app(app: Flask) -> None:
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.after_request(security_headers)
