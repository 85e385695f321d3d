"""Business keys and links in the web application: start with a key, inbox and record search,
record pages showing links both ways, linking and retracting (QA), refusals shown on the page."""
from __future__ import annotations

import json
import re
import subprocess

import pytest

from signatures import kdf, testing
from tests.conftest import missing
from tests.engine.keys_support import BATCH, DEVIATION
from tests.web.conftest import csrf_of
from tests.web.test_access_matrix import open_session

pytestmark = pytest.mark.req("URS-KEY-002", "URS-LNK-001")


def _deploy(db, settings, author, approver, name, files):
    from engine import definitions
    from engine.ports import SignatureInput, default_services
    from store.uow import UnitOfWork

    with UnitOfWork(db, author.actor) as uow:
        version = definitions.upload(uow, {f"{name}.bpmn": files}, reason="first version",
                                     services=default_services(settings))
        uow.commit()
    with UnitOfWork(db, approver.actor) as uow:
        definitions.approve(uow, version.id, SignatureInput("approved", approver.user_id, {
            "password": approver.password, "totp": testing.next_totp(db, approver)}),
            services=default_services(settings))
        uow.commit()


def _start(db, person, key, **kwargs) -> int:
    from engine import instances
    from store.uow import UnitOfWork

    with UnitOfWork(db, person.actor) as uow:
        instance = instances.start(uow, key, **kwargs)
        uow.commit()
        return instance.id


@pytest.fixture
def site(app, db, settings, frozen_clock):
    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(db, settings)
        people = {name: testing.enrolled_user(db, settings, admin, name, full, [role]) for name, full, role in [
            ("alice", "Alice Operator", "operator"), ("sam", "Sam Supervisor", "supervisor"),
            ("quinn", "Quinn QA", "qa"), ("quentin", "Quentin QA", "qa")]}
    frozen_clock.advance(seconds=31)
    _deploy(db, settings, people["quinn"], people["quentin"], "batch", BATCH)
    frozen_clock.advance(seconds=31)
    _deploy(db, settings, people["quinn"], people["quentin"], "deviation", DEVIATION)
    ids = {"B-7": _start(db, people["sam"], "batch", business_key="B-2024-007", title="Paracetamol 500 mg"),
           "B-8": _start(db, people["sam"], "batch", data={"batch_number": "B-2024-008"}, title="Ibuprofen"),
           "D-1": _start(db, people["quinn"], "deviation", data={"deviation": {"number": "DEV-0001"}},
                         title="Spill at weighing")}
    return app.test_client(), people, ids


def _as(client, db, person):
    open_session(db, client, person)
    return client


def test_inbox_shows_and_searches_business_keys(site, db):
    client, people, ids = site
    _as(client, db, people["alice"])
    page = client.get("/tasks/").get_data(as_text=True)
    assert re.findall(r'data-testid="business-key">([^<]+)<', page) == ["B-2024-007", "B-2024-008"]
    found = client.get("/tasks/?q=2024-008").get_data(as_text=True)
    assert re.findall(r'data-testid="business-key">([^<]+)<', found) == ["B-2024-008"]
    assert len(re.findall(r"data-task=", client.get(f"/tasks/?q=%23{ids['B-7']}").get_data(as_text=True))) == 1
    assert len(re.findall(r"data-task=", client.get("/tasks/?q=paraCETamol").get_data(as_text=True))) == 1
    none = client.get("/tasks/?q=nothing-like-this").get_data(as_text=True)
    assert "No task matches the filter." in none and "data-task=" not in none


def test_records_list_searches_keys_titles_and_numbers(site, db):
    client, people, ids = site
    _as(client, db, people["alice"])
    listing = client.get("/records/").get_data(as_text=True)
    assert re.findall(r'data-testid="business-key">([^<]*)<', listing) == ["DEV-0001", "B-2024-008", "B-2024-007"]
    found = client.get("/records/?q=b-2024").get_data(as_text=True)
    assert re.findall(r'data-instance="(\d+)"', found) == [str(ids["B-8"]), str(ids["B-7"])]
    assert re.findall(r'data-instance="(\d+)"', client.get("/records/?q=spill").get_data(as_text=True)) == [
        str(ids["D-1"])]
    assert "data-instance=" not in client.get("/records/?q=zzz&status=running").get_data(as_text=True)


def test_qa_links_records_and_both_record_pages_show_it(site, db):
    client, people, ids = site
    _as(client, db, people["quinn"])
    page = client.get(f"/records/{ids['D-1']}").get_data(as_text=True)
    assert 'data-testid="record-business-key">DEV-0001<' in page and 'id="link-form"' in page
    assert "No linked records." in page
    done = client.post(f"/records/{ids['D-1']}/links", data={"csrf_token": "walk-token", "relation": "raised_from",
                                                             "other": "B-2024-007", "reason": "found at weighing"})
    assert done.status_code == 302 and done.headers["Location"].endswith("#link-1")
    client.post(f"/records/{ids['B-8']}/links", data={"csrf_token": "walk-token", "relation": "affected_by",
                                                      "other": "deviation:DEV-0001", "reason": "same API lot"})
    deviation = client.get(f"/records/{ids['D-1']}").get_data(as_text=True)
    assert f"Linked: this record raised from record #{ids['B-7']} (B-2024-007)." in deviation
    rows = re.findall(r'data-link="(\d+)" data-relation="(\w+)" data-other="(\d+)"', deviation)
    assert rows == [("1", "raised_from", str(ids["B-7"])), ("2", "affects", str(ids["B-8"]))]
    batch = client.get(f"/records/{ids['B-7']}").get_data(as_text=True)
    assert re.findall(r'data-relation="(\w+)" data-other="(\d+)"', batch) == [("raised", str(ids["D-1"]))]
    assert "found at weighing" in batch and "DEV-0001" in batch
    record = json.loads(client.get(f"/records/{ids['B-8']}.json").get_data(as_text=True))
    assert record["instance"]["business_key"] == "B-2024-008"
    assert [(x["relation"], x["business_key"], x["reason"]) for x in record["links"]] == [
        ("affected_by", "DEV-0001", "same API lot")]
    assert "instance.linked" in [e["action"] for e in record["timeline"]]


