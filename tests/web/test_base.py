"""Web base: error handler, CSRF, cookies and headers, languages, unit of work."""
from __future__ import annotations

import pytest
from flask import Flask

from core.errors import Conflict, GmpError, NotFound
from forms import FieldError, FormInvalid
from tests.web.conftest import csrf_of
from web.errors import CsrfRefused, handle_error


def test_start_page_renders_accessible_layout(client):
    response = client.get("/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<html lang="en">' in html and 'href="#main"' in html and '<main id="main"' in html
    assert 'name="viewport"' in html and "css/app.css" in html


def test_static_assets_are_served(client):
    response = client.get("/static/css/app.css")
    assert response.status_code == 200 and b"box-sizing" in response.data


@pytest.mark.req("URS-WEB-001")
@pytest.mark.parametrize("exc,status", [(GmpError("plain refusal"), 400), (NotFound("no batch B-1"), 404),
                                        (Conflict("already claimed"), 409), (CsrfRefused("stale form"), 400)])
def test_one_error_handler_for_gmp_errors_html_and_json(app: Flask, exc, status):
    with app.test_request_context("/x", headers={"Accept": "text/html"}):
        body, code = handle_error(exc)
        assert code == status and str(exc) in body and f'data-status="{status}"' in body
    with app.test_request_context("/api/x"):
        response, code = handle_error(exc)
        assert code == status
        assert response.get_json() == {"error": type(exc).__name__, "status": status,
                                       "title": response.get_json()["title"], "message": str(exc)}


@pytest.mark.req("URS-WEB-001")
def test_form_errors_come_with_their_fields(app: Flask):
    exc = FormInvalid([FieldError("tare", "required", "This field is required.")])
    with app.test_request_context("/api/x"):
        response, code = handle_error(exc)
    assert code == 422 and response.get_json()["fields"] == {"tare": ["This field is required."]}


def test_unexpected_errors_hide_details(app: Flask):
    with app.test_request_context("/api/x"):
        response, code = handle_error(RuntimeError("secret internals"))
    body = response.get_json()
    assert code == 500 and "secret" not in body["message"] and body["reference"] in body["message"]


def test_unknown_page_is_404_in_html_and_json(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404 and "There is no page at this address." in response.get_data(as_text=True)
    response = client.get("/api/nothing")
    assert response.status_code == 404 and response.get_json()["error"] == "NotFound"
    response = client.delete("/")
    assert response.status_code == 405


@pytest.mark.req("URS-WEB-002")
def test_csrf_token_is_required_on_every_post(client):
    refused = client.post("/language", data={"language": "zh"})
    assert refused.status_code == 400 and "reload the page" in refused.get_data(as_text=True)
    wrong = client.post("/language", data={"language": "zh", "csrf_token": "forged"})
    assert wrong.status_code == 400
    token = csrf_of(client)
    assert client.post("/language", data={"language": "zh", "csrf_token": token}).status_code == 302
    assert client.post("/language", data={"language": "en"}, headers={"X-CSRF-Token": token}).status_code == 302


@pytest.mark.req("URS-WEB-002")
def test_cookie_flags_and_security_headers(client):
    response = client.get("/")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "gmp_session=" in cookie
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"


def test_secure_cookie_by_configuration(settings):
    from app import create_app

    app = create_app({"instance_path": settings.instance_path, "database_url": settings.database_url,
                      "secret_key": settings.secret_key, "server_key_passphrase": "x", "session_cookie_secure": True})
    try:
        cookie = app.test_client().get("/").headers["Set-Cookie"]
        assert "Secure" in cookie
    finally:
        app.extensions["gmp.db"].dispose()


@pytest.mark.req("URS-WEB-003")
def test_language_is_chosen_per_session(client):
    token = csrf_of(client)
    response = client.post("/language", data={"language": "zh", "csrf_token": token, "next": "/"})
    assert response.headers["Location"] == "/"
    html = client.get("/").get_data(as_text=True)
    assert '<html lang="zh-CN">' in html and "用于GMP工作的电子记录与电子签名。" in html
    refused = client.post("/language", data={"language": "fr", "csrf_token": token})
    assert refused.status_code == 422 and "未知语言 fr" in refused.get_data(as_text=True)
    offsite = client.post("/language", data={"language": "en", "csrf_token": token, "next": "//evil.example"})
    assert offsite.headers["Location"] == "/"
