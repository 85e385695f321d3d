"""A set-point write authorised by a user task's signature (the signed action `setpoint`).

A diagram author declares it on the user task (docs/bpmn-extensions.md):

    <spiffworkflow:property name="signature.meaning" value="performed"/>
    <spiffworkflow:property name="setpoint.tag" value="FBD-01.ua.inlet_temp_sp"/>
    <spiffworkflow:property name="setpoint.value_field" value="inlet_temp"/>

- `setpoint.tag`: the registered tag to write; or `setpoint.tag_field`: the form field
  whose value names it (exactly one of the two);
- `setpoint.value_field`: the form field whose value is written;
- `setpoint.result` (optional): the process variable that receives the outcome
  (default `setpoint`).

The completer's signature (the task's first `signature.meaning`) covers the task record,
which carries `authorises: {tag, value}`. The engine keeps the task started and the
scheduler runs `equipment.write_signed_setpoint`: the signature is checked against that
record, the write is committed as requested, sent, read back; the variable gets
{write_id, tag, value, unit, state "confirmed", readback, signature {id, meaning, signer}}
and the task completes. A refusal or failure is a BPMN error on the user task
(equipment_refused, setpoint_refused, equipment_unavailable, readback_mismatch,
setpoint_unconfirmed) whose payload details carry tag, value, write id and the signature's
id and meaning.
"""
from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any, Callable, Mapping

from connectors.errors import ConnectorError
from connectors.operators import ERROR_CODES, ConnectorEnvironment, _failed, _ids, environment_of, reading_document
from connectors.setpoints import settle_unconfirmed, write_setpoint

ACTION = "setpoint"
OPERATOR = "equipment.write_signed_setpoint"
TAG = "setpoint.tag"
TAG_FIELD = "setpoint.tag_field"
VALUE_FIELD = "setpoint.value_field"
RESULT = "setpoint.result"
DEFAULT_RESULT = "setpoint"
PROPERTIES = (TAG, TAG_FIELD, VALUE_FIELD, RESULT)


