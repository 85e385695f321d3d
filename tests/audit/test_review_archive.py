"""Audit-trail review (URS-AUD-005) and archive exports (URS-FND-003)."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from audit.archive import archive_export
from audit.checkpoints import create_checkpoint, load_public_keys_pem
from audit.errors import ExportError, ReviewError
from audit.export import verify_export
from audit.models import AuditEntry
from audit.review import list_reviews, record_review, unreviewed_after
from store.uow import UnitOfWork
from tests.audit.conftest import ALICE, BOB, add_entries


@pytest.mark.req("URS-AUD-005", "A11-9")
def test_review_is_recorded_with_its_own_entry(trail):
    with UnitOfWork(trail, BOB) as uow:
        review = record_review(uow, 1, 6, BOB, "Reviewed batch B-1 changes; no findings.", signature_id=42)
        uow.commit()
    with trail.session() as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.seq == 7)).scalar_one()
        reviews = list_reviews(s)
        assert unreviewed_after(s) == 6
    assert entry.action == "audit_review.recorded" and entry.actor_name == "Bob 王"
    assert json.loads(entry.details)["signature_id"] == 42
    assert reviews == [review] and (review.first_seq, review.last_seq, review.signature_id) == (1, 6, 42)


@pytest.mark.req("URS-AUD-005")
@pytest.mark.parametrize("first, last, comment, message", [
    (3, 2, "x", r"review range 3..2 is not a range of entries"),
    (0, 2, "x", r"review range 0..2 is not a range of entries"),
    (1, 99, "x", r"review range 1..99 goes beyond the newest entry 6"),
    (1, 2, "  ", "a review needs a comment"),
])
def test_bad_review_is_refused_and_changes_nothing(trail, first, last, comment, message):
    with UnitOfWork(trail, BOB) as uow:
        with pytest.raises(ReviewError, match=message):
            record_review(uow, first, last, BOB, comment)
    with trail.session() as s:
        assert list_reviews(s) == []


@pytest.mark.req("URS-FND-003", "P11-10c", "A11-17")
def test_archive_export_of_closed_records_verifies(db, settings, cli, tmp_path):
    add_entries(db, 2, ALICE, object_type="deviation", object_id="DEV-1")
    add_entries(db, 2, ALICE, object_type="deviation", object_id="DEV-2")
    add_entries(db, 1, ALICE, object_type="deviation", object_id="DEV-1")
    create_checkpoint(db, settings)
    out = tmp_path / "archive.jsonl"
    result = archive_export(db, settings, "deviation", ["DEV-1"], out)
    assert result.entries == 3
    pem = tmp_path / "k.pem"
    pem.write_text(cli("audit", "public-key").output)
    report = verify_export(out, load_public_keys_pem(pem.read_bytes()))
    assert report.entries == 3 and report.unanchored_entries == 0


@pytest.mark.req("URS-FND-003")
def test_archive_needs_records(db, settings, tmp_path):
    with pytest.raises(ExportError, match="an archive names an object type and at least one object ID"):
        archive_export(db, settings, "deviation", [], tmp_path / "a.jsonl")
