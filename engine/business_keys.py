"""Business keys: the number people know an instance by (batch, deviation, document number).

An instance carries at most one business key, unique per process definition across all its
versions (two batch records never share a batch number; a deviation may carry the same text
as a batch). It is given when the instance starts, either

- explicitly: `instances.start(uow, key, business_key="B-2024-001")` (web start form,
  `gmp process start --business-key`), or
- by the definition, from the start data: the process element names a field of the start
  data (a dotted path for nested data; for a message start event, of the message payload):

      <bpmn:process id="batch_record" isExecutable="true">
        <bpmn:extensionElements><spiffworkflow:properties>
          <spiffworkflow:property name="businessKey.field" value="batch_number"/>
          <spiffworkflow:property name="businessKey.required" value="true"/>
        </spiffworkflow:properties></bpmn:extensionElements>

  `businessKey.required="true"` refuses a start without a key. An explicit key that differs
  from the field in the start data is refused (the record would contradict itself).

A key is text of 1 to 100 characters without control characters; surrounding spaces are
removed and a whole number is taken as its decimal text. It is stored in
`engine_business_key` (append-only: a business key never changes) in the start's unit of
work, with the audit entry `instance.business_key_assigned`. A refused key (invalid,
missing, or already carried by another instance of the process: `DuplicateBusinessKey`)
stops the start before anything is written; the attempt is recorded as
`instance.start_refused`, which survives the rollback. Two starts racing for the same key
are decided by the unique constraint: the second is refused the same way.
"""
from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import clock
from engine.errors import BusinessKeyError, DuplicateBusinessKey
from engine.models import ProcessDefinition, ProcessDefinitionVersion, ProcessInstance
from engine.runtime_models import BusinessKey

MAX_LENGTH = 100
FIELD_PROPERTY = "businessKey.field"
REQUIRED_PROPERTY = "businessKey.required"
PROPERTIES = (FIELD_PROPERTY, REQUIRED_PROPERTY)
PREFIX = "businessKey."


@dataclass(frozen=True)
class KeyRule:
    """What a process definition says about its business key."""

    field: str | None = None
    required: bool = False

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self.field.split(".")) if self.field else ()


