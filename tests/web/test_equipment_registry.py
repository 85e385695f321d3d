"""Tag registry pages: import by validation, approval by QA with a signature, rejection with a reason."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml

from signatures import kdf, testing
from tests.web.test_access_matrix import open_session

PLANT_TAGS = Path(__file__).resolve().parents[2] / "connectors" / "plant_tags.yaml"
pytestmark = pytest.mark.req("P11-10h", "P11-10k", "A11-10")


@pytest.fixture
def users(app, db, settings, frozen_clock):  # type: ignore[no-untyped-def]
    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(db, settings)
        eng = testing.enrolled_user(db, settings, admin, "eng", "Li Engineer", ["validation"])
        quinn = testing.enrolled_user(db, settings, admin, "quinn", "Quinn QA", ["qa"])
    frozen_clock.advance(seconds=31)
    engineer, qa = app.test_client(), app.test_client()
    open_session(db, engineer, eng)
    open_session(db, qa, quinn)
    return engineer, qa, quinn


def test_import_approve_and_reject(users, db):
    engineer, qa, quinn = users
    empty = engineer.post("/equipment/tags/import", data={"csrf_token": "walk-token", "reason": "x"},
                          content_type="multipart/form-data")
    assert empty.status_code == 422 and "Choose a tag definition file." in empty.get_data(as_text=True)
    doc = yaml.safe_load(PLANT_TAGS.read_text())
    extra = yaml.safe_dump({"endpoints": doc["endpoints"],
                            "tags": [dict(doc["tags"][0], name="SCALE-02.net_weight", equipment_id="SCALE-02")]})
    for raw in (PLANT_TAGS.read_bytes(), extra.encode()):
        done = engineer.post("/equipment/tags/import", data={"csrf_token": "walk-token", "reason": "plant tags",
                                                             "file": (io.BytesIO(raw), "plant_tags.yaml")},
                             content_type="multipart/form-data")
        assert done.status_code == 302
    again = engineer.post("/equipment/tags/import", data={"csrf_token": "walk-token", "reason": "plant tags", "file": (
        io.BytesIO(PLANT_TAGS.read_bytes()), "plant_tags.yaml")}, content_type="multipart/form-data")
    assert again.status_code == 422 and "has an open draft" in again.get_data(as_text=True)
    page = qa.get("/equipment/tags?revision=1").get_data(as_text=True)
    assert 'data-revision="1" data-status="pending"' in page and "SCALE-01.net_weight" in page
    assert 'data-meaning="approved"' in page
    approved = qa.post("/equipment/tags/1/approve", data={"csrf_token": "walk-token", "reason": "checked against the P&ID",
                                                         "sig_password": quinn.password,
                                                         "sig_totp": testing.next_totp(db, quinn)})
    assert approved.status_code == 302
    assert 'data-revision="1" data-status="approved"' in qa.get("/equipment/tags").get_data(as_text=True)
    assert qa.post("/equipment/tags/2/reject", data={"csrf_token": "walk-token", "reason": ""}).status_code >= 400
    assert qa.post("/equipment/tags/2/reject", data={"csrf_token": "walk-token", "reason": "duplicate"}).status_code == 302
    assert qa.post("/equipment/tags/2/explode", data={"csrf_token": "walk-token", "reason": "x"}).status_code == 404
