"""Training fixtures: enrolled people, a document register with question banks and a training
matrix put in force through change control, the library's runtime, the `training` process
approved, and helpers that act as one of the people."""
from __future__ import annotations

from typing import Any, Iterator

import pytest
from sqlalchemy import select

from bpmn.training.triggers import latest_data
from engine import definitions, instances, tasks
from engine.models import InstanceTask
from engine.ports import SignatureInput, default_services
from engine.spiff.serializer import row_data
from engine.spiff.workflow import READY
from masterdata import changes
from masterdata.changes import ChangeCatalogue
from masterdata.kinds import register_kinds
from signatures import testing
from store.uow import UnitOfWork

PEOPLE = [("alice", "Alice Operator", ["operator"]), ("bob", "Bob Operator", ["operator"]),
          ("tess", "Tess Trainer", ["trainer"]), ("tom", "Tom Trainer", ["trainer", "operator"]),
          ("cora", "Cora Coordinator", ["training_coordinator"]),
          ("cleo", "Cleo Coordinator", ["training_coordinator", "operator"]), ("quinn", "Quinn QA", ["qa"]),
          ("rita", "Rita Reviewer", ["qa"]), ("sam", "Sam Supervisor", ["supervisor"])]

QUESTIONS = [
    {"text": "What is the maximum impeller speed?", "text_zh": "叶轮最大转速是多少？",
     "choices": ["120 rpm", "180 rpm", "250 rpm"], "choices_zh": ["120 转/分", "180 转/分", "250 转/分"], "answer": 1},
    {"text": "Who releases the granulator for use?", "text_zh": "谁放行制粒机？",
     "choices": ["The operator", "The supervisor", "Nobody"], "choices_zh": ["操作员", "主管", "无人"], "answer": 1},
    {"text": "When is the bowl cleaned?", "text_zh": "何时清洁料缸？",
     "choices": ["After every batch", "Once a week"], "choices_zh": ["每批之后", "每周一次"], "answer": 0},
    {"text": "What is recorded when the speed leaves its limits?", "text_zh": "转速超限时记录什么？",
     "choices": ["Nothing", "A deviation", "A comment in the logbook", "A new recipe"],
     "choices_zh": ["无", "偏差", "日志备注", "新配方"], "answer": 1},
]
DOCUMENTS = {
    "SOP-PRD-012": {"title": "Granulation", "title_zh": "制粒", "type": "sop", "version": 5,
                    "effective_date": "2026-01-01", "questions": QUESTIONS, "pass_mark_pct": 75, "max_attempts": 2,
                    "practical": True},
    "SOP-GMP-001": {"title": "Good documentation practice", "type": "policy", "version": 2,
                    "effective_date": "2025-06-01"},
}
MATRIX = {"operator": {"sops": ["SOP-PRD-012", "SOP-GMP-001"]}, "supervisor": {"sops": ["SOP-GMP-001"]}}


