"""One change-control primitive for every controlled item (A11-10, P11-10k, CN-3).

A controlled item is (kind, key): a material, an instrument, an equipment tag, a recipe.
Its content changes only through numbered revisions:

    draft      a person with a drafter role proposes the item's whole data after the
               change (create, change or retire) with a reason;
    approve    another person with an approver role signs it (Part 11 signature through
               `signatures.service`, meaning of the kind, "approved" by default); the drafter
               never approves their own change;
    effective  at approval, or from a later date (`effective_from`) on the product clock;
    superseded the revision it replaces stays readable, with who, when, why and signature.
A draft can be withdrawn (with a reason) instead. Changes drafted together (an import, a
registry revision) form a change set, approved in one signing ceremony.

What is in force is computed from the dates (`effective`, `effective_items`): a revision
dated for tomorrow takes over the moment tomorrow comes on the product clock, without
waiting for a job; the stored status follows at the next write of the kind (`settle`).

Kinds are described by `ChangeKind` and collected in a `ChangeCatalogue` built explicitly
(the product's is `EngineRuntime.changes`, filled by `bpmn.glue.install`). Who may draft
and approve a kind comes from the role rules (masterdata/change_rules.yaml, replaced by
instance/change_rules.yaml). Every step is an audit entry with the old and new values.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Any, Callable, Iterable, Mapping, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import clock
from core.config import Settings
from core.errors import GmpError
from masterdata.change_rules import ChangeRules, load_change_rules
from masterdata.errors import (
    ChangeError,
    ChangeInvalid,
    ChangeNotFound,
    ChangeNotPermitted,
    ChangeStateError,
    UnknownKind,
)
from masterdata.models import ChangeAction, ChangeRow, ChangeSetRow, ChangeStatus
from signatures.accounts import roles_of
from signatures.credentials import Credentials
from signatures.records import SimpleRecord
from signatures.service import sign_many
from store.canonical import SYSTEM, Actor

MAX_REASON = 2000
MAX_KEY = 200
RECORD_TYPE = "md_change"
IN_FORCE_STATUSES = (ChangeStatus.APPROVED.value, ChangeStatus.EFFECTIVE.value, ChangeStatus.SUPERSEDED.value)

Validator = Callable[[Mapping[str, Any]], Sequence[tuple[str, str]]]


# ---------------------------------------------------------------- kinds and the catalogue
@dataclass(frozen=True)
class ChangeKind:
    """A kind of controlled item: what its data must look like and who changes it.

    `schema` is the JSON Schema of the item's data; `validate(data)` may add cross-field
    checks as (field, message) pairs. `data[key_field]` is the item's key. `list_fields`
    name the columns a list of items shows (default: the key field and the schema's
    first properties).
    """

    name: str
    label: str
    label_zh: str
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "object"})
    key_field: str = "code"
    drafter_roles: tuple[str, ...] = ("qa",)
    approver_roles: tuple[str, ...] = ("qa",)
    signature_meaning: str = "approved"
    record_type: str = RECORD_TYPE
    validate: Validator | None = None
    list_fields: tuple[str, ...] = ()
    description: str = ""
    managed_by: str = ""  # where items of this kind are changed instead of the generic pages (e.g. the tag registry)

    def columns(self) -> tuple[str, ...]:
        if self.list_fields:
            return self.list_fields
        props = [p for p in (self.schema.get("properties") or {}) if p != self.key_field]
        return (self.key_field, *props[:4])

    def field_title(self, name: str) -> str:
        prop = (self.schema.get("properties") or {}).get(name) or {}
        return str(prop.get("title") or name.replace("_", " "))


class ChangeCatalogue:
    """The kinds of one application or command process, registered explicitly, then frozen."""

    def __init__(self, kinds: Iterable[ChangeKind] = ()) -> None:
        self._kinds: dict[str, ChangeKind] = {}
        self.frozen = False
        for kind in kinds:
            self.register(kind)

    def register(self, kind: ChangeKind) -> ChangeKind:
        if self.frozen:
            raise ChangeError(f"kind {kind.name!r}: this catalogue is frozen (build a new one)")
        if not kind.name or not kind.name.replace("_", "").isalnum() or kind.name != kind.name.lower():
            raise ChangeError(f"kind name {kind.name!r}: lower-case letters, digits and _ only")
        if kind.name in self._kinds:
            raise ChangeError(f"kind {kind.name!r} is registered already")
        self._kinds[kind.name] = kind
        return kind

    def get(self, name: str | ChangeKind) -> ChangeKind:
        if isinstance(name, ChangeKind):
            return name
        kind = self._kinds.get(name)
        if kind is None:
            known = ", ".join(sorted(self._kinds)) or "none"
            raise UnknownKind(f"no kind of controlled data is called {name!r} (known: {known})")
        return kind

    def kinds(self) -> list[ChangeKind]:
        return [self._kinds[name] for name in sorted(self._kinds)]

    def names(self) -> list[str]:
        return sorted(self._kinds)

    def freeze(self) -> "ChangeCatalogue":
        self.frozen = True
        return self

    def __contains__(self, name: object) -> bool:
        return name in self._kinds

    def __len__(self) -> int:
        return len(self._kinds)

    def __repr__(self) -> str:
        return f"<ChangeCatalogue {', '.join(self.names()) or '(empty)'}>"


def _kind_of(catalogue: ChangeCatalogue | None, kind: str | ChangeKind) -> ChangeKind:
    if isinstance(kind, ChangeKind):
        return kind
    if catalogue is None:
        raise UnknownKind(f"kind {kind!r}: no catalogue given")
    return catalogue.get(kind)


# ---------------------------------------------------------------- views
@dataclass(frozen=True)
class FieldDiff:
    field: str
    old: Any
    new: Any

    def as_list(self) -> list[Any]:
        return [self.field, self.old, self.new]


@dataclass(frozen=True)
class Change:
    """One revision of an item as drafted, with its approval and status."""

    id: int
    change_set_id: int
    kind: str
    key: str
    revision: int
    action: str
    data: dict[str, Any]
    data_sha256: str
    reason: str
    status: str
    drafted_by: str
    drafted_at: str
    approved_by: str | None
    approved_at: str | None
    approval_reason: str | None
    signature_id: str | None
    effective_from: str | None
    superseded_by: int | None
    superseded_at: str | None
    withdrawn_by: str | None
    withdrawn_at: str | None
    withdrawal_reason: str | None

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.key}/r{self.revision}"

    def state_at(self, now: datetime | None = None, in_force_id: int | None = None) -> str:
        """The status a person sees at `now`: draft, withdrawn, approved (dated later),
        effective, superseded; with `in_force_id` (the item's revision in force), exact."""
        if self.status in (ChangeStatus.DRAFT.value, ChangeStatus.WITHDRAWN.value):
            return self.status
        at = clock.isoformat(now or clock.now())
        if self.effective_from is not None and self.effective_from > at:
            return ChangeStatus.APPROVED.value
        if in_force_id is not None:
            return ChangeStatus.EFFECTIVE.value if in_force_id == self.id else ChangeStatus.SUPERSEDED.value
        return self.status if self.status != ChangeStatus.APPROVED.value else ChangeStatus.EFFECTIVE.value


@dataclass(frozen=True)
class Revision:
    """The revision of an item in force: its data and the approval that put it there."""

    kind: str
    key: str
    revision: int
    data: dict[str, Any]
    effective_from: str
    approved_by: str
    approved_at: str
    signature_id: str | None
    change_id: int
    change_set_id: int


@dataclass(frozen=True)
class ChangeSet:
    id: int
    kind: str
    reason: str
    source_name: str | None
    source_sha256: str | None
    drafted_by: str
    drafted_at: str
    changes: tuple[Change, ...]


def _change(row: ChangeRow) -> Change:
    return Change(row.id, row.change_set_id, row.kind, row.item_key, row.revision, row.action, _load(row.data_json),
                  row.data_sha256, row.reason, row.status, row.drafted_by, row.drafted_at, row.approved_by,
                  row.approved_at, row.approval_reason, row.signature_id, row.effective_from, row.superseded_by,
                  row.superseded_at, row.withdrawn_by, row.withdrawn_at, row.withdrawal_reason)


def _revision(row: ChangeRow) -> Revision:
    return Revision(row.kind, row.item_key, row.revision, _load(row.data_json), row.effective_from or "",
                    row.approved_by or "", row.approved_at or "", row.signature_id, row.id, row.change_set_id)


def _change_set(session: Session, row: ChangeSetRow) -> ChangeSet:
    rows = session.scalars(select(ChangeRow).where(ChangeRow.change_set_id == row.id).order_by(ChangeRow.id)).all()
    return ChangeSet(row.id, row.kind, row.reason, row.source_name, row.source_sha256, row.drafted_by,
                     row.drafted_at, tuple(_change(r) for r in rows))


# ---------------------------------------------------------------- data: JSON, digest, compare
def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and "." not in str(value) else float(value)
    if isinstance(value, datetime):
        return clock.isoformat(value) if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON data")


def dump_data(data: Mapping[str, Any]) -> str:
    """Canonical JSON text of an item's data (sorted keys; decimals and dates as JSON)."""
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_plain,
                      allow_nan=False)


