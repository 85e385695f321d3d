"""The deviation process's own checks: who may take a task, and the data of each step.

Gates (engine.gates), each refusing with a code and parameters (English templates marked for
the catalogues, worded for the reader by the web interface):

    deviation.owner         the task property `deviation.owner` names the data field holding the
                            user id of the one person who takes the task (the investigation owner,
                            a CAPA action's owner): anybody else is refused at claim, open and
                            completion
    deviation.triage        at completion: the investigation owner is an active user holding the
                            investigator role, the due date is today or later, each affected batch
                            names an instance that exists
    deviation.investigation at completion: one product impact assessment per batch the deviation
                            concerns, and none for a batch it does not
    deviation.capa          at completion: each action's owner is an active investigator, its due
                            date today or later; a document revision names the document, a
                            retraining its trainee (an active user) and the document version
    deviation.action        at completion: the document revision or retraining the action started
                            is no longer running
    deviation.closure       at completion: a disposition (release or reject) for every batch the
                            deviation concerns, and none for another

The checks read the master data and the links only; they change nothing.
"""
from __future__ import annotations

from datetime import date
from typing import Any, Mapping

from sqlalchemy.orm import Session

from core import clock
from engine.errors import BusinessKeyError, InstanceNotFound
from engine.gates import Gate, GateContext
from engine.properties import TaskProperty
from forms.errors import N_

OWNER_GATE = "deviation.owner"
OWNER_PROPERTY = "deviation.owner"
INVESTIGATOR_ROLE = "investigator"
BATCH_PROCESS = "batch_record"
ACTION_STARTS = ("none", "document_revision", "retraining")

OWNER_CODES = {
    "not_owner": N_("'%(task)s' is assigned to %(owner)s: only they may take it"),
    "no_owner": N_("'%(task)s' names nobody in %(field)s to take it: QA must assign it"),
}
TRIAGE_CODES = {
    "unknown_owner": N_("the investigation owner %(owner)s is not a user of this system"),
    "owner_inactive": N_("the investigation owner %(owner)s cannot work on tasks (account %(status)s)"),
    "owner_not_investigator": N_("the investigation owner %(owner)s does not hold the investigator role"),
    "due_in_past": N_("the due date %(due)s is in the past (today is %(today)s)"),
    "bad_date": N_("%(value)s is not a date (YYYY-MM-DD)"),
    "unknown_batch": N_("batch %(batch)s is not known: give its batch number (e.g. B-2026-0001) or its record "
                        "number (#12)"),
}
INVESTIGATION_CODES = {
    "impact_missing": N_("the product impact on batch %(batch)s is not assessed"),
    "impact_not_linked": N_("batch %(batch)s is not concerned by this deviation: assess only %(batches)s"),
    "impact_twice": N_("batch %(batch)s is assessed twice"),
}
CAPA_CODES = {
    "unknown_owner": N_("action %(row)s: the owner %(owner)s is not a user of this system"),
    "owner_inactive": N_("action %(row)s: the owner %(owner)s cannot work on tasks (account %(status)s)"),
    "owner_not_investigator": N_("action %(row)s: the owner %(owner)s does not hold the investigator role"),
    "due_in_past": N_("action %(row)s: the due date %(due)s is in the past (today is %(today)s)"),
    "bad_date": N_("action %(row)s: %(value)s is not a date (YYYY-MM-DD)"),
    "document_missing": N_("action %(row)s: a document revision or retraining names the document (code)"),
    "version_missing": N_("action %(row)s: a retraining names the document version the trainee is trained on"),
    "trainee_missing": N_("action %(row)s: a retraining names its trainee"),
    "unknown_trainee": N_("action %(row)s: the trainee %(trainee)s is not a user of this system"),
    "revision_process_missing": N_("action %(row)s: a document revision needs the document lifecycle process, "
                                   "which has no approved version on this system"),
    "training_process_missing": N_("action %(row)s: a retraining needs the training process, which has no approved "
                                   "version on this system"),
}
ACTION_CODES = {
    "revision_open": N_("the document revision %(reference)s this action started is still open: complete it first"),
    "training_open": N_("the retraining %(reference)s this action started is still open: complete it first"),
}
CLOSURE_CODES = {
    "disposition_missing": N_("no disposition (release or reject) for batch %(batch)s"),
    "disposition_not_linked": N_("batch %(batch)s is not concerned by this deviation: decide only on %(batches)s"),
    "disposition_twice": N_("batch %(batch)s has two dispositions"),
}


