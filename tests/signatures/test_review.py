"""Signed audit-trail reviews."""
import pytest

from audit.errors import ReviewError
from audit.review import list_reviews
from signatures import testing
from signatures.errors import ContentChanged, RoleNotPermitted
from signatures.review import sign_review, verify_review
from store.uow import UnitOfWork


@pytest.mark.req("URS-SIG-013", "URS-AUD-005", "A11-9")
def test_audit_review_is_signed_reviewed(db, settings, make_user, frozen_clock):
    audrey = make_user("audrey", "Audrey Auditor", roles=["auditor"])
    with UnitOfWork(db, audrey.actor) as uow:
        review, signature = sign_review(uow, 1, 5, "no unexplained changes", testing.credentials(db, audrey),
                                        None, settings)
        uow.commit()
    assert signature.meaning == "reviewed" and signature.record_type == "audit_review"
    with db.session() as s:
        stored = list_reviews(s)
        assert [(r.first_seq, r.last_seq, r.signature_id) for r in stored] == [(1, 5, signature.seq)]
        verify_review(s, stored[0], settings)
        from dataclasses import replace
        with pytest.raises(ContentChanged, match="changed after signing"):
            verify_review(s, replace(stored[0], comment="something else"), settings)


@pytest.mark.req("URS-SIG-013", "A11-9", "CN-1")
def test_review_errors(db, settings, make_user, frozen_clock):
    olga = make_user("olga")
    with UnitOfWork(db, olga.actor) as uow:
        with pytest.raises(RoleNotPermitted, match="needs one of the roles auditor, qa"):
            sign_review(uow, 1, 2, "looked", testing.credentials(db, olga), None, settings)
    creds = testing.credentials(db, olga)
    with UnitOfWork(db, olga.actor) as uow:
        with pytest.raises(ReviewError, match="goes beyond the newest entry"):
            sign_review(uow, 1, 10_000, "looked", creds, None, settings)
        with pytest.raises(ReviewError, match="not a range"):
            sign_review(uow, 3, 2, "looked", creds, None, settings)
