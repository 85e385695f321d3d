"""Messages from other systems: `receive_message(uow, name, correlation, payload)`.

A message from outside (a LIMS result, an ERP release) names the BPMN message and a
correlation: keys whose values must all equal the receiving instance's (`instance_id`,
`business_key` (engine.business_keys), or a name in the instance's process data as its
waiting task holds it). It is delivered to the one running instance that waits for that
message and matches; if none waits, the approved process whose message start event
catches it is started with the correlation and the payload as its data, and with the
correlation's business key (else the one its definition takes from the payload; a key
another instance of the process holds is refused, DuplicateBusinessKey). Otherwise it is
refused and nothing changes: no instance matches (MessageNotDeliverable), or several do
(MessageAmbiguous: a correlation must name one instance). Each delivery is an
`engine_message` row and a `message.received` audit entry, in the caller's unit of work.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

from sqlalchemy import select

from core import clock
from engine.errors import EngineError
from engine.runtime import EngineRuntime
from engine.spiff.events import message_catchers, send_message, starts_on_message
from engine.spiff.serializer import row_data
from engine.spiff.workflow import WAITING

_waiting_specs: dict[tuple[int, str, str], frozenset[str]] = {}  # version contents never change


class MessageNotDeliverable(EngineError):
    """No running instance waits for the message with this correlation, and no process starts on it."""

    http_status = 409


class MessageAmbiguous(EngineError):
    """Several running instances wait for the message and match the correlation."""

    http_status = 409


@dataclass(frozen=True)
class Delivery:
    name: str
    outcome: str  # "delivered" | "started"
    instance_id: int


def _catch_specs(session: Any, version_id: int, name: str) -> frozenset[str]:
    """Names of the task specs of a version that catch message `name` (cached per version contents)."""
    from engine.definitions import version_ref

    ref = version_ref(session, version_id)
    key = (version_id, ref.files_sha256, name)
    if key not in _waiting_specs:
        spec, subprocesses = ref.spec()
        _waiting_specs[key] = message_catchers(spec, subprocesses, name)
    return _waiting_specs[key]


def _matches(instance: Any, data: Mapping[str, Any], correlation: Mapping[str, Any]) -> bool:
    for key, value in correlation.items():
        if key == "instance_id":
            actual: Any = instance.id
        elif key == "business_key":
            actual = _business_key_of(instance)
        elif key in data:
            actual = data[key]
        else:
            return False
        if type(actual) is bool or type(value) is bool:
            if actual is not value:
                return False
        elif actual != value:
            return False
    return True


def _business_key_of(instance: Any) -> str | None:
    from sqlalchemy.orm import object_session

    from engine.business_keys import key_of

    return key_of(object_session(instance), instance.id)


def _task_data(body: str | None) -> dict[str, Any]:
    """The data of a stored task row, with typed values (Decimal, date) restored."""
    return row_data(body) if body else {}


def waiting_instances(session: Any, name: str, correlation: Mapping[str, Any]) -> list[int]:
    """Running instances with a task waiting for message `name` that match `correlation`."""
    from engine.models import InstanceTask, ProcessInstance

    rows = session.execute(
        select(InstanceTask.spec_name, InstanceTask.body, ProcessInstance)
        .join(ProcessInstance, ProcessInstance.id == InstanceTask.instance_id)
        .where(InstanceTask.state == WAITING, InstanceTask.dropped.is_(False),
               ProcessInstance.status == "running")
        .order_by(InstanceTask.instance_id, InstanceTask.seq)).all()
    found: list[int] = []
    for spec_name, body, instance in rows:
        if instance.id in found or spec_name not in _catch_specs(session, instance.version_id, name):
            continue
        data = _task_data(body)
        if _matches(instance, data, correlation):
            found.append(instance.id)
    return found


def starting_processes(session: Any, name: str) -> list[str]:
    """Keys of approved processes whose top-level start event catches message `name`."""
    from engine.definition_changes import in_force_version_ids
    from engine.definitions import version_ref
    from engine.models import ProcessDefinition, ProcessDefinitionVersion

    keys = []
    for key, version_id in session.execute(
            select(ProcessDefinition.key, ProcessDefinitionVersion.id)
            .join(ProcessDefinitionVersion, ProcessDefinitionVersion.definition_id == ProcessDefinition.id)
            .where(ProcessDefinitionVersion.id.in_(in_force_version_ids(session))).order_by(ProcessDefinition.key)):
        spec, _subprocesses = version_ref(session, version_id).spec()
        if starts_on_message(spec, name):
            keys.append(key)
    return keys


def _send(name: str, payload: Mapping[str, Any]) -> Any:
    """The step that hands the message to the workflow's task waiting for it."""
    def step(wf: Any) -> None:
        if not send_message(wf, name, payload):
            raise MessageNotDeliverable(f"instance is not waiting for message {name!r}")
    return step


def receive_message(uow: Any, name: str, correlation: Mapping[str, Any], payload: Mapping[str, Any] | None = None,
                    *, settings: Any = None, runtime: EngineRuntime | None = None) -> Delivery:
    """Deliver a message from another system; see the module docstring."""
    from engine import instances
    from engine.runtime_models import RoutedMessage

    session = uow.session
    payload = dict(payload or {})
    correlation = dict(correlation)
    if not correlation:
        raise MessageNotDeliverable("a message from another system needs a correlation naming its instance")
    matched = waiting_instances(session, name, correlation)
    if len(matched) > 1:
        raise MessageAmbiguous(f"{len(matched)} instances wait for message {name!r} with correlation "
                               f"{json.dumps(correlation, sort_keys=True)} (instances {', '.join(map(str, matched[:10]))}):"
                               " the correlation must name one instance")
    if matched:
        instance_id, outcome = matched[0], "delivered"
        instances.advance(uow, instance_id, _send(name, payload), settings=settings, runtime=runtime)
    else:
        keys = starting_processes(session, name)
        if not keys:
            raise MessageNotDeliverable(f"no running instance waits for message {name!r} with correlation "
                                        f"{json.dumps(correlation, sort_keys=True)}, and no approved process starts "
                                        "on it: nothing was changed")
        data = {k: v for k, v in correlation.items() if k not in ("instance_id", "business_key")}
        business_key = correlation.get("business_key")
        if business_key is None:  # the field the process names, of the message payload (as for internal messages)
            from engine.business_keys import derive

            business_key = derive(session, keys[0], payload)
        started = instances.start(uow, keys[0], title=f"{keys[0]} (message {name})"[:200], data=data,
                                  settings=settings, runtime=runtime, business_key=business_key)
        instance_id, outcome = started.id, "started"
        instances.advance(uow, instance_id, _send(name, payload), settings=settings, runtime=runtime)
    now = clock.isoformat(clock.now())
    session.add(RoutedMessage(name=name, kind="message", correlations_json=json.dumps(correlation, sort_keys=True),
                              payload_json=json.dumps(payload, sort_keys=True, default=str), from_instance_id=None,
                              to_instance_id=instance_id, outcome=outcome, created_at=now))
    uow.audit("message.received", "process_instance", instance_id,
              details={"name": name, "correlation": correlation, "outcome": outcome,
                       "payload_keys": sorted(payload)})
    return Delivery(name, outcome, instance_id)


__all__ = ["receive_message", "waiting_instances", "starting_processes", "Delivery", "MessageNotDeliverable",
           "MessageAmbiguous"]
