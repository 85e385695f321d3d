"""Which audit entries an export or a page shows: `ExportFilter`.

Every field that is set narrows the selection:

  object_type    the entry's object type, exactly
  object_ids     the entry's object ID is one of these, exactly (needs object_type)
  actor_id       the user ID, exactly
  action_prefix  the action starts with this text ("signature" finds signature.created,
                 signature.refused, ...; a whole action name finds that action)
  since, until   UTC time of the entry: since <= ts < until

The same rules are written into every JSONL export (header and signed statement) and
`matches()` applies them to an entry's canonical document, so a verifier can check that
every included entry matches what the export says it selected.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from sqlalchemy import Select, and_, func

from audit.errors import ExportError
from audit.models import AuditEntry
from core import clock

FILTER_KEYS = ("object_type", "object_ids", "actor_id", "action_prefix", "since", "until")


@dataclass(frozen=True)
class ExportFilter:
    """Which entries to include; every field set narrows the selection."""

    object_type: str | None = None
    object_ids: tuple[str, ...] = ()
    actor_id: str | None = None
    action_prefix: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ExportError(f"--{name} must carry a time zone (e.g. 2026-01-05T08:00:00Z)")
        if self.since and self.until and self.since >= self.until:
            raise ExportError(f"--since {self.since.isoformat()} is not before --until {self.until.isoformat()}")
        if self.object_ids and not self.object_type:
            raise ExportError("an object ID filter needs the object type (--object-type)")
        object.__setattr__(self, "object_ids", tuple(str(i) for i in self.object_ids))

    def where(self, query: Select[Any]) -> Select[Any]:
        conditions = []
        if self.object_type:
            conditions.append(AuditEntry.object_type == self.object_type)
        if self.object_ids:
            conditions.append(AuditEntry.object_id.in_(list(self.object_ids)))
        if self.actor_id:
            conditions.append(AuditEntry.actor_id == self.actor_id)
        if self.action_prefix:
            # substr, not LIKE: LIKE ignores case on SQLite, and the match must be the same everywhere
            conditions.append(func.substr(AuditEntry.action, 1, len(self.action_prefix)) == self.action_prefix)
        if self.since:
            conditions.append(AuditEntry.ts >= clock.isoformat(self.since))
        if self.until:
            conditions.append(AuditEntry.ts < clock.isoformat(self.until))
        return query.where(and_(*conditions)) if conditions else query

    def to_json(self) -> dict[str, Any]:
        return {"object_type": self.object_type, "object_ids": list(self.object_ids), "actor_id": self.actor_id,
                "action_prefix": self.action_prefix, "since": clock.isoformat(self.since) if self.since else None,
                "until": clock.isoformat(self.until) if self.until else None}

    def describe(self) -> str:
        """The filters that are set, for people ("" when none)."""
        parts = []
        if self.object_type:
            parts.append(f"object type {self.object_type}")
        if self.object_ids:
            parts.append("object ID " + ", ".join(self.object_ids))
        if self.actor_id:
            parts.append(f"user {self.actor_id}")
        if self.action_prefix:
            parts.append(f"action {self.action_prefix}*")
        if self.since:
            parts.append(f"from {clock.isoformat(self.since)}")
        if self.until:
            parts.append(f"before {clock.isoformat(self.until)}")
        return "; ".join(parts)


def matches(filters: Mapping[str, Any], document: Mapping[str, Any]) -> bool:
    """Does the canonical document of an entry match the filters of an export (their JSON form)?"""
    if filters.get("object_type") and document.get("object_type") != filters["object_type"]:
        return False
    if filters.get("object_ids") and document.get("object_id") not in filters["object_ids"]:
        return False
    if filters.get("actor_id") and document.get("actor_id") != filters["actor_id"]:
        return False
    action = document.get("action")
    if filters.get("action_prefix") and not (isinstance(action, str) and action.startswith(filters["action_prefix"])):
        return False
    ts = document.get("ts")
    if filters.get("since") and not (isinstance(ts, str) and ts >= filters["since"]):
        return False
    if filters.get("until") and not (isinstance(ts, str) and ts < filters["until"]):
        return False
    return True
