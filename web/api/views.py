"""The JSON API for other systems, under /api/v1 (blueprint `api`).

Bearer tokens of system accounts, never session cookies (no CSRF); the scope of each
operation is its entry in web/access_matrix.yaml. Every body is checked (schema,
`Content-Digest` SHA-256) and every write is acknowledged (web.api.calls). The OpenAPI
3.1 document is served at /api/v1/openapi.json and rendered for people at /api/v1/docs.
"""
from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace
from typing import Any

from flask import Blueprint, Response, g, render_template
from sqlalchemy import and_, or_, select

from web.api import schemas as S
from web.api.calls import ack_document, acknowledge, record_read
from web.api.errors import ApiNotFound, BodyInvalid, ScopeRefused
from web.api.exchange import Param, content_digest
from web.api.operations import JSON, Reply, json_response, operation
from web.uow import database, settings, unit_of_work

bp = Blueprint("api", __name__, url_prefix="/api/v1")

LIMIT = Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
              "Items per page (1-200).")
SAFE_TEXT = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": S.TEXT_LINE}
INSTANCE_ID = Param("instance_id", "path", {"type": "integer", "minimum": 1, "maximum": 2**53}, "The instance.",
                    required=True)
TASK_ID = Param("task_id", "path", {"type": "string", "pattern": "^[0-9a-f-]{36}$"}, "The task (a UUID).",
                required=True)
READ_ERRORS = (401, 403, 422)


# ---------------------------------------------------------------- helpers
def holder() -> Any:
    return g.api.holder


def _business_key(instance: Any) -> str | None:
    from sqlalchemy.orm import object_session

    from engine.business_keys import key_of

    return key_of(object_session(instance), instance.id)


def _role_kinds(session: Any) -> dict[str, str]:
    from signatures.models import Role

    return dict(session.execute(select(Role.name, Role.kind)).all())


def _task_document(row: Any, instance: Any, process: str, kinds: dict[str, str]) -> dict[str, Any]:
    return {"task_id": row.id, "instance_id": row.instance_id, "instance_title": instance.title,
            "business_key": _business_key(instance), "process": process, "bpmn_id": row.bpmn_id,
            "name": row.bpmn_name or row.bpmn_id, "lane": row.lane,
            "kind": "system" if kinds.get(row.lane or "") == "system" else "human",
            "claimed_by": row.claimed_by, "updated_at": row.updated_at}


def _ready_tasks(session: Any, *, instance_id: int | None = None, lane: str | None = None, kind: str | None = None,
                 after: tuple[int, int] | None = None, limit: int = 200) -> tuple[list[dict[str, Any]], str | None]:
    from engine.models import InstanceTask, ProcessDefinition, ProcessDefinitionVersion, ProcessInstance
    from engine.tasks import READY

    kinds = _role_kinds(session)
    query = (select(InstanceTask, ProcessInstance, ProcessDefinition.key)
             .join(ProcessInstance, ProcessInstance.id == InstanceTask.instance_id)
             .join(ProcessDefinitionVersion, ProcessDefinitionVersion.id == ProcessInstance.version_id)
             .join(ProcessDefinition, ProcessDefinition.id == ProcessDefinitionVersion.definition_id)
             .where(InstanceTask.state == READY, InstanceTask.manual.is_(True),
                    InstanceTask.dropped.is_(False), ProcessInstance.status == "running")
             .order_by(InstanceTask.instance_id, InstanceTask.seq))
    if instance_id is not None:
        query = query.where(InstanceTask.instance_id == instance_id)
    if lane is not None:
        query = query.where(InstanceTask.lane == lane)
    if kind is not None:
        system_lanes = [name for name, k in kinds.items() if k == "system"]
        query = query.where(InstanceTask.lane.in_(system_lanes) if kind == "system" else
                            or_(InstanceTask.lane.is_(None), InstanceTask.lane.not_in(system_lanes)))
    if after is not None:
        query = query.where(or_(InstanceTask.instance_id > after[0],
                                and_(InstanceTask.instance_id == after[0], InstanceTask.seq > after[1])))
    rows = session.execute(query.limit(limit + 1)).all()
    items = [_task_document(r, i, k, kinds) for r, i, k in rows[:limit]]
    last = rows[limit - 1][0] if len(rows) > limit else None
    return items, (f"{last.instance_id}.{last.seq}" if last is not None else None)


