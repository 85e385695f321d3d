"""The tag registry: the database is the source of truth (P11-10h, P11-10k, A11-10).

An import (YAML or TOML) becomes a *pending* revision; it takes effect only when a
user other than the importer approves it. The newest approved revision is the
effective registry; the one before becomes superseded. Tag rows are append-only:
a change is a new revision. Every step is audited.

Approval is an electronic signature (meaning "approved", `signatures.service.sign`)
over the revision's number and content digest, by a user holding the QA role who
did not import it.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audit.canonical import Actor
from connectors.errors import ApprovalNotPermitted, RegistryError, RevisionStateError, UnregisteredTag
from connectors.models import ConnectorSecurityEvent, EquipmentTag, RevisionStatus, SecurityEventKind, TagRegistryRevision
from connectors.tags import TagDefinition, definitions_digest, parse_definitions
from core import clock
from core.config import Settings
from signatures.credentials import Credentials
from signatures.identities import roles_of
from signatures.records import SimpleRecord
from signatures.service import sign
from store.uow import UnitOfWork


@dataclass(frozen=True)
class RegisteredTag:
    """A tag of the effective registry: its row id, revision number and definition."""

    tag_id: int
    revision: int
    definition: TagDefinition

    @property
    def name(self) -> str:
        return self.definition.name


# ---------------------------------------------------------------- import and decisions
def import_revision(uow: UnitOfWork, raw: bytes, source_name: str, *, reason: str,
                    endpoint_overrides: Mapping[str, str] | None = None) -> TagRegistryRevision:
    """Validate a definition file and store it as a pending revision."""
    if not reason or not reason.strip():
        raise RegistryError("an import needs a reason (change control)")
    tags = parse_definitions(raw, source_name, endpoint_overrides)
    session = uow.session
    number = (session.scalar(select(func.max(TagRegistryRevision.number))) or 0) + 1
    revision = TagRegistryRevision(
        number=number, status=RevisionStatus.PENDING.value, source_name=Path(source_name).name,
        source_sha256=hashlib.sha256(raw).hexdigest(), content_sha256=definitions_digest(tags),
        tag_count=len(tags), change_reason=reason.strip(), imported_by=uow.actor.user_id,
        imported_at=clock.isoformat(clock.now()))
    session.add(revision)
    session.flush()
    for tag in tags:
        session.add(_row(revision.id, tag))
    current = effective_definitions(session)
    new = {t.name: t for t in tags}
    changes = {
        "added": sorted(set(new) - set(current)),
        "removed": sorted(set(current) - set(new)),
        "changed": sorted(n for n in set(new) & set(current) if new[n] != current[n]),
    }
    uow.audit("tag_registry.imported", "tag_registry_revision", number,
              changes=[["status", None, RevisionStatus.PENDING.value]], reason=reason.strip(),
              details={"source": revision.source_name, "source_sha256": revision.source_sha256,
                       "content_sha256": revision.content_sha256, "tags": len(tags), **changes})
    return revision


APPROVER_ROLE = "qa"


def revision_record(revision: TagRegistryRevision) -> SimpleRecord:
    """The signable record of a registry revision: its number and content digests."""
    return SimpleRecord("tag_registry_revision", str(revision.number), 1,
                        {"number": revision.number, "content_sha256": revision.content_sha256,
                         "source_sha256": revision.source_sha256, "tag_count": revision.tag_count})


def approve_revision(uow: UnitOfWork, number: int, *, credentials: Credentials, settings: Settings, reason: str,
                     auth_session: Any = None) -> TagRegistryRevision:
    """A QA user other than the importer approves a pending revision by electronic signature
    (meaning "approved"); it becomes the effective registry."""
    revision = _pending(uow, number, "approve")
    approver = credentials.username
    problem = None
    if approver == revision.imported_by:
        problem = f"registry revision {number} was imported by {approver}: a different user must approve it"
    elif APPROVER_ROLE not in roles_of(uow.session, approver):
        problem = f"{approver} does not hold the {APPROVER_ROLE} role: only QA approves registry revisions"
    if problem:
        uow.record_refusal("tag_registry.approval_refused", "tag_registry_revision", number, reason=problem,
                           details={"approver": approver})
        raise ApprovalNotPermitted(problem, revision=number)
    signature = sign(uow, revision_record(revision), "approved", credentials, auth_session, settings, reason=reason)
    actor = Actor(signature.signer_id, signature.printed_name)
    previous = uow.session.scalars(select(TagRegistryRevision).where(
        TagRegistryRevision.status == RevisionStatus.APPROVED.value)).all()
    for old in previous:
        old.status = RevisionStatus.SUPERSEDED.value
        uow.audit("tag_registry.superseded", "tag_registry_revision", old.number, actor=actor,
                  changes=[["status", RevisionStatus.APPROVED.value, RevisionStatus.SUPERSEDED.value]],
                  details={"superseded_by": number})
    revision.status = RevisionStatus.APPROVED.value
    revision.decided_by = signature.signer_id
    revision.decided_at = signature.signed_at
    revision.decision_reason = reason
    revision.approval_signature = str(signature.seq)
    uow.audit("tag_registry.approved", "tag_registry_revision", number, actor=actor,
              changes=[["status", RevisionStatus.PENDING.value, RevisionStatus.APPROVED.value]], reason=reason,
              details={"content_sha256": revision.content_sha256, "imported_by": revision.imported_by,
                       "signature_seq": signature.seq})
    return revision


def reject_revision(uow: UnitOfWork, number: int, *, reason: str) -> TagRegistryRevision:
    revision = _pending(uow, number, "reject")
    if not reason or not reason.strip():
        raise RegistryError("a rejection needs a reason")
    revision.status = RevisionStatus.REJECTED.value
    revision.decided_by = uow.actor.user_id
    revision.decided_at = clock.isoformat(clock.now())
    revision.decision_reason = reason
    uow.audit("tag_registry.rejected", "tag_registry_revision", number,
              changes=[["status", RevisionStatus.PENDING.value, RevisionStatus.REJECTED.value]], reason=reason)
    return revision


def _pending(uow: UnitOfWork, number: int, verb: str) -> TagRegistryRevision:
    revision = uow.session.scalar(select(TagRegistryRevision).where(TagRegistryRevision.number == number))
    if revision is None:
        raise RegistryError(f"no registry revision {number}")
    if revision.status != RevisionStatus.PENDING.value:
        raise RevisionStateError(f"registry revision {number} is {revision.status}: only a pending revision "
                                 f"can be {verb}d")
    return revision


# ---------------------------------------------------------------- the effective registry
def effective_revision(session: Session) -> TagRegistryRevision | None:
    return session.scalar(select(TagRegistryRevision).where(
        TagRegistryRevision.status == RevisionStatus.APPROVED.value).order_by(TagRegistryRevision.number.desc()))


def effective_tags(session: Session) -> dict[str, RegisteredTag]:
    revision = effective_revision(session)
    if revision is None:
        return {}
    rows = session.scalars(select(EquipmentTag).where(EquipmentTag.revision_id == revision.id)).all()
    return {row.name: RegisteredTag(row.id, revision.number, definition_of(row)) for row in rows}


def effective_definitions(session: Session) -> dict[str, TagDefinition]:
    return {name: reg.definition for name, reg in effective_tags(session).items()}


def revision_tags(session: Session, number: int) -> list[TagDefinition]:
    revision = session.scalar(select(TagRegistryRevision).where(TagRegistryRevision.number == number))
    if revision is None:
        raise RegistryError(f"no registry revision {number}")
    rows = session.scalars(select(EquipmentTag).where(EquipmentTag.revision_id == revision.id)
                           .order_by(EquipmentTag.name)).all()
    return [definition_of(row) for row in rows]


def lookup(uow: UnitOfWork, name: str, *, action: str) -> RegisteredTag:
    """The registered tag called `name`, or UnregisteredTag (logged as a security event)."""
    found = effective_tags(uow.session).get(name)
    if found is None:
        message = f"tag {name!r} is not in the effective tag registry: {action} refused"
        record_security_event(uow, SecurityEventKind.UNREGISTERED_TAG, detail=message, tag_name=name)
        raise UnregisteredTag(message, tag=name)
    return found


def record_security_event(uow: UnitOfWork, kind: SecurityEventKind, *, detail: str, tag_name: str | None = None,
                          endpoint: str | None = None, source: str | None = None, value: Any = None) -> None:
    """A security event row and an audit entry that survive a rollback of `uow`."""
    def make() -> ConnectorSecurityEvent:
        return ConnectorSecurityEvent(occurred_at=clock.isoformat(clock.now()), kind=kind.value, tag_name=tag_name,
                                      endpoint=endpoint, source=source,
                                      value_json=None if value is None else json.dumps(value, default=str),
                                      actor_id=uow.actor.user_id, detail=detail)
    uow.session.add(make())
    uow.after_rollback(lambda session: session.add(make()))
    uow.record_refusal("equipment.data_refused", "equipment_tag", tag_name or source or "?", reason=detail,
                       details={"kind": kind.value, "endpoint": endpoint, "source": source})


def definition_of(row: EquipmentTag) -> TagDefinition:
    return TagDefinition.from_document({
        "name": row.name, "equipment_id": row.equipment_id, "protocol": row.protocol, "endpoint": row.endpoint,
        "data_type": row.data_type, "unit": row.unit, "access": row.access, "modbus_unit": row.modbus_unit,
        "register_type": row.register_type, "address": row.address, "word_order": row.word_order,
        "node_id": row.node_id, "scale": row.scale, "offset": row.offset, "low": row.low, "high": row.high,
        "description": row.description})


def _row(revision_id: int, tag: TagDefinition) -> EquipmentTag:
    doc = tag.document()
    return EquipmentTag(revision_id=revision_id, **doc)