def _load(text: str) -> dict[str, Any]:
    return json.loads(text)  # type: ignore[no-any-return]


def data_digest(text: str) -> str:
    return hashlib.sha256(b"GMP-MD-CHANGE-v1\x00" + text.encode("utf-8")).hexdigest()


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted paths to leaf values: {"a": {"b": [1]}} -> {"a.b.1": 1} (list items numbered from 1)."""
    out: dict[str, Any] = {}
    if isinstance(data, Mapping):
        if not data and prefix:
            out[prefix] = {}
        for key in data:
            out.update(flatten(data[key], f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(data, list):
        if not data and prefix:
            out[prefix] = []
        for index, item in enumerate(data, start=1):
            out.update(flatten(item, f"{prefix}.{index}" if prefix else str(index)))
    else:
        out[prefix] = data
    return out


def _data_of(item: Change | Revision | Mapping[str, Any] | None) -> Mapping[str, Any]:
    if item is None:
        return {}
    if isinstance(item, (Change, Revision)):
        return item.data
    return item


def compare(old: Change | Revision | Mapping[str, Any] | None,
            new: Change | Revision | Mapping[str, Any] | None) -> list[FieldDiff]:
    """Field differences from `old` to `new` (dotted paths; None where a field is absent)."""
    a, b = flatten(_data_of(old)), flatten(_data_of(new))
    return [FieldDiff(name, a.get(name), b.get(name)) for name in sorted(a.keys() | b.keys())
            if a.get(name) != b.get(name) or (name in a) != (name in b)]


def check_data(kind: ChangeKind, key: str, data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, message) for everything wrong with `data` as the content of item `key`."""
    from jsonschema import Draft202012Validator

    problems: list[tuple[str, str]] = []
    if not isinstance(data, Mapping):
        return [("", "the data of an item is a mapping of fields")]
    if kind.key_field and str(data.get(kind.key_field, "")) != key:
        problems.append((kind.key_field, f"must be the item's key {key!r}, not {data.get(kind.key_field)!r}"))
    validator = Draft202012Validator(dict(kind.schema))
    for error in sorted(validator.iter_errors(json.loads(dump_data(data))), key=lambda e: list(e.absolute_path)):
        path = ".".join(str(p + 1 if isinstance(p, int) else p) for p in error.absolute_path)
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else ""
            path = f"{path}.{missing}" if path else missing
            problems.append((path, "is required"))
        else:
            problems.append((path, error.message))
    if kind.validate is not None and not problems:
        problems.extend(kind.validate(data))
    return problems


