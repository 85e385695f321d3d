"""The record of an instance as a page, JSON and PDF, with sources, exceptions and signatures (P11-10b)."""
from __future__ import annotations

import json

import pytest

from signatures import testing
from tests.web.test_operator import form, plant, task_id  # noqa: F401  (fixture)


@pytest.mark.req("P11-10b", "P11-50b", "A11-8", "CN-6")
def test_record_page_json_and_pdf(plant, db):  # noqa: F811
    client, people = plant
    alice, bob = people["alice"], people["bob"]
    tid = task_id(client)
    done = client.post(f"/tasks/{tid}", data={**form(people, **{"f:gross": "13.0", "exc:net": "DEV-1 raised"}),
                                              "sig_password": alice.password, "sig_totp": testing.next_totp(db, alice),
                                              "sig2_user_id": "bob", "sig2_password": bob.password,
                                              "sig2_totp": testing.next_totp(db, bob)})
    assert done.status_code == 200, done.get_data(as_text=True)
    instance = json.loads(client.get("/records/1.json").get_data(as_text=True))
    assert instance["instance"]["status"] == "completed"
    [task] = instance["tasks"]
    values = {v["field"]: v for v in task["values"]}
    assert values["net"]["source"] == "calculated" and values["net"]["out_of_limits"]
    assert values["tare"]["needs_verification"] and task["verified_by"] == "bob"
    assert {s["signer_id"] for s in task["signatures"]} == {"alice", "bob"}
    assert instance["exceptions"][0]["exception_comment"] == "DEV-1 raised"
    assert any(e["action"] == "task.completed" for e in instance["timeline"])
    page = client.get("/records/1").get_data(as_text=True)
    assert "DEV-1 raised" in page and "Bob Verifier" in page and 'data-testid="record-status" data-status="completed">completed<' in page
    pdf = client.get("/records/1.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert client.get("/records/99").status_code == 404
    listing = client.get("/records/?status=completed").get_data(as_text=True)
    assert 'data-instance="1"' in listing and "Batch B-001" in listing
    assert 'data-instance="1"' not in client.get("/records/?status=running").get_data(as_text=True)


@pytest.mark.req("URS-FRM-007", "CN-4", "A11-8", "P11-10e")
def test_signed_correction_keeps_the_original_and_flags_the_record(plant, db, frozen_clock):  # noqa: F811
    client, people = plant
    alice, bob = people["alice"], people["bob"]
    tid = task_id(client)
    client.post(f"/tasks/{tid}", data={**form(people), "sig_password": alice.password,
                                       "sig_totp": testing.next_totp(db, alice), "sig2_user_id": "bob",
                                       "sig2_password": bob.password, "sig2_totp": testing.next_totp(db, bob)})
    url = f"/records/1/tasks/{tid}/correct"
    assert 'data-meaning="corrected"' in client.get(url).get_data(as_text=True)
    base = {"csrf_token": "walk-token", "field": "lot", "value": "L-002", "sig_password": alice.password}
    no_reason = client.post(url, data={**base, "reason": ""})
    assert no_reason.status_code == 422 and "a correction needs a reason" in no_reason.get_data(as_text=True)
    bad = client.post(url, data={**base, "field": "tare", "value": "-1", "reason": "typo"})
    assert bad.status_code == 422 and "is not valid" in bad.get_data(as_text=True)
    frozen_clock.advance(seconds=31)
    done = client.post(url, data={**base, "reason": "label misread", "sig_totp": testing.next_totp(db, alice)})
    assert done.status_code == 302, done.get_data(as_text=True)
    record = json.loads(client.get("/records/1.json").get_data(as_text=True))
    lot = {v["field"]: v for v in record["tasks"][0]["values"]}["lot"]
    assert lot["value"] == "L-002" and lot["original"] == "L-001" and lot["changed_since_first_entry"]
    assert lot["corrections"][0]["reason"] == "label misread" and lot["corrections"][0]["signature_meaning"] == "corrected"
    page = client.get("/records/1").get_data(as_text=True)
    assert "Changed since first entry" in page and "label misread" in page
    assert any(e["action"] == "task.value_corrected" for e in record["timeline"])
