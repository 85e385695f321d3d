"""The trainee's exam page: the paper drawn for them, shown in their language (questions and choices
in the shuffled order of the paper), submitted as positions, graded on the server by the process
(bpmn.training.exam). The exam task of the `training` diagram names this page (`web.page`);
the task page sends the trainee here. Only the person the exam is assigned to sees the paper."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, g, redirect, render_template, request, url_for

from web.errors import WebError
from web.uow import unit_of_work

bp = Blueprint("training", __name__, url_prefix="/training")


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