# ---------------------------------------------------------------- queries
def _rows(session: Session, kind: str, key: str | None = None) -> list[ChangeRow]:
    stmt = select(ChangeRow).where(ChangeRow.kind == kind)
    if key is not None:
        stmt = stmt.where(ChangeRow.item_key == key)
    return list(session.scalars(stmt.order_by(ChangeRow.item_key, ChangeRow.revision)))


def _in_force_rows(session: Session, kind: str, at: datetime | None, key: str | None = None,
                   keys: Sequence[str] | None = None) -> dict[str, ChangeRow]:
    """key -> the row in force at `at` (including retire rows), from what was approved by then."""
    moment = clock.isoformat(at or clock.now())
    stmt = select(ChangeRow).where(ChangeRow.kind == kind, ChangeRow.status.in_(IN_FORCE_STATUSES),
                                   ChangeRow.effective_from <= moment, ChangeRow.approved_at <= moment)
    if key is not None:
        stmt = stmt.where(ChangeRow.item_key == key)
    if keys is not None:
        stmt = stmt.where(ChangeRow.item_key.in_(list(keys)))
    best: dict[str, ChangeRow] = {}
    for row in session.scalars(stmt):
        current = best.get(row.item_key)
        if current is None or (row.effective_from, row.revision) > (current.effective_from, current.revision):
            best[row.item_key] = row
    return best


def effective(session: Session, kind: str | ChangeKind, key: str, at: datetime | None = None) -> Revision | None:
    """The revision of item (kind, key) in force at `at` (default: now on the product clock);
    None if the item does not exist, is not approved yet, or is retired."""
    name = kind.name if isinstance(kind, ChangeKind) else kind
    row = _in_force_rows(session, name, at, key=key).get(key)
    if row is None or row.action == ChangeAction.RETIRE.value:
        return None
    return _revision(row)


def effective_items(session: Session, kind: str | ChangeKind, at: datetime | None = None) -> list[Revision]:
    """Every item of `kind` in force at `at`, by key (retired items are absent)."""
    name = kind.name if isinstance(kind, ChangeKind) else kind
    rows = _in_force_rows(session, name, at)
    return [_revision(rows[k]) for k in sorted(rows) if rows[k].action != ChangeAction.RETIRE.value]


def in_force_ids(session: Session, kind: str, at: datetime | None = None) -> dict[str, int]:
    """key -> id of the change in force (retire rows included), for showing statuses."""
    return {k: r.id for k, r in _in_force_rows(session, kind, at).items()}


def history(session: Session, kind: str | ChangeKind, key: str) -> list[Change]:
    """Every revision of the item, oldest first (drafts and withdrawn ones included)."""
    name = kind.name if isinstance(kind, ChangeKind) else kind
    return [_change(r) for r in _rows(session, name, key)]


def get_change(session: Session, change_id: int) -> Change:
    row = session.get(ChangeRow, change_id)
    if row is None:
        raise ChangeNotFound(f"no change with id {change_id}")
    return _change(row)


def find_change(session: Session, kind: str, key: str, revision: int) -> Change:
    row = session.scalar(select(ChangeRow).where(ChangeRow.kind == kind, ChangeRow.item_key == key,
                                                 ChangeRow.revision == revision))
    if row is None:
        raise ChangeNotFound(f"{kind} {key!r} has no revision {revision}")
    return _change(row)


def get_change_set(session: Session, set_id: int) -> ChangeSet:
    row = session.get(ChangeSetRow, set_id)
    if row is None:
        raise ChangeNotFound(f"no change set with id {set_id}")
    return _change_set(session, row)


def pending(session: Session, kind: str | None = None) -> list[Change]:
    """Drafts waiting for approval (of one kind, or all), oldest first."""
    stmt = select(ChangeRow).where(ChangeRow.status == ChangeStatus.DRAFT.value)
    if kind is not None:
        stmt = stmt.where(ChangeRow.kind == kind)
    return [_change(r) for r in session.scalars(stmt.order_by(ChangeRow.id))]


def items(session: Session, kind: str | ChangeKind) -> list[str]:
    """Every key of `kind` that has any revision (drafts, retired items included)."""
    name = kind.name if isinstance(kind, ChangeKind) else kind
    return list(session.scalars(select(ChangeRow.item_key).where(ChangeRow.kind == name).distinct()
                                .order_by(ChangeRow.item_key)))


# ---------------------------------------------------------------- drafting
def _reason(text: str | None, what: str) -> str:
    reason = (text or "").strip()
    if not reason:
        raise ChangeInvalid(f"{what} needs a reason (change control)", [("reason", "is required")])
    if len(reason) > MAX_REASON:
        raise ChangeInvalid(f"the reason is longer than {MAX_REASON} characters", [("reason", "too long")])
    return reason


def _check_role(uow: Any, roles: tuple[str, ...], what: str, refusal: str, kind: ChangeKind, key: str) -> None:
    held = roles_of(uow.session, uow.actor.user_id)
    if not held & set(roles):
        message = (f"{what} {kind.label.lower()} needs one of the roles {', '.join(roles) or '(none configured)'}; "
                   f"{uow.actor.user_id} holds {', '.join(sorted(held)) or 'no role'}")
        uow.record_refusal(refusal, kind.name, key, reason=message)
        raise ChangeNotPermitted(message, kind=kind.name, key=key)