@pytest.mark.parametrize("other, relation, status, message", [
    ("B-2024-999", "affects", 404, "no instance has the number or business key &#39;B-2024-999&#39;"),
    ("", "affects", 422, "name an instance: its number, PROCESS:BUSINESS_KEY or a business key"),
    ("B-2024-007", "blames", 422, "unknown link relation &#39;blames&#39;"),
    ("#D", "affects", 404, "no instance has the number or business key &#39;#D&#39;"),
])
def test_a_refused_link_is_explained_on_the_record_page_and_changes_nothing(site, db, other, relation, status,
                                                                             message):
    client, people, ids = site
    _as(client, db, people["quinn"])
    response = client.post(f"/records/{ids['D-1']}/links", data={"csrf_token": "walk-token", "relation": relation,
                                                                 "other": other, "reason": "kept in the form"})
    page = response.get_data(as_text=True)
    assert response.status_code == status
    assert 'data-testid="link-error"' in page and message in page
    assert 'value="kept in the form"' in page and "No linked records." in page


def test_retracting_needs_a_reason_and_keeps_the_link_on_record(site, db):
    client, people, ids = site
    _as(client, db, people["quinn"])
    client.post(f"/records/{ids['D-1']}/links", data={"csrf_token": "walk-token", "relation": "affects",
                                                      "other": "B-2024-008"})
    twice = client.post(f"/records/{ids['D-1']}/links", data={"csrf_token": "walk-token", "relation": "affects",
                                                               "other": "B-2024-008"})
    assert twice.status_code == 422 and "already (link 1," in twice.get_data(as_text=True)
    url = f"/records/{ids['B-8']}/links/1/retract"
    empty = client.post(url, data={"csrf_token": "walk-token", "reason": " "})
    assert empty.status_code == 422 and "a reason is required" in empty.get_data(as_text=True)
    assert client.post(f"/records/{ids['B-7']}/links/1/retract", data={"csrf_token": "walk-token",
                                                                       "reason": "x"}).status_code == 404
    done = client.post(url, data={"csrf_token": "walk-token", "reason": "B-8 used another lot"})
    assert done.status_code == 302
    page = client.get(f"/records/{ids['B-8']}").get_data(as_text=True)
    assert 'class="retracted"' in page and "Retracted by quinn" in page and "B-8 used another lot" in page


def test_only_qa_and_supervisors_link_and_only_qa_retracts(site, db):
    client, people, ids = site
    _as(client, db, people["alice"])
    page = client.get(f"/records/{ids['D-1']}").get_data(as_text=True)
    assert 'id="link-form"' not in page
    refused = client.post(f"/records/{ids['D-1']}/links", data={"csrf_token": "walk-token", "relation": "affects",
                                                                "other": "B-2024-007"})
    assert refused.status_code == 403
    _as(client, db, people["sam"])
    assert client.post(f"/records/{ids['D-1']}/links", data={"csrf_token": "walk-token", "relation": "affects",
                                                             "other": "B-2024-007"}).status_code == 302
    page = client.get(f"/records/{ids['D-1']}").get_data(as_text=True)
    assert 'id="link-form"' in page and "Retract the link" not in page
    assert client.post(f"/records/{ids['D-1']}/links/1/retract", data={"csrf_token": "walk-token",
                                                                       "reason": "no"}).status_code == 403


def test_start_with_a_business_key_from_the_library(site, db):
    client, people, ids = site
    _as(client, db, people["quinn"])
    page = client.get("/library/batch").get_data(as_text=True)
    assert 'name="business_key"' in page
    done = client.post("/library/batch/start", data={"csrf_token": csrf_of(client), "title": "Aspirin",
                                                      "business_key": " B-2024-009 "})
    assert done.status_code == 302
    assert "started with business key B-2024-009" in client.get(done.headers["Location"]).get_data(as_text=True)
    duplicate = client.post("/library/batch/start", data={"csrf_token": csrf_of(client), "business_key": "B-2024-007"})
    assert duplicate.status_code == 409
    assert "business key &#39;B-2024-007&#39; is already used" in duplicate.get_data(as_text=True)


def test_record_pdf_carries_the_business_key_and_links(site, db, tmp_path):
    client, people, ids = site
    _as(client, db, people["quinn"])
    client.post(f"/records/{ids['D-1']}/links", data={"csrf_token": "walk-token", "relation": "raised_from",
                                                      "other": "B-2024-007", "reason": "found at weighing"})
    pdf = client.get(f"/records/{ids['B-7']}.pdf")
    assert pdf.status_code == 200
    path = tmp_path / "record.pdf"
    path.write_bytes(pdf.data)
    try:
        text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True,
                              text=True).stdout
    except FileNotFoundError:
        missing("pdftotext (Debian package poppler-utils)")
    assert "B-2024-007" in text and "DEV-0001" in text and "found at weighing" in text and "Linked records" in text
