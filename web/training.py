"""Training pages.

- Assigning a training (training coordinator): a trainee and the documents to train on, with the
  reason; starts the `training` process (trigger "manual"); the diagram names this page as its
  start page (`start.page`), so the home page links here. A refused start stores nothing and shows
  the reason on the form.
- The trainee's exam page: the paper drawn for them, shown in their language (questions and choices
  in the shuffled order of the paper), submitted as positions, graded on the server by the process
  (bpmn.training.exam). The exam task of the `training` diagram names this page (`web.page`);
  the task page sends the trainee here. Only the person the exam is assigned to sees the paper."""
from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from web.errors import WebError
from web.uow import database, settings, unit_of_work

bp = Blueprint("training", __name__, url_prefix="/training")
ASSIGN_ROLES = ("training_coordinator",)
# one document per line or comma: its code, optionally "v" and a version ("SOP-PRD-012 v4")
DOCUMENT = re.compile(r"^(?P<code>[A-Za-z0-9][A-Za-z0-9._/-]{0,79})(?:\s+v(?P<version>\d{1,6}))?$")


class NotYourExam(WebError):
    http_status = 403


class NoExam(WebError):
    http_status = 404


def _paper(session: Any, task_id: str) -> tuple[Any, dict[str, Any], Any]:
    from bpmn.training.operators import paper_bank
    from engine.models import InstanceTask
    from engine.spiff.serializer import row_data

    row = session.get(InstanceTask, task_id)
    data = row_data(row.body) if row is not None else {}
    if row is None or row.bpmn_id != "exam" or not isinstance(data.get("paper"), dict):
        raise NoExam(f"task {task_id} is not an exam")
    if row.claimed_by != g.user.user_id:
        raise NotYourExam(f"this exam is {row.claimed_by or 'nobody'}'s: only they see its paper")
    return row, data, paper_bank(session, data["paper"])


@bp.get("/exam/<task_id>")
def exam(task_id: str):  # type: ignore[no-untyped-def]
    from bpmn.training.exam import shown
    from web.i18n import current_language

    with unit_of_work() as uow:
        row, data, bank = _paper(uow.session, task_id)
        instance_id = row.instance_id
        language = current_language()
        questions = shown(bank, data["paper"], language)
        title = (bank.title_zh if language == "zh" and bank.title_zh else bank.title)
    return render_template("training/exam.html", task_id=task_id, instance_id=instance_id, bank=bank,
                           title=title, paper=data["paper"], questions=questions,
                           trainee=data.get("curriculum", {}).get("trainee_name", ""))


@bp.post("/exam/<task_id>")
def submit(task_id: str):  # type: ignore[no-untyped-def]
    from engine.tasks import complete_task
    from web.operator import engine_services

    answers = []
    for name, value in request.form.items():
        if name.startswith("q-") and name[2:].isdigit() and value.strip().isdigit():
            answers.append({"question": int(name[2:]), "choice": int(value)})
    with unit_of_work() as uow:
        row, _data, _bank = _paper(uow.session, task_id)
        instance_id = row.instance_id
        complete_task(uow, task_id, {"answers": answers}, (), services=engine_services())
        uow.commit()
    return redirect(url_for("training.result", instance_id=instance_id))


@bp.get("/<int:instance_id>/result")
def result(instance_id: int):  # type: ignore[no-untyped-def]
    from bpmn.training.triggers import latest_data

    with unit_of_work() as uow:
        data = latest_data(uow.session, instance_id)
        curriculum = data.get("curriculum") or {}
        found = data.get("exam_result")
        if not isinstance(found, dict):
            raise NoExam(f"training {instance_id} has no graded exam")
        if curriculum.get("trainee") != g.user.user_id and not ({"trainer", "training_coordinator", "qa"}
                                                                & set(g.user.roles)):
            raise NotYourExam("only the trainee, trainers, training coordinators and QA see exam results")
    return render_template("training/result.html", result=found, instance_id=instance_id,
                           document=data.get("document") or {}, trainee=curriculum.get("trainee_name", ""))


def _trainees(session: Any) -> list[dict[str, str]]:
    from sqlalchemy import select

    from signatures.models import UserAccount

    rows = session.execute(select(UserAccount.user_id, UserAccount.printed_name, UserAccount.status)
                           .order_by(UserAccount.user_id)).all()
    return [{"user_id": u, "name": n} for u, n, status in rows if status == "active"]


def _assign_page(form: dict[str, str], message: str | None = None, status: int = 200):  # type: ignore[no-untyped-def]
    with database().read_session() as session:
        trainees = _trainees(session)
    return render_template("training/assign.html", trainees=trainees, form=form, message=message), status


def _planning_refusal(exc: BaseException) -> BaseException:
    """The plan step's own refusal (an unknown trainee or document), not the engine's wrapping of it."""
    from engine.errors import OperatorFailed

    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OperatorFailed):
            return cause
        cause = cause.__cause__ or cause.__context__
    return exc


@bp.get("/assign")
def assign():  # type: ignore[no-untyped-def]
    return _assign_page({})


@bp.post("/assign")
def assign_start():  # type: ignore[no-untyped-def]
    from bpmn.training.triggers import start_training
    from core.errors import GmpError
    from web.wording import refusal_text

    form = {k: (request.form.get(k) or "").strip()[:2000] for k in ("trainee", "documents", "reason")}
    documents: list[dict[str, Any]] = []
    message = None
    for part in re.split(r"[,\n]", form["documents"]):
        part = part.strip()
        if not part:
            continue
        found = DOCUMENT.match(part)
        if found is None:
            message = _("%(entry)s is not a document code (optionally followed by a version, e.g. SOP-PRD-012 v4).",
                        entry=part[:80])
            break
        documents.append({"code": found["code"], **({"version": int(found["version"])} if found["version"] else {})})
    if message is None and not form["trainee"]:
        message = _("Choose the trainee.")
    if message is None and not documents:
        message = _("Name at least one document to train on.")
    if message is None and not form["reason"]:
        message = _("Give the reason for this training.")
    if message is None:
        try:
            with unit_of_work() as uow:
                instance_id = start_training(uow, {"trainee": form["trainee"], "documents": documents,
                                                   "trigger": "manual", "reason": form["reason"]},
                                             settings=settings())
                uow.commit()
        except GmpError as exc:
            message = refusal_text(_planning_refusal(exc))
    if message is not None:
        return _assign_page(form, message, 422)
    flash(_("Training of %(trainee)s started (#%(id)s).", trainee=form["trainee"], id=instance_id), "info")
    return redirect(url_for("records.record", instance_id=instance_id))