def _latest_decided(session: Session, kind: str, key: str) -> ChangeRow | None:
    """The newest approved revision of the item (in force now or dated later)."""
    return session.scalar(select(ChangeRow).where(ChangeRow.kind == kind, ChangeRow.item_key == key,
                                                  ChangeRow.status.in_(IN_FORCE_STATUSES))
                          .order_by(ChangeRow.revision.desc()).limit(1))


def _open_draft(session: Session, kind: str, key: str) -> ChangeRow | None:
    return session.scalar(select(ChangeRow).where(ChangeRow.kind == kind, ChangeRow.item_key == key,
                                                  ChangeRow.status == ChangeStatus.DRAFT.value))


def _prepare(session: Session, kind: ChangeKind, key: Any, data: Mapping[str, Any] | None,
             action: str) -> tuple[str, dict[str, Any], ChangeRow | None]:
    """Checked (key, data, base revision) of one draft; raises ChangeInvalid / ChangeStateError."""
    key = str(key if key is not None else "").strip()
    if not key:
        raise ChangeInvalid(f"a {kind.label.lower()} needs a key ({kind.key_field})", [(kind.key_field, "is required")])
    if len(key) > MAX_KEY:
        raise ChangeInvalid(f"the key is longer than {MAX_KEY} characters", [(kind.key_field, "too long")])
    try:
        act = ChangeAction(action).value
    except ValueError:
        raise ChangeInvalid(f"unknown action {action!r}: create, change or retire",
                            [("action", "create, change or retire")]) from None
    open_draft = _open_draft(session, kind.name, key)
    if open_draft is not None:
        raise ChangeStateError(f"{kind.label} {key} has an open draft (revision {open_draft.revision} by "
                               f"{open_draft.drafted_by}): approve or withdraw it first")
    base = _latest_decided(session, kind.name, key)
    exists = base is not None and base.action != ChangeAction.RETIRE.value
    if act == ChangeAction.CREATE.value and exists:
        raise ChangeStateError(f"{kind.label} {key} exists already: draft a change instead")
    if act != ChangeAction.CREATE.value and not exists:
        raise ChangeStateError(f"{kind.label} {key} does not exist" + (" (it is retired)" if base else "")
                               + f": nothing to {act}")
    if act == ChangeAction.RETIRE.value:
        content = _load(base.data_json) if base is not None else {}
    else:
        content = dict(data or {})
        if kind.key_field and kind.key_field not in content:
            content[kind.key_field] = key
        problems = check_data(kind, key, content)
        if problems:
            text = "; ".join(f"{f or 'data'}: {m}" for f, m in problems[:10])
            raise ChangeInvalid(f"{kind.label} {key}: {text}", problems)
        content = _load(dump_data(content))
        if act == ChangeAction.CHANGE.value and base is not None and _load(base.data_json) == content:
            raise ChangeInvalid(f"{kind.label} {key}: the data is the same as revision {base.revision}: "
                                "nothing to change", [("", "unchanged")])
    return key, content, base


def _add_draft(uow: Any, kind: ChangeKind, set_row: ChangeSetRow, key: str, content: dict[str, Any],
               base: ChangeRow | None, action: str, reason: str) -> ChangeRow:
    session: Session = uow.session
    number = (session.scalar(select(func.max(ChangeRow.revision)).where(
        ChangeRow.kind == kind.name, ChangeRow.item_key == key)) or 0) + 1
    text = dump_data(content)
    row = ChangeRow(change_set_id=set_row.id, kind=kind.name, item_key=key, revision=number,
                    action=ChangeAction(action).value, data_json=text, data_sha256=data_digest(text), reason=reason,
                    status=ChangeStatus.DRAFT.value, drafted_by=uow.actor.user_id, drafted_at=set_row.drafted_at)
    session.add(row)
    session.flush()
    before = _load(base.data_json) if base is not None and base.action != ChangeAction.RETIRE.value else None
    diffs = [d.as_list() for d in compare(before, content)] if row.action != ChangeAction.RETIRE.value else []
    uow.audit("md_change.drafted", kind.name, key, reason=reason,
              changes=[["status", None, ChangeStatus.DRAFT.value], *diffs],
              details={"revision": number, "action": row.action, "change_id": row.id, "change_set": set_row.id,
                       "based_on": base.revision if base is not None else None, "data_sha256": row.data_sha256})
    return row


def _new_set(uow: Any, kind: ChangeKind, reason: str, source_name: str | None, source_sha256: str | None
             ) -> ChangeSetRow:
    row = ChangeSetRow(kind=kind.name, reason=reason, source_name=source_name, source_sha256=source_sha256,
                       drafted_by=uow.actor.user_id, drafted_at=clock.isoformat(clock.now()))
    uow.session.add(row)
    uow.session.flush()
    return row


def draft(uow: Any, catalogue: ChangeCatalogue | None, kind: str | ChangeKind, key: Any,
          data: Mapping[str, Any] | None, reason: str, *, action: str = "change", settings: Settings | None = None,
          rules: ChangeRules | None = None) -> Change:
    """Propose the item's data after the change (create, change or retire) with a reason.

    Refused, with nothing stored: a person without a drafter role, a missing reason, data
    that does not satisfy the kind, a create of an existing item, a change or retire of
    an absent one, a second open draft of the same item.
    """
    kind = _kind_of(catalogue, kind)
    return draft_set(uow, catalogue, kind, [(key, data, action)], reason, settings=settings, rules=rules).changes[0]


