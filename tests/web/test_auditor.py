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


def _table(page: str) -> str:
    return page[page.index('<table class="audit-entries">'):]


def test_trail_lists_and_filters_entries(auditor):
    client, _ = auditor
    page = client.get("/audit/").get_data(as_text=True)
    assert "user.created" in _table(page) and 'data-seq="1"' in page
    filtered = _table(client.get("/audit/?user=audrey&action=accountability.signed").get_data(as_text=True))
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


def _wait_for_job(client, location, timeout=120.0):  # type: ignore[no-untyped-def]
    """Poll the job's JSON until it has finished (a condition, not a fixed sleep)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        status = client.get(location + ".json").get_json()
        if status["state"] not in ("queued", "running"):
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.2)


@pytest.mark.req("URS-AUD-008")
@pytest.mark.parametrize("fmt,marker", [("jsonl", b'"format"'), ("csv", b"seq"), ("pdf", b"%PDF")])
def test_exports_run_in_the_background_and_offer_the_file(auditor, fmt, marker):
    client, _ = auditor
    started = client.post("/audit/exports", data={"csrf_token": "walk-token", "format": fmt, "user": "audrey"})
    assert started.status_code == 302 and "/audit/exports/" in started.headers["Location"]
    location = started.headers["Location"]
    status = _wait_for_job(client, location)
    assert status["state"] == "ready" and status["percent"] == 100 and status["entries"] >= 1, status
    page = client.get(location).get_data(as_text=True)
    assert 'data-state="ready"' in page and "The file is ready" in page and "Filters: user audrey" in page
    response = client.get(location + "/file")
    assert response.status_code == 200 and marker in response.data[:400]
    assert f"audit-trail.{fmt}" in response.headers["Content-Disposition"]


def test_export_errors(auditor, app, db, settings):
    client, _ = auditor
    assert client.post("/audit/exports", data={"csrf_token": "walk-token", "format": "xml"}).status_code == 422
    assert client.get("/audit/exports/no-such-job").status_code == 404
    failed = client.post("/audit/exports", data={"csrf_token": "walk-token", "format": "pdf", "user": "nobody"})
    status = _wait_for_job(client, failed.headers["Location"])
    assert status["state"] == "failed" and "no audit entries match the filters" in status["error"]
    assert "The export failed: no audit entries match the filters" in client.get(failed.headers["Location"]) \
        .get_data(as_text=True)
    assert client.get(failed.headers["Location"] + "/file").status_code == 404
    # another user's job does not exist for this one
    with kdf.unsafe_fast_kdf():
        from signatures.models import UserAccount

        with db.session() as s:
            secret = s.get(UserAccount, "admin").totp_secret
        admin = testing.Person("admin", "Ada Admin", testing.DEFAULT_PASSWORD, secret)
        quinn = testing.enrolled_user(db, settings, admin, "quinn", "Quinn QA", ["qa"])
    other = app.test_client()
    open_session(db, other, quinn)
    assert other.get(failed.headers["Location"]).status_code == 404


@pytest.mark.req("URS-AUD-008")
def test_a_running_export_shows_its_progress_and_refreshes(auditor, settings):
    """The status page of a job in progress (its status file as the job process writes it)."""
    import json
    import time

    client, _ = auditor
    folder = settings.instance / "exports" / "job-in-progress"
    folder.mkdir(parents=True)
    (folder / "job.json").write_text(json.dumps({"id": "job-in-progress", "user_id": "audrey", "format": "pdf",
                                                 "filters": {}, "described": "", "requested_at":
                                                 "2026-01-05T08:00:00.000000Z"}))
    (folder / "status.json").write_text(json.dumps({"state": "running", "done": 5000, "total": 20000, "entries": 0,
                                                    "updated": time.time()}))
    page = client.get("/audit/exports/job-in-progress").get_data(as_text=True)
    assert 'data-state="running"' in page and "Working: 5000 of 20000 entries (25 %)." in page
    assert '<meta http-equiv="refresh" content="2">' in page and '<progress max="100" value="25"' in page
    assert client.get("/audit/exports/job-in-progress/file").status_code == 404
    (folder / "status.json").write_text(json.dumps({"state": "running", "done": 5000, "total": 20000,
                                                    "updated": time.time() - 3600}))
    page = client.get("/audit/exports/job-in-progress").get_data(as_text=True)
    assert 'data-state="interrupted"' in page and "Start it again" in page and 'content="2"' not in page


def test_filters_offer_choices_and_match_actions_by_prefix(auditor):
    client, _ = auditor
    page = client.get("/audit/").get_data(as_text=True)
    assert '<option value="user">user</option>' in page  # record types found in the trail
    assert '<option value="audrey">Audrey Auditor</option>' in page  # users
    assert '<option value="accountability."></option>' in page and '<option value="user.created"></option>' in page
    prefix = client.get("/audit/?action=accountability").get_data(as_text=True)
    assert "accountability.signed" in _table(prefix) and "user.created" not in _table(prefix)
    assert "Filters: action accountability*" in prefix


@pytest.mark.req("URS-AUD-005", "P11-200a1", "P11-50a")
def test_signed_review_through_the_signature_dialog(auditor, db):
    client, person = auditor
    page = client.get("/audit/review").get_data(as_text=True)
    assert 'data-meaning="reviewed"' in page and "Reviewed" in page
    form = {"csrf_token": "walk-token", "first_seq": "1", "last_seq": "2", "comment": "no findings",
            "sig_password": person.password}
    missing = client.post("/audit/review", data=form)
    assert missing.status_code == 422  # worded for the reader (web.wording): the code is missing
    assert "Please enter your password and the code from your authenticator app to sign." in \
        missing.get_data(as_text=True)
    signed = client.post("/audit/review", data={**form, "sig_totp": testing.next_totp(db, person)})
    html = signed.get_data(as_text=True)
    assert signed.status_code == 200 and "Audrey Auditor" in html and "signature-manifestations" in html
    # later signing in the same continuous session: the password is enough
    assert "not needed again in this session" in client.get("/audit/review").get_data(as_text=True)
    again = client.post("/audit/review", data={**form, "first_seq": "3", "last_seq": "3"})
    assert again.status_code == 200, again.get_data(as_text=True)
    bad = client.post("/audit/review", data={**form, "first_seq": "x"})
    assert bad.status_code == 422 and "two entry numbers" in bad.get_data(as_text=True)


@pytest.mark.req("URS-AUD-004", "CN-6")
def test_the_time_is_shown_once_when_the_site_zone_is_utc(auditor, app, settings):
    """The trail printed "08:01:33 UTC" over "08:01:33 UTC" for a site in UTC; another zone adds its time."""
    from app import create_app
    from tests.conftest import TEST_PASSPHRASE, TEST_SECRET

    client, person = auditor
    page = client.get("/audit/").get_data(as_text=True)
    assert 'class="site-time"' not in page and "Times are shown in UTC, the site time zone." in page
    first = _table(page).split('data-seq="1"')[1].split("</tr>")[0]
    assert first.count(" UTC") == 1, first
    shanghai = create_app({"instance_path": settings.instance_path, "database_url": settings.database_url,
                           "secret_key": TEST_SECRET, "server_key_passphrase": TEST_PASSPHRASE,
                           "site_timezone": "Asia/Shanghai"}, runtime=app.extensions["gmp.runtime"])
    try:
        other = shanghai.test_client()
        open_session(shanghai.extensions["gmp.db"], other, person)
        page = other.get("/audit/").get_data(as_text=True)
        first = _table(page).split('data-seq="1"')[1].split("</tr>")[0]
        assert " UTC</time>" in first and '<small class="site-time">' in first and " CST</small>" in first
        assert "Times are shown in UTC and in the site time zone (Asia/Shanghai)." in page
        from web.times import when  # records and their printouts: `{{ value|when }}`

        with shanghai.app_context():
            assert when("2026-01-05T08:01:33.000000Z") == "2026-01-05 08:01:33 UTC (16:01:33 CST)"
            assert when("2026-01-05T20:01:33.000000Z") == "2026-01-05 20:01:33 UTC (2026-01-06 04:01:33 CST)"
            assert when("not a time") == "not a time" and when(None) == ""
        with app.app_context():
            assert when("2026-01-05T08:01:33.000000Z") == "2026-01-05 08:01:33 UTC"
    finally:
        shanghai.extensions["gmp.db"].dispose()


@pytest.mark.req("URS-AUD-005", "P11-200a1")
def test_a_review_that_cannot_be_recorded_is_refused_before_anyone_signs(auditor, db):
    """Refusals read for the auditor, the typed range and comment stay, and no signature is made."""
    from sqlalchemy import func, select

    from audit.models import AuditEntry
    from signatures.models import Signature

    client, person = auditor
    with db.session() as session:
        head = session.execute(select(func.max(AuditEntry.seq))).scalar_one()
    form = {"csrf_token": "walk-token", "first_seq": "1", "last_seq": str(head + 50), "comment": "checked 1 to the end",
            "sig_password": person.password, "sig_totp": testing.next_totp(db, person)}
    beyond = client.post("/audit/review", data=form)
    html = beyond.get_data(as_text=True)
    assert beyond.status_code == 422
    assert f"a review can cover entries up to {head}, not {head + 50}" in html
    assert f'value="{head + 50}"' in html and "checked 1 to the end</textarea>" in html
    backwards = client.post("/audit/review", data={**form, "first_seq": "3", "last_seq": "2"})
    assert backwards.status_code == 422 and "Entries 3 to 2 are not a range" in backwards.get_data(as_text=True)
    empty = client.post("/audit/review", data={**form, "last_seq": "2", "comment": "  "})
    assert empty.status_code == 422 and "Please write a review comment" in empty.get_data(as_text=True)
    long = client.post("/audit/review", data={**form, "last_seq": "2", "comment": "x" * 4001})
    assert long.status_code == 422 and "has 4001 characters; at most 4000 are kept" in long.get_data(as_text=True)
    with db.session() as session:
        assert session.execute(select(func.count()).select_from(Signature)).scalar_one() == 0
        assert session.execute(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "signature.created")).scalar_one() == 0
    # the code typed with the refused forms was never used: it signs the review now
    signed = client.post("/audit/review", data={**form, "last_seq": "2"})
    assert signed.status_code == 200 and "signature-manifestations" in signed.get_data(as_text=True)
    refused = client.post("/audit/review", data={**form, "last_seq": "2", "sig_password": "wrong password"})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422 and 'role="alert"' in html and "Traceback" not in html
    assert 'value="2"' in html and "checked 1 to the end</textarea>" in html
