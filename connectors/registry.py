"""The tag registry: the database is the source of truth (P11-10h, P11-10k, A11-10).

Each tag is an item under change control (`masterdata.changes`, kind `tag`, key the tag
name). An import (YAML or TOML) becomes a *pending* registry revision: a change set with
one draft per tag the file adds or changes, and per tag its `retire:` list names; tags
the file does not mention stay as they are (a 5-tag file changes 5 tags, never the
others). The revision takes effect only when a user other than the importer, holding
the QA role, approves it by electronic signature (meaning "approved", one ceremony:
the revision's record and each tag change are signed). A tag's previous revision is then
superseded and stays readable; a revision whose tags are all superseded is superseded.
Tag rows are append-only (readings point at the row they were read with). Every step is
audited.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audit.canonical import Actor
from connectors.codec import DataType, WordOrder
from connectors.errors import ApprovalNotPermitted, RegistryError, RevisionStateError, UnregisteredTag
from connectors.models import ConnectorSecurityEvent, EquipmentTag, RevisionStatus, SecurityEventKind, TagRegistryRevision
from connectors.tags import Access, Protocol, TagDefinition, check_document, definitions_digest, parse_definitions, parse_retired
from core import clock
from core.config import Settings
from core.errors import GmpError
from masterdata import changes
from masterdata.changes import ChangeKind
from masterdata.errors import ChangeError
from masterdata.models import ChangeRow, ChangeStatus
from signatures.credentials import Credentials
from signatures.identities import roles_of
from signatures.records import SimpleRecord
from store.uow import UnitOfWork

APPROVER_ROLE = "qa"

TAG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "equipment_id", "protocol", "endpoint", "data_type", "access"],
    "properties": {
        "name": {"type": "string", "title": "Tag"},
        "equipment_id": {"type": "string", "title": "Equipment"},
        "protocol": {"type": "string", "enum": [p.value for p in Protocol], "title": "Protocol"},
        "endpoint": {"type": "string", "title": "Endpoint"},
        "data_type": {"type": "string", "enum": [d.value for d in DataType], "title": "Data type"},
        "unit": {"type": "string", "title": "Unit"},
        "access": {"type": "string", "enum": [a.value for a in Access], "title": "Access"},
        "modbus_unit": {"type": ["integer", "null"]},
        "register_type": {"type": ["string", "null"]},
        "address": {"type": ["integer", "null"]},
        "word_order": {"type": "string", "enum": [w.value for w in WordOrder]},
        "node_id": {"type": ["string", "null"]},
        "scale": {"type": "number"},
        "offset": {"type": "number"},
        "low": {"type": ["number", "null"], "title": "Low limit"},
        "high": {"type": ["number", "null"], "title": "High limit"},
        "description": {"type": "string", "title": "Description"},
    },
    "additionalProperties": False,
}

TAG_KIND = ChangeKind(
    "tag", "Equipment tag", "设备位号", schema=TAG_SCHEMA, key_field="name", drafter_roles=("qa", "validation"),
    approver_roles=(APPROVER_ROLE,), validate=check_document,
    list_fields=("name", "equipment_id", "protocol", "unit", "access", "low", "high"),
    description="Tags of the equipment registry: connectors read and write only these (P11-10h).",
    managed_by="the tag registry (Equipment tags, gmp tags import)")


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
                    endpoint_overrides: Mapping[str, str] | None = None,
                    retire: Sequence[str] = ()) -> TagRegistryRevision:
    """Validate a definition file and store what it changes as a pending revision.

    Tags the file defines are added or changed (an unchanged tag is left alone); tags its
    `retire:` list (or `retire=`) names are retired; every other tag stays as it is."""
    if not reason or not reason.strip():
        raise RegistryError("an import needs a reason (change control)")
    tags = parse_definitions(raw, source_name, endpoint_overrides)
    retired = list(dict.fromkeys([*parse_retired(raw, source_name), *retire]))
    session = uow.session
    current = effective_definitions(session)
    both = sorted({t.name for t in tags} & set(retired))
    if both:
        raise RegistryError(f"{source_name}: {', '.join(both)} both defined and retired")
    unknown = sorted(set(retired) - set(current))
    if unknown:
        raise RegistryError(f"{source_name}: cannot retire {', '.join(unknown)}: not in the effective registry")
    new = {t.name: t for t in tags}
    delta = {
        "added": sorted(set(new) - set(current)),
        "retired": sorted(retired),
        "changed": sorted(n for n in set(new) & set(current) if new[n] != current[n]),
        "unchanged": sorted(n for n in set(new) & set(current) if new[n] == current[n]),
    }
    entries: list[tuple[Any, Any, str]] = []
    for tag in tags:
        if tag.name in delta["added"]:
            entries.append((tag.name, tag.document(), "create"))
        elif tag.name in delta["changed"]:
            entries.append((tag.name, tag.document(), "change"))
    entries.extend((name, None, "retire") for name in retired)
    if not entries:
        raise RegistryError(f"{source_name}: every tag in the file is already in effect as defined: nothing to change")
    try:
        change_set = changes.draft_set(uow, None, TAG_KIND, entries, reason, source_name=Path(source_name).name,
                                       source_sha256=hashlib.sha256(raw).hexdigest(), by_manager=True)
    except ChangeError as exc:
        raise RegistryError(f"{source_name}: {exc}") from exc
    number = (session.scalar(select(func.max(TagRegistryRevision.number))) or 0) + 1
    revision = TagRegistryRevision(
        number=number, status=RevisionStatus.PENDING.value, source_name=Path(source_name).name,
        source_sha256=hashlib.sha256(raw).hexdigest(), content_sha256=definitions_digest(tags),
        tag_count=len(tags), change_reason=reason.strip(), imported_by=uow.actor.user_id,
        imported_at=clock.isoformat(clock.now()), change_set_id=change_set.id)
    session.add(revision)
    session.flush()
    for tag in tags:
        if tag.name not in delta["unchanged"]:
            session.add(_row(revision.id, tag))
    uow.audit("tag_registry.imported", "tag_registry_revision", number,
              changes=[["status", None, RevisionStatus.PENDING.value]], reason=reason.strip(),
              details={"source": revision.source_name, "source_sha256": revision.source_sha256,
                       "content_sha256": revision.content_sha256, "tags": len(tags), "change_set": change_set.id,
                       **delta, "removed": delta["retired"]})
    return revision


def revision_record(revision: TagRegistryRevision) -> SimpleRecord:
    """The signable record of a registry revision: its number and content digests."""
    return SimpleRecord("tag_registry_revision", str(revision.number), 1,
                        {"number": revision.number, "content_sha256": revision.content_sha256,
                         "source_sha256": revision.source_sha256, "tag_count": revision.tag_count})


def approve_revision(uow: UnitOfWork, number: int, *, credentials: Credentials, settings: Settings, reason: str,
                     auth_session: Any = None) -> TagRegistryRevision:
    """A QA user other than the importer approves a pending revision by electronic signature
    (meaning "approved"); the tags it adds, changes or retires take effect."""
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
    try:
        approved, signatures = changes.approve_set_signed(
            uow, TAG_KIND, revision.change_set_id, credentials=credentials, settings=settings,
            auth_session=auth_session, reason=reason, extra_records=[revision_record(revision)])
    except ChangeError as exc:
        raise RegistryError(f"registry revision {number}: {exc}") from exc
    except GmpError:
        raise
    signature = signatures[0]
    actor = Actor(signature.signer_id, signature.printed_name)
    revision.status = RevisionStatus.APPROVED.value
    revision.decided_by = signature.signer_id
    revision.decided_at = signature.signed_at
    revision.decision_reason = reason
    revision.approval_signature = str(signature.seq)
    uow.session.flush()
    uow.audit("tag_registry.approved", "tag_registry_revision", number, actor=actor,
              changes=[["status", RevisionStatus.PENDING.value, RevisionStatus.APPROVED.value]], reason=reason,
              details={"content_sha256": revision.content_sha256, "imported_by": revision.imported_by,
                       "signature_seq": signature.seq, "tags": [c.key for c in approved]})
    _supersede_revisions(uow, actor, number)
    return revision


def _supersede_revisions(uow: UnitOfWork, actor: Actor, number: int) -> None:
    """Approved revisions none of whose tag changes is in force any more become superseded."""
    session = uow.session
    in_force = set(changes.in_force_ids(session, TAG_KIND.name).values())
    for old in session.scalars(select(TagRegistryRevision).where(
            TagRegistryRevision.status == RevisionStatus.APPROVED.value, TagRegistryRevision.number != number)):
        ids = set(session.scalars(select(ChangeRow.id).where(ChangeRow.change_set_id == old.change_set_id)))
        if ids and not ids & in_force:
            old.status = RevisionStatus.SUPERSEDED.value
            uow.audit("tag_registry.superseded", "tag_registry_revision", old.number, actor=actor,
                      changes=[["status", RevisionStatus.APPROVED.value, RevisionStatus.SUPERSEDED.value]],
                      details={"superseded_by": number})


def reject_revision(uow: UnitOfWork, number: int, *, reason: str) -> TagRegistryRevision:
    revision = _pending(uow, number, "reject")
    if not reason or not reason.strip():
        raise RegistryError("a rejection needs a reason")
    for change_id in uow.session.scalars(select(ChangeRow.id).where(
            ChangeRow.change_set_id == revision.change_set_id, ChangeRow.status == ChangeStatus.DRAFT.value)):
        changes.withdraw(uow, change_id, f"registry revision {number} rejected: {reason.strip()}", kind=TAG_KIND,
                         check_role=False)
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
    """The newest approved registry revision (the registry's version number)."""
    return session.scalar(select(TagRegistryRevision).where(
        TagRegistryRevision.status.in_((RevisionStatus.APPROVED.value, RevisionStatus.SUPERSEDED.value)))
        .order_by(TagRegistryRevision.number.desc()).limit(1))


def effective_tags(session: Session, at: Any = None) -> dict[str, RegisteredTag]:
    """The tags in force (at `at`, default now): each with the row and revision it was approved in."""
    revisions = changes.effective_items(session, TAG_KIND.name, at)
    if not revisions:
        return {}
    sets = {rev.change_set_id for rev in revisions}
    registry_revisions = {r.change_set_id: r for r in session.scalars(
        select(TagRegistryRevision).where(TagRegistryRevision.change_set_id.in_(sets)))}
    wanted = {(registry_revisions[rev.change_set_id].id, rev.key) for rev in revisions
              if rev.change_set_id in registry_revisions}
    rows = {(row.revision_id, row.name): row for row in session.scalars(select(EquipmentTag).where(
        EquipmentTag.revision_id.in_({rid for rid, _ in wanted}), EquipmentTag.name.in_({n for _, n in wanted})))}
    out: dict[str, RegisteredTag] = {}
    for rev in revisions:
        reg = registry_revisions.get(rev.change_set_id)
        row = rows.get((reg.id, rev.key)) if reg is not None else None
        if reg is None or row is None:  # a change drafted outside a registry revision: no row to read with
            continue
        out[rev.key] = RegisteredTag(row.id, reg.number, definition_of(row))
    return out


def effective_definitions(session: Session) -> dict[str, TagDefinition]:
    return {name: reg.definition for name, reg in effective_tags(session).items()}


def revision_tags(session: Session, number: int) -> list[TagDefinition]:
    """The tags a revision added or changed (as it defined them)."""
    revision = session.scalar(select(TagRegistryRevision).where(TagRegistryRevision.number == number))
    if revision is None:
        raise RegistryError(f"no registry revision {number}")
    rows = session.scalars(select(EquipmentTag).where(EquipmentTag.revision_id == revision.id)
                           .order_by(EquipmentTag.name)).all()
    return [definition_of(row) for row in rows]


def revision_changes(session: Session, number: int) -> list[changes.Change]:
    """What a revision changes, tag by tag (create, change, retire), with each change's status."""
    revision = session.scalar(select(TagRegistryRevision).where(TagRegistryRevision.number == number))
    if revision is None:
        raise RegistryError(f"no registry revision {number}")
    return sorted(changes.get_change_set(session, revision.change_set_id).changes, key=lambda c: c.key)


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