def draft_set(uow: Any, catalogue: ChangeCatalogue | None, kind: str | ChangeKind,
              entries: Sequence[tuple[Any, Mapping[str, Any] | None, str]], reason: str, *,
              source_name: str | None = None, source_sha256: str | None = None, settings: Settings | None = None,
              rules: ChangeRules | None = None, first_row: int = 1, rows: Sequence[int] | None = None,
              row_word: str = "row", by_manager: bool = False) -> ChangeSet:
    """Draft several items together (an import): all of them or none.

    A kind changed through its own manager (`managed_by`: the tag registry, the process
    library) is drafted only by that manager (`by_manager=True`); a generic draft is refused.

    A bad entry is refused naming its row and nothing is stored: entry i is row
    `rows[i]` when given (e.g. line numbers of a file, `row_word="line"`), else
    `first_row + i` (2 for a CSV file with a header line).
    """
    kind = _kind_of(catalogue, kind)
    session: Session = uow.session
    rules = rules or load_change_rules(settings)
    try:
        if kind.managed_by and not by_manager:
            raise ChangeStateError(f"{kind.label} items change through {kind.managed_by}, not as generic drafts")
        reason = _reason(reason, "a change")
        _check_role(uow, rules.drafters(kind), "drafting a change of", "md_change.draft_refused", kind, "*")
        if not entries:
            raise ChangeInvalid("nothing to draft: no items given", [("", "empty")])
        prepared = []
        seen: dict[str, int] = {}
        for index, (key, data, action) in enumerate(entries):
            row_no = rows[index] if rows is not None else first_row + index
            try:
                item = _prepare(session, kind, key, data, action)
            except ChangeInvalid as exc:
                if len(entries) == 1:
                    raise
                raise ChangeInvalid(f"{row_word} {row_no}: {exc}", exc.errors, row=row_no) from None
            except ChangeStateError as exc:
                if len(entries) == 1:
                    raise
                raise ChangeStateError(f"{row_word} {row_no}: {exc}", row=row_no) from None
            if item[0] in seen:
                raise ChangeInvalid(f"{row_word} {row_no}: {kind.label} {item[0]} appears already in {row_word} "
                                    f"{seen[item[0]]}",
                                    [(kind.key_field, "duplicate")], row=row_no)
            seen[item[0]] = row_no
            prepared.append((item, ChangeAction(action).value))
    except (ChangeInvalid, ChangeStateError) as exc:
        uow.record_refusal("md_change.draft_refused", kind.name, str(entries[0][0]) if len(entries) == 1 else "*",
                           reason=str(exc), details={"entries": len(entries)})
        raise
    settle(uow, kind.name)
    set_row = _new_set(uow, kind, reason, source_name, source_sha256)
    rows = [_add_draft(uow, kind, set_row, key, content, base, action, reason)
            for (key, content, base), action in prepared]
    return ChangeSet(set_row.id, kind.name, reason, source_name, source_sha256, set_row.drafted_by,
                     set_row.drafted_at, tuple(_change(r) for r in rows))


# ---------------------------------------------------------------- approval
def _record(kind: ChangeKind, row: ChangeRow, effective_from: str | None) -> SimpleRecord:
    return SimpleRecord(kind.record_type or RECORD_TYPE, f"{row.kind}/{row.item_key}/r{row.revision}", 1,
                        {"kind": row.kind, "key": row.item_key, "revision": row.revision, "action": row.action,
                         "data_sha256": row.data_sha256, "reason": row.reason, "drafted_by": row.drafted_by,
                         "effective_from": effective_from})


def effective_moment(value: datetime | date | str | None, now: datetime) -> str:
    """The ISO time a change takes effect: now, or a later date/time (a date: its start, UTC).

    A date or time earlier than today is refused (a change is never backdated)."""
    if value is None or value == "":
        return clock.isoformat(now)
    moment: datetime
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                moment = datetime.combine(date.fromisoformat(text), time(), tzinfo=timezone.utc)
            else:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ChangeInvalid(f"effective from {value!r}: expected a date (2026-12-31) or a date and time",
                                [("effective_from", "not a date")]) from None
    elif isinstance(value, datetime):
        moment = value
    else:
        moment = datetime.combine(value, time(), tzinfo=timezone.utc)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    if moment <= now:
        if moment.date() < now.astimezone(timezone.utc).date():
            raise ChangeInvalid(f"effective from {moment.date().isoformat()}: a change cannot take effect in the "
                                "past", [("effective_from", "in the past")])
        return clock.isoformat(now)
    return clock.isoformat(moment)


def approve(uow: Any, catalogue: ChangeCatalogue | None, change_id: int, *, credentials: Credentials,
            settings: Settings, auth_session: Any = None, reason: str | None = None,
            effective_from: datetime | date | str | None = None, rules: ChangeRules | None = None,
            kind: ChangeKind | None = None) -> Change:
    """Another person with an approver role approves a draft by their electronic signature."""
    row = uow.session.get(ChangeRow, change_id)
    if row is None:
        raise ChangeNotFound(f"no change with id {change_id}")
    kind = kind or _kind_of(catalogue, row.kind)
    return _approve_rows(uow, kind, [row], credentials=credentials, settings=settings, auth_session=auth_session,
                         reason=reason, effective_from=effective_from, rules=rules)[0][0]


