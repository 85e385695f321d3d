"""Links between instances: a deviation raised from a batch, the batches it affects, the process
another one started, a deviation that caused a CAPA. Rows, queryable from both ends.

A link reads `source <kind> target` and is one `engine_instance_link` row (from = source,
to = target, kind, the BPMN element that made it when the engine did, who, when, why).
The standard kinds (`standard_kinds()`; a `LinkKinds` set can add more):

    kind         source -> target                  read from the target's side
    raised_from  deviation -> batch it was found in  raised
    affects      deviation -> batch it concerns      affected_by
    started_by   started process -> starting one      started
    caused       deviation -> CAPA it led to          caused_by

A relation can be named from either side: `link(uow, batch, "affected_by", deviation)`
stores `deviation affects batch`. Rows written before these kinds existed keep their kind
and are read through aliases: `deviation` (batch -> deviation it raised) is `raised_from`
reversed, `message` and `linked` (starter -> started) are `started_by` reversed.

The engine writes links itself where it starts one instance from another: the
`raise_deviation` operator (`raised_from`), `start_linked_process` (its `link` parameter, a
relation of the new instance to the starting one, default `started_by`) and a message
start event (`started_by`). People and other systems link through `link()` (web record
page, `gmp process link`). Links are append-only; one made in error is retracted with a
reason (`retract`, a row in `engine_instance_link_retraction`) and no longer counts, while
the record keeps both. Audit entries: `instance.linked`, `instance.link_retracted`
(object `instance_link/<id>`, with both instances and their business keys in the details).

Queries: `links_of(session, id)` (every link touching an instance, read canonically) and
`related(session, id, relation=..., process=..., status=...)`, e.g. a batch's open
deviations: `related(s, batch, relation=("raised", "affected_by"), process="deviation",
status="running")`; a deviation's affected batches: `related(s, dev, relation="affects")`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core import clock
from engine.business_keys import keys_of
from engine.errors import InstanceNotFound, LinkRefused
from engine.models import ProcessDefinition, ProcessDefinitionVersion, ProcessInstance
from engine.runtime_models import InstanceLink, InstanceLinkRetraction

MAX_REASON = 2000


@dataclass(frozen=True)
class LinkKind:
    """`source <name> target`; seen from the target, the relation is `inverse`."""

    name: str
    inverse: str
    description: str = ""


@dataclass(frozen=True)
class Alias:
    """A stored kind read as a standard one (`reversed`: its from/to are the other way round)."""

    name: str
    kind: str
    reversed: bool


@dataclass
class LinkKinds:
    """The kinds a system knows. Built explicitly; `standard_kinds()` is the default set."""

    kinds: dict[str, LinkKind] = field(default_factory=dict)
    aliases: dict[str, Alias] = field(default_factory=dict)
    frozen: bool = False

    def freeze(self) -> "LinkKinds":
        """No more kinds or aliases (the shared standard set is frozen)."""
        self.frozen = True
        return self

    def _writable(self) -> None:
        if self.frozen:
            raise LinkRefused("this set of link kinds is frozen: build your own (standard_kinds()) to extend it")

    def add(self, kind: LinkKind) -> LinkKind:
        self._writable()
        for name in (kind.name, kind.inverse):
            if not name.isidentifier() or len(name) > 50:
                raise LinkRefused(f"link kind name {name!r} must be an identifier of at most 50 characters")
            if name in self.kinds or name in self.aliases or any(k.inverse == name for k in self.kinds.values()):
                raise LinkRefused(f"link kind {name!r} is defined already")
        self.kinds[kind.name] = kind
        return kind

    def alias(self, name: str, kind: str, *, reversed: bool) -> None:
        self._writable()
        if kind not in self.kinds:
            raise LinkRefused(f"alias {name!r} names an unknown link kind {kind!r}")
        self.aliases[name] = Alias(name, kind, reversed)

    def relations(self) -> list[str]:
        """Every name a relation can be given by: kinds and their inverses."""
        return sorted([k.name for k in self.kinds.values()] + [k.inverse for k in self.kinds.values()])

    def parse(self, relation: str) -> tuple[LinkKind, bool]:
        """(kind, inverted) for a relation name; inverted: the subject is the link's target."""
        relation = (relation or "").strip()
        if relation in self.kinds:
            return self.kinds[relation], False
        for kind in self.kinds.values():
            if kind.inverse == relation:
                return kind, True
        raise LinkRefused(f"unknown link relation {relation!r} (known: {', '.join(self.relations())})")

    def canonical(self, stored: str, from_id: int, to_id: int) -> tuple[str, int, int]:
        """(kind, source, target) of a stored row; unknown kinds are kept as they are."""
        alias = self.aliases.get(stored)
        if alias is not None:
            return (alias.kind, to_id, from_id) if alias.reversed else (alias.kind, from_id, to_id)
        return stored, from_id, to_id

    def stored_names(self, kind: str) -> list[str]:
        return [kind] + [a.name for a in self.aliases.values() if a.kind == kind]

    def inverse_of(self, kind: str) -> str:
        known = self.kinds.get(kind)
        return known.inverse if known is not None else f"{kind}_of"


