"""Auditor pages: trail with filters, record history with signatures, verify, exports, signed review."""
from __future__ import annotations

import pytest

from signatures import kdf, testing
from tests.web.test_access_matrix import open_session

pytestmark = pytest.mark.req("URS-AUD-004", "A11-9", "P11-10e")


@pytest.fixture
def auditor(app, db, settings, frozen_clock):  # type: ignore[no-untyped-def]
    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(db, settings)
        person = testing.enrolled_user(db, settings, admin, "audrey", "Audrey Auditor", ["auditor"])
    client = app.test_client()
    open_session(db, client, person)
    return client, person


def test_trail_lists_and_filters_entries(auditor):
    client, _ = auditor
    page = client.get("/audit/").get_data(as_text=True)
    assert "user.created" in page and 'data-seq="1"' in page
    filtered = client.get("/audit/?user=audrey&action=accountability.signed").get_data(as_text=True)
    assert "accountability.signed" in filtered and "user.created" not in filtered
    assert client.get("/audit/?since=2026-13-01").status_code == 422
    assert client.get("/audit/?since=2026-02-01&until=2026-01-01").status_code == 422
    assert client.get("/audit/?object_id=x").status_code == 422


def test_record_history_shows_signatures(auditor, db, settings):
    client, person = auditor
    page = client.get("/audit/record/user/audrey").get_data(as_text=True)
    assert "user.created" in page and "History of user/audrey" in page


def test_one_click_verification(auditor):
    client, _ = auditor
    page = client.post("/audit/verify", data={"csrf_token": "walk-token"}).get_data(as_text=True)
    assert 'data-ok="true"' in page and "audit trail intact" in page


@pytest.mark.parametrize("fmt,marker", [("jsonl", b'"format"'), ("csv", b"seq"), ("pdf", b"%PDF")])
def test_exports_download(auditor, fmt, marker):
    client, _ = auditor
    response = client.get(f"/audit/export.{fmt}?user=audrey")
    assert response.status_code == 200 and marker in response.data[:400]
    assert f"audit-trail.{fmt}" in response.headers["Content-Disposition"]


def test_export_errors(auditor):
    client, _ = auditor
    assert client.get("/audit/export.xml").status_code == 422


@pytest.mark.req("URS-AUD-005", "P11-200a1", "P11-50a")
def test_signed_review_through_the_signature_dialog(auditor, db):
    client, person = auditor
    page = client.get("/audit/review").get_data(as_text=True)
    assert 'data-meaning="reviewed"' in page and "Reviewed" in page
    form = {"csrf_token": "walk-token", "first_seq": "1", "last_seq": "2", "comment": "no findings",
            "sig_password": person.password}
    missing = client.post("/audit/review", data=form)
    assert missing.status_code == 422 and "needs user ID, password and TOTP" in missing.get_data(as_text=True)
    signed = client.post("/audit/review", data={**form, "sig_totp": testing.next_totp(db, person)})
    html = signed.get_data(as_text=True)
    assert signed.status_code == 200 and "Audrey Auditor" in html and "signature-manifestations" in html
    # later signing in the same continuous session: the password is enough
    assert "not needed again in this session" in client.get("/audit/review").get_data(as_text=True)
    again = client.post("/audit/review", data={**form, "first_seq": "3", "last_seq": "3"})
    assert again.status_code == 200, again.get_data(as_text=True)
    bad = client.post("/audit/review", data={**form, "first_seq": "x"})
    assert bad.status_code == 422 and "two entry numbers" in bad.get_data(as_text=True)
