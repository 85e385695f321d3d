"""The operators of the document lifecycle and controlled copy diagrams (service tasks).

Each runs inside the step that reaches it, in that step's unit of work, as the person whose
completion led there (the author at submission, QA at approval; the scheduler at a timer).
They read the process data from `context.task_data` and return the value the diagram keeps
in the task's result variable. The document register (`document` kind) changes only here,
through the change-control primitive (masterdata.changes):

    submit              draft the register revision (the author drafts)
    send_back           withdraw that draft (a reviewer's comment or QA sent it back)
    approve             approve it with QA's approval signature, dated for the effective date
    postpone            move that date (training not complete), by QA's signed decision
    make_effective      settle the register on the date; the previous version's instance ends
                        as superseded
    draft_withdrawal / withdraw / keep   retire the document (obsolete) or keep it in force
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any, Mapping

from sqlalchemy import select

from core import clock
from engine.errors import OperatorFailed
from masterdata import changes, documents
from masterdata.changes import ChangeKind
from masterdata.errors import ChangeError, RecordInvalid, RecordStateError
from masterdata.kinds import DOCUMENT

PROCESS = "document_lifecycle"
TRAINING_PROCESS = "training"
SUPERSEDED_MESSAGE = "document_superseded"
WITHDRAWAL_MESSAGE = "document_withdrawal"
DEFAULT_REVIEW_MONTHS = 24
TRAINING_LEAD = timedelta(days=1)
CARRIED_FIELDS = ("questions", "pass_mark_pct", "max_attempts", "practical")


# ---------------------------------------------------------------- helpers
def _kind(context: Any) -> ChangeKind:
    runtime = getattr(context, "runtime", None)
    catalogue = getattr(runtime, "changes", None)
    if catalogue is not None and DOCUMENT.name in catalogue:
        return catalogue.get(DOCUMENT.name)
    return DOCUMENT


def _data(context: Any) -> Mapping[str, Any]:
    return context.task_data or {}


def _fail(code: str, message: str) -> OperatorFailed:
    return OperatorFailed(code, message)


def day_start(day: date) -> str:
    return clock.isoformat(datetime.combine(day, datetime.min.time(), tzinfo=timezone.utc))


def parse_day(value: Any, what: str) -> date:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise _fail("invalid_date", f"{what} {value!r} is not a date (2027-01-31)") from None


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise ValueError(day)


def next_version(session: Any, code: str) -> int:
    """One more than the highest version of `code` the register holds (decided revisions)."""
    versions = [int(c.data.get("version", 0)) for c in changes.history(session, DOCUMENT.name, code)
                if c.status in changes.IN_FORCE_STATUSES and c.action != "retire"]
    return max(versions, default=0) + 1


def signature_of(session: Any, instance_id: int, bpmn_id: str, meaning: str = "approved") -> Any:
    """The newest signature with `meaning` on a completion of task `bpmn_id` of the instance."""
    from engine.models import InstanceTask
    from signatures.models import Signature

    return session.scalar(select(Signature).join(InstanceTask, InstanceTask.id == Signature.record_id)
                          .where(Signature.record_type == "task", Signature.meaning == meaning,
                                 InstanceTask.instance_id == instance_id, InstanceTask.bpmn_id == bpmn_id)
                          .order_by(Signature.seq.desc()).limit(1))


def _key_of(session: Any, instance_id: int) -> str | None:
    from engine.business_keys import key_of

    return key_of(session, instance_id)


def _assign_key(uow: Any, instance_id: int, key: str) -> None:
    from engine.business_keys import assign, normalise
    from engine.models import ProcessDefinition, ProcessDefinitionVersion, ProcessInstance

    instance = uow.session.get(ProcessInstance, instance_id)
    version = uow.session.get(ProcessDefinitionVersion, instance.version_id)
    definition = uow.session.get(ProcessDefinition, version.definition_id)
    assign(uow, instance, definition, normalise(key))


def _free_key(session: Any, code: str, version: int) -> str:
    """CODE/VERSION, refused while another instance revises the document to that version."""
    from engine.business_keys import find

    key = f"{code}/{version}"
    holder = find(session, PROCESS, key)
    if holder is not None:
        raise _fail("revision_in_progress", f"{code} has a revision in progress: {key} (instance {holder})")
    return key


def _version_of(context: Any) -> tuple[str, int]:
    data = _data(context)
    submission = data.get("submission") or {}
    code, version = submission.get("code"), submission.get("version")
    if not code or not version:
        raise _fail("not_submitted", "the document version has not been submitted")
    return str(code), int(version)


def _change_id(data: Mapping[str, Any]) -> int:
    submission = data.get("submission") or {}
    return int(submission["change_id"])


def _review_due(effective_day: date, months: Any) -> str:
    return day_start(add_months(effective_day, int(months or DEFAULT_REVIEW_MONTHS)))


# ---------------------------------------------------------------- drafting and review
def identify(context: Any) -> dict[str, Any]:
    """The version this instance revises: from the start data {"document": {"code", "reason",
    "capa"}} (a CAPA action's start, or the Documents page), the next version number in the
    register; the instance's business key becomes CODE/VERSION."""
    uow = context.uow
    request = dict((_data(context).get("document") or {}))
    code = str(request.get("code") or "").strip()
    found: dict[str, Any] = {"code": code or None, "version": None, "reason": request.get("reason"),
                             "capa": request.get("capa"), "current": None}
    if not code:
        return found
    version = next_version(uow.session, code)
    current = changes.effective(uow.session, DOCUMENT.name, code)
    found.update(version=version, current=dict(current.data) if current else None)
    if _key_of(uow.session, context.instance_id) is None:
        _assign_key(uow, context.instance_id, _free_key(uow.session, code, version))
    if request.get("capa"):
        uow.audit("document.revision_requested", "process_instance", context.instance_id, reason=request.get("reason"),
                  details={"code": code, "version": version, "capa": request.get("capa")})
    return found


def reviewer_ids(text: Any) -> list[str]:
    seen: list[str] = []
    for part in str(text or "").replace(";", ",").split(","):
        name = part.strip()
        if name and name not in seen:
            seen.append(name)
    return seen


def document_data(data: Mapping[str, Any], version: int, sha256: str) -> dict[str, Any]:
    """The register revision the draft proposes."""
    content = {"code": str(data["code"]).strip(), "title": str(data["title"]).strip(), "type": data["type"],
               "version": version, "effective_date": str(data["effective_date"])[:10],
               "department": str(data.get("department") or "").strip(), "sha256": sha256}
    if str(data.get("title_zh") or "").strip():
        content["title_zh"] = str(data["title_zh"]).strip()
    if not content["department"]:
        del content["department"]
    return content


def submit(context: Any) -> dict[str, Any]:
    """The author submits the draft: the content file's SHA-256 is taken, the register
    revision drafted (by the author), the reviewers named."""
    uow = context.uow
    data = _data(context)
    request = data.get("request") or {}
    code = str(data.get("code") or "").strip()
    version = int(request.get("version") or 0) if request.get("code") == code else 0
    if not version:
        version = next_version(uow.session, code)
        key = _key_of(uow.session, context.instance_id)
        if key is None:
            _assign_key(uow, context.instance_id, _free_key(uow.session, code, version))
        elif key != f"{code}/{version}":
            raise _fail("wrong_document", f"this instance revises {key}, not {code}")
    content = documents.content_of(uow.session, code, version)
    if content is None:
        raise _fail("no_content", f"{code} v{version} has no content file")
    proposed = document_data(data, version, content.sha256)
    previous = changes.effective(uow.session, DOCUMENT.name, code)
    for name in CARRIED_FIELDS:  # the question bank travels with the document (training)
        if previous is not None and name in previous.data:
            proposed[name] = previous.data[name]
    action = "create" if changes.effective(uow.session, DOCUMENT.name, code) is None and not [
        c for c in changes.history(uow.session, DOCUMENT.name, code) if c.status in changes.IN_FORCE_STATUSES] \
        else "change"
    try:
        change = changes.draft(uow, None, _kind(context), code, proposed,
                               str(data.get("change_reason") or "revision"), action=action,
                               settings=context.settings)
    except ChangeError as exc:
        raise _fail("register_refused", str(exc)) from exc
    return {"code": code, "version": version, "change_id": change.id, "content_sha256": content.sha256,
            "content_file": content.file_name, "author": uow.actor.user_id,
            "reviewers": reviewer_ids(data.get("reviewers")), "review_months": int(data.get("review_months") or
                                                                                    DEFAULT_REVIEW_MONTHS)}


def collect_reviews(context: Any) -> dict[str, Any]:
    reviews = list(_data(context).get("reviews") or [])
    comments = [str(r.get("comment") or "").strip() for r in reviews
                if isinstance(r, Mapping) and r.get("decision") == "comment"]
    return {"sent_back": bool(comments), "comments": comments, "reviews": len(reviews)}


def send_back(context: Any) -> dict[str, Any]:
    """Back to draft: the register draft is withdrawn (the next submission drafts again)."""
    uow = context.uow
    data = _data(context)
    result = data.get("review_result") or {}
    comments = list(result.get("comments") or []) if result.get("sent_back") else \
        [f"QA: {data.get('comment') or 'sent back'}"]
    reason = "; ".join(c for c in comments if c) or "sent back to draft"
    try:
        changes.withdraw(uow, _change_id(data), f"sent back to draft: {reason}"[:2000], check_role=False)
    except ChangeError as exc:
        raise _fail("register_refused", str(exc)) from exc
    return {"reason": reason, "at": clock.isoformat(clock.now())}


# ---------------------------------------------------------------- approval and training
def approve(context: Any) -> dict[str, Any]:
    """QA's approval signature approves the register revision, in force from the effective date."""
    uow = context.uow
    data = _data(context)
    code, version = _version_of(context)
    signature = signature_of(uow.session, context.instance_id, "approve")
    if signature is None:
        raise _fail("not_signed", "the QA approval has no signature")
    day = parse_day(data.get("effective_date"), "effective date")
    try:
        change = changes.approve_by_signature(uow, _kind(context), _change_id(data), signature,
                                              effective_from=day.isoformat(), settings=context.settings,
                                              reason=str(data.get("comment") or "") or None)
    except ChangeError as exc:
        raise _fail("register_refused", str(exc)) from exc
    return _dates(change.effective_from or day_start(day), code, version, change.id, str(signature.seq))


def _dates(effective_at: str, code: str, version: int, change_id: int, signature_id: str) -> dict[str, Any]:
    moment = datetime.fromisoformat(effective_at.replace("Z", "+00:00"))
    check = max(moment - TRAINING_LEAD, clock.now())
    return {"code": code, "version": version, "change_id": change_id, "signature_id": signature_id,
            "effective_at": clock.isoformat(moment), "effective_date": moment.date().isoformat(),
            "check_at": clock.isoformat(check)}


def start_training(context: Any) -> dict[str, Any]:
    """A training instance for every user whose roles need the document (training matrix),
    linked `started_by` this one. Without an approved training process the start is recorded
    as an exception of this instance (the training check then finds the training missing)."""
    from engine.definitions import approved_version
    from engine.errors import EngineError

    uow = context.uow
    code, version = _version_of(context)
    trainees = documents.trainees_for(uow.session, code)
    started: dict[str, str] = {}
    if trainees:
        try:
            approved_version(uow.session, TRAINING_PROCESS)
        except EngineError as exc:
            context.record_exception("training_not_started", f"no training was started for {code} v{version}: {exc}",
                                     {"trainees": trainees})
            return {"trainees": trainees, "instances": {}, "started": False}
        for user in trainees:
            started[user] = context.start_linked_process(TRAINING_PROCESS, {"training": {
                "trainee": user, "documents": [{"code": code, "version": version}], "trigger": "document_effective",
                "reason": f"{code} v{version} becomes effective"}}, "started_by")
    return {"trainees": trainees, "instances": started, "started": True}


def training_status(context: Any) -> dict[str, Any]:
    uow = context.uow
    code, version = _version_of(context)
    trainees = sorted(set(documents.trainees_for(uow.session, code)) |
                      set((_data(context).get("training") or {}).get("trainees") or []))
    missing = documents.untrained(uow.session, code, version, trainees)
    return {"complete": not missing, "missing": missing, "trainees": trainees,
            "checked_at": clock.isoformat(clock.now())}


def postpone(context: Any) -> dict[str, Any]:
    uow = context.uow
    data = _data(context)
    code, version = _version_of(context)
    signature = signature_of(uow.session, context.instance_id, "training_decision")
    if signature is None:
        raise _fail("not_signed", "the postponement has no signature")
    approval = data.get("approval_result") or {}
    if not data.get("new_effective_date"):
        raise _fail("invalid_date", "a postponement needs the new effective date")
    day = parse_day(data.get("new_effective_date"), "new effective date")
    try:
        change = changes.postpone(uow, _kind(context), int(approval["change_id"]), day.isoformat(),
                                  reason=str(data.get("reason") or ""), signature=signature)
    except ChangeError as exc:
        raise _fail("register_refused", str(exc)) from exc
    result = _dates(change.effective_from or day_start(day), code, version, change.id,
                    str(approval.get("signature_id")))
    result["postponed_from"] = approval.get("effective_date")
    return result


def training_exception(context: Any) -> dict[str, Any]:
    data = _data(context)
    code, version = _version_of(context)
    missing = (data.get("training_status") or {}).get("missing") or []
    signature = signature_of(context.uow.session, context.instance_id, "training_decision")
    reason = str(data.get("reason") or "")
    exception_id = context.record_exception(
        "training_incomplete", f"{code} v{version} becomes effective before {', '.join(missing)} completed training: "
                               f"{reason}", {"missing": missing, "reason": reason,
                                             "signature_id": str(signature.seq) if signature else None})
    return {"exception_id": exception_id, "missing": missing, "reason": reason}


# ---------------------------------------------------------------- in force
def make_effective(context: Any) -> dict[str, Any]:
    """On the effective date: the register's stored status follows (this version effective,
    the previous one superseded) and the previous version's instance ends as superseded."""
    from engine.inbound import receive_message

    uow = context.uow
    data = _data(context)
    code, version = _version_of(context)
    changes.settle(uow, DOCUMENT.name)
    in_force = changes.effective(uow.session, DOCUMENT.name, code)
    if in_force is None or int(in_force.data.get("version", 0)) != version:
        raise _fail("not_in_force", f"{code} v{version} is not the version in force on its effective date")
    superseded = []
    for other in _running_versions(uow.session, code, exclude=context.instance_id):
        receive_message(uow, SUPERSEDED_MESSAGE, {"instance_id": other["instance_id"]},
                        {"by": f"{code}/{version}", "instance_id": context.instance_id},
                        settings=context.settings, runtime=context.runtime)
        superseded.append(other["key"])
    months = (data.get("submission") or {}).get("review_months")
    effective_day = date.fromisoformat(in_force.effective_from[:10])
    return {"effective_at": in_force.effective_from, "superseded": superseded,
            "review_due": _review_due(effective_day, months), "review_months": int(months or DEFAULT_REVIEW_MONTHS)}


def _running_versions(session: Any, code: str, exclude: int) -> list[dict[str, Any]]:
    """Running lifecycle instances of earlier versions of `code` that wait in force."""
    from engine.inbound import waiting_instances
    from engine.runtime_models import BusinessKey

    waiting = set(waiting_instances(session, SUPERSEDED_MESSAGE, {}))
    rows = session.execute(select(BusinessKey.instance_id, BusinessKey.business_key)
                           .where(BusinessKey.business_key.like(f"{code}/%"))).all()
    return [{"instance_id": i, "key": k} for i, k in rows if i != exclude and i in waiting
            and k.rsplit("/", 1)[0] == code]


def next_review(context: Any) -> dict[str, Any]:
    data = _data(context)
    effective = dict(data.get("effective") or {})
    months = int(effective.get("review_months") or DEFAULT_REVIEW_MONTHS)
    effective["review_due"] = _review_due(clock.now().date(), months)
    effective["last_review"] = {"outcome": data.get("outcome"), "comment": data.get("comment"),
                                "at": clock.isoformat(clock.now())}
    return effective


def start_revision(context: Any) -> dict[str, Any]:
    code, version = _version_of(context)
    started = context.start_linked_process(PROCESS, {"document": {
        "code": code, "reason": f"periodic review of v{version}: {_data(context).get('comment') or ''}".strip()}},
        "started_by")
    return {"instance_id": started}


def draft_withdrawal(context: Any) -> dict[str, Any]:
    """The person asking for withdrawal (message sender, or the periodic reviewer) drafts the
    register's retirement of the document."""
    uow = context.uow
    data = _data(context)
    code, version = _version_of(context)
    request = data.get("withdrawal") or {}
    reason = str(request.get("reason") or data.get("comment") or "").strip() or "withdrawal requested"
    try:
        change = changes.draft(uow, None, _kind(context), code, None, f"withdrawal of {code} v{version}: {reason}",
                               action="retire", settings=context.settings)
    except ChangeError as exc:
        raise _fail("register_refused", str(exc)) from exc
    return {"change_id": change.id, "reason": reason, "requested_by": uow.actor.user_id}


def withdraw(context: Any) -> dict[str, Any]:
    uow = context.uow
    data = _data(context)
    signature = signature_of(uow.session, context.instance_id, "approve_withdrawal")
    if signature is None:
        raise _fail("not_signed", "the withdrawal has no signature")
    try:
        change = changes.approve_by_signature(uow, _kind(context), int(data["withdrawal_change"]["change_id"]),
                                              signature, settings=context.settings,
                                              reason=str(data.get("comment") or "") or None)
    except ChangeError as exc:
        raise _fail("register_refused", str(exc)) from exc
    return {"obsolete_at": change.effective_from, "change_id": change.id}


def keep(context: Any) -> dict[str, Any]:
    uow = context.uow
    data = _data(context)
    try:
        changes.withdraw(uow, int(data["withdrawal_change"]["change_id"]),
                         f"withdrawal not approved: {data.get('comment') or 'kept in force'}", check_role=False)
    except ChangeError as exc:
        raise _fail("register_refused", str(exc)) from exc
    return {"kept_at": clock.isoformat(clock.now())}


# ---------------------------------------------------------------- controlled copies
def issue_copy(context: Any) -> dict[str, Any]:
    data = _data(context)
    try:
        copy = documents.issue_copy(context.uow, str(data.get("code") or ""), recipient=str(data.get("recipient") or ""),
                                    location=str(data.get("location") or ""), purpose=data.get("purpose"),
                                    instance_id=context.instance_id)
    except (RecordInvalid, RecordStateError) as exc:
        raise _fail("copy_refused", str(exc)) from exc
    return {"copy_number": copy.copy_number, "code": copy.code, "version": copy.version, "pdf_sha256": copy.pdf_sha256}


def close_copy(context: Any) -> dict[str, Any]:
    data = _data(context)
    number = (data.get("copy") or {}).get("copy_number")
    try:
        copy = documents.close_copy(context.uow, str(number), str(data.get("outcome") or ""),
                                    note=str(data.get("note") or ""), instance_id=context.instance_id)
    except (RecordInvalid, RecordStateError) as exc:
        raise _fail("copy_refused", str(exc)) from exc
    return {"copy_number": copy.copy_number, "outcome": copy.outcome, "closed_at": copy.closed_at}


OPERATORS = {
    "document.identify": identify, "document.submit": submit, "document.collect_reviews": collect_reviews,
    "document.send_back": send_back, "document.approve": approve, "document.start_training": start_training,
    "document.training_status": training_status, "document.postpone": postpone,
    "document.training_exception": training_exception, "document.make_effective": make_effective,
    "document.next_review": next_review, "document.start_revision": start_revision,
    "document.draft_withdrawal": draft_withdrawal, "document.withdraw": withdraw, "document.keep": keep,
    "document.issue_copy": issue_copy, "document.close_copy": close_copy,
}
