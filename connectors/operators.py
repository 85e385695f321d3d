"""Engine operators over equipment tags (BPMN spiff service tasks).

Plain functions with typed parameters do the work; `register_operators(registry)` puts
thin adapters into an engine runtime's operator registry (bpmn.glue does it when it
builds the runtime; nothing registers at import time):

    equipment.read_tag(tag)                                   -> reading
    equipment.write_tag(tag, value, signature_id, signed_task) -> confirmed write (long-running)
    equipment.sample_tags(tags, duration_s, interval_s)       -> statistics (long-running)
    equipment.await_condition(tag, condition, value, timeout_s, interval_s) -> met (long-running)

The adapters find the database and settings on the operator context (`context.db` in
the scheduler's job context, `context.uow` inside an engine step, `context.settings`), or
else in the `ConnectorEnvironment` given to `register_operators` (else settings from the
process environment). A read
inside a step is stored in the step's own transaction; the operators that need their
own transactions (a set-point write is committed as requested before it is sent;
sampling stores each sample as taken) are long-running: the scheduler runs them.
A refused or failed equipment action raises `OperatorFailed` with a code a diagram can
catch: equipment_unavailable, equipment_refused, setpoint_refused, readback_mismatch,
setpoint_unconfirmed, condition_timeout.
"""
from __future__ import annotations

import functools
import operator as op
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping

from audit.canonical import SYSTEM, Actor
from connectors import service
from connectors.client import EquipmentClient
from connectors.errors import (
    ConnectorError,
    DeviceError,
    DeviceUnavailable,
    ReadbackFailed,
    ReadbackMismatch,
    SetpointNotAuthorised,
    SetpointOutOfRange,
    SetpointUnconfirmed,
    TagAccessDenied,
    UnregisteredTag,
)
from connectors.setpoints import write_setpoint
from connectors.tags import Reading
from core import clock
from core.config import Settings, load_settings
from store.db import Database
from store.uow import UnitOfWork

CONDITIONS: dict[str, Callable[[Any, Any], bool]] = {
    ">": op.gt, ">=": op.ge, "<": op.lt, "<=": op.le, "==": op.eq, "!=": op.ne,
}
MAX_SAMPLES = 100_000


@dataclass(frozen=True)
class ConnectorEnvironment:
    db: Database
    settings: Settings
    client: EquipmentClient


def environment(db: Database, settings: Settings) -> ConnectorEnvironment:
    """Database, settings and equipment client of a process, for operators whose context carries neither."""
    return ConnectorEnvironment(db, settings, service.client_for(settings))


def environment_of(context: Any, fallback: ConnectorEnvironment | None = None) -> ConnectorEnvironment:
    """Database and settings for an operator call: from the engine's context (`db`, or the
    step's `uow.db`; `settings`), else from `fallback`, else settings from the environment."""
    uow = getattr(context, "uow", None)
    db = getattr(context, "db", None) or (uow.db if uow is not None else None)
    settings = getattr(context, "settings", None)
    if db is None and fallback is not None:
        db = fallback.db
    if settings is None:
        settings = fallback.settings if fallback is not None else load_settings()
    if db is None:
        raise ConnectorError("equipment operators need a database: the operator context carries none and "
                             "register_operators was given no environment")
    return ConnectorEnvironment(db, settings, service.client_for(settings))


def reading_document(reading: Reading) -> dict[str, Any]:
    """A reading as JSON for task data: marked as captured from equipment (ALCOA original)."""
    return {"tag": reading.tag.name, "equipment_id": reading.tag.equipment_id, "value": reading.value,
            "unit": reading.unit, "source_timestamp": clock.isoformat(reading.source_timestamp),
            "timestamp_origin": reading.timestamp_origin, "quality": reading.quality.value,
            "origin": reading.origin.value, "within_limits": reading.within_limits,
            "low": reading.tag.low, "high": reading.tag.high, "registry_revision": reading.revision}