def normalise(value: Any, *, what: str = "the business key") -> str:
    """The key as stored: text, trimmed, 1..MAX_LENGTH characters, no control characters."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise BusinessKeyError(f"{what} must be text, not {type(value).__name__}")
    text = str(value).strip()
    if not text:
        raise BusinessKeyError(f"{what} is empty")
    if len(text) > MAX_LENGTH:
        raise BusinessKeyError(f"{what} is longer than {MAX_LENGTH} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in text):
        raise BusinessKeyError(f"{what} contains a control character or line break")
    return text


def rule_from_properties(properties: Mapping[str, Any] | None) -> KeyRule:
    props = dict(properties or {})
    field = (props.get(FIELD_PROPERTY) or "").strip() or None
    return KeyRule(field=field, required=str(props.get(REQUIRED_PROPERTY) or "").strip().lower() == "true")


def rule_of_version(session: Session, version: ProcessDefinitionVersion, process_key: str) -> KeyRule:
    """The rule of a stored version: the properties of its process element (element catalogue)."""
    key = (version.id, version.files_sha256)
    rule = _rules.get(key)
    if rule is None:
        elements = json.loads(version.elements_json or "{}")
        element = elements.get(process_key) or {}
        rule = rule_from_properties(element.get("properties") if element.get("tag") == "process" else None)
        _rules[key] = rule
    return rule


_rules: dict[tuple[int, str], KeyRule] = {}  # version contents never change: safe to keep


def _from_data(rule: KeyRule, data: Mapping[str, Any] | None) -> Any:
    value: Any = data or {}
    for part in rule.path:
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def derive(session: Session, process_key: str, data: Any) -> Any:
    """The raw business key the approved version of `process_key` takes from `data` (e.g. a
    message payload that starts it), or None; `resolve` checks it when the instance starts."""
    if not isinstance(data, Mapping):
        return None
    version = session.execute(select(ProcessDefinitionVersion)
                              .join(ProcessDefinition, ProcessDefinition.id == ProcessDefinitionVersion.definition_id)
                              .where(ProcessDefinition.key == process_key,
                                     ProcessDefinitionVersion.status == "approved")).scalar_one_or_none()
    if version is None:
        return None
    rule = rule_of_version(session, version, process_key)
    return _from_data(rule, data) if rule.field else None


def resolve(uow: Any, definition: ProcessDefinition, version: ProcessDefinitionVersion, explicit: Any,
            data: Mapping[str, Any] | None) -> str | None:
    """The business key a start of `definition` gets, checked; None when it has none.

    Raises BusinessKeyError / DuplicateBusinessKey (recorded as `instance.start_refused`)."""
    try:
        rule = rule_of_version(uow.session, version, definition.key)
        derived = _from_data(rule, data) if rule.field else None
        if derived is not None:
            derived = normalise(derived, what=f"the start data's {rule.field} (the business key)")
        key = normalise(explicit) if explicit is not None else derived
        if explicit is not None and derived is not None and derived != key:
            raise BusinessKeyError(f"the business key '{key}' differs from the start data's {rule.field} "
                                   f"'{derived}'")
        if key is None:
            if rule.required:
                where = f" or set {rule.field} in the start data" if rule.field else ""
                raise BusinessKeyError(f"process '{definition.key}' needs a business key: give one{where}")
            return None
        holder = instance_with_key(uow.session, definition.id, key)
        if holder is not None:
            raise DuplicateBusinessKey(_duplicate_message(uow.session, definition.key, key, holder))
        return key
    except BusinessKeyError as exc:
        uow.record_refusal("instance.start_refused", "process_definition", definition.key, reason=str(exc),
                           details={"business_key": explicit if isinstance(explicit, (str, int)) else None,
                                    "version": version.version})
        raise


def _duplicate_message(session: Session, process_key: str, key: str, holder: int | None) -> str:
    status = session.execute(select(ProcessInstance.status).where(ProcessInstance.id == holder)).scalar() \
        if holder is not None else None
    which = f" (instance {holder}, {status})" if holder is not None else ""
    return f"business key '{key}' is already used by another instance of process '{process_key}'{which}"


def assign(uow: Any, instance: ProcessInstance, definition: ProcessDefinition, key: str) -> BusinessKey:
    """Store the (resolved) key of a new instance and audit it, in the caller's unit of work."""
    process_key, instance_id = definition.key, instance.id  # the session is unusable after a failed flush
    row = BusinessKey(instance_id=instance_id, definition_id=definition.id, business_key=key,
                      created_at=clock.isoformat(clock.now()), created_by=uow.actor.user_id)
    uow.session.add(row)
    try:
        uow.session.flush()
    except IntegrityError as exc:  # a concurrent start took the key between the check and this insert
        message = _duplicate_message(uow.session, process_key, key, None)
        uow.record_refusal("instance.start_refused", "process_definition", process_key, reason=message,
                           details={"business_key": key})
        raise DuplicateBusinessKey(message) from exc
    uow.audit("instance.business_key_assigned", "process_instance", instance_id,
              changes=[["business_key", None, key]], details={"process": process_key})
    return row


# ---------------------------------------------------------------- queries
def instance_with_key(session: Session, definition_id: int, key: str) -> int | None:
    return session.execute(select(BusinessKey.instance_id).where(
        BusinessKey.definition_id == definition_id, BusinessKey.business_key == key)).scalar_one_or_none()


def find(session: Session, process_key: str, business_key: str) -> int | None:
    """The instance of process `process_key` carrying `business_key`, or None."""
    return session.execute(select(BusinessKey.instance_id)
                           .join(ProcessDefinition, ProcessDefinition.id == BusinessKey.definition_id)
                           .where(ProcessDefinition.key == process_key,
                                  BusinessKey.business_key == business_key.strip())).scalar_one_or_none()


