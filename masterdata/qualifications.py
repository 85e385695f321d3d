"""Qualifications: a person qualified on one version of an SOP, from a date, until a date,
unless revoked. Granting and revoking are signed records (`qualification.grant` /
`qualification.revoke` roles in masterdata/record_rules.yaml, meaning 'approved').

    grant_qualification(uow, "alice", "SOP-PRD-012", 4, valid_until="2027-12-31",
                        basis="read and understood, practical assessment passed", ...)
    grant_on_signature(uow, "alice", "SOP-PRD-012", 4, signature_id="42", ...)   # on the grantor's
                        # 'approved' signature of a process step (the training process)
    revoke_qualification(uow, qualification_id, reason="left the department", ...)
    qualifications_of(session, "alice")         # each with its state today

A version can be granted once the document register holds it (in force, or approved for a
later effective date: people train before a version takes effect). State, computed from
the dates on the product clock whenever it is read:

    current       granted on or before today, valid until today or later (or no end), not revoked
    pending       granted for a later date
    expired       the day after `valid_until` has come
    revoked       revoked
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import clock
from core.config import Settings
from masterdata import changes
from masterdata.errors import RecordInvalid, RecordNotFound, RecordStateError
from masterdata.record_models import QualificationRevocationRow, QualificationRow
from masterdata.signed import RecordRules, as_date, load_record_rules, refuse, require_role, sign_record, text, today
from signatures.credentials import Credentials

CURRENT, PENDING, EXPIRED, REVOKED = "current", "pending", "expired", "revoked"
STATE_LABELS = {CURRENT: ("Current", "有效"), PENDING: ("Not yet valid", "尚未生效"), EXPIRED: ("Expired", "已过期"),
                REVOKED: ("Revoked", "已撤销")}


@dataclass(frozen=True)
class Qualification:
    id: int
    user_id: str
    sop: str
    version: int
    granted_on: str
    valid_until: str | None
    basis: str
    granted_by: str
    granted_at: str
    signature_id: str
    revoked_at: str | None
    revoked_by: str | None
    revocation_reason: str | None

    def state(self, on: date | None = None) -> str:
        day = on or today()
        if self.revoked_at is not None:
            return REVOKED
        if day < date.fromisoformat(self.granted_on):
            return PENDING
        if self.valid_until is not None and day > date.fromisoformat(self.valid_until):
            return EXPIRED
        return CURRENT


def _query(session: Session, *conditions: Any) -> list[Qualification]:
    stmt = (select(QualificationRow, QualificationRevocationRow)
            .outerjoin(QualificationRevocationRow, QualificationRevocationRow.qualification_id == QualificationRow.id)
            .where(*conditions).order_by(QualificationRow.user_id, QualificationRow.sop, QualificationRow.id))
    return [Qualification(q.id, q.user_id, q.sop, q.version, q.granted_on, q.valid_until, q.basis, q.granted_by,
                          q.granted_at, q.signature_id, r.revoked_at if r else None, r.revoked_by if r else None,
                          r.reason if r else None)
            for q, r in session.execute(stmt).all()]


def qualifications_of(session: Session, user_id: str | None = None, sop: str | None = None) -> list[Qualification]:
    """Qualifications (of a person, on an SOP), by person, SOP and grant order."""
    conditions = []
    if user_id is not None:
        conditions.append(QualificationRow.user_id == user_id)
    if sop is not None:
        conditions.append(QualificationRow.sop == sop)
    return _query(session, *conditions)


def get_qualification(session: Session, qualification_id: int) -> Qualification:
    found = _query(session, QualificationRow.id == qualification_id)
    if not found:
        raise RecordNotFound(f"no qualification {qualification_id}")
    return found[0]


def register_versions(session: Session, sop: str) -> set[int]:
    """Versions of a document the register holds in approved revisions (in force, superseded or dated later)."""
    return {int(c.data["version"]) for c in changes.history(session, "document", sop)
            if c.status in changes.IN_FORCE_STATUSES and c.action != "retire"}


def _checked_grant(uow: Any, user_id: str, sop_code: str, version: Any, basis: str, granted_on: Any,
                   valid_until: Any) -> dict[str, Any]:
    """The content of a grant after every check (RecordInvalid, RecordStateError, RecordNotFound otherwise)."""
    from signatures.models import UserAccount

    session: Session = uow.session
    if session.get(UserAccount, user_id) is None:
        raise RecordNotFound(f"no user {user_id!r}")
    if user_id == uow.actor.user_id:
        raise RecordStateError("nobody grants themself a qualification: another person signs it")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise RecordInvalid(f"version {version!r}: a whole number from 1", [("version", "invalid")])
    held = register_versions(session, sop_code)
    if version not in held:
        known = ", ".join(f"v{v}" for v in sorted(held)) or "none"
        raise RecordInvalid(f"{sop_code} v{version} is not in the document register (approved versions: {known})",
                            [("version", "not in the register")])
    start = as_date(granted_on, "granted_on", required=False) or today()
    end = as_date(valid_until, "valid_until", required=False)
    if end is not None and end < start:
        raise RecordInvalid(f"valid until {end.isoformat()} is before the grant date {start.isoformat()}",
                            [("valid_until", "before the grant date")])
    return {"user_id": user_id, "sop": sop_code, "version": version, "granted_on": start.isoformat(),
            "valid_until": end.isoformat() if end else None, "basis": text(basis, "basis")}


def _store_grant(uow: Any, content: dict[str, Any], seq: str, **details: Any) -> Qualification:
    session: Session = uow.session
    row = QualificationRow(user_id=content["user_id"], sop=content["sop"], version=content["version"],
                           granted_on=content["granted_on"], valid_until=content["valid_until"],
                           basis=content["basis"], granted_by=uow.actor.user_id,
                           granted_at=clock.isoformat(clock.now()), signature_id=seq)
    session.add(row)
    session.flush()
    uow.audit("md_qualification.granted", "md_qualification", f"{content['user_id']}/{content['sop']}",
              reason=content["basis"], changes=[[k, None, v] for k, v in content.items() if v is not None],
              details={"signature_id": seq, "qualification_id": row.id, **details})
    return get_qualification(session, row.id)


def grant_on_signature(uow: Any, user_id: str, sop: str, version: int, *, basis: str, signature_id: str,
                       settings: Settings, granted_on: Any = None, valid_until: Any = None,
                       rules: RecordRules | None = None, source: str = "") -> Qualification:
    """Grant a qualification on a signature the grantor has just made elsewhere: the 'approved' signature
    of a process step that decided the grant (the training process's approval). The signature must be the
    unit of work's person's own, with meaning 'approved'; every check of `grant_qualification` applies."""
    from signatures.models import Signature

    session: Session = uow.session
    sop_code = str(sop or "").strip()
    require_role(uow, rules or load_record_rules(settings), "qualification.grant",
                 what=f"grant a qualification on {sop_code}", object_type="md_qualification",
                 object_id=f"{user_id}/{sop_code}")
    try:
        found = session.get(Signature, int(signature_id)) if str(signature_id).isdigit() else None
        if found is None or found.signer_id != uow.actor.user_id or found.meaning != "approved":
            raise RecordStateError(f"signature {signature_id} is not {uow.actor.user_id}'s 'approved' signature: "
                                   "a qualification is granted on the grantor's own approval")
        content = _checked_grant(uow, user_id, sop_code, version, basis, granted_on, valid_until)
    except (RecordInvalid, RecordStateError, RecordNotFound) as exc:
        refuse(uow, exc, "md_qualification", f"{user_id}/{sop_code}", "grant")
    return _store_grant(uow, content, str(signature_id), signed_record=f"{found.record_type}/{found.record_id}",
                        source=source)


def grant_qualification(uow: Any, user_id: str, sop: str, version: int, *, basis: str, credentials: Credentials,
                        settings: Settings, granted_on: Any = None, valid_until: Any = None,
                        auth_session: Any = None, rules: RecordRules | None = None) -> Qualification:
    """Grant a person a qualification on one version of an SOP (signed 'approved' by the grantor)."""
    sop_code = str(sop or "").strip()
    require_role(uow, rules or load_record_rules(settings), "qualification.grant",
                 what=f"grant a qualification on {sop_code}", object_type="md_qualification",
                 object_id=f"{user_id}/{sop_code}")
    try:
        content = _checked_grant(uow, user_id, sop_code, version, basis, granted_on, valid_until)
    except (RecordInvalid, RecordStateError, RecordNotFound) as exc:
        refuse(uow, exc, "md_qualification", f"{user_id}/{sop_code}", "grant")
    seq = sign_record(uow, "md_qualification", f"{user_id}/{sop_code}/v{version}/{clock.isoformat(clock.now())}",
                      content, "approved", credentials, settings, auth_session=auth_session, reason=content["basis"])
    return _store_grant(uow, content, seq)


def revoke_qualification(uow: Any, qualification_id: int, *, reason: str, credentials: Credentials,
                         settings: Settings, auth_session: Any = None, rules: RecordRules | None = None
                         ) -> Qualification:
    """Revoke a qualification (signed); the gate refuses the person from the next claim on."""
    session: Session = uow.session
    require_role(uow, rules or load_record_rules(settings), "qualification.revoke",
                 what=f"revoke qualification {qualification_id}", object_type="md_qualification",
                 object_id=str(qualification_id))
    try:
        found = get_qualification(session, qualification_id)
        if found.revoked_at is not None:
            raise RecordStateError(f"qualification {qualification_id} was revoked on {found.revoked_at[:10]} "
                                   f"by {found.revoked_by}")
        why = text(reason, "reason")
    except (RecordInvalid, RecordStateError, RecordNotFound) as exc:
        refuse(uow, exc, "md_qualification", str(qualification_id), "revoke")
    label = f"{found.user_id}/{found.sop}"
    seq = sign_record(uow, "md_qualification_revocation", f"{qualification_id}",
                      {"qualification_id": qualification_id, "user_id": found.user_id, "sop": found.sop,
                       "version": found.version, "reason": why}, "approved", credentials, settings,
                      auth_session=auth_session, reason=why)
    session.add(QualificationRevocationRow(qualification_id=qualification_id, reason=why, revoked_by=uow.actor.user_id,
                                           revoked_at=clock.isoformat(clock.now()), signature_id=seq))
    session.flush()
    uow.audit("md_qualification.revoked", "md_qualification", label, reason=why,
              changes=[["state", found.state(), REVOKED]],
              details={"signature_id": seq, "qualification_id": qualification_id, "version": found.version})
    return get_qualification(session, qualification_id)