def _process_data(session: Any, instance_id: int, header_data: dict[str, Any]) -> dict[str, Any]:
    """The instance's process data as its newest definite task holds it (with the workflow's data objects)."""
    from engine.instances import DEFINITE
    from engine.models import InstanceTask

    body = session.execute(select(InstanceTask.body).where(
        InstanceTask.instance_id == instance_id, InstanceTask.dropped.is_(False),
        InstanceTask.state.op("&")(int(DEFINITE)) != 0).order_by(InstanceTask.seq.desc()).limit(1)).scalar()
    from engine.spiff.serializer import row_data

    data = dict(header_data or {})
    if body:
        stored = row_data(body)
        data.update({k: v for k, v in stored.items() if not k.startswith("_")})
    return data


def _instance_document(session: Any, instance_id: int) -> dict[str, Any]:
    from engine.instances import get_instance, inspect

    header = inspect(session, instance_id)
    instance = get_instance(session, instance_id)
    ready, _ = _ready_tasks(session, instance_id=instance_id)
    header["data"] = _process_data(session, instance_id, header["data"])
    return {"instance_id": header["id"], "title": header["title"], "process": header["process"],
            "version": header["version"], "business_key": _business_key(instance), "status": header["status"],
            "started_at": header["started_at"], "started_by": header["started_by"], "ended_at": header["ended_at"],
            "data": header["data"], "tasks": header["tasks"], "ready_tasks": ready}


def _notify(uow: Any, title: str, task_ids: list[str]) -> None:
    from web.operator import notify_new_tasks

    notify_new_tasks(uow, SimpleNamespace(instance_title=title), task_ids)


def _cursor(value: str | None, name: str = "after") -> tuple[int, int] | None:
    if value is None:
        return None
    first, _, second = value.partition(".")
    return int(first), int(second)


# ---------------------------------------------------------------- the account
@operation(bp, "GET", "/me", summary="Who this token speaks for", tag="Account",
           description="The system account, the token's scopes and expiry, and the system roles (lanes) it holds.",
           replies={200: Reply("The token's account and scopes.", S.ME)}, errors=(401,))
def me(params: dict[str, Any], body: Any) -> tuple[int, Any]:
    from web.api.accounts import actor_id, roles_of_account

    who = holder()
    with database().read_session() as session:
        roles = sorted(roles_of_account(session, who.account_id))
    return 200, {"account_id": who.account_id, "actor_id": actor_id(who.account_id), "printed_name": who.printed_name,
                 "token_id": who.token_id, "scopes": sorted(who.scopes), "expires_at": who.expires_at, "roles": roles}


# ---------------------------------------------------------------- instances
@operation(bp, "POST", "/instances", summary="Start an instance", tag="Instances", body=S.START_INSTANCE,
           description="Starts an instance of the approved version of a process, with its business key and data. "
                       "The system account is recorded as the one who started it.",
           replies={201: Reply("Started; the instance and the acknowledgement.", S.STARTED)},
           errors=(400, 401, 403, 404, 409, 415, 422))
def start_instance(params: dict[str, Any], body: dict[str, Any]) -> tuple[int, Any]:
    from engine import instances

    with unit_of_work(holder().actor) as uow:  # business key: engine.business_keys (explicit, data or numbered)
        instance = instances.start(uow, body["process"], title=body.get("title"), data=body.get("data") or {},
                                   settings=settings(), business_key=body.get("business_key"))
        document = _instance_document(uow.session, instance.id)
        _notify(uow, document["title"], [t["task_id"] for t in document["ready_tasks"]])
        g.api.details["instance_id"] = instance.id
        document_ack = acknowledge(uow, 201, {"instance_id": instance.id, "process": body["process"],
                                              "business_key": document["business_key"]})
        uow.commit()
    return 201, {"instance": document, "acknowledgement": document_ack}


