"""Validation pages: who may see and build, clear refusals (the journey itself runs in
tests/browser/test_validation_journey.py)."""
from __future__ import annotations

import pytest

from signatures import kdf, testing
from tests.web.test_access_matrix import open_session

pytestmark = pytest.mark.req("URS-VAL-009", "P11-10g")


@pytest.fixture
def users(app, db, settings, frozen_clock):  # type: ignore[no-untyped-def]
    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(db, settings)
        vera = testing.enrolled_user(db, settings, admin, "vera", "Vera Validation", ["validation"])
        audrey = testing.enrolled_user(db, settings, admin, "audrey", "Audrey Auditor", ["auditor"])
        alice = testing.enrolled_user(db, settings, admin, "alice", "Alice Operator", ["operator"])
    clients = {}
    for person in (vera, audrey, alice):
        clients[person.user_id] = app.test_client()
        open_session(db, clients[person.user_id], person)
    return clients


def test_validation_user_sees_the_build_form_auditor_reads_operator_is_refused(users):
    page = users["vera"].get("/validation/").get_data(as_text=True)
    assert 'id="build-form"' in page and "No validation pack yet." in page
    audit = users["audrey"].get("/validation/")
    assert audit.status_code == 200 and 'id="build-form"' not in audit.get_data(as_text=True)
    assert users["audrey"].post("/validation/build", data={"csrf_token": "walk-token"}).status_code == 403
    assert users["alice"].get("/validation/").status_code == 403


def test_unknown_pack_and_files_outside_the_pack_are_refused(users, settings):
    vera = users["vera"]
    assert vera.get("/validation/VP-20260101-000000-ABCD").status_code == 404
    assert vera.get("/validation/not-a-pack-id").status_code == 404
    folder = settings.instance / "validation" / "VP-20260101-000000-ABCD"
    folder.mkdir(parents=True)
    (folder / "secret.txt").write_text("not a pack document")
    response = vera.get("/validation/VP-20260101-000000-ABCD/files/secret.txt")
    assert response.status_code == 404 and "has no file secret.txt" in response.get_data(as_text=True)
    assert vera.get("/validation/VP-20260101-000000-ABCD/files/SUMMARY.pdf").status_code == 404


def test_a_pack_that_is_not_ready_cannot_be_signed(users, settings):
    folder = settings.instance / "validation" / "VP-20260101-000000-ABCD"
    folder.mkdir(parents=True)
    response = users["vera"].post("/validation/VP-20260101-000000-ABCD/sign",
                                  data={"csrf_token": "walk-token", "meaning": "executed", "sig_password": "x"})
    assert response.status_code == 409 and "still being built or issued" in response.get_data(as_text=True)
    progress = users["vera"].get("/validation/VP-20260101-000000-ABCD/progress").get_json()
    assert progress["state"] == "failed"