class Site:
    """People, master data and the training process; helpers acting as one of them."""

    def __init__(self, db: Any, settings: Any, clock: Any, runtime: Any) -> None:
        self.db, self.settings, self.clock, self.runtime = db, settings, clock, runtime
        self.admin = testing.bootstrap_admin(db, settings)
        self.people = {uid: testing.enrolled_user(db, settings, self.admin, uid, name, roles)
                       for uid, name, roles in PEOPLE}
        self.services = default_services(settings)
        self.catalogue = register_kinds(ChangeCatalogue()).freeze()

    def __getitem__(self, user_id: str) -> Any:
        return self.people[user_id]

    def creds(self, user_id: str) -> Any:
        testing.fresh_totp_step(self.clock)  # a fresh TOTP step for every ceremony, one step apart
        return testing.credentials(self.db, self.people[user_id])

    def sign(self, user_id: str, meaning: str) -> SignatureInput:
        creds = self.creds(user_id)
        return SignatureInput(meaning, user_id, {"password": creds.password, "totp": creds.totp})

    def put_in_force(self, kind: str, items: dict[str, dict[str, Any]], *, action: str = "create",
                     effective_from: Any = None) -> None:
        key_field = self.catalogue.get(kind).key_field
        with UnitOfWork(self.db, self["quinn"].actor) as uow:
            found = changes.draft_set(uow, self.catalogue, kind, [
                (key, {key_field: key, **data}, action) for key, data in items.items()], f"{kind} data",
                settings=self.settings)
            uow.commit()
        creds = self.creds("rita")
        with UnitOfWork(self.db, self["rita"].actor) as uow:
            changes.approve_set(uow, self.catalogue, found.id, credentials=creds, settings=self.settings,
                                reason="checked", effective_from=effective_from)
            uow.commit()

    def deploy(self) -> int:
        from bpmn.training import bundle

        with UnitOfWork(self.db, self["quinn"].actor) as uow:
            version = definitions.upload(uow, bundle(), reason="training qualification", services=self.services)
            uow.commit()
            version_id = version.id
        signature = self.sign("rita", "approved")
        with UnitOfWork(self.db, self["rita"].actor) as uow:
            definitions.approve(uow, version_id, signature, services=self.services)
            uow.commit()
        return version_id

    def start(self, training: dict[str, Any], user: str = "cora") -> int:
        from bpmn.training.triggers import start_training

        with UnitOfWork(self.db, self[user].actor) as uow:
            found = start_training(uow, training, settings=self.settings)
            uow.commit()
            return found

    def task_id(self, instance_id: int, bpmn_id: str) -> str:
        with self.db.session() as session:
            found = session.scalars(select(InstanceTask.id).where(
                InstanceTask.instance_id == instance_id, InstanceTask.bpmn_id == bpmn_id,
                InstanceTask.state == READY, InstanceTask.dropped.is_(False)).order_by(InstanceTask.seq)).all()
        assert found, f"instance {instance_id} has no ready task {bpmn_id} (ready: {self.ready(instance_id)})"
        return found[-1]

    def ready(self, instance_id: int) -> list[str]:
        with self.db.session() as session:
            return list(session.scalars(select(InstanceTask.bpmn_id).where(
                InstanceTask.instance_id == instance_id, InstanceTask.state == READY, InstanceTask.manual.is_(True),
                InstanceTask.dropped.is_(False)).order_by(InstanceTask.seq)))

    def task_data(self, instance_id: int, bpmn_id: str) -> dict[str, Any]:
        with self.db.session() as session:
            body = session.scalar(select(InstanceTask.body).where(InstanceTask.id == self.task_id(instance_id,
                                                                                                  bpmn_id)))
            return row_data(body)

    def data(self, instance_id: int) -> dict[str, Any]:
        """The latest task data of the instance."""
        with self.db.session() as session:
            return latest_data(session, instance_id)

    def complete(self, instance_id: int, bpmn_id: str, user: str, data: dict[str, Any] | None = None,
                 meanings: tuple[str, ...] = ()) -> Any:
        tid = self.task_id(instance_id, bpmn_id)
        signatures = tuple(self.sign(user, meaning) for meaning in meanings)
        with UnitOfWork(self.db, self[user].actor) as uow:
            done = tasks.complete_task(uow, tid, data or {}, signatures, services=self.services,
                                       settings=self.settings)
            uow.commit()
            return done

    def claim(self, instance_id: int, bpmn_id: str, user: str) -> str:
        with UnitOfWork(self.db, self[user].actor) as uow:
            row = tasks.claim(uow, self.task_id(instance_id, bpmn_id), services=self.services)
            uow.commit()
            return str(row.claimed_by)

    def inbox(self, user: str) -> list[tuple[int, str]]:
        with UnitOfWork(self.db, self[user].actor) as uow:
            return [(v.instance_id, v.bpmn_id) for v in tasks.inbox(uow, user, services=self.services)]

    def status(self, instance_id: int) -> str:
        from engine.models import ProcessInstance

        with self.db.session() as session:
            return str(session.get(ProcessInstance, instance_id).status)

    def inspect(self, instance_id: int) -> dict[str, Any]:
        with self.db.session() as session:
            return instances.inspect(session, instance_id)

    # ------------------------------------------------------------ the trainee's and trainer's steps
    def study(self, instance_id: int, user: str = "alice") -> Any:
        document = self.task_data(instance_id, "study")["document"]
        return self.complete(instance_id, "study", user,
                             {"document_read": f"{document['code']} v{document['version']}", "read_and_understood": True},
                             ("read_and_understood",))

    def answer(self, instance_id: int, right: int | None = None) -> list[dict[str, int]]:
        """Answers to the paper of the ready exam: the first `right` questions correctly (all if None)."""
        paper = self.task_data(instance_id, "exam")["paper"]
        bank = DOCUMENTS[paper["code"]]["questions"]
        answers = []
        for number, item in enumerate(paper["questions"]):
            correct = item["order"].index(bank[item["q"]]["answer"])
            ok = right is None or number < right
            answers.append({"question": item["n"], "choice": correct if ok else (correct + 1) % len(item["order"])})
        return answers

    def take_exam(self, instance_id: int, right: int | None = None, user: str = "alice") -> dict[str, Any]:
        self.complete(instance_id, "exam", user, {"answers": self.answer(instance_id, right)})
        return self.data(instance_id)["exam_result"]


@pytest.fixture
def site(db, settings, frozen_clock, runtime) -> Iterator[Site]:  # type: ignore[no-untyped-def]
    """People, the document register and training matrix in force, the training process approved."""
    from bpmn.glue import extend
    from signatures import kdf

    extend(runtime, db, settings)
    with kdf.unsafe_fast_kdf():
        found = Site(db, settings, frozen_clock, runtime)
        found.put_in_force("document", DOCUMENTS)
        found.put_in_force("training_matrix", MATRIX)
        found.deploy()
        yield found