@operation(bp, "GET", "/instances", summary="List instances", tag="Instances",
           description="Instances, newest first, filtered by process, status and business key.",
           params=[Param("process", "query", {"type": "string", "pattern": S.PROCESS_KEY}, "Process key."),
                   Param("status", "query", {"type": "string", "enum": ["running", "completed", "cancelled", "error"]}),
                   Param("business_key", "query", S.BUSINESS_KEY),
                   Param("after", "query", {"type": "integer", "minimum": 1, "maximum": 2**53},
                         "Instance ID from `next` of the previous page."), LIMIT],
           replies={200: Reply("A page of instances.", S.page_of(S.INSTANCE))}, errors=READ_ERRORS)
def list_instances(params: dict[str, Any], body: Any) -> tuple[int, Any]:
    from engine.business_keys import keys_of
    from engine.models import ProcessDefinition, ProcessDefinitionVersion, ProcessInstance

    limit = params.get("limit", 50)
    query = (select(ProcessInstance, ProcessDefinitionVersion.version, ProcessDefinition.key)
             .join(ProcessDefinitionVersion, ProcessDefinitionVersion.id == ProcessInstance.version_id)
             .join(ProcessDefinition, ProcessDefinition.id == ProcessDefinitionVersion.definition_id)
             .order_by(ProcessInstance.id.desc()))
    if "process" in params:
        query = query.where(ProcessDefinition.key == params["process"])
    if "status" in params:
        query = query.where(ProcessInstance.status == params["status"])
    if "business_key" in params:
        from engine.runtime_models import BusinessKey

        query = query.where(ProcessInstance.id.in_(select(BusinessKey.instance_id).where(
            BusinessKey.business_key == params["business_key"])))
    if "after" in params:
        query = query.where(ProcessInstance.id < params["after"])
    with database().read_session() as session:
        rows = session.execute(query.limit(limit + 1)).all()
        keys = keys_of(session, [i.id for i, _version, _key in rows[:limit]])
        items = [{"instance_id": i.id, "title": i.title, "process": key, "version": version,
                  "business_key": keys.get(i.id), "status": i.status, "started_at": i.started_at,
                  "started_by": i.started_by, "ended_at": i.ended_at} for i, version, key in rows[:limit]]
    return 200, {"items": items, "next": str(rows[limit - 1][0].id) if len(rows) > limit else None}


@operation(bp, "GET", "/instances/{instance_id}", summary="Read an instance", tag="Instances", params=[INSTANCE_ID],
           description="Status, data, definite tasks and the tasks ready now.",
           replies={200: Reply("The instance.", S.INSTANCE_DETAIL)}, errors=(401, 403, 404, 422))
def read_instance(params: dict[str, Any], body: Any) -> tuple[int, Any]:
    with database().read_session() as session:
        return 200, _instance_document(session, params["instance_id"])


# ---------------------------------------------------------------- tasks
@operation(bp, "GET", "/tasks", summary="List ready tasks", tag="Tasks",
           description="Ready tasks of running instances, oldest first. `kind=system` lists the tasks of system "
                       "lanes (what a system account completes); `kind=human` the tasks of people.",
           params=[Param("lane", "query", {"type": "string", "pattern": "^[a-z][a-z0-9_]{1,63}$"}, "Lane (role) name."),
                   Param("kind", "query", {"type": "string", "enum": ["system", "human"]}),
                   Param("instance_id", "query", {"type": "integer", "minimum": 1, "maximum": 2**53}),
                   Param("after", "query", {"type": "string", "pattern": "^[0-9]{1,16}\\.[0-9]{1,9}$"},
                         "`next` of the previous page."), LIMIT],
           replies={200: Reply("A page of ready tasks.", S.page_of(S.TASK))}, errors=READ_ERRORS)
def list_tasks(params: dict[str, Any], body: Any) -> tuple[int, Any]:
    with database().read_session() as session:
        items, following = _ready_tasks(session, instance_id=params.get("instance_id"), lane=params.get("lane"),
                                        kind=params.get("kind"), after=_cursor(params.get("after")),
                                        limit=params.get("limit", 50))
    return 200, {"items": items, "next": following}