def approve_set(uow: Any, catalogue: ChangeCatalogue | None, set_id: int, *, credentials: Credentials,
                settings: Settings, auth_session: Any = None, reason: str | None = None,
                effective_from: datetime | date | str | None = None, rules: ChangeRules | None = None,
                kind: ChangeKind | None = None) -> ChangeSet:
    """Approve every draft of a change set in one signing ceremony (each change its own signature)."""
    set_row = uow.session.get(ChangeSetRow, set_id)
    if set_row is None:
        raise ChangeNotFound(f"no change set with id {set_id}")
    kind = kind or _kind_of(catalogue, set_row.kind)
    approve_set_signed(uow, kind, set_id, credentials=credentials, settings=settings, auth_session=auth_session,
                       reason=reason, effective_from=effective_from, rules=rules)
    return _change_set(uow.session, set_row)


def approve_set_signed(uow: Any, kind: ChangeKind, set_id: int, *, credentials: Credentials, settings: Settings,
                       auth_session: Any = None, reason: str | None = None,
                       effective_from: datetime | date | str | None = None, rules: ChangeRules | None = None,
                       extra_records: Sequence[Any] = ()) -> tuple[list[Change], list[Any]]:
    """`approve_set` for a caller that signs records of its own in the same ceremony
    (`extra_records`, signed first): returns (approved changes, signatures in order)."""
    rows = list(uow.session.scalars(select(ChangeRow).where(ChangeRow.change_set_id == set_id,
                                                            ChangeRow.status == ChangeStatus.DRAFT.value)
                                    .order_by(ChangeRow.id)))
    if not rows:
        message = f"change set {set_id} has no draft to approve"
        uow.record_refusal("md_change.approval_refused", kind.name, f"set {set_id}", reason=message)
        raise ChangeStateError(message)
    return _approve_rows(uow, kind, rows, credentials=credentials, settings=settings, auth_session=auth_session,
                         reason=reason, effective_from=effective_from, rules=rules, extra_records=extra_records)


def _approve_rows(uow: Any, kind: ChangeKind, rows: list[ChangeRow], *, credentials: Credentials,
                  settings: Settings, auth_session: Any, reason: str | None,
                  effective_from: datetime | date | str | None, rules: ChangeRules | None,
                  extra_records: Sequence[Any] = ()) -> tuple[list[Change], list[Any]]:
    session: Session = uow.session
    rules = rules or load_change_rules(settings)
    approver = credentials.username
    label = rows[0].item_key if len(rows) == 1 else f"set {rows[0].change_set_id}"
    now = clock.now()
    try:
        _check_signer(uow, approver, system_may=True)
        moment = _check_approval(session, kind, rows, approver, rules, effective_from, now)
    except ChangeError as exc:
        uow.record_refusal("md_change.approval_refused", kind.name, label, reason=str(exc),
                           details={"approver": approver, "changes": [r.id for r in rows]})
        raise
    records = [*extra_records, *(_record(kind, row, moment) for row in rows)]
    try:
        signed = sign_many(uow, records, kind.signature_meaning, credentials, auth_session, settings, reason=reason)
    except GmpError as exc:  # the signatures service records its own refusal entry too
        uow.record_refusal("md_change.approval_refused", kind.name, label, reason=str(exc),
                           details={"approver": approver, "changes": [r.id for r in rows]})
        raise
    approved_at = clock.isoformat(now)
    for row, signature in zip(rows, signed[len(extra_records):]):
        _mark_approved(uow, kind, row, Actor(signature.signer_id, signature.printed_name), signature.seq,
                       reason=reason, approved_at=approved_at, moment=moment)
    session.flush()
    settle(uow, kind.name)
    return [_change(r) for r in rows], signed


def _check_signer(uow: Any, approver: str, *, system_may: bool = False) -> None:
    """The approval is signed by the person of the unit of work (or, `system_may`, made by the system)."""
    if uow.actor.user_id != approver and not (system_may and uow.actor.user_id == SYSTEM.user_id):
        raise ChangeNotPermitted(f"the approval must be signed by the approver ({uow.actor.user_id}) themself")


def _check_not_drafter(kind: ChangeKind, what: str, approver: str, drafted_by: str) -> None:
    if approver == drafted_by:
        raise ChangeNotPermitted(f"{kind.label} {what} was drafted by {approver}: a different person must "
                                 "approve it (A11-10, CN-3)")


def _check_approval(session: Session, kind: ChangeKind, rows: Sequence[ChangeRow], approver: str,
                    rules: ChangeRules, effective_from: datetime | date | str | None, now: datetime) -> str:
    """What every approval of drafts checks (a ChangeError otherwise): each is a draft the approver did
    not draft, the approver holds an approver role of the kind, the date is not in the past nor
    before an approved revision of the item. Returns the moment the changes take effect."""
    for row in rows:
        if row.status != ChangeStatus.DRAFT.value:
            raise ChangeStateError(f"{kind.label} {row.item_key} revision {row.revision} is {row.status}: "
                                   "only a draft can be approved")
        _check_not_drafter(kind, f"{row.item_key} revision {row.revision}", approver, row.drafted_by)
    allowed = rules.approvers(kind)
    held = roles_of(session, approver)
    if not held & set(allowed):
        raise ChangeNotPermitted(f"approving a change of {kind.label.lower()} needs one of the roles "
                                 f"{', '.join(allowed) or '(none configured)'}; {approver} holds "
                                 f"{', '.join(sorted(held)) or 'no role'}")
    moment = effective_moment(effective_from, now)
    for row in rows:
        later = session.scalar(select(func.max(ChangeRow.effective_from)).where(
            ChangeRow.kind == row.kind, ChangeRow.item_key == row.item_key, ChangeRow.status.in_(IN_FORCE_STATUSES)))
        if later is not None and later > moment:
            raise ChangeStateError(f"{kind.label} {row.item_key}: an approved revision takes effect on {later}; "
                                   "this one cannot take effect before it")
    return moment


