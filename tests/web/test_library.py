"""QA process library: upload, download, modeler and form-editor pages, live preview, save as draft,
approval by a second QA user with a signature (the author's own approval refused), compare."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from signatures import kdf, testing
from tests.web.test_access_matrix import open_session
from tests.web.test_operator import PROCESS

pytestmark = pytest.mark.req("P11-10k", "A11-10")


@pytest.fixture
def qa(app, db, settings, frozen_clock):  # type: ignore[no-untyped-def]
    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(db, settings)
        quinn = testing.enrolled_user(db, settings, admin, "quinn", "Quinn QA", ["qa"])
        quentin = testing.enrolled_user(db, settings, admin, "quentin", "Quentin QA", ["qa"])
    frozen_clock.advance(seconds=31)
    author, approver = app.test_client(), app.test_client()
    open_session(db, author, quinn)
    open_session(db, approver, quentin)
    return author, approver, quinn, quentin


def upload(client, reason="first version"):  # type: ignore[no-untyped-def]
    files = [(io.BytesIO((PROCESS / "dispense.bpmn").read_bytes()), "dispense.bpmn"),
             (io.BytesIO((PROCESS / "forms/weigh.json").read_bytes()), "weigh.json"),
             (io.BytesIO((PROCESS / "forms/weigh.ui.json").read_bytes()), "weigh.ui.json")]
    return client.post("/library/upload", data={"csrf_token": "walk-token", "reason": reason, "files": files},
                       content_type="multipart/form-data")


def test_upload_download_and_pages(qa):
    author, _, _, _ = qa
    response = upload(author)
    assert response.status_code == 302 and "/library/dispense" in response.headers["Location"]
    page = author.get("/library/dispense").get_data(as_text=True)
    assert 'data-version="1" data-status="draft"' in page and "forms/weigh.json" in page
    bpmn = author.get("/library/dispense/v1/files/dispense.bpmn")
    assert bpmn.status_code == 200 and b"<bpmn:process" in bpmn.data and "attachment" in bpmn.headers["Content-Disposition"]
    assert author.get("/library/dispense/v1/files/nothing.json").status_code == 404
    modeler = author.get("/library/dispense/v1/modeler").get_data(as_text=True)
    assert "bpmn-modeler.production.min.js" in modeler and "js/modeler.js" in modeler
    assert "data-gmp-labels" in modeler and "formJsonSchemaFilename" in modeler  # the GMP group's labels
    editor = author.get("/library/dispense/v1/form/forms/weigh.json").get_data(as_text=True)
    assert "x-gmp-calculated" in editor and "forms/weigh.ui.json" in editor
    assert "Dispense one material" in author.get("/library/").get_data(as_text=True)


def test_upload_errors(qa):
    author, _, _, _ = qa
    none = author.post("/library/upload", data={"csrf_token": "walk-token", "reason": "x"},
                       content_type="multipart/form-data")
    assert none.status_code == 422 and "Choose at least one .bpmn file." in none.get_data(as_text=True)
    wrong = author.post("/library/upload", data={"csrf_token": "walk-token", "reason": "x",
                                                 "files": [(io.BytesIO(b"x"), "notes.txt")]},
                        content_type="multipart/form-data")
    assert wrong.status_code == 422 and "notes.txt is neither" in wrong.get_data(as_text=True)
    no_reason = upload(author, reason="")
    assert no_reason.status_code == 422 and "reason" in no_reason.get_data(as_text=True)


def test_live_preview_is_rendered_by_the_server(qa):
    author, _, _, _ = qa
    schema = (PROCESS / "forms/weigh.json").read_text()
    ok = author.post("/library/preview", json={"schema": schema, "ui_schema": "{}"},
                     headers={"X-CSRF-Token": "walk-token"}).get_json()
    assert ok["ok"] and 'id="preview-f-net"' in ok["html"] and "Limits:" in ok["html"]
    bad = author.post("/library/preview", json={"schema": '{"type": "string"}'}, headers={"X-CSRF-Token": "walk-token"})
    assert bad.get_json() == {"ok": False, "error": "form definition invalid: a form schema must be of type 'object' "
                                                   "with at least one property"}
    broken = author.post("/library/preview", json={"schema": "{"}, headers={"X-CSRF-Token": "walk-token"}).get_json()
    assert not broken["ok"] and "Not valid JSON" in broken["error"]


@pytest.mark.req("URS-FRM-008", "URS-FRM-009", "URS-FRM-012", "URS-WEB-003")
def test_preview_renders_groups_and_repeating_rows_in_either_language(qa):
    author, _, _, _ = qa
    rows = Path(__file__).parent / "processes" / "dispense_rows" / "forms"
    schema, ui = (rows / "dispensing.json").read_text(), (rows / "dispensing.ui.json").read_text()
    for language, label, row in (("en", "Materials dispensed", "Row 1"), ("zh", "配料明细", "第 1 行")):
        answer = author.post("/library/preview", json={"schema": schema, "ui_schema": ui, "language": language},
                             headers={"X-CSRF-Token": "walk-token"}).get_json()
        assert answer["ok"] and answer["warnings"] == []
        html = answer["html"]
        assert label in html and row in html and 'name="f:materials.0.net"' in html and "<template" in html
        assert 'id="preview-f-balance_check-1-reading"' in html and "9.998 – 10.002 kg" in html
    nested = json.dumps({"type": "object", "properties": {
        "room": {"type": "object", "title": "Room", "properties": {"area": {"type": "string"}, "clean_by": {"type": "string"}}},
        "equipment_id": {"type": "string"}}})
    answer = author.post("/library/preview", json={"schema": nested}, headers={"X-CSRF-Token": "walk-token"}).get_json()
    assert answer["ok"] and '<fieldset class="gmp-group" id="preview-f-room"' in answer["html"]
    assert "Equipment id" in answer["html"] and ">equipment_id<" not in answer["html"]
    assert answer["warnings"] == ["equipment_id: no title (the label shows 'Equipment id')",
                                  "room.area: no title (the label shows 'Area')", "room.clean_by: no title (the label shows 'Clean by')"]


@pytest.mark.req("P11-10k", "A11-10", "A11-6", "P11-50a")
def test_second_qa_user_approves_with_a_signature_and_versions_compare(qa, db):
    author, approver, quinn, quentin = qa
    upload(author)
    own = author.post("/library/versions/1/approve", data={"csrf_token": "walk-token", "sig_password": quinn.password,
                                                           "sig_totp": testing.next_totp(db, quinn)})
    assert own.status_code == 403 and "may not approve it" in own.get_data(as_text=True)
    page = approver.get("/library/versions/1/approve").get_data(as_text=True)
    assert 'data-meaning="approved"' in page
    signed = approver.post("/library/versions/1/approve", data={"csrf_token": "walk-token",
                                                                "sig_password": quentin.password,
                                                                "sig_totp": testing.next_totp(db, quentin)})
    html = signed.get_data(as_text=True)
    assert signed.status_code == 200 and 'data-testid="version-status" data-status="approved">approved<' in html
    assert "Quentin QA" in html
    schema = json.loads((PROCESS / "forms/weigh.json").read_text())
    schema["properties"]["lot"]["minLength"] = 5
    saved = author.post("/library/dispense/v1/save", data={"csrf_token": "walk-token", "name": "forms/weigh.json",
                                                           "content": json.dumps(schema), "reason": "longer lot codes",
                                                           "ui_name": "forms/weigh.ui.json",
                                                           "ui_content": '{"lot": {"ui:help": "Six characters"}}'})
    assert saved.status_code == 302
    assert 'data-version="2" data-status="draft"' in author.get("/library/dispense").get_data(as_text=True)
    assert b"Six characters" in author.get("/library/dispense/v2/files/forms/weigh.ui.json").data
    bad_ui = author.post("/library/dispense/v1/save", data={"csrf_token": "walk-token", "name": "forms/weigh.json",
                                                            "content": "{}", "reason": "x", "ui_name": "evil.bpmn",
                                                            "ui_content": "{}"})
    assert bad_ui.status_code == 422
    compare = author.get("/library/dispense/compare?old=1&new=2")
    assert compare.status_code == 200 and "v1 → v2" in compare.get_data(as_text=True)
    bad_json = author.post("/library/dispense/v1/save", data={"csrf_token": "walk-token", "name": "forms/weigh.json",
                                                              "content": "{", "reason": "x"})
    assert bad_json.status_code == 422 and "is not valid JSON" in bad_json.get_data(as_text=True)
    assert author.get("/library/dispense/compare?old=1").status_code == 422
    started = author.post("/library/dispense/start", data={"csrf_token": "walk-token", "title": "B-7"})
    assert started.status_code == 302


def _latest_instance_version(db) -> int:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from engine import instances
    from engine.models import ProcessInstance

    with db.session() as s:
        return instances.inspect(s, s.scalar(select(func.max(ProcessInstance.id))))["version"]


def _approve(client, db, person, **extra):  # type: ignore[no-untyped-def]
    return client.post("/library/versions/2/approve", data={"csrf_token": "walk-token", "sig_password": person.password,
                                                            "sig_totp": testing.next_totp(db, person), **extra})


def test_a_version_approved_for_a_later_date_takes_over_on_that_date_in_the_library(qa, db, frozen_clock):
    """The approve dialog takes an effective date: refused in the past or not a date (en + zh, nothing
    stored), else the page says "approved, effective from"; the previous version starts instances until
    the date comes on the product clock, then the new one (no job)."""
    from tests.web.test_wording import zh

    author, approver, quinn, quentin = qa
    upload(author)
    assert approver.post("/library/versions/1/approve", data={
        "csrf_token": "walk-token", "sig_password": quentin.password,
        "sig_totp": testing.next_totp(db, quentin)}).status_code == 200
    upload(author, reason="CC-061: from 10 January")
    past = _approve(approver, db, quentin, effective_from="2026-01-04")
    assert past.status_code == 422
    assert ("The version cannot take effect on 2026-01-04: that day is in the past. Choose today or a later date, "
            "or leave the date empty for at once.") in past.get_data(as_text=True)
    frozen_clock.advance(seconds=31)  # a fresh TOTP window
    wrong = _approve(approver, db, quentin, effective_from="10/01/2026")
    assert wrong.status_code == 422 and "The effective date is not a date" in wrong.get_data(as_text=True)
    zh(approver)
    frozen_clock.advance(seconds=31)
    past_zh = _approve(approver, db, quentin, effective_from="2026-01-01")
    assert past_zh.status_code == 422 and "该版本不能于 2026-01-01 生效：该日期已过去" in past_zh.get_data(as_text=True)
    page = author.get("/library/dispense").get_data(as_text=True)
    assert 'data-version="2" data-status="draft"' in page and 'data-version="1" data-status="approved"' in page

    frozen_clock.advance(seconds=31)
    dated = _approve(approver, db, quentin, effective_from="2026-01-10")
    html = dated.get_data(as_text=True)
    assert dated.status_code == 200, html
    assert 'data-status="scheduled">已批准，自 2026-01-10 00:00:00 UTC 起生效<' in html and "Quentin QA" in html
    page = author.get("/library/dispense").get_data(as_text=True)
    assert 'data-version="1" data-status="approved"' in page and 'data-version="2" data-status="scheduled"' in page
    assert "approved, effective from 2026-01-10 00:00:00 UTC" in page
    assert author.post("/library/dispense/start", data={"csrf_token": "walk-token", "title": "B-8"}).status_code == 302
    assert _latest_instance_version(db) == 1

    frozen_clock.advance(days=5)  # 2026-01-10 08:01: no job ran
    open_session(db, author, quinn)  # signed in afresh (the session timed out)
    page = author.get("/library/dispense").get_data(as_text=True)
    assert 'data-version="1" data-status="superseded"' in page and 'data-version="2" data-status="approved"' in page
    assert "in force since 2026-01-10 00:00:00 UTC" in page
    assert author.post("/library/dispense/start", data={"csrf_token": "walk-token", "title": "B-9"}).status_code == 302
    assert _latest_instance_version(db) == 2
