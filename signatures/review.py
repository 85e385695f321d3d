"""Signed audit-trail reviews (A11-9): the reviewer signs the reviewed range, meaning "reviewed".

The signed record binds the range to the chain: its content is the range, the
reviewer's comment and the entry hash of the last reviewed entry (which, through the
hash chain, covers every entry before it). `audit.review.record_review` stores the
review with the signature's sequence number.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.canonical import Actor, dumps
from audit.errors import ReviewError
from audit.models import AuditEntry
from audit.review import Review, check_review, record_review
from core.config import Settings
from signatures.credentials import Credentials
from signatures.meanings import Meaning
from signatures.models import AuthSession, Signature
from signatures.service import sign, verify_signatures
from store.uow import UnitOfWork

RECORD_TYPE = "audit_review"


@dataclass(frozen=True)
class AuditReviewRecord:
    """The signable form of one reviewer's review of entries first_seq..last_seq."""

    first_seq: int
    last_seq: int
    reviewer_id: str
    comment: str
    last_entry_hash: str
    record_type: str = RECORD_TYPE
    record_version: int = 1

    @property
    def record_id(self) -> str:
        return f"{self.first_seq}-{self.last_seq}-{self.reviewer_id}"

    def canonical_content(self) -> bytes:
        return dumps({"first_seq": self.first_seq, "last_seq": self.last_seq, "reviewer_id": self.reviewer_id,
                      "comment": self.comment, "last_entry_hash": self.last_entry_hash}).encode("utf-8")


def _last_hash(session: Session, last_seq: int) -> str:
    found = session.execute(select(AuditEntry.entry_hash).where(AuditEntry.seq == last_seq)).scalar_one_or_none()
    if found is None:
        raise ReviewError(f"review range ends at entry {last_seq}, which does not exist")
    return found


def sign_review(uow: UnitOfWork, first_seq: int, last_seq: int, comment: str, credentials: Credentials,
                auth_session: AuthSession | str | None = None,
                settings: Settings | None = None) -> tuple[Review, Signature]:
    """Sign the review of entries first_seq..last_seq (meaning "reviewed") and record it."""
    comment = check_review(uow.session, first_seq, last_seq, comment)  # before anyone signs
    record = AuditReviewRecord(first_seq, last_seq, credentials.username, comment, _last_hash(uow.session, last_seq))
    signature = sign(uow, record, Meaning.REVIEWED, credentials, auth_session, settings)
    review = record_review(uow, first_seq, last_seq, Actor(signature.signer_id, signature.printed_name), comment,
                           signature_id=signature.seq)
    return review, signature


def verify_review(session: Session, review: Review, settings: Settings | None = None) -> None:
    """Verify the signature of a recorded review against the review and the chain; nothing or an error."""
    if review.signature_id is None:
        raise ReviewError(f"review {review.id} is not signed")
    record = AuditReviewRecord(review.first_seq, review.last_seq, review.reviewer_id, review.comment,
                               _last_hash(session, review.last_seq))
    verify_signatures(session, record, settings, required=True)
