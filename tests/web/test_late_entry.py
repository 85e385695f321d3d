"""Business continuity (A11-16): a printed blank record of a step (task page, library), and the
paper entries made afterwards as late entries, shown as late on the record page, JSON, PDF and in
the audit trail."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from signatures import testing
from tests.web.test_access_matrix import open_session
from tests.web.test_operator import form, plant, task_id  # noqa: F401  (fixture)
from tests.web.test_periodic import flat, pdf_text

pytestmark = pytest.mark.req("URS-OPS-006", "A11-16", "ALCOA-CONTEMPORANEOUS")


def test_blank_record_of_a_task_and_of_a_process_version(plant, app, db, tmp_path):  # noqa: F811
    client, people = plant
    tid = task_id(client)
    page = client.get(f"/tasks/{tid}").get_data(as_text=True)
    assert f'href="/tasks/{tid}/blank.pdf"' in page and 'id="late-entry"' in page
    response = client.get(f"/tasks/{tid}/blank.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = pdf_text(response.data, tmp_path)
    for expected in ("Blank record 空白记录: Weigh the material (#1)", "Instance No. / 实例编号 #1", "Batch B-001",
                     "Business key / 业务键", "Weigh the material", "Value / 数值", "9.5 – 10.5 kg",
                     "critical: verified by a second person",
                     "Performed / 操作", "Verified (second person) / 复核（第二人）",
                     "Transcribed into the system (late entry) / 补录入系统",
                     "Alice Operator (alice)", "late entry with the original time"):
        assert flat(expected) in text, expected
    qa = app.test_client()
    open_session(db, qa, people["quinn"])
    assert 'data-testid="blank-record"' in qa.get("/library/dispense").get_data(as_text=True)
    library = qa.get("/library/dispense/v1/blank.pdf")
    assert library.status_code == 200
    text = pdf_text(library.data, tmp_path)
    assert flat("Step / 步骤 1: Weigh the material") in text and flat("(dispense) v1 [approved]") in text
    assert flat("Instance No. / 实例编号") in text and "#1" not in text
    assert qa.get("/library/dispense/v9/blank.pdf").status_code == 404
    assert client.get("/library/dispense/v1/blank.pdf").status_code == 403  # operators print from their task


def late_form(db, people, **late):  # type: ignore[no-untyped-def]
    alice, bob = people["alice"], people["bob"]
    return {**form(people), "sig_password": alice.password, "sig_totp": testing.next_totp(db, alice),
            "sig2_user_id": "bob", "sig2_password": bob.password, "sig2_totp": testing.next_totp(db, bob),
            "late_entry": "1", "late_at": "2026-01-05T09:15", "late_by": "bob",
            "late_reason": "system outage 09:00–11:00, paper record BR-17 / 系统停机", **late}


@pytest.mark.parametrize("late,message", [
    ({"late_at": "2026-01-05T13:00"}, "is in the future"),
    ({"late_at": "2026-01-05T07:59"}, "before the task was ready (2026-01-05 08:00 UTC)"),
    ({"late_at": "yesterday"}, "give the date and time the work was done on paper"),
    ({"late_reason": "  "}, "give the reason"),
    ({"late_reason": "x" * 1001}, "longer than 1000 characters"),
    ({"late_by": "nobody"}, "give the user ID of the person who did the work on paper"),
    ({"late_by": ""}, "give the user ID of the person who did the work on paper"),
])
def test_an_impossible_late_entry_is_refused_and_changes_nothing(plant, db, frozen_clock, late, message):  # noqa: F811
    from tests.signatures.helpers import actions

    client, people = plant
    frozen_clock.value = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc)
    open_session(db, client, people["alice"])  # signed in again after the outage
    tid = task_id(client)
    before = actions(db)
    response = client.post(f"/tasks/{tid}", data=late_form(db, people, **late))
    html = response.get_data(as_text=True).replace("&#39;", "'")
    assert response.status_code == 422 and message in html
    assert 'id="late_entry" checked' in html or 'id="late_entry"' in html
    assert task_id(client) == tid and actions(db) == before


def test_late_entry_is_shown_as_late_everywhere(plant, db, settings, frozen_clock, tmp_path):  # noqa: F811
    from audit.models import AuditEntry
    from audit.periodic import Period, build_report
    from tests.signatures.helpers import last_entry

    client, people = plant
    frozen_clock.value = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc)  # the system is back
    open_session(db, client, people["alice"])
    tid = task_id(client)
    done = client.post(f"/tasks/{tid}", data=late_form(db, people))
    assert done.status_code == 200, done.get_data(as_text=True)
    record = json.loads(client.get("/records/1.json").get_data(as_text=True))
    [task] = record["tasks"]
    late = task["late_entry"]
    assert late["original_time"] == "2026-01-05T09:15:00.000000Z" and late["performed_by"] == "bob"
    assert late["performed_by_name"] == "Bob Verifier" and late["transcribed_by"] == "alice"
    assert late["transcribed_at"] == "2026-01-05T12:00:00.000000Z" and "BR-17" in late["reason"]
    assert record["late_entries"][0]["task_id"] == tid
    assert any(e["action"] == "task.late_entry" for e in record["timeline"])
    page = client.get("/records/1").get_data(as_text=True)
    assert 'data-testid="late-entry"' in page and "Late entry" in page and "2026-01-05 09:15 UTC by Bob Verifier" in page
    text = pdf_text(client.get("/records/1.pdf").data, tmp_path)
    assert flat("Late entry") in text and flat("2026-01-05 09:15 UTC by Bob Verifier (bob)") in text and flat("BR-17") in text
    entry = last_entry(db, "task.late_entry")
    details = json.loads(entry.details)
    assert entry.object_id == tid and details["original_time"] == "2026-01-05T09:15:00.000000Z"
    assert details["transcribed_by"] == "alice" and entry.actor_id == "alice" and "BR-17" in entry.reason
    # the completer's signature covers the late entry (it is part of the task's recorded data)
    with db.session() as session:
        completed = session.query(AuditEntry).filter_by(action="task.completed", object_id=tid).one()
        assert '"late_entry":{"late_entry":true' in completed.changes
    # and the period's evaluation lists it among deviations and incidents
    report = build_report(db, settings, Period.from_dates("2026-01-05", "2026-01-05", settings), people["quinn"].actor)
    deviations = next(s for s in report["sections"] if s["key"] == "deviations")
    assert deviations["counts"].get("task.late_entry") == 1
