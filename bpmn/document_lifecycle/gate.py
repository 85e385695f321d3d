"""The `document` gate: what the document lifecycle's tasks require of the person and the data.

A task names its check with the property `document.check`:

    draft       (at completion) the content file is stored for this version, the instance revises
                this document, the reviewers are active users with the reviewer role and not the
                author, the planned effective date is at least tomorrow
    review      only a reviewer named by the author takes their review; never the author
    approval    the author never approves; an approval dates the version from tomorrow on
    decision    a postponement names a later date than the planned one
    withdrawal  the person who asked for the withdrawal does not approve it
    copy        a controlled copy is requested only of a document in force with a content file
"""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Mapping

from core import clock
from engine.gates import Gate, GateContext
from engine.properties import TaskProperty
from forms.errors import N_
from masterdata import changes, documents
from masterdata.kinds import DOCUMENT

GATE = "document"
PROPERTY = "document.check"
CHECKS = ("draft", "review", "approval", "decision", "copy", "withdrawal")

CODES = {
    "no_content": N_("upload the content file of %(document)s before submitting it (Documents page)"),
    "wrong_document": N_("this revision is %(key)s: the document number must stay %(document)s"),
    "register_busy": N_("%(document)s has a revision in progress already (%(holder)s): finish or withdraw it first"),
    "no_reviewers": N_("name at least one reviewer"),
    "unknown_reviewer": N_("%(reviewer)s is not an active user with the reviewer role"),
    "author_reviews": N_("%(user)s wrote this version and cannot review or approve it"),
    "not_named_reviewer": N_("this review is %(reviewer)s's; %(user)s was not named for it"),
    "effective_too_soon": N_("the effective date %(date)s must be after today (training comes first)"),
    "not_in_force": N_("%(document)s is not a document in force: no controlled copy can be issued"),
    "requester_approves": N_("%(user)s asked for this withdrawal and cannot approve it"),
    "postpone_date": N_("a postponement needs a new effective date later than %(planned)s"),
}


def _data(ctx: GateContext) -> Mapping[str, Any]:
    return {**dict(ctx.instance_data), **dict(ctx.data)}


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _after_today(ctx: GateContext, value: Any) -> None:
    day = _day(value)
    if day is None or day <= clock.now().date():
        raise ctx.refuse("effective_too_soon", date=str(value or "")[:10] or "-")


def _author(data: Mapping[str, Any]) -> str | None:
    return (data.get("submission") or {}).get("author")


def _draft(ctx: GateContext) -> None:
    from bpmn.document_lifecycle.operators import _key_of, next_version, reviewer_ids
    from signatures.accounts import roles_of
    from signatures.models import UserAccount

    session = ctx.uow.session
    data = _data(ctx)
    code = str(data.get("code") or "").strip()
    request = data.get("request") or {}
    key = _key_of(session, ctx.instance_id)
    if key is not None and key.rsplit("/", 1)[0] != code:
        raise ctx.refuse("wrong_document", key=key, document=key.rsplit("/", 1)[0])
    version = int(request.get("version") or 0) if request.get("code") == code else next_version(session, code)
    holder = changes.pending(session, DOCUMENT.name)
    busy = [c for c in holder if c.key == code]
    if busy:
        raise ctx.refuse("register_busy", document=code, holder=f"revision {busy[0].revision} by {busy[0].drafted_by}")
    if documents.content_of(session, code, version) is None:
        raise ctx.refuse("no_content", document=f"{code} v{version}")
    names = reviewer_ids(data.get("reviewers"))
    if not names:
        raise ctx.refuse("no_reviewers")
    for name in names:
        if name == ctx.user_id:
            raise ctx.refuse("author_reviews", user=name)
        account = session.get(UserAccount, name)
        if account is None or account.status != "active" or "reviewer" not in roles_of(session, name):
            raise ctx.refuse("unknown_reviewer", reviewer=name)
    _after_today(ctx, data.get("effective_date"))


def _review(ctx: GateContext) -> None:
    data = dict(ctx.instance_data)
    if ctx.user_id == _author(data):
        raise ctx.refuse("author_reviews", user=ctx.user_id)
    named = data.get("reviewer")
    if named and named != ctx.user_id:
        raise ctx.refuse("not_named_reviewer", reviewer=named, user=ctx.user_id)


def _approval(ctx: GateContext) -> None:
    data = _data(ctx)
    if ctx.user_id == _author(data):
        raise ctx.refuse("author_reviews", user=ctx.user_id)
    if ctx.stage == "complete" and data.get("decision") == "approve":
        _after_today(ctx, data.get("effective_date"))


def _decision(ctx: GateContext) -> None:
    data = _data(ctx)
    if ctx.stage != "complete" or data.get("choice") != "postpone":
        return
    planned = str((data.get("approval_result") or {}).get("effective_date") or "")
    day, current = _day(data.get("new_effective_date")), _day(planned)
    if day is None or current is None or day <= current or day <= clock.now().date():
        raise ctx.refuse("postpone_date", planned=planned or "-")


def _withdrawal(ctx: GateContext) -> None:
    if ctx.user_id == (_data(ctx).get("withdrawal_change") or {}).get("requested_by"):
        raise ctx.refuse("requester_approves", user=ctx.user_id)


def _copy(ctx: GateContext) -> None:
    if ctx.stage != "complete":
        return
    session = ctx.uow.session
    code = str(_data(ctx).get("code") or "").strip()
    revision = changes.effective(session, DOCUMENT.name, code) if code else None
    if revision is None or documents.content_of(session, code, int(revision.data["version"])) is None:
        raise ctx.refuse("not_in_force", document=code or "-")


def check(ctx: GateContext) -> None:
    which = str(ctx.properties.get(PROPERTY) or "").strip()
    if which == "draft":
        if ctx.stage == "complete":
            _draft(ctx)
    elif which == "review":
        _review(ctx)
    elif which == "approval":
        _approval(ctx)
    elif which == "decision":
        _decision(ctx)
    elif which == "copy":
        _copy(ctx)
    elif which == "withdrawal":
        _withdrawal(ctx)


def _check_value(value: str, _check: Any) -> list[str]:
    return [] if value.strip() in CHECKS else [f"document.check must be one of {', '.join(CHECKS)}"]


PROPERTY_DECLARATION = TaskProperty(
    PROPERTY, "which document lifecycle check the task needs (draft, review, approval, decision)",
    gates=(GATE,), check=_check_value, label_en="Document check", label_zh="文件检查")
GATE_DECLARATION = Gate(GATE, check, codes=CODES, consumes=(PROPERTY,),
                        description="document lifecycle: content stored, reviewers named, four eyes, dates")
TOMORROW = timedelta(days=1)