def instance_by_reference(session: Session, reference: str) -> int:
    """The instance a person means by `reference`: its number (12 or #12), PROCESS:BUSINESS_KEY
    (batch:B-2024-001; process keys hold no ':'), or a business key only one process uses.

    Raises InstanceNotFound (nothing matches) or BusinessKeyError (empty, or ambiguous)."""
    from engine.errors import InstanceNotFound

    text = (reference or "").strip()
    if not text:
        raise BusinessKeyError("name an instance: its number, PROCESS:BUSINESS_KEY or a business key")
    number = text[1:] if text.startswith("#") else text
    if number.isdigit() and len(number) < 12:
        found = session.execute(select(ProcessInstance.id).where(ProcessInstance.id == int(number))).scalar()
        if found is not None or text.startswith("#"):
            if found is None:
                raise InstanceNotFound(f"no process instance {number}")
            return int(found)
    if ":" in text:
        process_key, key = (part.strip() for part in text.split(":", 1))
        exists = session.execute(select(ProcessDefinition.id).where(ProcessDefinition.key == process_key)).scalar()
        if exists is not None:
            found = find(session, process_key, key)
            if found is None:
                raise InstanceNotFound(f"no instance of process '{process_key}' has business key '{key}'")
            return found
    rows = session.execute(select(BusinessKey.instance_id, ProcessDefinition.key)
                           .join(ProcessDefinition, ProcessDefinition.id == BusinessKey.definition_id)
                           .where(BusinessKey.business_key == text).order_by(ProcessDefinition.key)).all()
    if not rows:
        raise InstanceNotFound(f"no instance has the number or business key '{text}'")
    if len(rows) > 1:
        raise BusinessKeyError(f"business key '{text}' is used by several processes "
                               f"({', '.join(key for _id, key in rows)}): write PROCESS:{text}")
    return int(rows[0][0])


def key_of(session: Session, instance_id: int) -> str | None:
    return session.execute(select(BusinessKey.business_key)
                           .where(BusinessKey.instance_id == instance_id)).scalar_one_or_none()


def keys_of(session: Session, instance_ids: Iterable[int]) -> dict[int, str]:
    ids = sorted(set(instance_ids))
    if not ids:
        return {}
    return dict(session.execute(select(BusinessKey.instance_id, BusinessKey.business_key)
                                .where(BusinessKey.instance_id.in_(ids))).all())


def like_pattern(text: str) -> str:
    """`%text%` for LIKE with `\\` as escape character: the user's % and _ match themselves."""
    escaped = text.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def matches(text: str) -> ColumnElement[bool]:
    """Condition for a search box: the business key or the title contains `text` (any case),
    or `text` is the instance number (with or without '#'). Needs BusinessKey outer-joined."""
    pattern = like_pattern(text)
    condition = or_(BusinessKey.business_key.ilike(pattern, escape="\\"),
                    ProcessInstance.title.ilike(pattern, escape="\\"))
    number = text.strip().lstrip("#")
    if number.isdigit() and len(number) < 12:
        condition = or_(condition, ProcessInstance.id == int(number))
    return condition


# ---------------------------------------------------------------- upload checks
def check_properties(elements: Iterable[Any], process_id: str) -> list[tuple[str, Any]]:
    """Problems with businessKey.* properties in a parsed bundle's element catalogue:
    (message, element info) pairs. They belong on the process element only."""
    problems: list[tuple[str, Any]] = []
    for info in elements:
        props = {k: v for k, v in (info.properties or {}).items() if k.startswith(PREFIX)}
        if not props:
            continue
        if info.tag != "process" or info.id != process_id:
            problems.append((f"{', '.join(sorted(props))}: business key properties belong on the process "
                             f"element '{process_id}'", info))
            continue
        for name, value in sorted(props.items()):
            if name not in PROPERTIES:
                problems.append((f"unknown extension property '{name}' (known: {', '.join(PROPERTIES)})", info))
            elif name == FIELD_PROPERTY and not (value and all(p.isidentifier() for p in value.strip().split("."))):
                problems.append((f"{FIELD_PROPERTY} '{value}' must name a start data field (dotted names, "
                                 "e.g. batch_number or deviation.number)", info))
            elif name == REQUIRED_PROPERTY and str(value).strip().lower() not in ("true", "false"):
                problems.append((f"{REQUIRED_PROPERTY} must be true or false, not '{value}'", info))
    return problems


__all__ = ["KeyRule", "normalise", "derive", "resolve", "assign", "find", "instance_by_reference", "key_of", "keys_of",
           "matches", "like_pattern", "rule_of_version", "rule_from_properties", "check_properties",
           "instance_with_key", "MAX_LENGTH"]