def _task_detail(session: Any, task_id: str) -> tuple[dict[str, Any], Any]:
    from engine.errors import TaskNotFound
    from engine.models import InstanceTask, ProcessDefinition, ProcessDefinitionVersion, ProcessInstance
    from web.operator import load_task_form

    form = load_task_form(session, task_id)
    row = session.get(InstanceTask, task_id)
    instance = session.get(ProcessInstance, row.instance_id)
    key = session.execute(select(ProcessDefinition.key).join(
        ProcessDefinitionVersion, ProcessDefinitionVersion.definition_id == ProcessDefinition.id)
        .where(ProcessDefinitionVersion.id == instance.version_id)).scalar_one()
    if row is None:
        raise TaskNotFound(f"no task {task_id}")
    document = _task_document(row, instance, key, _role_kinds(session))
    from engine.tasks import READY

    document.update(state="ready" if row.state == READY else "not ready", form=form.schema,
                    signature_meanings=list(form.meanings), verifier_meaning=form.verifier_meaning)
    return document, form


@operation(bp, "GET", "/tasks/{task_id}", summary="Read a task", tag="Tasks", params=[TASK_ID],
           description="The task with its lane, kind, the JSON Schema its data must match and the signatures "
                       "it asks for.", replies={200: Reply("The task.", S.TASK_DETAIL)}, errors=(401, 403, 404, 422))
def read_task(params: dict[str, Any], body: Any) -> tuple[int, Any]:
    with database().read_session() as session:
        document, _form = _task_detail(session, params["task_id"])
    return 200, document


def _validator(form: Any, entered_by: str, verified_by: str | None, exceptions: dict[str, str]) -> Any:
    from forms import FORM_LEVEL, FormInvalid, validate_submission
    from web.operator import PROVENANCE_KEY

    def validate(schema: Any, ui_schema: Any, data: Any) -> dict[str, Any]:
        try:
            checked = validate_submission(schema, ui_schema, data, exceptions=exceptions, entered_by=entered_by,
                                          verified_by=verified_by)
        except FormInvalid as exc:
            raise BodyInvalid("the task's data does not match its form: " + str(exc), fields=[
                {"field": "/data" if e.field == FORM_LEVEL else f"/data/{e.field}", "message": e.message}
                for e in exc.field_errors]) from exc
        record = checked.to_record()
        record.pop("data")
        return {**checked.data, PROVENANCE_KEY: record}
    return validate


@operation(bp, "POST", "/tasks/{task_id}/complete", summary="Complete a task", tag="Tasks", params=[TASK_ID],
           body=S.COMPLETE_TASK,
           description="A system task (its lane is a system role the account holds) is completed by the system "
                       "account with scope tasks:complete, without any signature. A person's task is completed only "
                       "with that person's own credentials in `signer` (and a second person's in `verifier` where "
                       "the task asks for a verification), verified and signed exactly as in the web, and needs the "
                       "scope tasks:complete-human; the system account never signs for a person.",
           replies={200: Reply("Completed; signatures made and the tasks ready now.", S.COMPLETED)},
           errors=(400, 401, 403, 404, 409, 415, 422, 423))
