"""Audit-trail review (A11-9): a reviewer marks a range of entries as reviewed.

The review is a row in `audit_review` (append-only) and an audit entry of its own.
The signatures package calls `record_review` with the ID of the electronic signature
that signs the review; audit/ never imports signatures/.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from audit.canonical import Actor
from audit.chain import HEAD_ID
from audit.errors import ReviewError
from audit.models import AuditHead, AuditReview
from core import clock
from store.uow import UnitOfWork

MAX_COMMENT = 4000


@dataclass(frozen=True)
class Review:
    id: int
    first_seq: int
    last_seq: int
    reviewer_id: str
    reviewer_name: str
    ts: str
    comment: str
    signature_id: int | None


def check_review(session: Session, first_seq: int, last_seq: int, comment: str | None) -> str:
    """The review's comment, stripped, if the range and comment can be reviewed; else ReviewError with
    `context["problem"]`: "range" (not 1 <= first <= last), "beyond" (past the newest entry `head`),
    "comment" (empty), "comment_length" (over MAX_COMMENT characters). Signing code checks first, so that
    nobody signs a review that cannot be recorded."""
    if first_seq < 1 or last_seq < first_seq:
        raise ReviewError(f"review range {first_seq}..{last_seq} is not a range of entries (1 <= first <= last)",
                          problem="range", first=first_seq, last=last_seq)
    comment = (comment or "").strip()
    if not comment:
        raise ReviewError("a review needs a comment (what was reviewed and found)", problem="comment")
    if len(comment) > MAX_COMMENT:
        raise ReviewError(f"review comment is longer than {MAX_COMMENT} characters", problem="comment_length",
                          limit=MAX_COMMENT, length=len(comment))
    head = session.execute(select(AuditHead.seq).where(AuditHead.id == HEAD_ID)).scalar_one()
    if last_seq > head:
        raise ReviewError(f"review range {first_seq}..{last_seq} goes beyond the newest entry {head}",
                          problem="beyond", first=first_seq, last=last_seq, head=head)
    return comment


def record_review(uow: UnitOfWork, first_seq: int, last_seq: int, reviewer: Actor, comment: str,
                  signature_id: int | None = None) -> Review:
    """Record that `reviewer` reviewed entries first_seq..last_seq; committed with `uow`."""
    comment = check_review(uow.session, first_seq, last_seq, comment)
    ts = clock.isoformat(clock.now())
    values = {"first_seq": first_seq, "last_seq": last_seq, "reviewer_id": reviewer.user_id,
              "reviewer_name": reviewer.printed_name, "ts": ts, "comment": comment, "signature_id": signature_id}
    review_id = uow.session.execute(insert(AuditReview).values(**values).returning(AuditReview.id)).scalar_one()
    uow.audit("audit_review.recorded", "audit_review", review_id, actor=reviewer,
              changes=[["reviewed_range", None, f"{first_seq}..{last_seq}"]],
              details={"first_seq": first_seq, "last_seq": last_seq, "comment": comment, "signature_id": signature_id})
    return Review(id=review_id, **values)


def list_reviews(uow_or_session: object, reviewer_id: str | None = None) -> list[Review]:
    """Every review, oldest first (optionally of one reviewer). Takes a UnitOfWork or a Session."""
    session = getattr(uow_or_session, "session", uow_or_session)
    query = select(AuditReview).order_by(AuditReview.id)
    if reviewer_id:
        query = query.where(AuditReview.reviewer_id == reviewer_id)
    return [Review(r.id, r.first_seq, r.last_seq, r.reviewer_id, r.reviewer_name, r.ts, r.comment, r.signature_id)
            for r in session.execute(query).scalars()]  # type: ignore[attr-defined]


def unreviewed_after(uow_or_session: object) -> int:
    """The newest sequence number covered by any review (0: none)."""
    session = getattr(uow_or_session, "session", uow_or_session)
    from sqlalchemy import func

    return int(session.execute(select(func.coalesce(func.max(AuditReview.last_seq), 0))).scalar_one())  # type: ignore[attr-defined]
