"""Web fixtures: the real application against a migrated test database (SQLite and PostgreSQL)."""
from __future__ import annotations

import re
from typing import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import TEST_PASSPHRASE, TEST_SECRET


@pytest.fixture
def app(settings, runtime) -> Iterator[Flask]:  # type: ignore[no-untyped-def]
    """The application, on this test's engine runtime with the process library's parts added
    (a test registers its own gates on `runtime` and the application uses them)."""
    from app import create_app
    from bpmn.glue import extend

    application = create_app({"instance_path": settings.instance_path, "database_url": settings.database_url,
                              "secret_key": TEST_SECRET, "server_key_passphrase": TEST_PASSPHRASE},
                             runtime=extend(runtime))
    application.config["TESTING"] = True
    yield application
    application.extensions["gmp.db"].dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def csrf_of(client: FlaskClient) -> str:
    """The session's CSRF token, as a page would embed it."""
    page = client.get("/").get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token on the start page"
    return match.group(1)
