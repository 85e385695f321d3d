"""The Documents pages: the register with revisions in progress and copies outstanding, a
document's page with its versions, content SHA-256 and copy reconciliation; starting a revision,
uploading its content and requesting a withdrawal from the page; refusals shown, roles enforced."""
from __future__ import annotations

import hashlib
import io

import pytest

from tests.processes.document_lifecycle.conftest import CONTENT
from tests.processes.document_lifecycle.test_copies import in_force, start_copy
from tests.processes.document_lifecycle.test_lifecycle import CODE, history
from tests.web.conftest import app  # noqa: F401 - fixture
from tests.web.test_access_matrix import open_session

CSRF = "walk-token"


@pytest.mark.req("URS-DOC-008", "URS-DOC-002", "P11-10g", "CN-1")
def test_the_pages_show_the_register_copies_and_take_revisions(app, docs):  # noqa: F811
    in_force(docs)
    copy = start_copy(docs)
    docs.complete(copy, "approve_request", "quinn", {"decision": "approve"}, "approved")
    docs.complete(copy, "distribute", "dora", {"handed_to": "Sam"})
    client = app.test_client()
    open_session(docs.db, client, docs["dora"])
    page = client.get("/documents/").get_data(as_text=True)
    assert '<tr data-document="SOP-DSP-001">' in page and "v1" in page
    assert '<td data-testid="outstanding">1</td>' in page
    page = client.get(f"/documents/d/{CODE}").get_data(as_text=True)
    assert "issued 1 = returned 0 + destroyed 0 + outstanding 1" in page
    assert 'data-copy="SOP-DSP-001/1-CC-001" data-status="outstanding"' in page
    assert hashlib.sha256(CONTENT).hexdigest() in page
    pdf = client.get("/documents/copy/SOP-DSP-001/1-CC-001")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")

    # a revision from the page; its content uploaded from the page
    answer = client.post("/documents/start", data={"code": CODE, "reason": "new balance", "csrf_token": CSRF})
    assert answer.status_code == 302
    page = client.get(f"/documents/d/{CODE}").get_data(as_text=True)
    assert 'data-key="SOP-DSP-001/2" data-status="running"' in page and 'data-testid="upload-content"' in page
    instance = int(page.split('name="instance_id" value="')[1].split('"')[0])
    answer = client.post(f"/documents/d/{CODE}/upload", data={
        "instance_id": str(instance), "csrf_token": CSRF, "file": (io.BytesIO(b"v2 text"), "sop-v2.txt")},
        content_type="multipart/form-data", follow_redirects=True)
    assert "sop-v2.txt stored for SOP-DSP-001 v2" in answer.get_data(as_text=True)
    empty = client.post(f"/documents/d/{CODE}/upload", data={
        "instance_id": str(instance), "csrf_token": CSRF, "file": (io.BytesIO(b""), "empty.txt")},
        content_type="multipart/form-data", follow_redirects=True)
    assert "the content file empty.txt is empty" in empty.get_data(as_text=True)
    again = client.post("/documents/start", data={"code": CODE, "reason": "again", "csrf_token": CSRF},
                        follow_redirects=True)
    assert "SOP-DSP-001 has a revision in progress: SOP-DSP-001/2" in again.get_data(as_text=True)
    missing = client.post("/documents/start", data={"code": "", "reason": "", "csrf_token": CSRF},
                          follow_redirects=True)
    assert "Give the document number and the reason for the revision." in missing.get_data(as_text=True)

    # withdrawal requested from the page waits for QA
    refused = client.post(f"/documents/d/{CODE}/withdraw", data={"reason": " ", "csrf_token": CSRF},
                          follow_redirects=True)
    assert "A withdrawal needs a reason." in refused.get_data(as_text=True)
    done = client.post(f"/documents/d/{CODE}/withdraw", data={"reason": "site SOP replaces it", "csrf_token": CSRF},
                       follow_redirects=True)
    assert "Withdrawal of SOP-DSP-001 requested: QA approves it." in done.get_data(as_text=True)
    assert history(docs)[-1][2] == "draft"

    client.post("/language", data={"language": "zh", "csrf_token": CSRF})
    page = client.get(f"/documents/d/{CODE}").get_data(as_text=True)
    assert "受控副本" in page and "未收回" in page
    assert client.get("/documents/d/SOP-NONE-1").status_code == 404
    open_session(docs.db, client, docs["olga"])  # an operator reads, does not start revisions
    assert client.get("/documents/").status_code == 200
    assert client.post("/documents/start", data={"code": CODE, "reason": "x", "csrf_token": CSRF}).status_code == 403
    open_session(docs.db, client, docs.plant.admin)
    assert client.get("/documents/").status_code == 403