# ---------------------------------------------------------------- plain functions
def read_tag(env: ConnectorEnvironment, tag: str, *, actor: Actor = SYSTEM, instance_id: str | None = None,
             task_id: str | None = None, uow: UnitOfWork | None = None) -> dict[str, Any]:
    """Read a registered tag now; the value is stored as equipment-originated, in `uow`
    when given (the engine step's transaction: it commits with the task) or in its own."""
    if uow is not None:
        return reading_document(service.read_tag(uow, tag, client=env.client, instance_id=instance_id,
                                                 task_id=task_id))
    with UnitOfWork(env.db, actor) as own:
        reading = service.read_tag(own, tag, client=env.client, instance_id=instance_id, task_id=task_id)
        own.commit()
    return reading_document(reading)


def write_tag(env: ConnectorEnvironment, tag: str, value: float | bool, *, signature_id: str, instance_id: str,
              signed_task: str, actor: Actor = SYSTEM) -> dict[str, Any]:
    """Write a set-point authorised by the signature given at the user task `signed_task`."""
    result = write_setpoint(env.db, env.settings, actor, env.client, tag, value, instance_id=instance_id,
                            task_id=signed_task, signature_id=signature_id)
    return {"write_id": result.write_id, "tag": tag, "value": value, "state": "confirmed",
            "readback": reading_document(result.readback)}


@dataclass
class TagStatistics:
    tag: str
    unit: str
    low: float | None
    high: float | None
    count: int = 0
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    out_of_limit: list[dict[str, Any]] = field(default_factory=list)
    _sum: float = 0.0

    def add(self, reading: Reading) -> None:
        value = float(reading.value)
        self.count += 1
        self._sum += value
        self.min = value if self.min is None else min(self.min, value)
        self.max = value if self.max is None else max(self.max, value)
        self.mean = self._sum / self.count
        if not reading.within_limits:
            self.out_of_limit.append({"value": value, "source_timestamp": clock.isoformat(reading.source_timestamp),
                                      "low": self.low, "high": self.high})

    def document(self) -> dict[str, Any]:
        data = asdict(self)
        del data["_sum"]
        return data


def sample_tags(env: ConnectorEnvironment, tags: list[str], duration_s: float, interval_s: float, *,
                actor: Actor = SYSTEM, instance_id: str | None = None, task_id: str | None = None,
                progress: Callable[[Mapping[str, Any]], None] | None = None,
                sleep: Callable[[float], None] = time.sleep, settle_s: float = 0.0) -> dict[str, Any]:
    """Sample every tag each `interval_s` for `duration_s` (samples at 0, interval, ... <= duration),
    the first `settle_s` seconds after the call (a process value settling at a new set-point is a
    ramp, not a sample of the phase).

    Each sample is stored as it is taken (purpose "sampled", one transaction per round),
    so an interrupted sampling keeps what it took. Returns min, max, mean and every
    out-of-limit sample per tag.
    """
    if not tags:
        raise ConnectorError("sample_tags needs at least one tag")
    if interval_s <= 0 or duration_s < 0 or settle_s < 0:
        raise ConnectorError(f"sample_tags needs interval_s > 0, duration_s >= 0 and settle_s >= 0, got {interval_s}, "
                             f"{duration_s}, {settle_s}")
    rounds = int(duration_s / interval_s + 1e-9) + 1
    if rounds * len(tags) > MAX_SAMPLES:
        raise ConnectorError(f"sampling {len(tags)} tag(s) {rounds} times exceeds {MAX_SAMPLES} samples")
    sampling_id = str(uuid.uuid4())
    with UnitOfWork(env.db, actor) as uow:  # every tag registered before the first sample
        registered = [service.lookup(uow, name, action="sample") for name in tags]
    stats = {r.name: TagStatistics(r.name, r.definition.unit, r.definition.low, r.definition.high)
             for r in registered}
    start = time.monotonic() + settle_s
    for index in range(rounds):
        delay = start + index * interval_s - time.monotonic()
        if delay > 0:
            sleep(delay)
        with UnitOfWork(env.db, actor) as uow:
            for reg in registered:
                reading = env.client.read(reg.definition, reg.revision)
                service.store_reading(uow, reg, reading, purpose="sampled", instance_id=instance_id,
                                      task_id=task_id, sampling_id=sampling_id)
                stats[reg.name].add(reading)
            uow.commit()
        if progress is not None:
            progress({"sampling_id": sampling_id, "rounds_done": index + 1, "rounds": rounds})
    result = {"sampling_id": sampling_id, "rounds": rounds, "interval_s": interval_s, "duration_s": duration_s,
              **({"settle_s": settle_s} if settle_s else {}),
              "tags": {name: s.document() for name, s in stats.items()},
              "out_of_limit_count": sum(len(s.out_of_limit) for s in stats.values())}
    with UnitOfWork(env.db, actor) as uow:
        uow.audit("tag.sampled", "sampling", sampling_id, details={
            "instance": instance_id, "task": task_id, "rounds": rounds,
            "summary": {n: {k: v for k, v in s.document().items() if k != "out_of_limit"} | {
                "out_of_limit": len(s.out_of_limit)} for n, s in stats.items()}})
        uow.commit()
    return result


