"""Deviation and CAPA fixtures: enrolled people of a small plant, the library's runtime, and
helpers that deploy a process, start it, claim and complete its tasks as one of them."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from sqlalchemy import select

from engine import definitions, instances, tasks
from engine.models import InstanceTask
from engine.ports import SignatureInput, default_services
from engine.spiff.workflow import READY
from signatures import testing
from store.uow import UnitOfWork

HERE = Path(__file__).resolve().parent
STUBS = HERE / "stubs"
PROCESS_DIR = HERE.parents[2] / "bpmn" / "deviation_capa"

PEOPLE = [("alice", "Alice Operator", ["operator"]), ("bob", "Bob Operator", ["operator"]),
          ("quinn", "Quinn QA", ["qa"]), ("rita", "Rita Reviewer", ["qa"]),
          ("ivan", "Ivan Investigator", ["investigator"]), ("olga", "Olga Owner", ["operator", "investigator"]),
          ("peter", "Peter QP", ["qp"]), ("sam", "Sam Supervisor", ["supervisor"]),
          ("dora", "Dora Documents", ["document_control"]), ("tess", "Tess Trainer", ["trainer"])]


def bundle(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.suffix in (".bpmn", ".json", ".dmn")}


class Site:
    """People of a plant and helpers acting as one of them."""

    def __init__(self, db: Any, settings: Any, clock: Any) -> None:
        self.db, self.settings, self.clock = db, settings, clock
        self.admin = testing.bootstrap_admin(db, settings)
        self.people = {uid: testing.enrolled_user(db, settings, self.admin, uid, name, roles)
                       for uid, name, roles in PEOPLE}
        self.services = default_services(settings)

    def __getitem__(self, user_id: str) -> Any:
        return self.people[user_id]

    def sign(self, user_id: str, meaning: str) -> SignatureInput:
        testing.fresh_totp_step(self.clock)  # a fresh TOTP step for every ceremony, one step apart
        creds = testing.credentials(self.db, self.people[user_id])
        return SignatureInput(meaning, user_id, {"password": creds.password, "totp": creds.totp})

    def deploy(self, files: dict[str, bytes]) -> int:
        """Upload as quinn, approve as rita (signed); the version id."""
        with UnitOfWork(self.db, self["quinn"].actor) as uow:
            version = definitions.upload(uow, files, reason="initial version", services=self.services)
            uow.commit()
            version_id = version.id
        signature = self.sign("rita", "approved")
        with UnitOfWork(self.db, self["rita"].actor) as uow:
            definitions.approve(uow, version_id, signature, services=self.services)
            uow.commit()
        return version_id

    def start(self, key: str, data: dict[str, Any] | None = None, *, user: str = "sam",
              business_key: str | None = None, title: str | None = None) -> int:
        with UnitOfWork(self.db, self[user].actor) as uow:
            instance = instances.start(uow, key, title=title or key, data=data or {}, settings=self.settings,
                                       business_key=business_key)
            uow.commit()
            return instance.id

    def task_id(self, instance_id: int, bpmn_id: str, state: int | None = READY) -> str:
        with self.db.session() as session:
            query = select(InstanceTask.id).where(InstanceTask.instance_id == instance_id,
                                                  InstanceTask.bpmn_id == bpmn_id, InstanceTask.dropped.is_(False))
            if state is not None:
                query = query.where(InstanceTask.state == state)
            found = session.scalars(query.order_by(InstanceTask.seq)).all()
        assert found, f"instance {instance_id} has no {state or ''} task {bpmn_id}"
        return found[-1]

    def refusal(self, instance_id: int, bpmn_id: str, user: str) -> Any:
        with UnitOfWork(self.db, self[user].actor) as uow:
            return tasks.gate_refusal(uow, self.task_id(instance_id, bpmn_id), user, stage="claim")

    def claim(self, instance_id: int, bpmn_id: str, user: str) -> str:
        with UnitOfWork(self.db, self[user].actor) as uow:
            row = tasks.claim(uow, self.task_id(instance_id, bpmn_id))
            uow.commit()
            return str(row.claimed_by)

    def complete(self, instance_id: int, bpmn_id: str, user: str, data: dict[str, Any] | None = None,
                 meanings: tuple[str, ...] = (), *, task_id: str | None = None) -> Any:
        tid = task_id or self.task_id(instance_id, bpmn_id)
        signatures = tuple(self.sign(user, meaning) for meaning in meanings)
        with UnitOfWork(self.db, self[user].actor) as uow:
            done = tasks.complete_task(uow, tid, data or {}, signatures, services=self.services,
                                       settings=self.settings)
            uow.commit()
            return done

    def status(self, instance_id: int) -> str:
        from engine.models import ProcessInstance

        with self.db.session() as session:
            return str(session.get(ProcessInstance, instance_id).status)


@pytest.fixture
def site(db, settings, frozen_clock, runtime) -> Iterator[Site]:  # type: ignore[no-untyped-def]
    """The plant's people; the process library's parts (bpmn.glue.extend) in this test's runtime."""
    from bpmn.glue import extend
    from signatures import kdf

    extend(runtime, db, settings)
    with kdf.unsafe_fast_kdf():
        yield Site(db, settings, frozen_clock)


def task_data(db: Any, instance_id: int, bpmn_id: str) -> dict[str, Any]:
    """The data of the latest task `bpmn_id` of the instance, as it stands."""
    import json

    with db.session() as session:
        body = session.scalars(select(InstanceTask.body).where(
            InstanceTask.instance_id == instance_id, InstanceTask.bpmn_id == bpmn_id, InstanceTask.dropped.is_(False))
            .order_by(InstanceTask.seq.desc())).first()
    assert body is not None, f"instance {instance_id} has no task {bpmn_id}"
    return dict(json.loads(body).get("data") or {})


def ready(db: Any, instance_id: int) -> list[str]:
    """The bpmn ids of the instance's ready tasks, in order."""
    with db.session() as session:
        return list(session.scalars(select(InstanceTask.bpmn_id).where(
            InstanceTask.instance_id == instance_id, InstanceTask.state == READY, InstanceTask.dropped.is_(False))
            .order_by(InstanceTask.seq)))


@pytest.fixture
def dev_site(site):  # type: ignore[no-untyped-def]
    """The site with the deviation process (as shipped) and a batch-like process approved."""
    from bpmn.deviation_capa import bundle as deviation_bundle

    site.deploy(bundle(STUBS / "gate_batch"))
    site.deploy(deviation_bundle())
    return site
