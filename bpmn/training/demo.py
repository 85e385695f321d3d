"""Demo data of the training process for `make run` (bpmn.demo calls `seed` after the master data):

    SOP-GMP-002 "Good documentation practice" with a question bank of five questions (English and
    Chinese), pass mark 80 %, three attempts, put in force by Quinn QA and approved by Rita;
    the `training` definition uploaded by Quinn and approved by Rita;
    TRN-0001  Victor's GDP training: he has signed read and understood, his exam is waiting
              (sign in as victor: "Take the exam" in his tasks);
    TRN-0002  Lin's training on SOP-PRD-012 v4 (the version in force since today): her study step
              is waiting; after it, Tess Trainer assesses the practical and Tina Training-Coordinator approves.
"""
from __future__ import annotations

from typing import Any, Callable

from sqlalchemy import select

from audit.canonical import Actor
from core import clock
from core.config import Settings
from store.db import Database
from store.uow import UnitOfWork

GDP = {"title": "Good documentation practice", "title_zh": "良好文件记录规范", "type": "policy", "version": 1,
       "pass_mark_pct": 80, "max_attempts": 3, "questions": [
           {"text": "A value was written in the wrong field. What do you do?", "text_zh": "数值填错了栏位，应如何处理？",
            "choices": ["Erase it and write it again", "Strike it through once, correct it, sign and date",
                        "Cover it with correction fluid"],
            "choices_zh": ["擦掉重写", "划一横线，更正并签名、注明日期", "用涂改液覆盖"], "answer": 1},
           {"text": "When is an entry made in the batch record?", "text_zh": "何时在批记录中记录？",
            "choices": ["At the end of the shift", "At the time the work is done", "When the supervisor asks"],
            "choices_zh": ["班次结束时", "工作完成时即刻记录", "主管要求时"], "answer": 1},
           {"text": "Who may sign for a step you performed?", "text_zh": "谁可以为你执行的步骤签名？",
            "choices": ["Only you", "Any colleague on the line", "The supervisor"],
            "choices_zh": ["只有你本人", "产线上的任何同事", "主管"], "answer": 0},
           {"text": "A field does not apply. What do you enter?", "text_zh": "某栏位不适用时应填写什么？",
            "choices": ["Leave it empty", "N/A with your initials and date", "A dash"],
            "choices_zh": ["留空", "填写 N/A 并签名、注明日期", "划一横线"], "answer": 1},
           {"text": "Which record is the original?", "text_zh": "哪一份记录是原始记录？",
            "choices": ["The first record made at the time of the work", "A clean copy typed later",
                        "The summary in the report"],
            "choices_zh": ["工作时最先记录的那一份", "事后誊写的整洁副本", "报告中的汇总"], "answer": 0}]}


def seed(db: Database, settings: Settings, credentials: Callable[[str], Any], runtime: Any) -> None:
    """Put the GDP question bank in force, approve the training process, start the demo trainings."""
    from bpmn.training import bundle
    from bpmn.training.triggers import latest_data, start_training
    from engine import definitions, tasks
    from engine.models import InstanceTask
    from engine.ports import SignatureInput, default_services
    from engine.spiff.workflow import READY
    from masterdata import changes
    from masterdata.changes import ChangeCatalogue
    from masterdata.kinds import register_kinds

    quinn, rita = Actor("quinn", "Quinn QA"), Actor("rita", "Rita Reviewer")
    catalogue = register_kinds(ChangeCatalogue()).freeze()
    today = clock.now().date().isoformat()
    with UnitOfWork(db, quinn) as uow:
        found = changes.draft_set(uow, catalogue, "document", [("SOP-GMP-002", {"code": "SOP-GMP-002", **GDP,
                                                                                "effective_date": today},
                                                                 "create")],
                                  "demo plant: GDP policy with its training questions", settings=settings)
        uow.commit()
    creds = credentials("rita")
    with UnitOfWork(db, rita) as uow:
        changes.approve_set(uow, catalogue, found.id, credentials=creds, settings=settings,
                            reason="questions checked against the GDP policy")
        uow.commit()
    with UnitOfWork(db, quinn) as uow:
        version_id = definitions.upload(uow, bundle(), reason="training qualification process", runtime=runtime).id
        uow.commit()
    creds = credentials("rita")
    with UnitOfWork(db, rita) as uow:
        definitions.approve(uow, version_id, SignatureInput.of("approved", creds), settings=settings,
                            reason="training process reviewed", runtime=runtime)
        uow.commit()
    with UnitOfWork(db, Actor("tina", "Tina Training-Coordinator")) as uow:
        victor = start_training(uow, {"trainee": "victor", "documents": [{"code": "SOP-GMP-002"}], "trigger": "manual",
                                      "reason": "GDP refresher"}, settings=settings, runtime=runtime,
                                title="GDP refresher for Victor")
        start_training(uow, {"trainee": "lin", "documents": [{"code": "SOP-PRD-012", "version": 4}],
                             "trigger": "document_effective", "reason": "SOP-PRD-012 v4 effective today"},
                       settings=settings, runtime=runtime, title="SOP-PRD-012 v4 for Lin")
        uow.commit()
    creds = credentials("victor")
    with UnitOfWork(db, Actor("victor", "Victor Verifier")) as uow:  # victor reads: his exam is waiting
        task_id = uow.session.scalar(select(InstanceTask.id).where(
            InstanceTask.instance_id == victor, InstanceTask.bpmn_id == "study", InstanceTask.state == READY))
        document = latest_data(uow.session, victor)["document"]
        tasks.complete_task(uow, task_id, {"document_read": f"{document['code']} v{document['version']}",
                                           "read_and_understood": True},
                            [SignatureInput.of("read_and_understood", creds)],
                            services=default_services(settings), settings=settings, runtime=runtime)
        uow.commit()
