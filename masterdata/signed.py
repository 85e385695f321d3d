"""What every operational master data record shares: who may make it (record rules),
its Part 11 signature (through signatures.service), dates and reasons.

    rules = load_record_rules(settings)          # masterdata/record_rules.yaml or instance/record_rules.yaml
    require_role(uow, rules, "lot.status", what="change the QC status of lot L-1")
    seq = sign_record(uow, "md_lot_status", "L-1/3", {...}, "released", credentials, settings, reason=...)

The signer is the person of the unit of work: nobody signs a record for somebody else.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from core import clock
from core.config import Settings
from core.rules_file import load_rules_file
from masterdata.errors import RecordInvalid, RecordNotPermitted, RulesInvalid
from signatures.accounts import roles_of
from signatures.credentials import Credentials
from signatures.records import SimpleRecord

PACKAGED = Path(__file__).resolve().parent / "record_rules.yaml"
FILE_NAME = "record_rules.yaml"
MAX_TEXT = 2000


@dataclass(frozen=True)
class RecordRules:
    records: dict[str, tuple[str, ...]] = field(default_factory=dict)
    source: str = ""

    def roles(self, action: str) -> tuple[str, ...]:
        return self.records.get(action, ())


def parse_record_rules(data: Any, source: str) -> RecordRules:
    if not isinstance(data, dict) or not isinstance(data.get("records"), dict):
        raise RulesInvalid(f"{source}: expected a mapping with a 'records' mapping")
    records: dict[str, tuple[str, ...]] = {}
    for action, roles in data["records"].items():
        items = [roles] if isinstance(roles, str) else roles
        if not isinstance(items, list) or not items or not all(isinstance(r, str) and r for r in items):
            raise RulesInvalid(f"{source}: {action!r} must name at least one role")
        records[str(action)] = tuple(items)
    return RecordRules(records, source)


def load_record_rules(settings: Settings | None = None) -> RecordRules:
    """instance/record_rules.yaml if present, else the packaged file (cached by modification time)."""
    return load_rules_file(settings, FILE_NAME, PACKAGED, parse_record_rules, RulesInvalid)


def require_role(uow: Any, rules: RecordRules, action: str, *, what: str, object_type: str,
                 object_id: str) -> None:
    """Refuse (audited) unless the unit of work's person holds a role `action` allows."""
    allowed = rules.roles(action)
    held = roles_of(uow.session, uow.actor.user_id)
    if not held & set(allowed):
        message = (f"{uow.actor.user_id} may not {what}: that needs one of the roles "
                   f"{', '.join(allowed) or '(none configured)'}; {uow.actor.user_id} holds "
                   f"{', '.join(sorted(held)) or 'no role'}")
        uow.record_refusal(f"{object_type}.refused", object_type, object_id, reason=message,
                           details={"action": action})
        raise RecordNotPermitted(message)


def refuse(uow: Any, error: Exception, object_type: str, object_id: str, action: str) -> None:
    """Record a refused attempt (it survives the rollback) and raise `error`."""
    uow.record_refusal(f"{object_type}.refused", object_type, object_id, reason=str(error),
                       details={"action": action})
    raise error


def text(value: Any, name: str, *, required: bool = True, limit: int = MAX_TEXT) -> str:
    result = str(value or "").strip()
    if required and not result:
        raise RecordInvalid(f"{name.replace('_', ' ')} is required", [(name, "is required")])
    if len(result) > limit:
        raise RecordInvalid(f"{name.replace('_', ' ')} is longer than {limit} characters", [(name, "too long")])
    return result


def as_date(value: date | datetime | str | None, name: str, *, required: bool = True) -> date | None:
    """A date from a date, a datetime (its UTC date) or ISO text; RecordInvalid otherwise."""
    if value is None or value == "":
        if required:
            raise RecordInvalid(f"{name.replace('_', ' ')} is required", [(name, "is required")])
        return None
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise RecordInvalid(f"{name.replace('_', ' ')} {value!r}: expected a date such as 2027-06-30",
                            [(name, "not a date")]) from None


def today() -> date:
    """Today's date on the product clock (UTC)."""
    return clock.now().date()


def sign_record(uow: Any, record_type: str, record_id: str, content: Mapping[str, Any], meaning: str,
                credentials: Credentials, settings: Settings, *, auth_session: Any = None,
                reason: str | None = None) -> str:
    """Sign the record as the unit of work's person; the signature's sequence number."""
    from signatures.service import sign

    if credentials.username != uow.actor.user_id:
        error = RecordNotPermitted(f"{credentials.username} cannot sign for {uow.actor.user_id}: the person who "
                                   "makes the record signs it")
        refuse(uow, error, record_type, record_id, "sign")
    signature = sign(uow, SimpleRecord(record_type, record_id, 1, dict(content)), meaning, credentials,
                     auth_session, settings, reason=reason)
    return str(signature.seq)