# ---------------------------------------------------------------- building the signed content
def _at(data: Mapping[str, Any], path: str) -> Any:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def build(properties: Mapping[str, str], data: Mapping[str, Any]) -> dict[str, Any]:
    """{tag, value} from the task's declaration and its checked form data."""
    from engine.errors import FormDataInvalid

    value_field = (properties.get(VALUE_FIELD) or "").strip()
    tag = (properties.get(TAG) or "").strip()
    tag_field = (properties.get(TAG_FIELD) or "").strip()
    problems = []
    if tag_field:
        tag = _at(data, tag_field)
        if not isinstance(tag, str) or not tag.strip():
            problems.append(f"{tag_field}: choose the equipment tag to write")
            tag = None
    value = _at(data, value_field) if value_field else None
    if not value_field:
        problems.append("the task names no set-point value field (setpoint.value_field)")
    elif value is None or value == "":
        problems.append(f"{value_field}: enter the set-point to write")
    elif isinstance(value, Decimal):
        value = float(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if problems:
        raise FormDataInvalid("the set-point cannot be built from the form: " + "; ".join(problems), problems)
    return {"tag": str(tag).strip(), "value": value}


def result_variable(properties: Mapping[str, str]) -> str:
    return (properties.get(RESULT) or "").strip() or DEFAULT_RESULT


# ---------------------------------------------------------------- upload checks
def _schema_at(schema: Any, path: str) -> Any:
    node = schema
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = (node.get("properties") or {}).get(part)
    return node


def _form_schema(ctx: Any) -> Any:
    name = (ctx.properties.get("formJsonSchemaFilename") or "").strip()
    return ctx.json_files.get(name) if name else None


def _field_check(kinds: tuple[str, ...]) -> Callable[[str, Any], list[str]]:
    def check(value: str, ctx: Any) -> list[str]:
        schema = _form_schema(ctx)
        if schema is None:
            return [f"names field '{value}', but the task has no form (formJsonSchemaFilename)"]
        field = _schema_at(schema, value)
        if not isinstance(field, Mapping):
            return [f"names field '{value}', which is not in the task's form"]
        declared = field.get("type")
        declared = declared if isinstance(declared, list) else [declared]
        if not any(kind in declared for kind in kinds):
            return [f"field '{value}' is {'/'.join(str(d) for d in declared)}; it must be {' or '.join(kinds)}"]
        return []
    return check


def _check_tag(value: str, ctx: Any) -> list[str]:
    problems = []
    if (ctx.properties.get(TAG_FIELD) or "").strip():
        problems.append(f"and {TAG_FIELD} are both set: name the tag one way")
    if any(ch.isspace() for ch in value):
        problems.append(f"'{value}' is not a tag name (no spaces)")
    return problems + _needs_value(ctx)


def _check_tag_field(value: str, ctx: Any) -> list[str]:
    return _field_check(("string",))(value, ctx) + _needs_value(ctx)


def _needs_value(ctx: Any) -> list[str]:
    if not (ctx.properties.get(VALUE_FIELD) or "").strip():
        return [f"needs {VALUE_FIELD}: the form field whose value is written"]
    return []


def _check_value_field(value: str, ctx: Any) -> list[str]:
    problems = _field_check(("number", "integer", "boolean"))(value, ctx)
    if not (ctx.properties.get(TAG) or "").strip() and not (ctx.properties.get(TAG_FIELD) or "").strip():
        problems.append(f"needs {TAG} (the tag to write) or {TAG_FIELD} (the form field naming it)")
    return problems


def _check_result(value: str, ctx: Any) -> list[str]:
    return [] if value.isidentifier() else [f"'{value}' is not a variable name"]


def task_properties() -> list[Any]:
    from engine.properties import TaskProperty

    return [
        TaskProperty(TAG, "the registered equipment tag the task's signature authorises a set-point write to",
                     check=_check_tag, label_en="Set-point tag", label_zh="设定值位号"),
        TaskProperty(TAG_FIELD, "the form field naming the tag to write (instead of setpoint.tag)",
                     check=_check_tag_field, label_en="Set-point tag field", label_zh="设定值位号字段"),
        TaskProperty(VALUE_FIELD, "the form field whose value the task's signature authorises writing",
                     check=_check_value_field, label_en="Set-point value field", label_zh="设定值字段"),
        TaskProperty(RESULT, "the process variable receiving the write's outcome (default setpoint)",
                     check=_check_result, label_en="Set-point result variable", label_zh="设定值结果变量"),
    ]


# ---------------------------------------------------------------- the operator
def write_signed_setpoint(context: Any, content: Mapping[str, Any], task_id: str, document: Mapping[str, Any],
                          signature: Mapping[str, Any], *, fallback: ConnectorEnvironment | None = None) -> dict[str, Any]:
    """Carry out the set-point the task's signature authorised (the scheduler calls it)."""
    from engine.errors import OperatorFailed

    instance, _element, actor = _ids(context)
    tag, value = content.get("tag"), content.get("value")
    signed = {"id": str(signature.get("id")), "meaning": str(signature.get("meaning")),
              "signer": str(signature.get("signer"))}
    about = {"tag": str(tag), "value": value, "signature_id": signed["id"], "signature_meaning": signed["meaning"],
             "signer": signed["signer"]}
    progress = getattr(context, "save_progress", None)
    requested: dict[str, str] = {}

    def on_requested(write_id: str) -> None:
        requested["write_id"] = write_id
        if progress is not None:
            progress({"state": "requested", "write_id": write_id})

    try:
        env = environment_of(context, fallback)
        settle_unconfirmed(env.db, actor, signed["id"])
        result = write_setpoint(env.db, env.settings, actor, env.client, str(tag), value,  # type: ignore[arg-type]
                                instance_id=str(instance), task_id=task_id, signature_id=signed["id"],
                                task_document=document, task_meaning=signed["meaning"], on_requested=on_requested)
    except ConnectorError as exc:
        failure = _failed(exc)
        assert isinstance(failure, OperatorFailed)
        write_id = requested.get("write_id") or exc.context.get("write_id")
        failure.details.update(about, **({"write_id": str(write_id)} if write_id else {}))
        raise failure from exc
    return {"write_id": result.write_id, "tag": tag, "value": value, "unit": result.readback.unit,
            "state": "confirmed", "readback": reading_document(result.readback), "signature": signed}


# ---------------------------------------------------------------- where a task's set-point stands
def declared_tag(session: Any, properties: Mapping[str, str]) -> dict[str, Any] | None:
    """What the task page tells the signer before signing: the tag (or the field naming it),
    the value field, and the tag's unit and allowed range from the effective registry."""
    from connectors.registry import effective_tags

    value_field = (properties.get(VALUE_FIELD) or "").strip()
    if not value_field:
        return None
    tag = (properties.get(TAG) or "").strip()
    info: dict[str, Any] = {"tag": tag or None, "tag_field": (properties.get(TAG_FIELD) or "").strip() or None,
                            "value_field": value_field, "registered": None, "unit": "", "low": None, "high": None,
                            "writable": None}
    if tag:
        found = effective_tags(session).get(tag)
        info["registered"] = found is not None
        if found is not None:
            definition = found.definition
            info.update(unit=definition.unit, low=definition.low, high=definition.high,
                        writable=definition.writable, equipment_id=definition.equipment_id)
    return info


def task_setpoint(session: Any, instance_id: int | str, task_id: str, internal: Mapping[str, Any]) -> dict[str, Any] | None:
    """The set-point a task's signature authorised and where it stands, from the task's saved
    internal data and the write records: requested (signed, waiting for the scheduler, or
    sent and waiting for the read-back), confirmed, or failed (with why). None: the task
    authorised no set-point."""
    from connectors.setpoints import writes_of

    gmp = internal.get("gmp") or {}
    authorised = gmp.get("authorises") or {}
    if authorised.get("action") != ACTION:
        return None
    pending = internal.get("operator") or {}
    signature = (pending.get("params") or {}).get("signature") or {}
    view: dict[str, Any] = {
        "tag": authorised.get("tag"), "value": authorised.get("value"), "unit": "",
        "signature": {"id": signature.get("id"), "meaning": signature.get("meaning"),
                      "signer": signature.get("signer"), "signer_name": signature.get("signer_name")},
        "state": "requested", "write_id": None, "readback": None, "detail": None, "code": None,
        "requested_at": None, "recorded_at": None}
    writes = writes_of(session, instance_id, task_id)
    if not writes:  # not written yet: the unit the registry gives the tag now
        from connectors.registry import effective_tags

        found = effective_tags(session).get(str(view["tag"]))
        view["unit"] = found.definition.unit if found is not None else ""
    if writes:
        write = writes[-1]
        view.update(unit=write.unit, state=write.state, write_id=write.write_id, readback=write.readback,
                    detail=write.detail, requested_at=write.requested_at, recorded_at=write.recorded_at)
    error = internal.get("operator_error")
    if isinstance(error, Mapping):
        view.update(state="failed", code=error.get("code"), detail=view["detail"] or error.get("message"))
    elif view["state"] == "requested":
        from sqlalchemy import select

        from engine.runtime_models import OperatorJob

        job = session.execute(select(OperatorJob.state, OperatorJob.error).where(
            OperatorJob.task_id == str(task_id))).first()
        if job is not None and job.state == "failed":  # nothing in the diagram caught it
            view.update(state="failed", detail=view["detail"] or job.error)
    return view


def register(runtime: Any, env: ConnectorEnvironment | None = None) -> None:
    """Add the signed set-point (task properties, operator, signed action) to an engine runtime."""
    from engine.operators import Param
    from engine.signed_actions import SignedAction

    for prop in task_properties():
        runtime.properties.register(prop)
    function = functools.partial(write_signed_setpoint, fallback=env) if env is not None else write_signed_setpoint
    runtime.operators.register(OPERATOR, function, [
        Param("content", "dict", description="{tag, value} the signature authorised"),
        Param("task_id", "str", description="the user task where the signature was given"),
        Param("document", "dict", description="the signed task record"),
        Param("signature", "dict", description="{id, meaning, signer} of the authorising signature")],
        long_running=True, description="Write the set-point a user task's signature authorised; confirm by read-back",
        error_codes=ERROR_CODES, replace=True)
    runtime.signed_actions.register(SignedAction(ACTION, (TAG, TAG_FIELD, VALUE_FIELD), OPERATOR, build,
                                                 result_variable, "an equipment set-point write"))


__all__ = ["ACTION", "OPERATOR", "PROPERTIES", "build", "register", "task_properties", "write_signed_setpoint"]
