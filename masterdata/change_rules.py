"""Role rules of change control: who may draft and who may approve each kind.

Loaded from masterdata/change_rules.yaml, or instance/change_rules.yaml when the instance
has one (like the signing rules). A kind the file does not name uses the roles its
`ChangeKind` declares.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.config import Settings
from core.rules_file import load_rules_file
from masterdata.errors import RulesInvalid

PACKAGED = Path(__file__).resolve().parent / "change_rules.yaml"
FILE_NAME = "change_rules.yaml"


@dataclass(frozen=True)
class ChangeRules:
    kinds: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    source: str = ""

    def _roles(self, kind: Any, which: str) -> tuple[str, ...]:
        name = kind if isinstance(kind, str) else kind.name
        entry = self.kinds.get(name) or self.kinds.get("*")
        if entry is not None and which in entry:
            return entry[which]
        if isinstance(kind, str):
            return ()
        return tuple(kind.drafter_roles if which == "drafters" else kind.approver_roles)

    def drafters(self, kind: Any) -> tuple[str, ...]:
        """Roles that may draft changes of `kind` (a ChangeKind, or a name)."""
        return self._roles(kind, "drafters")

    def approvers(self, kind: Any) -> tuple[str, ...]:
        """Roles that may approve changes of `kind`."""
        return self._roles(kind, "approvers")


def parse_change_rules(data: Any, source: str) -> ChangeRules:
    if data is None:
        return ChangeRules({}, source)
    if not isinstance(data, dict) or not isinstance(data.get("kinds", {}), dict):
        raise RulesInvalid(f"{source}: expected a mapping with a 'kinds' mapping")
    kinds: dict[str, dict[str, tuple[str, ...]]] = {}
    for name, entry in (data.get("kinds") or {}).items():
        if not isinstance(entry, dict) or not set(entry) <= {"drafters", "approvers"} or not entry:
            raise RulesInvalid(f"{source}: kind {name!r} needs 'drafters' and/or 'approvers' lists")
        roles: dict[str, tuple[str, ...]] = {}
        for which, value in entry.items():
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list) or not items or not all(isinstance(r, str) and r for r in items):
                raise RulesInvalid(f"{source}: kind {name!r}: {which} must name at least one role")
            roles[which] = tuple(items)
        kinds[str(name)] = roles
    return ChangeRules(kinds, source)


def load_change_rules(settings: Settings | None = None) -> ChangeRules:
    """The instance's rules file if present, else the packaged one (cached by modification time)."""
    return load_rules_file(settings, FILE_NAME, PACKAGED, parse_change_rules, RulesInvalid)