def _mark_approved(uow: Any, kind: ChangeKind, row: ChangeRow, actor: Actor, signature_id: Any, *,
                   reason: str | None, approved_at: str, moment: str, previous: str | None = ChangeStatus.DRAFT.value,
                   changes: Sequence[list[Any]] = (), details: Mapping[str, Any] | None = None) -> None:
    """Record `row` approved by `actor`'s signature `signature_id`, in force from `moment`, and audit it
    (`md_change.approved`; `changes` and `details` add to the entry)."""
    row.status = ChangeStatus.APPROVED.value
    row.approved_by = actor.user_id
    row.approved_at = approved_at
    row.approval_reason = (reason or "").strip() or None
    row.signature_id = str(signature_id)
    row.effective_from = moment
    uow.audit("md_change.approved", kind.name, row.item_key, reason=reason, actor=actor,
              changes=[["status", previous, ChangeStatus.APPROVED.value], ["approved_by", None, actor.user_id],
                       ["effective_from", None, moment], *changes],
              details={"revision": row.revision, "change_id": row.id, "signature_id": row.signature_id,
                       "data_sha256": row.data_sha256, **(details or {})})


def record_signed_approval(uow: Any, kind: ChangeKind, key: str, data: Mapping[str, Any], *, action: str,
                           reason: str, drafted_by: str, drafted_at: str, signature: Any,
                           approval_reason: str | None = None) -> Change:
    """A change its managing component drafted and had signed itself, recorded as approved and effective now.

    For kinds changed only through their manager (`managed_by`), whose own record of the same
    content is signed by the approver in the same unit of work (a process definition version:
    the version holds the draft and its review; its approval signature is the change's).
    `signature` is that signature (`.signature_id`, `.signer_id`, `.signer_name`). The drafter
    never approves their own change; the data must satisfy the kind; the revision it replaces
    is superseded."""
    session: Session = uow.session
    approver = str(signature.signer_id)
    try:
        if not kind.managed_by:
            raise ChangeNotPermitted(f"{kind.label} is approved through the change-control pages: only a kind "
                                     "changed through its own manager records approvals signed there")
        _check_signer(uow, approver)
        _check_not_drafter(kind, str(key), approver, drafted_by)
        text_reason = _reason(reason, "a change")
        key, content, base = _prepare(session, kind, key, data, action)
    except ChangeError as exc:
        uow.record_refusal("md_change.approval_refused", kind.name, str(key), reason=str(exc),
                           details={"approver": approver})
        raise
    now = clock.isoformat(clock.now())
    set_row = ChangeSetRow(kind=kind.name, reason=text_reason, source_name=None, source_sha256=None,
                           drafted_by=drafted_by, drafted_at=drafted_at)
    session.add(set_row)
    session.flush()
    number = (session.scalar(select(func.max(ChangeRow.revision)).where(
        ChangeRow.kind == kind.name, ChangeRow.item_key == key)) or 0) + 1
    text = dump_data(content)
    row = ChangeRow(change_set_id=set_row.id, kind=kind.name, item_key=key, revision=number,
                    action=ChangeAction(action).value, data_json=text, data_sha256=data_digest(text),
                    reason=text_reason, status=ChangeStatus.DRAFT.value, drafted_by=drafted_by, drafted_at=drafted_at)
    session.add(row)
    session.flush()
    before = _load(base.data_json) if base is not None and base.action != ChangeAction.RETIRE.value else None
    _mark_approved(uow, kind, row, uow.actor, signature.signature_id, reason=approval_reason, approved_at=now,
                   moment=now, previous=None, changes=[d.as_list() for d in compare(before, content)],
                   details={"change_set": set_row.id, "drafted_by": drafted_by, "drafted_at": drafted_at,
                            "managed_by": kind.managed_by})
    session.flush()
    settle(uow, kind.name)
    return _change(row)


def withdraw(uow: Any, change_id: int, reason: str, *, catalogue: ChangeCatalogue | None = None,
             settings: Settings | None = None, rules: ChangeRules | None = None, kind: ChangeKind | None = None,
             check_role: bool = True) -> Change:
    """Withdraw a draft (its drafter, or a person who may approve the kind), with a reason.

    `check_role=False`: the caller decided who may (a rejected registry revision)."""
    session: Session = uow.session
    row = session.get(ChangeRow, change_id)
    if row is None:
        raise ChangeNotFound(f"no change with id {change_id}")
    label = f"{row.item_key}"
    try:
        text = _reason(reason, "a withdrawal")
        if row.status != ChangeStatus.DRAFT.value:
            raise ChangeStateError(f"{row.kind} {row.item_key} revision {row.revision} is {row.status}: "
                                   "only a draft can be withdrawn")
        if check_role and uow.actor.user_id != row.drafted_by:
            which: ChangeKind | str = kind or (_kind_of(catalogue, row.kind) if catalogue is not None else row.kind)
            allowed = (rules or load_change_rules(settings)).approvers(which)
            if not roles_of(session, uow.actor.user_id) & set(allowed):
                raise ChangeNotPermitted(f"only the drafter ({row.drafted_by}) or a person who approves "
                                         f"{row.kind} changes ({', '.join(allowed)}) may withdraw this draft")
    except ChangeError as exc:
        uow.record_refusal("md_change.withdrawal_refused", row.kind, label, reason=str(exc),
                           details={"change_id": row.id})
        raise
    row.status = ChangeStatus.WITHDRAWN.value
    row.withdrawn_by = uow.actor.user_id
    row.withdrawn_at = clock.isoformat(clock.now())
    row.withdrawal_reason = text
    uow.audit("md_change.withdrawn", row.kind, row.item_key, reason=text,
              changes=[["status", ChangeStatus.DRAFT.value, ChangeStatus.WITHDRAWN.value]],
              details={"revision": row.revision, "change_id": row.id})
    session.flush()
    return _change(row)