def _value_at(data: Mapping[str, Any], path: str) -> Any:
    current: Any = data
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return current


def _data(ctx: GateContext) -> dict[str, Any]:
    return {**dict(ctx.instance_data), **dict(ctx.data)}


def today() -> date:
    return clock.now().date()


def parse_date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value).strip()[:10]) if value not in (None, "") else None
    except ValueError:
        return None


def _owner(ctx: GateContext) -> None:
    field = (ctx.properties.get(OWNER_PROPERTY) or "").strip()
    owner = _value_at(_data(ctx), field) if field else None
    text = str(owner).strip() if owner is not None else ""
    if not text:
        raise ctx.refuse("no_owner", field=field or "?")
    if text != ctx.user_id:
        raise ctx.refuse("not_owner", owner=text)


# ---------------------------------------------------------------- people, dates, batches
def person_problem(session: Session, user_id: Any, role: str | None) -> tuple[str, dict[str, Any]] | None:
    """(code, params) when `user_id` is not an active user holding `role`; None when they are."""
    from signatures.accounts import roles_of
    from signatures.models import UserAccount

    text = str(user_id or "").strip()
    account = session.get(UserAccount, text) if text else None
    if account is None:
        return "unknown_owner", {"owner": text or "-"}
    if account.status != "active":
        return "owner_inactive", {"owner": text, "status": account.status}
    if role is not None and role not in roles_of(session, text):
        return "owner_not_investigator", {"owner": text}
    return None


def due_problem(value: Any) -> tuple[str, dict[str, Any]] | None:
    due = parse_date(value)
    if due is None:
        return "bad_date", {"value": value if value not in (None, "") else "-"}
    if due < today():
        return "due_in_past", {"due": due.isoformat(), "today": today().isoformat()}
    return None


def resolve_batch(session: Session, reference: Any) -> int:
    """The instance a batch reference names: a batch record's number (B-2026-0001), else any
    instance reference (#12, PROCESS:KEY, a business key). InstanceNotFound / BusinessKeyError."""
    from engine.business_keys import find, instance_by_reference

    text = str(reference or "").strip()
    found = find(session, BATCH_PROCESS, text) if text else None
    return found if found is not None else instance_by_reference(session, text)


def concerned_batches(session: Session, deviation_id: int) -> dict[int, str]:
    """The instances this deviation concerns (raised from, affects): instance id -> how people name it."""
    from engine.links import related

    found: dict[int, str] = {}
    for item in related(session, deviation_id, relation=("raised_from", "affects")):
        found.setdefault(item.instance_id, item.business_key or f"#{item.instance_id}")
    return found


def _rows(value: Any) -> list[Mapping[str, Any]]:
    return [row for row in value if isinstance(row, Mapping)] if isinstance(value, list) else []


def _batch_rows(ctx: GateContext, rows: list[Mapping[str, Any]], codes: tuple[str, str, str]) -> None:
    """Each concerned batch exactly once in `rows` (by their `batch` column)."""
    session = ctx.uow.session
    concerned = concerned_batches(session, ctx.instance_id)
    names = ", ".join(sorted(concerned.values())) or "-"
    missing_code, not_linked_code, twice_code = codes
    seen: set[int] = set()
    for row in rows:
        reference = str(row.get("batch") or "").strip()
        try:
            instance_id = resolve_batch(session, reference)
        except (InstanceNotFound, BusinessKeyError):
            raise ctx.refuse(not_linked_code, batch=reference or "-", batches=names) from None
        if instance_id not in concerned:
            raise ctx.refuse(not_linked_code, batch=reference, batches=names)
        if instance_id in seen:
            raise ctx.refuse(twice_code, batch=reference)
        seen.add(instance_id)
    for instance_id, name in sorted(concerned.items()):
        if instance_id not in seen:
            raise ctx.refuse(missing_code, batch=name)


# ---------------------------------------------------------------- the step checks
def _triage(ctx: GateContext) -> None:
    data = ctx.data
    session = ctx.uow.session
    problem = person_problem(session, data.get("investigation_owner"), INVESTIGATOR_ROLE) \
        or due_problem(data.get("investigation_due"))
    if problem:
        raise ctx.refuse(problem[0], **problem[1])
    for row in data.get("affected_batches") or []:
        reference = row.get("batch") if isinstance(row, Mapping) else row
        try:
            resolve_batch(session, reference)
        except (InstanceNotFound, BusinessKeyError) as exc:
            raise ctx.refuse("unknown_batch", batch=str(reference), detail=str(exc)) from None


