"""Controlled copies through their diagram: request, QA approval, a numbered PDF marked
"controlled copy" (real PDF/A, Chinese rendered), distribution, return or destruction; the
reconciliation issued = returned + destroyed + outstanding holds per version at every step."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from engine.errors import GateRefused
from masterdata import documents
from masterdata.errors import RecordInvalid, RecordNotFound, RecordStateError
from store.uow import UnitOfWork
from tests.conftest import missing
from tests.processes.document_lifecycle.test_lifecycle import CODE, effective_version


def in_force(docs):  # type: ignore[no-untyped-def]
    effective_version(docs)
    docs.clock.advance(days=5)
    docs.fire_timers()


def start_copy(docs, recipient="Line 2 supervisor", location="Granulation room 101", user="dora"):  # type: ignore[no-untyped-def]
    from engine import instances

    with UnitOfWork(docs.db, docs[user].actor) as uow:
        instance = instances.start(uow, "controlled_copy", title="Controlled copy", settings=docs.settings,
                                   runtime=docs.runtime)
        uow.commit()
    docs.complete(instance.id, "request", user, {"code": CODE, "recipient": recipient, "location": location,
                                                   "purpose": "shop-floor use"})
    return instance.id


def counts(docs):  # type: ignore[no-untyped-def]
    with docs.db.session() as session:
        return [(r.version, r.issued, r.returned, r.destroyed, r.outstanding, r.balanced)
                for r in documents.reconciliation(session, CODE)]


def pdf_text(data: bytes, tmp_path) -> str:  # type: ignore[no-untyped-def]
    if shutil.which("pdftotext") is None:
        missing("pdftotext (poppler-utils)")
    path = tmp_path / "copy.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


@pytest.mark.req("URS-DOC-002", "URS-DOC-008", "ALCOA-COMPLETE", "P11-10b")
def test_copies_are_numbered_marked_and_reconciled(docs, tmp_path):
    in_force(docs)
    first = start_copy(docs)
    docs.complete(first, "approve_request", "quinn", {"decision": "approve"}, "approved")
    number = docs.data(first)["copy"]["copy_number"]
    assert number == "SOP-DSP-001/1-CC-001"
    with docs.db.session() as session:
        pdf = documents.copy_pdf(session, number)
    assert pdf.startswith(b"%PDF")
    text = pdf_text(pdf, tmp_path)
    assert "CONTROLLED COPY" in text and "受控副本" in text and number in text and "配料标准操作规程" in text
    docs.complete(first, "distribute", "dora", {"handed_to": "Sam Supervisor"})
    assert counts(docs) == [(1, 1, 0, 0, 1, True)]  # not returned: outstanding

    second = start_copy(docs, recipient="QA archive", location="QA office")
    docs.complete(second, "approve_request", "rita", {"decision": "approve"}, "approved")
    assert docs.data(second)["copy"]["copy_number"] == "SOP-DSP-001/1-CC-002"
    docs.complete(second, "distribute", "dora", {"handed_to": "Rita Reviewer"})
    docs.complete(first, "retrieve", "dora", {"outcome": "returned", "note": "returned at shift end"})
    docs.complete(second, "retrieve", "dora", {"outcome": "destroyed", "note": "shredded, witnessed by QA"})
    assert counts(docs) == [(1, 2, 1, 1, 0, True)]
    assert docs.status(first) == "completed" and docs.status(second) == "completed"

    rejected = start_copy(docs)
    docs.complete(rejected, "approve_request", "quinn", {"decision": "reject", "comment": "use the e-copy"}, "approved")
    assert docs.status(rejected) == "completed" and counts(docs) == [(1, 2, 1, 1, 0, True)]


@pytest.mark.req("URS-DOC-002", "P11-10d")
def test_copy_refusals_change_nothing(docs):
    from engine import instances

    with UnitOfWork(docs.db, docs["dora"].actor) as uow:  # no version in force yet
        instance = instances.start(uow, "controlled_copy", settings=docs.settings, runtime=docs.runtime)
        uow.commit()
    with pytest.raises(GateRefused, match="SOP-DSP-001 is not a document in force: no controlled copy can be issued"):
        docs.complete(instance.id, "request", "dora", {"code": CODE, "recipient": "x", "location": "y"})
    in_force(docs)
    with UnitOfWork(docs.db, docs["dora"].actor) as uow:
        with pytest.raises(RecordStateError, match="SOP-QA-404 is not in force"):
            documents.issue_copy(uow, "SOP-QA-404", recipient="x", location="y")
        with pytest.raises(RecordInvalid, match="the recipient is required"):
            documents.issue_copy(uow, CODE, recipient=" ", location="y")
        with pytest.raises(RecordNotFound, match="no controlled copy 'SOP-DSP-001/1-CC-009'"):
            documents.close_copy(uow, "SOP-DSP-001/1-CC-009", "returned", note="x")
        copy = documents.issue_copy(uow, CODE, recipient="x", location="y")
        with pytest.raises(RecordInvalid, match="outcome 'lost': returned or destroyed"):
            documents.close_copy(uow, copy.copy_number, "lost", note="x")
        documents.close_copy(uow, copy.copy_number, "returned", note="back")
        with pytest.raises(RecordStateError, match="was returned already"):
            documents.close_copy(uow, copy.copy_number, "destroyed", note="again")
    # the requester does not approve their own request (four eyes)
    second = start_copy(docs, user="qiu")
    with pytest.raises(GateRefused, match="four_eyes|previous|completed"):
        docs.complete(second, "approve_request", "qiu", {"decision": "approve"}, "approved")


@pytest.mark.req("URS-DOC-001", "P11-10d")
def test_content_files_are_refused_when_empty_unnamed_or_too_large(docs):
    with UnitOfWork(docs.db, docs["dora"].actor) as uow:
        with pytest.raises(RecordInvalid, match="the content file sop.txt is empty"):
            documents.store_content(uow, CODE, 1, "sop.txt", b"")
        with pytest.raises(RecordInvalid, match="needs a plain file name"):
            documents.store_content(uow, CODE, 1, "../etc/passwd", b"x")
        with pytest.raises(RecordInvalid, match="at most 20 MB"):
            documents.store_content(uow, CODE, 1, "big.pdf", b"x" * (documents.MAX_CONTENT_BYTES + 1))
        with pytest.raises(RecordInvalid, match="version 0: a whole number from 1"):
            documents.store_content(uow, CODE, 0, "sop.txt", b"x")
        with pytest.raises(RecordInvalid, match="document number"):
            documents.store_content(uow, "bad code!", 1, "sop.txt", b"x")
        stored = documents.store_content(uow, CODE, 1, "sop.txt", b"text")
        uow.commit()
    with docs.db.session() as session:
        assert documents.contents_of(session, CODE) == [stored]