# ---------------------------------------------------------------- stored status follows the dates
def settle(uow: Any, kind: str, at: datetime | None = None) -> int:
    """Bring the stored statuses of `kind` up to `at` (default now): approved revisions whose
    date has come become effective, the revisions they replace superseded. Returns the
    number of rows changed. Reads never depend on it (they go by the dates)."""
    session: Session = uow.session
    moment = clock.isoformat(at or clock.now())
    due = list(session.scalars(select(ChangeRow).where(
        ChangeRow.kind == kind, ChangeRow.status == ChangeStatus.APPROVED.value, ChangeRow.effective_from <= moment)))
    if not due:
        return 0
    changed = 0
    in_force = _in_force_rows(session, kind, at, keys=sorted({r.item_key for r in due}))
    for key, current in in_force.items():
        others = session.scalars(select(ChangeRow).where(
            ChangeRow.kind == kind, ChangeRow.item_key == key, ChangeRow.id != current.id,
            ChangeRow.status.in_((ChangeStatus.APPROVED.value, ChangeStatus.EFFECTIVE.value)),
            ChangeRow.effective_from <= moment))
        for old in others:
            before = old.status
            old.status = ChangeStatus.SUPERSEDED.value
            old.superseded_by = current.id
            old.superseded_at = max(current.effective_from or moment, old.effective_from or moment)
            uow.audit("md_change.superseded", kind, key, reason=f"superseded by revision {current.revision}", actor=SYSTEM,
                      changes=[["status", before, ChangeStatus.SUPERSEDED.value]],
                      details={"revision": old.revision, "change_id": old.id, "superseded_by": current.revision})
            changed += 1
        if current.status == ChangeStatus.APPROVED.value:
            current.status = ChangeStatus.EFFECTIVE.value
            uow.audit("md_change.effective", kind, key, actor=SYSTEM,
                      changes=[["status", ChangeStatus.APPROVED.value, ChangeStatus.EFFECTIVE.value]],
                      details={"revision": current.revision, "change_id": current.id, "action": current.action,
                               "effective_from": current.effective_from})
            changed += 1
    session.flush()
    return changed


# ---------------------------------------------------------------- changes decided inside a controlled process
def approve_by_signature(uow: Any, kind: ChangeKind, change_id: int, signature: Any, *,
                         effective_from: datetime | date | str | None = None, rules: ChangeRules | None = None,
                         settings: Settings | None = None, reason: str | None = None) -> Change:
    """Approve a draft with a signature given earlier in a controlled process (e.g. the QA
    approval of a document version, whose signed task record names this change).

    `signature` is a `signatures.models.Signature` row with meaning 'approved'. Refused as
    `approve` refuses: a non-draft, the drafter's own signature, a signer without an approver
    role, a date in the past, a date before an approved revision of the item."""
    session: Session = uow.session
    row = session.get(ChangeRow, change_id)
    if row is None:
        raise ChangeNotFound(f"no change with id {change_id}")
    rules = rules or load_change_rules(settings)
    signer = str(signature.signer_id)
    try:
        if str(signature.meaning) != "approved":
            raise ChangeNotPermitted(f"signature {signature.seq} means {signature.meaning!r}: an approval needs "
                                     "'approved'")
        moment = _check_approval(session, kind, [row], signer, rules, effective_from, clock.now())
    except ChangeError as exc:
        uow.record_refusal("md_change.approval_refused", kind.name, row.item_key, reason=str(exc),
                           details={"approver": signer, "changes": [row.id], "signature_id": str(signature.seq)})
        raise
    _mark_approved(uow, kind, row, Actor(signer, str(signature.printed_name)), signature.seq, reason=reason,
                   approved_at=clock.isoformat(clock.now()), moment=moment,
                   details={"signed_record": f"{signature.record_type}/{signature.record_id}"})
    session.flush()
    settle(uow, kind.name)
    return _change(row)


def postpone(uow: Any, kind: ChangeKind, change_id: int, effective_from: datetime | date | str, *, reason: str,
             signature: Any) -> Change:
    """Move the date an approved revision takes effect to a later one, before it has taken
    effect (a document whose training is not complete), by a signed decision (`signature`:
    the signature of the person deciding, meaning 'approved'). The old and new dates are
    in the audit entry; a revision in force already, or an earlier date, is refused."""
    session: Session = uow.session
    row = session.get(ChangeRow, change_id)
    if row is None:
        raise ChangeNotFound(f"no change with id {change_id}")
    now = clock.now()
    try:
        text = _reason(reason, "a postponement")
        if row.status != ChangeStatus.APPROVED.value or (row.effective_from or "") <= clock.isoformat(now):
            raise ChangeStateError(f"{kind.label} {row.item_key} revision {row.revision} is in force already or not "
                                   "approved: only an approved revision waiting for its date can be postponed")
        moment = effective_moment(effective_from, now)
        if moment <= (row.effective_from or ""):
            raise ChangeInvalid(f"the new date ({moment[:10]}) must be later than the planned one "
                                f"({(row.effective_from or '')[:10]})", [("effective_from", "not later")])
    except ChangeError as exc:
        uow.record_refusal("md_change.postponement_refused", kind.name, row.item_key, reason=str(exc),
                           details={"change_id": row.id})
        raise
    before = row.effective_from
    row.effective_from = moment
    uow.audit("md_change.postponed", kind.name, row.item_key, reason=text,
              changes=[["effective_from", before, moment]],
              details={"revision": row.revision, "change_id": row.id, "signature_id": str(signature.seq)})
    session.flush()
    return _change(row)