def standard_kinds() -> LinkKinds:
    kinds = LinkKinds()
    kinds.add(LinkKind("raised_from", "raised", "a deviation (or complaint, change) and the instance it was found in"))
    kinds.add(LinkKind("affects", "affected_by", "a deviation and a batch (or product, document) it concerns"))
    kinds.add(LinkKind("started_by", "started", "an instance and the instance that started it"))
    kinds.add(LinkKind("caused", "caused_by", "an instance and one it led to (a deviation and its CAPA)"))
    kinds.alias("deviation", "raised_from", reversed=True)
    kinds.alias("message", "started_by", reversed=True)
    kinds.alias("linked", "started_by", reversed=True)
    return kinds


STANDARD = standard_kinds().freeze()


@dataclass(frozen=True)
class Link:
    """One link read canonically: `source kind target`."""

    id: int
    kind: str
    source_id: int
    target_id: int
    element_id: str | None
    created_at: str
    created_by: str
    reason: str | None
    stored_kind: str
    retracted: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Related:
    """A link seen from one instance: `this <relation> other`."""

    link_id: int
    relation: str
    kind: str
    instance_id: int
    process: str
    title: str
    status: str
    business_key: str | None
    created_at: str
    created_by: str
    reason: str | None
    element_id: str | None
    retracted: Mapping[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__, retracted=dict(self.retracted) if self.retracted else None)


def _now() -> str:
    return clock.isoformat(clock.now())


def _instance(session: Session, instance_id: int) -> tuple[ProcessInstance, str]:
    row = session.execute(select(ProcessInstance, ProcessDefinition.key)
                          .join(ProcessDefinitionVersion, ProcessDefinitionVersion.id == ProcessInstance.version_id)
                          .join(ProcessDefinition, ProcessDefinition.id == ProcessDefinitionVersion.definition_id)
                          .where(ProcessInstance.id == instance_id)).one_or_none()
    if row is None:
        raise InstanceNotFound(f"no process instance {instance_id}")
    return row[0], row[1]


def _reason(reason: str | None, *, required: bool) -> str | None:
    text = (reason or "").strip()
    if required and not text:
        raise LinkRefused("a reason is required")
    if len(text) > MAX_REASON:
        raise LinkRefused(f"the reason is longer than {MAX_REASON} characters")
    return text or None


def link(uow: Any, subject_id: int, relation: str, object_id: int, *, reason: str | None = None,
         element_id: str | None = None, kinds: LinkKinds | None = None) -> Link:
    """Record `subject <relation> object` (relation: a kind or its inverse), audited.

    Refused (LinkRefused / InstanceNotFound; the attempt recorded as `instance.link_refused`):
    an unknown relation, an instance that does not exist, an instance linked to itself, the
    same link already in force, a reason over MAX_REASON characters."""
    kinds = kinds or STANDARD
    session: Session = uow.session
    try:
        kind, inverted = kinds.parse(relation)
        source_id, target_id = (object_id, subject_id) if inverted else (subject_id, object_id)
        if source_id == target_id:
            raise LinkRefused(f"instance {source_id} cannot be linked to itself")
        source_process = _instance(session, source_id)[1]
        target_process = _instance(session, target_id)[1]
        text = _reason(reason, required=False)
        for existing in links_of(session, source_id, kinds=kinds):
            if (existing.kind, existing.source_id, existing.target_id) == (kind.name, source_id, target_id):
                raise LinkRefused(f"instance {source_id} {kind.name} instance {target_id} already "
                                  f"(link {existing.id}, {existing.created_at} by {existing.created_by})")
    except (LinkRefused, InstanceNotFound) as exc:
        uow.record_refusal("instance.link_refused", "process_instance", subject_id, reason=str(exc),
                           details={"relation": relation, "object_instance_id": object_id})
        raise
    row = InstanceLink(from_instance_id=source_id, to_instance_id=target_id, kind=kind.name, element_id=element_id,
                       created_at=_now(), created_by=uow.actor.user_id, reason=text)
    session.add(row)
    session.flush()
    keys = keys_of(session, [source_id, target_id])
    uow.audit("instance.linked", "instance_link", row.id, changes=[["kind", None, kind.name]], reason=text,
              details={"source_instance_id": source_id, "source_process": source_process,
                       "source_business_key": keys.get(source_id), "target_instance_id": target_id,
                       "target_process": target_process, "target_business_key": keys.get(target_id),
                       "element_id": element_id})
    return _read(row, kinds, None)