def complete_task(params: dict[str, Any], body: dict[str, Any]) -> tuple[int, Any]:
    from audit.canonical import Actor
    from engine.ports import SignatureInput, default_services
    from engine.tasks import complete_task as engine_complete
    from web.api.accounts import roles_of_account
    from web.operator import ready_task_ids

    who = holder()
    task_id = params["task_id"]
    with database().read_session() as session:
        document, form = _task_detail(session, task_id)
    data, exceptions = body.get("data") or {}, body.get("exceptions") or {}
    signatures: list[SignatureInput] = []
    if document["kind"] == "system":
        if "tasks:complete" not in who.scopes:
            raise ScopeRefused("completing a system task needs the scope tasks:complete", "Authorization")
        for name in ("signer", "verifier"):
            if name in body:
                raise BodyInvalid(f"task {document['bpmn_id']!r} is a system task (lane {document['lane']}): it takes "
                                  "no person's credentials and no signature", f"/{name}")
        if form.meanings or form.verifier_meaning:
            raise BodyInvalid(f"task {document['bpmn_id']!r} is in the system lane {document['lane']} but asks for "
                              "signatures: only a person signs, so the process definition must move it to a person's "
                              "lane", "task_id")
        with database().read_session() as session:
            account_roles = roles_of_account(session, who.account_id)
        actor = who.actor
        services = dataclasses.replace(default_services(settings()), roles_of=lambda uow, user_id: account_roles,
                                       validate_form=_validator(form, actor.user_id, None, exceptions))
        g.api.details["task_id"] = task_id
    else:
        if "tasks:complete-human" not in who.scopes:
            raise ScopeRefused("completing a person's task needs the scope tasks:complete-human", "Authorization")
        signer = body.get("signer")
        if signer is None:
            raise BodyInvalid(f"task {document['bpmn_id']!r} is a person's task (lane {document['lane']}): it is "
                              "completed only with that person's own credentials in 'signer' (Part 11: a system "
                              "account never signs for a person)", "/signer")
        # the credential work (one argon2id derivation per person) before any write transaction opens
        checked = _precheck(signer, signing=bool(form.meanings))
        person = _authenticate_person(signer, needs_totp=not form.meanings, task_id=task_id, checked=checked)
        actor = Actor(person.user_id, person.printed_name)
        verifier = body.get("verifier")
        credentials = {"password": signer["password"], "totp": signer["totp"], "prechecked": checked.prechecked}
        signatures = [SignatureInput(meaning, person.user_id, credentials) for meaning in form.meanings]
        if form.verifier_meaning and verifier:
            second = _precheck(verifier, signing=True)
            signatures.append(SignatureInput(form.verifier_meaning, verifier["user_id"], {
                "password": verifier["password"], "totp": verifier["totp"], "prechecked": second.prechecked}))
        services = dataclasses.replace(default_services(settings()), validate_form=_validator(
            form, person.user_id, verifier["user_id"] if verifier else None, exceptions))
        g.api.details.update(task_id=task_id, person=person.user_id)
    with unit_of_work(actor) as uow:
        before = ready_task_ids(uow.session, form.instance_id)
        completion = engine_complete(uow, task_id, data, signatures, services=services, settings=settings())
        _notify(uow, form.instance_title, [t for t in completion.ready if t not in before])
        ready, _ = _ready_tasks(uow.session, instance_id=form.instance_id)
        result = {"task_id": task_id, "instance_id": completion.instance_id,
                  "instance_status": completion.instance_status, "completed_by": actor.user_id,
                  "signatures": [dataclasses.asdict(s) for s in completion.signatures]}
        ack = acknowledge(uow, 200, result)
        uow.commit()
    return 200, result | {"ready_tasks": ready, "acknowledgement": ack}


def _precheck(person: dict[str, Any], *, signing: bool) -> Any:
    """The person's credentials with the expensive check done now, before the write transaction
    (signatures.precheck): the unwrap of their signing key when they sign (it proves the password
    too, so the same derivation serves the check below and the ceremony), else the password hash."""
    from signatures.credentials import Credentials
    from signatures.precheck import precheck_login, precheck_signing

    credentials = Credentials(person["user_id"], person["password"], person.get("totp") or None)
    return precheck_signing(database(), credentials) if signing else precheck_login(database(), credentials)


def _authenticate_person(signer: dict[str, Any], *, needs_totp: bool, task_id: str, checked: Any) -> Any:
    """The person whose credentials came with the request, checked before anything is attributed to them.

    Without a signature on the task, this is the whole check (user ID, password, TOTP, as a
    sign-in); with one, the password is checked here and the signing ceremony checks every
    component again (a TOTP code is accepted only once). `checked` (from `_precheck`) carries the
    outcome of the derivation: neither check derives again while the key or hash is unchanged."""
    from signatures.credentials import authenticate
    from signatures.precheck import KeyUnlock

    with unit_of_work() as uow:
        password_check = KeyUnlock(uow.session, checked) if not needs_totp else None
        person = authenticate(uow, signer["user_id"], signer["password"], signer["totp"] if needs_totp else None,
                              settings(), action="api.person_refused", require_totp=needs_totp,
                              details={"task_id": task_id, "via": g.api.holder.account_id},
                              prechecked=checked.prechecked if needs_totp else None, password_check=password_check)
        found = SimpleNamespace(user_id=person.user_id, printed_name=person.printed_name)
        uow.commit()
    return found


# ---------------------------------------------------------------- messages
@operation(bp, "POST", "/messages", summary="Send a message", tag="Messages", body=S.SEND_MESSAGE,
           description="Delivers a BPMN message to the one running instance that waits for it and matches the "
                       "correlation, or starts the approved process whose message start event catches it. Refused "
                       "(409, nothing changed) when no instance or several match.",
           replies={200: Reply("Delivered or started; the acknowledgement.", S.DELIVERED)},
           errors=(400, 401, 403, 409, 415, 422))
