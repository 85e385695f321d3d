"""The training process's service operators (registered by bpmn.training.install):

    training.plan           the curriculum from the start data (contract: {"training": {"trainee",
                            "documents": [{"code", "version"}], "trigger", "reason"}}), or, without
                            documents, from the training matrix for `role` (or the trainee's roles)
    training.prepare_exam   a paper drawn from the document version's question bank (bpmn.training.exam)
    training.grade_exam     the submitted answers graded on the server against that bank
    training.grant          the qualifications, on the approver's signature of the approval step
                            (masterdata.qualifications.grant_on_signature), with their validity

A refusal is an `OperatorFailed` with a code, worded for the person who started the training:
a start with bad data fails and nothing is stored.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from typing import Any, Mapping

from dateutil.relativedelta import relativedelta
from sqlalchemy import select

from bpmn.training import exam
from core import clock
from engine.errors import OperatorFailed
from engine.operators import Param
from masterdata import changes
from masterdata.errors import ChangeError, RecordNotFound
from masterdata.question_bank import bank_of, question_bank

TRIGGERS = ("new_user", "role_granted", "document_effective", "capa", "requalification", "manual")
REQUALIFY_DAYS_BEFORE = 30
APPROVAL_TASK = "approve"


def _session(ctx: Any) -> Any:
    return ctx.uow.session


def matrix_documents(session: Any, roles: Any) -> list[str]:
    """The SOP ids the training matrix in force requires of `roles`, in matrix order, once each."""
    found: list[str] = []
    for role in roles:
        entry = changes.effective(session, "training_matrix", str(role))
        for sop in (entry.data.get("sops") or []) if entry is not None else []:
            if sop not in found:
                found.append(sop)
    return found


def plan(ctx: Any, training: Any) -> dict[str, Any]:
    from signatures.accounts import roles_of
    from signatures.models import UserAccount

    session = _session(ctx)
    if not isinstance(training, Mapping):
        raise OperatorFailed("invalid_start", "a training starts with {'training': {'trainee': ..., 'documents': "
                                              "[{'code': ..., 'version': ...}], 'trigger': ...}}")
    trainee = str(training.get("trainee") or "").strip()
    user = session.get(UserAccount, trainee) if trainee else None
    if user is None:
        raise OperatorFailed("unknown_trainee", f"no user {trainee!r}: a training is for a person with an account",
                             {"trainee": trainee})
    if user.status == "deactivated":
        raise OperatorFailed("unknown_trainee", f"user {trainee} is deactivated: no training is planned",
                             {"trainee": trainee})
    trigger = str(training.get("trigger") or "manual")
    if trigger not in TRIGGERS:
        raise OperatorFailed("invalid_start", f"trigger {trigger!r} is not one of {', '.join(TRIGGERS)}")
    listed = training.get("documents")
    if listed is None:
        role = training.get("role")
        roles = [role] if isinstance(role, str) and role else sorted(roles_of(session, trainee))
        listed = [{"code": code} for code in matrix_documents(session, roles)]
    if not isinstance(listed, list):
        raise OperatorFailed("invalid_start", "documents must be a list of {'code': ..., 'version': ...}")
    documents: list[dict[str, Any]] = []
    for number, item in enumerate(listed, start=1):
        if not isinstance(item, Mapping) or not isinstance(item.get("code"), str) or not item["code"].strip():
            raise OperatorFailed("invalid_start", f"document {number}: give its code (and version)")
        version = item.get("version")
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
            raise OperatorFailed("invalid_start", f"document {item['code']}: version {version!r} is not a whole "
                                                  "number")
        try:
            bank = question_bank(session, item["code"].strip(), version)
        except RecordNotFound as exc:
            raise OperatorFailed("unknown_document", str(exc), {"code": item["code"], "version": version}) from exc
        if any(d["code"] == bank.code for d in documents):
            continue
        documents.append({"code": bank.code, "version": bank.version, "title": bank.title, "title_zh": bank.title_zh,
                          "type": bank.type, "exam": bank.has_exam, "questions": len(bank.questions),
                          "pass_mark_pct": bank.pass_mark_pct, "max_attempts": bank.max_attempts,
                          "practical": bank.practical})
    if not documents:
        raise OperatorFailed("nothing_to_train", f"nothing to train {trainee} on: no documents were named and the "
                                                 "training matrix requires none of the roles", {"trainee": trainee})
    return {"trainee": trainee, "trainee_name": user.printed_name, "trigger": trigger,
            "reason": str(training.get("reason") or "")[:500], "role": training.get("role"),
            "capa": training.get("capa"), "documents": documents}


def prepare_exam(ctx: Any, document: Any, attempt: Any = 1) -> dict[str, Any]:
    if not isinstance(document, Mapping):
        raise OperatorFailed("invalid_document", "no document to examine")
    bank = question_bank(_session(ctx), str(document.get("code")), document.get("version"))
    if not bank.has_exam:
        raise OperatorFailed("no_exam", f"{bank.code} v{bank.version} has no question bank")
    return exam.draw_paper(bank, int(attempt or 1))


def paper_bank(session: Any, paper: Mapping[str, Any]) -> Any:
    try:
        change = changes.get_change(session, int(paper.get("change_id") or 0))
    except (ChangeError, TypeError, ValueError) as exc:
        raise OperatorFailed("invalid_paper", f"the exam paper's question bank cannot be read: {exc}") from exc
    if change.kind != "document" or change.key != paper.get("code"):
        raise OperatorFailed("invalid_paper", "the exam paper does not match its question bank")
    return bank_of(change.key, change.data, change.id)


def grade_exam(ctx: Any, paper: Any, answers: Any = None) -> dict[str, Any]:
    if not isinstance(paper, Mapping):
        raise OperatorFailed("invalid_paper", "no exam paper to grade")
    result = exam.grade(paper_bank(_session(ctx), paper), paper, answers)
    result["graded_at"] = clock.isoformat(clock.now())
    result["trainee"] = ctx.uow.actor.user_id
    return result


def _approval_signature(ctx: Any) -> str:
    from engine.models import InstanceTask
    from signatures.models import Signature

    session = _session(ctx)
    task_ids = list(session.scalars(select(InstanceTask.id).where(InstanceTask.instance_id == int(ctx.instance_id),
                                                                  InstanceTask.bpmn_id == APPROVAL_TASK)))
    found = session.scalars(select(Signature.seq).where(
        Signature.record_type == "task", Signature.record_id.in_(task_ids), Signature.meaning == "approved",
        Signature.signer_id == ctx.uow.actor.user_id).order_by(Signature.seq.desc())).first()
    if found is None:
        raise OperatorFailed("not_approved", "the qualification is granted on the approver's signature of the "
                                             "approval step, and there is none")
    return str(found)


def grant(ctx: Any, curriculum: Any, validity_months: Any = 12) -> dict[str, Any]:
    from masterdata.qualifications import grant_on_signature

    if not isinstance(curriculum, Mapping) or not curriculum.get("documents"):
        raise OperatorFailed("invalid_curriculum", "no curriculum to grant qualifications on")
    months = int(validity_months or 12)
    today = clock.now().date()
    valid_until = today + relativedelta(months=months)
    due = datetime.combine(valid_until - timedelta(days=REQUALIFY_DAYS_BEFORE), time(0, 0), timezone.utc)
    signature_id = _approval_signature(ctx)
    granted = []
    for document in curriculum["documents"]:
        found = grant_on_signature(
            ctx.uow, curriculum["trainee"], document["code"], int(document["version"]),
            basis=f"training {ctx.instance_id}: read and understood"
                  + (", exam passed" if document.get("exam") else "")
                  + (", practical assessment passed" if document.get("practical") else ""),
            signature_id=signature_id, settings=ctx.settings, valid_until=valid_until,
            source=f"process_instance/{ctx.instance_id}")
        granted.append({"id": found.id, "sop": found.sop, "version": found.version, "valid_until": found.valid_until})
    return {"signature_id": signature_id, "valid_until": valid_until.isoformat(),
            "requalification_due": clock.isoformat(max(due, clock.now())), "qualifications": granted}


def register(registry: Any) -> None:
    """Add the training operators to an operator registry (idempotent)."""
    specs = (
        ("training.plan", plan, (Param("training", "any", description="the start data's training"),),
         "Plan a training: the trainee and the documents (from the start data or the training matrix).",
         ("invalid_start", "unknown_trainee", "unknown_document", "nothing_to_train")),
        ("training.prepare_exam", prepare_exam, (Param("document", "dict"), Param("attempt", "int", required=False)),
         "Draw an exam paper from a document version's question bank (questions and choices shuffled).",
         ("invalid_document", "no_exam")),
        ("training.grade_exam", grade_exam, (Param("paper", "dict"), Param("answers", "any", required=False)),
         "Grade the trainee's answers on the server against the paper's question bank.", ("invalid_paper",)),
        ("training.grant", grant, (Param("curriculum", "dict"), Param("validity_months", "int", required=False)),
         "Grant the qualifications of the curriculum on the approver's signature, with their validity.",
         ("invalid_curriculum", "not_approved")),
    )
    for name, function, params, description, codes in specs:
        if name not in registry:
            registry.register(name, function, params, description=description, error_codes=codes)
