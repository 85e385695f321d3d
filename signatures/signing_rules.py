"""Role rules for signing, loaded from signing_rules.yaml (or instance/signing_rules.yaml)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.config import Settings
from core.rules_file import load_rules_file
from signatures.errors import RoleNotPermitted, RulesError
from signatures.meanings import LABELS
from signatures.models import RoleKind

PACKAGED = Path(__file__).resolve().parent / "signing_rules.yaml"
ANY_BUSINESS = "any_business"


@dataclass(frozen=True)
class SigningRules:
    rules: dict[tuple[str, str], tuple[str, ...]]  # (record_type or "*", meaning) -> roles
    batch_record_types: frozenset[str]
    non_gmp_record_types: frozenset[str]
    extra_meanings: dict[str, tuple[str, str]] = field(default_factory=dict)
    source: str = ""

    def meanings(self) -> set[str]:
        return set(LABELS) | set(self.extra_meanings)

    def allowed_roles(self, record_type: str, meaning: str) -> tuple[str, ...] | None:
        return self.rules.get((record_type, meaning), self.rules.get(("*", meaning)))

    def check(self, record_type: str, meaning: str, roles: set[str], kind: RoleKind | None) -> None:
        """Raise RoleNotPermitted unless a role of the signer may sign `meaning` on `record_type`."""
        if kind is None:
            raise RoleNotPermitted("the signer holds no role")
        if kind is RoleKind.ADMIN:
            raise RoleNotPermitted("administrator accounts never sign records (CN-1)")
        if kind is RoleKind.SYSTEM:
            raise RoleNotPermitted("system roles never sign records (Part 11: only a person signs)")
        if kind is RoleKind.AUDIT and record_type not in self.non_gmp_record_types:
            raise RoleNotPermitted(f"audit-kind roles never sign GMP records such as {record_type!r} (CN-1)")
        allowed = self.allowed_roles(record_type, meaning)
        if allowed is None:
            raise RoleNotPermitted(f"no role may sign {meaning!r} on {record_type!r} (signing rules {self.source})")
        if ANY_BUSINESS in allowed and kind is RoleKind.BUSINESS:
            return
        if not roles & set(allowed):
            raise RoleNotPermitted(f"signing {meaning!r} on {record_type!r} needs one of the roles "
                                   f"{', '.join(sorted(allowed))}; the signer holds {', '.join(sorted(roles))}")


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def parse_rules(data: Any, source: str) -> SigningRules:
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise RulesError(f"{source}: expected a mapping with a 'rules' list")
    extra: dict[str, tuple[str, str]] = {}
    for name, label in (data.get("extra_meanings") or {}).items():
        if not isinstance(label, dict) or not label.get("en") or not label.get("zh"):
            raise RulesError(f"{source}: extra meaning {name!r} needs 'en' and 'zh' labels")
        if name in LABELS:
            raise RulesError(f"{source}: extra meaning {name!r} is built in already")
        extra[str(name)] = (str(label["en"]), str(label["zh"]))
    known = set(LABELS) | set(extra)
    rules: dict[tuple[str, str], tuple[str, ...]] = {}
    for index, rule in enumerate(data["rules"]):
        if not isinstance(rule, dict) or not {"record_type", "meaning", "roles"} <= set(rule):
            raise RulesError(f"{source}: rule {index + 1} needs record_type, meaning and roles")
        roles = tuple(_as_list(rule["roles"]))
        if not roles:
            raise RulesError(f"{source}: rule {index + 1} names no roles")
        for meaning in _as_list(rule["meaning"]):
            if meaning not in known:
                raise RulesError(f"{source}: rule {index + 1} names unknown meaning {meaning!r}")
            key = (str(rule["record_type"]), meaning)
            if key in rules:
                raise RulesError(f"{source}: rule {index + 1} repeats {key[0]!r}/{meaning!r}")
            rules[key] = roles
    batch = frozenset(_as_list(data.get("batch_record_types")))
    for record_type in batch:
        for meaning in ("released",):
            if rules.get((record_type, meaning)) != ("qp",):
                raise RulesError(f"{source}: batch record type {record_type!r} must have a {meaning!r} rule naming "
                                 "only 'qp' (A11-15, CN-8)")
    return SigningRules(rules, batch, frozenset(_as_list(data.get("non_gmp_record_types"))), extra, source)


def load_rules(settings: Settings | None = None) -> SigningRules:
    """The instance's rules file if present, else the packaged one (cached by modification time)."""
    return load_rules_file(settings, "signing_rules.yaml", PACKAGED, parse_rules, RulesError)