def send_message(params: dict[str, Any], body: dict[str, Any]) -> tuple[int, Any]:
    from engine.inbound import receive_message

    with unit_of_work(holder().actor) as uow:
        delivery = receive_message(uow, body["name"], body["correlation"], body.get("payload") or {},
                                   settings=settings())
        result = {"name": delivery.name, "outcome": delivery.outcome, "instance_id": delivery.instance_id}
        g.api.details.update(message=delivery.name, instance_id=delivery.instance_id)
        ack = acknowledge(uow, 200, result)
        uow.commit()
    return 200, result | {"acknowledgement": ack}


# ---------------------------------------------------------------- records
def _record(instance_id: int) -> dict[str, Any]:
    from core import clock
    from web.records import build_record

    with database().read_session() as session:
        record = build_record(session, instance_id)
    record["exported_at"] = clock.isoformat(clock.now())
    return record


@operation(bp, "GET", "/records/{instance_id}", summary="Read a record (JSON)", tag="Records", params=[INSTANCE_ID],
           description="The complete record of an instance (P11-10b), as JSON.",
           replies={200: Reply("The record.", S.RECORD)}, errors=(401, 403, 404, 422))
def record_json(params: dict[str, Any], body: Any) -> tuple[int, Any]:
    return 200, _record(params["instance_id"])


@operation(bp, "GET", "/records/{instance_id}/pdf", summary="Read a record (PDF)", tag="Records",
           params=[INSTANCE_ID], description="The same record as a PDF/A-3b document (English and Chinese).",
           replies={200: Reply("The PDF.", None, "application/pdf")}, errors=(401, 403, 404, 422))
def record_pdf(params: dict[str, Any], body: Any) -> Response:
    from audit.pdf import html_document, render_pdf

    record = _record(params["instance_id"])
    html = render_template("records/record_pdf.html", record=record)
    pdf = render_pdf(html_document(f"Record of {record['instance']['title'] or params['instance_id']}", html,
                                   lang="zh-CN"))
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="record-{params["instance_id"]}.pdf"'})


# ---------------------------------------------------------------- master data
RESOURCE = Param("resource", "path", {"type": "string", "pattern": "^[a-z][a-z0-9-]{1,63}$"},
                 "The master-data resource.", required=True)


def _resource(name: str) -> Any:
    from web.api.resources import resource_named

    found = resource_named(name)
    if found is None:
        from web.api.resources import resources

        raise ApiNotFound(f"no master-data resource {name!r}: expected one of "
                          f"{', '.join(r.name for r in resources())}", "resource")
    return found


@operation(bp, "GET", "/masterdata", summary="List master-data resources", tag="Master data",
           replies={200: Reply("The resources.", S.RESOURCE_LIST)}, errors=(401, 403, 422))
def masterdata_index(params: dict[str, Any], body: Any) -> tuple[int, Any]:
    from flask import url_for

    from web.api.resources import resources

    return 200, {"resources": [{"name": r.name, "title": r.title, "description": r.description,
                                "href": url_for("api.masterdata_list", resource=r.name)} for r in resources()]}


@operation(bp, "GET", "/masterdata/{resource}", summary="List master data", tag="Master data",
           params=[RESOURCE, Param("after", "query", {"type": "string", "minLength": 1, "maxLength": 200},
                                   "`next` of the previous page."), LIMIT],
           replies={200: Reply("A page of items.", S.page_of({"type": "object"}))}, errors=(401, 403, 404, 422))
def masterdata_list(params: dict[str, Any], body: Any) -> tuple[int, Any]:
    resource = _resource(params["resource"])
    with database().read_session() as session:
        items, following = resource.page(session, params.get("after"), params.get("limit", 50))
    return 200, {"items": items, "next": following}


@operation(bp, "GET", "/masterdata/{resource}/{key}", summary="Read one master-data item", tag="Master data",
           params=[RESOURCE, Param("key", "path", {"type": "string", "minLength": 1, "maxLength": 200},
                                   "The item's key.", required=True)],
           replies={200: Reply("The item.", {"type": "object"})}, errors=(401, 403, 404, 422))