class ConditionTimeout(ConnectorError):
    """await_condition: the tag did not meet the condition before the timeout."""

    http_status = 408


def await_condition(env: ConnectorEnvironment, tag: str, condition: str, value: Any, timeout_s: float,
                    interval_s: float = 0.5, *, actor: Actor = SYSTEM, instance_id: str | None = None,
                    task_id: str | None = None, sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Poll `tag` until `reading <condition> value`; the reading that met it is stored.
    Raises ConditionTimeout (with the last value) when `timeout_s` passes first."""
    compare = CONDITIONS.get(condition)
    if compare is None:
        raise ConnectorError(f"unknown condition {condition!r}: expected one of {' '.join(CONDITIONS)}")
    if interval_s <= 0 or timeout_s < 0:
        raise ConnectorError(f"await_condition needs interval_s > 0 and timeout_s >= 0, got {interval_s}, {timeout_s}")
    with UnitOfWork(env.db, actor) as uow:
        registered = service.lookup(uow, tag, action="await")
    deadline = time.monotonic() + timeout_s
    polls = 0
    while True:
        reading = env.client.read(registered.definition, registered.revision)
        polls += 1
        if reading.value is not None and compare(reading.value, value):
            with UnitOfWork(env.db, actor) as uow:
                service.store_reading(uow, registered, reading, purpose="condition", instance_id=instance_id,
                                      task_id=task_id)
                uow.commit()
            return {"met": True, "polls": polls, "reading": reading_document(reading)}
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ConditionTimeout(f"tag {tag} did not reach {condition} {value!r} within {timeout_s:g} s "
                                   f"(last value {reading.value!r} {reading.unit})", tag=tag, last=reading.value)
        sleep(min(interval_s, remaining))


# ---------------------------------------------------------------- engine adapters
def _ids(context: Any) -> tuple[str | None, str | None, Actor]:
    instance = getattr(context, "instance_id", None)
    uow = getattr(context, "uow", None)
    actor = getattr(context, "actor", None) or (uow.actor if uow is not None else None) or SYSTEM
    return (None if instance is None else str(instance), getattr(context, "element_id", None), actor)


def _failed(exc: ConnectorError) -> Exception:
    from engine.operators import OperatorFailed

    if isinstance(exc, DeviceUnavailable):
        code = "equipment_unavailable"
    elif isinstance(exc, (UnregisteredTag, TagAccessDenied, DeviceError)):
        code = "equipment_refused"
    elif isinstance(exc, (SetpointOutOfRange, SetpointNotAuthorised)):
        code = "setpoint_refused"
    elif isinstance(exc, (ReadbackFailed, SetpointUnconfirmed)):
        code = "setpoint_unconfirmed"
    elif isinstance(exc, ReadbackMismatch):
        code = "readback_mismatch"
    elif isinstance(exc, ConditionTimeout):
        code = "condition_timeout"
    else:
        code = "equipment_error"
    return OperatorFailed(code, str(exc), {k: v for k, v in exc.context.items() if isinstance(v, (str, int, float))})


def _op_read_tag(context: Any, tag: str, *, fallback: ConnectorEnvironment | None = None) -> dict[str, Any]:
    instance, element, actor = _ids(context)
    try:
        return read_tag(environment_of(context, fallback), tag, actor=actor, instance_id=instance, task_id=element,
                        uow=getattr(context, "uow", None))
    except ConnectorError as exc:
        raise _failed(exc) from exc


def _op_write_tag(context: Any, tag: str, value: float, signature_id: str, signed_task: str, *,
                  fallback: ConnectorEnvironment | None = None) -> dict[str, Any]:
    instance, _element, actor = _ids(context)
    try:
        return write_tag(environment_of(context, fallback), tag, value, signature_id=str(signature_id),
                         instance_id=str(instance), signed_task=signed_task, actor=actor)
    except ConnectorError as exc:
        raise _failed(exc) from exc


def _op_sample_tags(context: Any, tags: list[str], duration_s: float, interval_s: float, settle_s: float = 0.0, *,
                    fallback: ConnectorEnvironment | None = None) -> dict[str, Any]:
    instance, element, actor = _ids(context)
    progress = getattr(context, "save_progress", None)
    try:
        return sample_tags(environment_of(context, fallback), list(tags), float(duration_s), float(interval_s), actor=actor,
                           instance_id=instance, task_id=element, progress=progress, settle_s=float(settle_s or 0))
    except ConnectorError as exc:
        raise _failed(exc) from exc


def _op_await_condition(context: Any, tag: str, condition: str, value: Any, timeout_s: float,
                        interval_s: float = 0.5, *, fallback: ConnectorEnvironment | None = None) -> dict[str, Any]:
    instance, element, actor = _ids(context)
    try:
        return await_condition(environment_of(context, fallback), tag, condition, value, float(timeout_s), float(interval_s),
                               actor=actor, instance_id=instance, task_id=element)
    except ConnectorError as exc:
        raise _failed(exc) from exc


ERROR_CODES = ("equipment_unavailable", "equipment_refused", "setpoint_refused", "readback_mismatch",
               "setpoint_unconfirmed", "condition_timeout", "equipment_error")


def register_operators(registry: Any, env: ConnectorEnvironment | None = None) -> Any:
    """Register the equipment operators in an engine runtime's operator registry.

    `env`: database and settings for calls whose operator context carries neither."""
    from engine.operators import Param

    target = registry

    def bound(fn: Callable[..., Any]) -> Callable[..., Any]:
        return functools.partial(fn, fallback=env) if env is not None else fn

    target.register("equipment.read_tag", bound(_op_read_tag), [Param("tag", "str", description="registered tag name")],
                    description="Read a registered equipment tag now", error_codes=ERROR_CODES, replace=True)
    target.register("equipment.write_tag", bound(_op_write_tag),
                    [Param("tag", "str"), Param("value", "any", description="set-point in engineering units"),
                     Param("signature_id", "any", description="signature (performed) given at the user task"),
                     Param("signed_task", "str", description="the user task where the signature was given")],
                    long_running=True,  # its own transactions (request, outcome): never inside an engine step
                    description="Write a signed set-point and confirm it by read-back", error_codes=ERROR_CODES,
                    replace=True)
    target.register("equipment.sample_tags", bound(_op_sample_tags),
                    [Param("tags", "list"), Param("duration_s", "float"), Param("interval_s", "float"),
                     Param("settle_s", "float", required=False,
                           description="seconds to wait before the first sample (the value settles at its set-point)")],
                    long_running=True, description="Sample tags for a duration: min, max, mean, out-of-limit samples",
                    error_codes=ERROR_CODES, replace=True)
    target.register("equipment.await_condition", bound(_op_await_condition),
                    [Param("tag", "str"), Param("condition", "str"), Param("value", "any"),
                     Param("timeout_s", "float"), Param("interval_s", "float", required=False)],
                    long_running=True, description="Wait until a tag meets a condition or the timeout passes",
                    error_codes=ERROR_CODES, replace=True)
    return target
