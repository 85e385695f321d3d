"""Document lifecycle fixtures: the plant's people (document control, reviewers, QA, a training
coordinator, operators), a training matrix naming SOP-DSP-001 for operators, the lifecycle and
controlled copy diagrams approved, and a stand-in `training` process (the training helper's real
diagram is tested in its own package; here a training instance is a task the coordinator closes)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from sqlalchemy import select

from bpmn import document_lifecycle
from engine import definitions, instances, tasks
from engine.models import InstanceTask
from engine.ports import SignatureInput, default_services
from engine.scheduler import Scheduler
from masterdata import documents, qualifications
from store.uow import UnitOfWork
from tests.masterdata.conftest import Plant

TRAINING_STUB = Path(__file__).resolve().parent / "training_stub"
PEOPLE = [("dora", "Dora Document-Control", ["document_control", "requester"]),
          ("rex", "Rex Reviewer", ["reviewer"]), ("ria", "Ria Reviewer", ["reviewer"]),
          ("tina", "Tina Training-Coordinator", ["training_coordinator"]), ("olga", "Olga Operator", ["operator"]),
          ("qiu", "Qiu QA", ["qa", "requester"])]
CONTENT = "SOP-DSP-001 配料标准操作规程\n1. Scope 范围\n2. Weigh each material on a calibrated balance.\n".encode()


class Docs:
    """The plant with the document processes approved; helpers that act as its people."""

    def __init__(self, plant: Plant, runtime: Any) -> None:
        from signatures import testing

        self.plant, self.runtime = plant, runtime
        self.db, self.settings, self.clock = plant.db, plant.settings, plant.clock
        for uid, name, roles in PEOPLE:
            plant.people[uid] = testing.enrolled_user(self.db, self.settings, plant.admin, uid, name, roles)
        self.services = default_services(self.settings)
        self.approve_definition(document_lifecycle.files_of(document_lifecycle.LIFECYCLE))
        self.approve_definition(document_lifecycle.files_of(document_lifecycle.COPIES))
        self.approve_definition({str(p.relative_to(TRAINING_STUB)): p.read_bytes()
                                 for p in TRAINING_STUB.rglob("*") if p.is_file()})
        plant.put_in_force("training_matrix", {"operator": {"sops": ["SOP-DSP-001"]}})

    def __getitem__(self, user: str) -> Any:
        return self.plant[user]

    def approve_definition(self, files: dict[str, bytes]) -> None:
        with UnitOfWork(self.db, self.plant["quinn"].actor) as uow:
            version = definitions.upload(uow, files, reason="document processes", services=self.services,
                                         runtime=self.runtime)
            uow.commit()
        creds = self.plant.creds("rita")
        with UnitOfWork(self.db, self.plant["rita"].actor) as uow:
            definitions.approve(uow, version.id, SignatureInput("approved", "rita", {
                "password": creds.password, "totp": creds.totp}), services=self.services, runtime=self.runtime)
            uow.commit()

    # ---- acting
    def start(self, code: str | None = "SOP-DSP-001", user: str = "dora", **extra: Any) -> int:
        data = {"document": {"code": code, "reason": "procedure updated", **extra}} if code else {}
        with UnitOfWork(self.db, self.plant[user].actor) as uow:
            instance = instances.start(uow, document_lifecycle.PROCESS_ID, title=f"Document {code}", data=data,
                                       settings=self.settings, runtime=self.runtime)
            uow.commit()
            return instance.id

    def upload(self, instance_id: int, code: str, version: int, data: bytes = CONTENT, user: str = "dora",
               name: str = "sop.txt") -> Any:
        with UnitOfWork(self.db, self.plant[user].actor) as uow:
            found = documents.store_content(uow, code, version, name, data, "text/plain", instance_id=instance_id)
            uow.commit()
            return found

    def ready(self, instance_id: int, bpmn_id: str) -> list[str]:
        with self.db.session() as session:
            return list(session.scalars(select(InstanceTask.id).where(
                InstanceTask.instance_id == instance_id, InstanceTask.bpmn_id == bpmn_id,
                InstanceTask.id.in_(tasks.ready_task_ids(session, instance_id))).order_by(InstanceTask.seq)))

    def complete(self, instance_id: int, bpmn_id: str, user: str, data: dict[str, Any] | None = None,
                 meaning: str | None = "performed", task_id: str | None = None) -> Any:
        found = task_id or self.ready(instance_id, bpmn_id)[0]
        signatures = []
        if meaning:
            creds = self.plant.creds(user)
            signatures = [SignatureInput(meaning, user, {"password": creds.password, "totp": creds.totp})]
        with UnitOfWork(self.db, self.plant[user].actor) as uow:
            result = tasks.complete_task(uow, found, data or {}, signatures, services=self.services,
                                         settings=self.settings, runtime=self.runtime)
            uow.commit()
            return result

    def review_task(self, instance_id: int, reviewer: str) -> str:
        with self.db.session() as session:
            for task_id in self.ready(instance_id, "review_document"):
                from engine.spiff.serializer import row_data

                row = session.get(InstanceTask, task_id)
                if row_data(row.body).get("reviewer") == reviewer:
                    return task_id
        raise AssertionError(f"no review task for {reviewer}")

    def draft(self, instance_id: int, effective: str = "2026-02-01", reviewers: str = "rex, ria",
              **fields: Any) -> Any:
        data = {"code": "SOP-DSP-001", "title": "Dispensing", "title_zh": "配料", "type": "sop",
                "department": "Production", "change_reason": "balance check added", "effective_date": effective,
                "review_months": 24, "reviewers": reviewers, **fields}
        return self.complete(instance_id, "draft_document", "dora", data)

    def review(self, instance_id: int, reviewer: str, decision: str = "accept", comment: str = "") -> Any:
        return self.complete(instance_id, "review_document", reviewer, {"review": {"decision": decision, "comment": comment}},
                             "reviewed", task_id=self.review_task(instance_id, reviewer))

    def approve(self, instance_id: int, effective: str = "2026-02-01", decision: str = "approve",
                user: str = "quinn", comment: str = "approved for use") -> Any:
        return self.complete(instance_id, "approve", user, {"decision": decision, "effective_date": effective,
                                                            "comment": comment}, "approved")

    def data(self, instance_id: int) -> dict[str, Any]:
        from engine.instances import DEFINITE, inspect
        from engine.spiff.serializer import row_data

        with self.db.session() as session:
            if inspect(session, instance_id)["status"] != "running":
                return dict(inspect(session, instance_id)["data"])
            rows = session.scalars(select(InstanceTask).where(
                InstanceTask.instance_id == instance_id, InstanceTask.dropped.is_(False),
                InstanceTask.state.op("&")(int(DEFINITE)) != 0).order_by(InstanceTask.seq.desc())).all()
            return row_data(rows[0].body) if rows else {}

    def status(self, instance_id: int) -> str:
        with self.db.session() as session:
            return instances.get_instance(session, instance_id).status

    def fire_timers(self) -> None:
        scheduler = Scheduler(self.db, self.settings, runtime=self.runtime)
        scheduler.run_once()

    def grant(self, user: str, version: int, code: str = "SOP-DSP-001") -> Any:
        return self.plant.act("tess", qualifications.grant_qualification, user, code, version,
                              basis="read and understood", valid_until="2028-12-31")

    def through_review(self, code: str = "SOP-DSP-001", effective: str = "2026-02-01",
                       months: int = 24) -> tuple[int, int]:
        instance = self.start(code)
        version = self.data(instance)["request"]["version"]
        self.upload(instance, code, version)
        self.draft(instance, effective=effective, code=code, review_months=months)
        self.review(instance, "rex")
        self.review(instance, "ria")
        return instance, version


@pytest.fixture
def docs(db, settings, frozen_clock, runtime) -> Iterator[Docs]:  # type: ignore[no-untyped-def]
    from bpmn.glue import extend
    from signatures import kdf

    if "document" not in runtime.gates:  # the web application's fixture may have added the library already
        extend(runtime, db, settings)
    with kdf.unsafe_fast_kdf():
        plant = Plant(db, settings, frozen_clock)
        yield Docs(plant, runtime)