def retract(uow: Any, link_id: int, reason: str, *, kinds: LinkKinds | None = None) -> Link:
    """Retract a link made in error (with a reason); the link row stays, marked by the retraction."""
    kinds = kinds or STANDARD
    session: Session = uow.session
    try:
        text = _reason(reason, required=True)
        row = session.get(InstanceLink, link_id)
        if row is None:
            raise LinkRefused(f"no link {link_id}")
        done = session.execute(select(InstanceLinkRetraction).where(InstanceLinkRetraction.link_id == link_id)
                               ).scalar_one_or_none()
        if done is not None:
            raise LinkRefused(f"link {link_id} was retracted already ({done.retracted_at} by {done.retracted_by})")
    except LinkRefused as exc:
        uow.record_refusal("instance.link_retraction_refused", "instance_link", link_id, reason=str(exc))
        raise
    retraction = InstanceLinkRetraction(link_id=link_id, reason=text, retracted_at=_now(),
                                        retracted_by=uow.actor.user_id)
    session.add(retraction)
    session.flush()
    kind, source_id, target_id = kinds.canonical(row.kind, row.from_instance_id, row.to_instance_id)
    uow.audit("instance.link_retracted", "instance_link", link_id, changes=[["retracted", False, True]], reason=text,
              details={"kind": kind, "source_instance_id": source_id, "target_instance_id": target_id})
    return _read(row, kinds, retraction)


def _read(row: InstanceLink, kinds: LinkKinds, retraction: InstanceLinkRetraction | None) -> Link:
    kind, source_id, target_id = kinds.canonical(row.kind, row.from_instance_id, row.to_instance_id)
    retracted = None
    if retraction is not None:
        retracted = {"reason": retraction.reason, "at": retraction.retracted_at, "by": retraction.retracted_by}
    return Link(row.id, kind, source_id, target_id, row.element_id, row.created_at, row.created_by, row.reason,
                row.kind, retracted)


def links_of(session: Session, instance_id: int, *, include_retracted: bool = False,
             kinds: LinkKinds | None = None) -> list[Link]:
    """Every link touching the instance (either end), oldest first, read canonically."""
    kinds = kinds or STANDARD
    rows = session.execute(
        select(InstanceLink, InstanceLinkRetraction)
        .outerjoin(InstanceLinkRetraction, InstanceLinkRetraction.link_id == InstanceLink.id)
        .where(or_(InstanceLink.from_instance_id == instance_id, InstanceLink.to_instance_id == instance_id))
        .order_by(InstanceLink.id)).all()
    return [_read(row, kinds, retraction) for row, retraction in rows if include_retracted or retraction is None]


def related(session: Session, instance_id: int, *, relation: str | Sequence[str] | None = None,
            process: str | Iterable[str] | None = None, status: str | Iterable[str] | None = None,
            include_retracted: bool = False, kinds: LinkKinds | None = None) -> list[Related]:
    """The instances linked to `instance_id`, each with the relation `this <relation> other`.

    relation: kind names (this instance is the source) and/or inverse names (the target);
    process: process keys of the other instance; status: its status (e.g. "running")."""
    kinds = kinds or STANDARD
    wanted = {relation} if isinstance(relation, str) else set(relation) if relation is not None else None
    if wanted is not None:
        for name in wanted:
            kinds.parse(name)  # unknown relation names are a mistake, not an empty result
    processes = {process} if isinstance(process, str) else set(process) if process is not None else None
    statuses = {status} if isinstance(status, str) else set(status) if status is not None else None
    seen = []
    for item in links_of(session, instance_id, include_retracted=include_retracted, kinds=kinds):
        outgoing = item.source_id == instance_id
        name = item.kind if outgoing else kinds.inverse_of(item.kind)
        if wanted is None or name in wanted:
            seen.append((item, name, item.target_id if outgoing else item.source_id))
    others = {other for _item, _name, other in seen}
    info: dict[int, tuple[ProcessInstance, str]] = {}
    if others:
        for inst, key in session.execute(
                select(ProcessInstance, ProcessDefinition.key)
                .join(ProcessDefinitionVersion, ProcessDefinitionVersion.id == ProcessInstance.version_id)
                .join(ProcessDefinition, ProcessDefinition.id == ProcessDefinitionVersion.definition_id)
                .where(ProcessInstance.id.in_(sorted(others)))):
            info[inst.id] = (inst, key)
    keys = keys_of(session, others)
    out = []
    for item, name, other in seen:
        inst, key = info[other]
        if processes is not None and key not in processes:
            continue
        if statuses is not None and inst.status not in statuses:
            continue
        out.append(Related(item.id, name, item.kind, other, key, inst.title, inst.status, keys.get(other),
                           item.created_at, item.created_by, item.reason, item.element_id, item.retracted))
    return out


def record_engine_link(uow: Any, new_instance_id: int, relation: str, starting_instance_id: int, *,
                       element_id: str | None = None, kinds: LinkKinds | None = None) -> Link:
    """A link the engine makes when one instance starts another: `new <relation> starting`
    (the operator's legacy default `linked` means `started_by`)."""
    return link(uow, new_instance_id, "started_by" if relation in ("linked", "", None) else relation,
                starting_instance_id, element_id=element_id, kinds=kinds)


__all__ = ["Link", "LinkKind", "LinkKinds", "Related", "STANDARD", "standard_kinds", "link", "retract", "links_of",
           "related", "record_engine_link", "MAX_REASON"]