def _investigation(ctx: GateContext) -> None:
    _batch_rows(ctx, _rows(ctx.data.get("product_impact")), ("impact_missing", "impact_not_linked", "impact_twice"))


def _capa(ctx: GateContext) -> None:
    session = ctx.uow.session
    for number, action in enumerate(_rows(ctx.data.get("actions")), start=1):
        problem = person_problem(session, action.get("owner"), INVESTIGATOR_ROLE) or due_problem(action.get("due"))
        if problem:
            raise ctx.refuse(problem[0], row=number, **problem[1])
        starts = action.get("starts") or "none"
        if starts != "none" and not str(action.get("document") or "").strip():
            raise ctx.refuse("document_missing", row=number)
        if starts == "retraining":
            trainee = str(action.get("trainee") or "").strip()
            if not trainee:
                raise ctx.refuse("trainee_missing", row=number)
            if person_problem(session, trainee, None):
                raise ctx.refuse("unknown_trainee", row=number, trainee=trainee)
            if action.get("document_version") in (None, ""):
                raise ctx.refuse("version_missing", row=number)
        if starts in PROCESS_OF and not _approved(session, PROCESS_OF[starts]):
            raise ctx.refuse("revision_process_missing" if starts == "document_revision" else
                             "training_process_missing", row=number)


PROCESS_OF = {"document_revision": "document_lifecycle", "retraining": "training"}


def _approved(session: Session, process_key: str) -> bool:
    from sqlalchemy import select

    from engine.models import ProcessDefinition, ProcessDefinitionVersion

    return session.execute(select(ProcessDefinitionVersion.id)
                           .join(ProcessDefinition, ProcessDefinition.id == ProcessDefinitionVersion.definition_id)
                           .where(ProcessDefinition.key == process_key, ProcessDefinitionVersion.status == "approved")
                           ).first() is not None


def _action(ctx: GateContext) -> None:
    from engine.business_keys import key_of
    from engine.models import ProcessInstance

    action = _data(ctx).get("action")
    linked = action.get("linked") if isinstance(action, Mapping) else None
    if not isinstance(linked, Mapping) or not linked.get("instance_id"):
        return
    instance = ctx.uow.session.get(ProcessInstance, int(linked["instance_id"]))
    if instance is not None and instance.status in ("running", "error"):
        reference = key_of(ctx.uow.session, instance.id) or f"#{instance.id}"
        code = "revision_open" if linked.get("process") == "document_lifecycle" else "training_open"
        raise ctx.refuse(code, reference=reference)


def _closure(ctx: GateContext) -> None:
    _batch_rows(ctx, _rows(ctx.data.get("dispositions")),
                ("disposition_missing", "disposition_not_linked", "disposition_twice"))


PROPERTIES: tuple[TaskProperty, ...] = (
    TaskProperty(OWNER_PROPERTY, "the data field holding the user id of the one person who takes the task "
                 "(e.g. investigation_owner, action.owner)", gates=(OWNER_GATE,),
                 label_en="Owner (data field)", label_zh="负责人（数据字段）"),
)

GATES: tuple[Gate, ...] = (
    Gate(OWNER_GATE, _owner, codes=OWNER_CODES, consumes=(OWNER_PROPERTY,),
         description="only the person named in the task's owner field takes it"),
    Gate("deviation.triage", _triage, codes=TRIAGE_CODES, stages=("complete",),
         description="deviation triage: owner, due date and affected batches exist"),
    Gate("deviation.investigation", _investigation, codes=INVESTIGATION_CODES, stages=("complete",),
         description="deviation investigation: product impact assessed for each concerned batch"),
    Gate("deviation.capa", _capa, codes=CAPA_CODES, stages=("complete",),
         description="CAPA plan: owners, due dates, documents and trainees of each action"),
    Gate("deviation.action", _action, codes=ACTION_CODES, stages=("complete",),
         description="CAPA action: the document revision or retraining it started is finished"),
    Gate("deviation.closure", _closure, codes=CLOSURE_CODES, stages=("complete",),
         description="deviation closure: a disposition for each concerned batch"),
)