def masterdata_item(params: dict[str, Any], body: Any) -> tuple[int, Any]:
    resource = _resource(params["resource"])
    with database().read_session() as session:
        item = resource.get(session, params["key"])
    if item is None:
        raise ApiNotFound(f"no {resource.title.lower()} item {params['key']!r}", "key")
    return 200, item


# ---------------------------------------------------------------- audit trail
AUDIT_FILTERS = [
    Param("object_type", "query", {"type": "string", "minLength": 1, "maxLength": 80, "pattern": "^[a-z_]+$"}),
    Param("object_id", "query", {"type": "string", "minLength": 1, "maxLength": 200, "pattern": S.TEXT_LINE},
          "Needs object_type."),
    Param("actor", "query", {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[a-z][a-z0-9._:-]*$"},
          "Actor ID (a user ID, or system:<account> for a system account)."),
    Param("action", "query", {"type": "string", "minLength": 1, "maxLength": 80, "pattern": "^[a-z_.]+$"},
          "An action, or its prefix (task. for every task action)."),
]


def _audit_filter(params: dict[str, Any], since: Any = None, until: Any = None) -> Any:
    from audit.errors import AuditError
    from audit.export import ExportFilter

    try:
        return ExportFilter(object_type=params.get("object_type"),
                            object_ids=(params["object_id"],) if "object_id" in params else (),
                            actor_id=params.get("actor"), action_prefix=params.get("action"), since=since, until=until)
    except AuditError as exc:
        raise BodyInvalid(str(exc), "object_id" if "object" in str(exc) else "since") from exc


@operation(bp, "GET", "/audit-trail/entries", summary="Read audit-trail entries", tag="Audit trail",
           description="Entries in sequence order after `after_seq`, for incremental collection; each with its "
                       "chain hashes (verify the whole chain with an export).",
           params=[Param("after_seq", "query", {"type": "integer", "minimum": 0, "maximum": 2**53}), *AUDIT_FILTERS,
                   LIMIT],
           replies={200: Reply("A page of entries.", S.page_of(S.AUDIT_ENTRY))}, errors=READ_ERRORS)
def audit_entries(params: dict[str, Any], body: Any) -> tuple[int, Any]:
    from audit.models import AuditEntry

    limit = params.get("limit", 50)
    query = _audit_filter(params).where(select(AuditEntry)).where(AuditEntry.seq > params.get("after_seq", 0))
    with database().read_session() as session:
        rows = list(session.execute(query.order_by(AuditEntry.seq).limit(limit + 1)).scalars())
    items = [{"seq": r.seq, "ts": r.ts, "actor_id": r.actor_id, "actor_name": r.actor_name, "action": r.action,
              "object_type": r.object_type, "object_id": r.object_id, "changes": json.loads(r.changes or "[]"),
              "reason": r.reason, "details": json.loads(r.details or "{}"), "prev_hash": r.prev_hash,
              "entry_hash": r.entry_hash} for r in rows[:limit]]
    return 200, {"items": items, "next": str(rows[limit - 1].seq) if len(rows) > limit else None}


@operation(bp, "GET", "/audit-trail/export", summary="Export the audit trail", tag="Audit trail",
           description="The verifiable JSONL export (docs/audit-export-format.md; check it offline with "
                       "`gmp audit verify-export`) or CSV, filtered like the auditor's page.",
           params=[Param("format", "query", {"type": "string", "enum": ["jsonl", "csv"], "default": "jsonl"}),
                   Param("since", "query", {"type": "string", "format": "date-time"}, "Inclusive, with time zone."),
                   Param("until", "query", {"type": "string", "format": "date-time"}, "Exclusive, with time zone."),
                   *AUDIT_FILTERS],
           replies={200: Reply("The export file.", None, "application/x-ndjson")}, errors=READ_ERRORS)
def audit_export(params: dict[str, Any], body: Any) -> Response:
    import shutil
    import tempfile
    from datetime import datetime
    from pathlib import Path

    from audit.errors import AuditError
    from audit.export import export

    moments = {}
    for name in ("since", "until"):
        if name in params:
            try:
                moments[name] = datetime.fromisoformat(params[name].replace("Z", "+00:00"))
            except ValueError as exc:
                raise BodyInvalid(f"{name} must be an ISO 8601 time with time zone", name) from exc
            if moments[name].tzinfo is None:
                raise BodyInvalid(f"{name} must carry a time zone (e.g. 2026-01-05T08:00:00Z)", name)
    flt = _audit_filter(params, moments.get("since"), moments.get("until"))
    fmt = params.get("format", "jsonl")
    folder = Path(tempfile.mkdtemp(prefix="gmp-api-export-"))
    try:
        out = folder / f"audit-trail.{fmt}"
        try:
            export(database(), settings(), fmt, out, flt)
        except AuditError as exc:
            raise BodyInvalid(str(exc), "since") from exc
        data = out.read_bytes()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    mime = {"jsonl": "application/x-ndjson", "csv": "text/csv"}[fmt]
    return Response(data, mimetype=mime, headers={"Content-Disposition": f'attachment; filename="{out.name}"'})


# ---------------------------------------------------------------- acknowledgements
@operation(bp, "GET", "/acknowledgements/{ack_id}", summary="Read an acknowledgement", tag="Acknowledgements",
           params=[Param("ack_id", "path", {"type": "string", "pattern": "^[0-9a-f-]{36}$"}, required=True)],
           description="The acknowledgement of one of this account's requests: what was received (its SHA-256), "
                       "when, and whether it was accepted or refused.",
           replies={200: Reply("The acknowledgement.", S.ACKNOWLEDGEMENT)}, errors=(401, 404, 422))
def read_acknowledgement(params: dict[str, Any], body: Any) -> tuple[int, Any]:
    from web.api.models import Acknowledgement

    with database().read_session() as session:
        row = session.get(Acknowledgement, params["ack_id"])
        if row is None or row.account_id != holder().account_id:
            raise ApiNotFound(f"no acknowledgement {params['ack_id']} for this account", "ack_id")
        return 200, ack_document(row)


@operation(bp, "GET", "/acknowledgements", summary="Find acknowledgements", tag="Acknowledgements",
           description="This account's acknowledgements, newest first; `client_reference` finds the one of a "
                       "request sent with that `X-Request-Id` (was it received?).",
           params=[Param("client_reference", "query", {"type": "string", "pattern": "^[\\x21-\\x7e]{1,200}$"}),
                   Param("after", "query", {"type": "string", "pattern": "^[0-9TZ:.-]{20,27}\\|[0-9a-f-]{36}$"},
                         "`next` of the previous page."), LIMIT],
           replies={200: Reply("A page of acknowledgements.", S.page_of(S.ACKNOWLEDGEMENT))}, errors=(401, 422))
def list_acknowledgements(params: dict[str, Any], body: Any) -> tuple[int, Any]:
    from web.api.models import Acknowledgement

    limit = params.get("limit", 50)
    query = (select(Acknowledgement).where(Acknowledgement.account_id == holder().account_id)
             .order_by(Acknowledgement.received_at.desc(), Acknowledgement.ack_id.desc()))
    if "client_reference" in params:
        query = query.where(Acknowledgement.client_reference == params["client_reference"])
    if "after" in params:
        at, _, ack_id = params["after"].partition("|")
        query = query.where(or_(Acknowledgement.received_at < at,
                                and_(Acknowledgement.received_at == at, Acknowledgement.ack_id < ack_id)))
    with database().read_session() as session:
        rows = list(session.execute(query.limit(limit + 1)).scalars())
    last = rows[limit - 1] if len(rows) > limit else None
    return 200, {"items": [ack_document(r) for r in rows[:limit]],
                 "next": f"{last.received_at}|{last.ack_id}" if last is not None else None}


# ---------------------------------------------------------------- the description
@bp.get("/openapi.json")
def openapi():  # type: ignore[no-untyped-def]
    from web.api.openapi import document

    return json_response(200, document())


@bp.get("/docs")
def docs():  # type: ignore[no-untyped-def]
    from web.api.openapi import document, prose, reference_view

    return render_template("api/docs.html", view=reference_view(document()), prose=prose)


@bp.after_request
def finish(response: Response) -> Response:
    """Record the call (reads) and send the body's SHA-256, so the receiver can check it too."""
    record_read(response)
    if not response.direct_passthrough and response.status_code != 304:
        response.headers["Content-Digest"] = content_digest(response.get_data())
    return response


__all__ = ["bp", "JSON"]
