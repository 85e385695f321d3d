"""A site for permits: enrolled people in their permit roles (a contractor among them), the EHS
SOPs in the document register with the crew's qualifications, the plant simulator over Modbus
TCP with its tags registered, and the `work_permit` definition approved."""
from __future__ import annotations

from datetime import date
from typing import Any, Iterator

import pytest
from sqlalchemy import select

from bpmn import work_permit
from engine import definitions, instances, tasks
from engine.models import InstanceTask
from engine.ports import SignatureInput, default_services
from engine.spiff.serializer import row_data
from engine.spiff.workflow import READY
from masterdata import changes, qualifications
from masterdata.changes import ChangeCatalogue
from masterdata.kinds import register_kinds
from signatures import testing
from store.uow import UnitOfWork

PLANT_TAGS = work_permit.DIAGRAM_DIR.parent.parent / "connectors" / "plant_tags.yaml"
PEOPLE = [("rose", "Rose Requester", ["requester"]), ("owen", "Owen Area-Owner", ["area_owner"]),
          ("ella", "Ella EHS", ["ehs_officer"]), ("eric", "Eric EHS", ["ehs_officer"]),
          ("ivan", "Ivan Isolation", ["isolation_authority"]), ("tom", "Tom Technician", ["technician"]),
          ("quinn", "Quinn QA", ["qa"]), ("rita", "Rita Reviewer", ["qa"]), ("tess", "Tess Trainer", ["trainer"]),
          ("dual", "Dana Owner-and-EHS", ["area_owner", "ehs_officer"])]
SOPS = {"SOP-EHS-001": "Permit-to-work system", "SOP-EHS-002": "Hot work", "SOP-EHS-003": "Confined-space entry",
        "SOP-EHS-004": "Work at height", "SOP-EHS-005": "Lockout-tagout", "SOP-EHS-006": "Temporary electrical work",
        "SOP-EHS-010": "Contractor site induction"}
MEANINGS = {"request": ["performed"], "apply_isolations": ["performed"], "gas_test": ["performed"],
            "enter_gas": ["performed"], "area_approval": ["approved"], "issue": ["approved"], "work": ["performed"],
            "remove_isolations": ["performed"], "resume_work": ["performed"],
            "handback_requester": ["handed_back"], "handback_area": ["handed_back"]}
PLANT_STATE = {"isolation.breaker_closed": True, "isolation.valve_open": True, "isolation.mcc_breaker_closed": True,
               "isolation.n2_valve_open": True, "gas.o2": 20.9, "gas.lel": 0.0, "gas.h2s": 0.0, "gas.co": 0.0}


@pytest.fixture(scope="module")
def simulator():  # type: ignore[no-untyped-def]
    from connectors.simulator.plant import PlantSimulator, free_port

    sim = PlantSimulator(modbus_port=free_port(), opcua_port=None, noise=False).start()
    try:
        yield sim
    finally:
        sim.stop()


class Site:
    def __init__(self, db: Any, settings: Any, clock: Any, sim: Any, enrolled: tuple[Any, dict[str, Any]] | None = None) -> None:
        """A new site (its people enrolled now), or with `enrolled` (admin, people) one whose database
        already holds them (a copy of a seeded template)."""
        self.db, self.settings, self.clock, self.sim = db, settings, clock, sim
        if enrolled is None:
            self.admin = testing.bootstrap_admin(db, settings)
            self.people = {uid: testing.enrolled_user(db, settings, self.admin, uid, name, roles)
                           for uid, name, roles in PEOPLE}
        else:
            self.admin, self.people = enrolled[0], dict(enrolled[1])
        self.catalogue = register_kinds(ChangeCatalogue()).freeze()
        self.services = default_services(settings)
        for point, value in PLANT_STATE.items():
            sim.set(point, value)

    def __getitem__(self, user_id: str) -> Any:
        return self.people[user_id]

    def creds(self, user_id: str) -> Any:
        testing.fresh_totp_step(self.clock)  # a fresh TOTP step for every ceremony, one step apart
        return testing.credentials(self.db, self.people[user_id])

    def signature(self, meaning: str, user_id: str) -> SignatureInput:
        creds = self.creds(user_id)
        return SignatureInput(meaning, user_id, {"password": creds.password, "totp": creds.totp})

    # ------------------------------------------------------------ set-up
    def contractor(self, user_id: str, name: str, expires_on: date | None) -> Any:
        """A contractor: the `contractor` role (added to the catalogue once), an account ending on `expires_on`."""
        from signatures.identities import create_user, verify_identity
        from signatures.models import Role
        from signatures.roles import add_role

        with UnitOfWork(self.db, self.admin.actor) as uow:
            if uow.session.get(Role, "contractor") is None:
                add_role(uow, "contractor", "business", "Contractor", "承包商", "Works on site for a contractor company",
                         reason="contractors work under permits")
            _, secret = create_user(uow, user_id, name, ["contractor", "technician"], self.settings,
                                    expires_on=expires_on)
            uow.commit()
        person = testing.Person(user_id, name, testing.DEFAULT_PASSWORD,
                                testing._enrol(self.db, self.settings, user_id, secret, testing.DEFAULT_PASSWORD))
        with UnitOfWork(self.db, self.admin.actor) as uow:
            verify_identity(uow, user_id, "passport checked at the gate", "contractor induction")
            uow.commit()
        self.people[user_id] = person
        return person

    def put_in_force(self, kind: str, items: dict[str, dict[str, Any]]) -> None:
        key_field = self.catalogue.get(kind).key_field
        with UnitOfWork(self.db, self["quinn"].actor) as uow:
            found = changes.draft_set(uow, self.catalogue, kind, [
                (key, {key_field: key, **data}, "create") for key, data in items.items()], f"site {kind}",
                settings=self.settings)
            uow.commit()
        creds = self.creds("rita")
        with UnitOfWork(self.db, self["rita"].actor) as uow:
            changes.approve_set(uow, self.catalogue, found.id, credentials=creds, settings=self.settings, reason="checked")
            uow.commit()

    def grant(self, user_id: str, *sops: str) -> None:
        for sop in sops:
            creds = self.creds("tess")
            with UnitOfWork(self.db, self["tess"].actor) as uow:
                qualifications.grant_qualification(uow, user_id, sop, 1, basis="trained and assessed",
                                                   credentials=creds, settings=self.settings)
                uow.commit()

    def register_tags(self) -> None:
        from connectors import registry

        with UnitOfWork(self.db, self["quinn"].actor) as uow:
            number = registry.import_revision(uow, PLANT_TAGS.read_bytes(), "plant_tags.yaml", reason="site plant",
                                              endpoint_overrides={
                                                  "plant-modbus": f"modbus://127.0.0.1:{self.sim.modbus_port}",
                                                  "plant-opcua": "opc.tcp://127.0.0.1:1/none"}).number
            uow.commit()
        creds = self.creds("rita")
        with UnitOfWork(self.db, self["rita"].actor) as uow:
            registry.approve_revision(uow, number, credentials=creds, settings=self.settings, reason="checked")
            uow.commit()

    def deploy(self) -> None:
        with UnitOfWork(self.db, self["quinn"].actor) as uow:
            version = definitions.upload(uow, work_permit.diagram_files(), reason="permit to work",
                                         services=self.services)
            uow.commit()
        with UnitOfWork(self.db, self["rita"].actor) as uow:
            definitions.approve(uow, version.id, self.signature("approved", "rita"), services=self.services)
            uow.commit()

    # ------------------------------------------------------------ running a permit
    def start(self, user_id: str = "rose") -> int:
        with UnitOfWork(self.db, self[user_id].actor) as uow:
            instance = instances.start(uow, "work_permit", title="Permit", data={}, settings=self.settings)
            uow.commit()
            return int(instance.id)

    def ready(self, instance_id: int) -> list[str]:
        """The bpmn ids of the instance's ready user tasks."""
        with self.db.session() as session:
            return sorted(session.execute(select(InstanceTask.bpmn_id).where(
                InstanceTask.instance_id == instance_id, InstanceTask.state == READY, InstanceTask.manual.is_(True),
                InstanceTask.dropped.is_(False))).scalars())

    def task(self, instance_id: int, bpmn_id: str) -> str:
        with self.db.session() as session:
            found = session.execute(select(InstanceTask.id).where(
                InstanceTask.instance_id == instance_id, InstanceTask.bpmn_id == bpmn_id,
                InstanceTask.state == READY, InstanceTask.dropped.is_(False))).scalars().all()
        assert found, f"{bpmn_id} is not ready in instance {instance_id}: ready {self.ready(instance_id)}"
        return str(found[-1])

    def complete(self, instance_id: int, bpmn_id: str, user_id: str, data: dict[str, Any] | None = None,
                 verifier: str | None = None) -> Any:
        meaning_key = "hazards" if bpmn_id.startswith("hazards_") else bpmn_id
        meanings = MEANINGS.get(meaning_key, ["assessed"])
        signatures = [self.signature(m, user_id) for m in meanings]
        if verifier:
            signatures.append(self.signature("verified", verifier))
        task_id = self.task(instance_id, bpmn_id)
        with UnitOfWork(self.db, self[user_id].actor) as uow:
            done = tasks.complete_task(uow, task_id, data or {}, signatures, services=self.services,
                                       settings=self.settings)
            uow.commit()
        return done

    def data(self, instance_id: int, bpmn_id: str) -> dict[str, Any]:
        """The data of the newest task `bpmn_id` of the instance that is waiting, ready or done (not predicted)."""
        with self.db.session() as session:
            body = session.execute(select(InstanceTask.body).where(
                InstanceTask.instance_id == instance_id, InstanceTask.bpmn_id == bpmn_id, InstanceTask.state >= 8,
                InstanceTask.state <= 64, InstanceTask.dropped.is_(False)).order_by(InstanceTask.seq.desc()).limit(1)
            ).scalar_one()
        return dict(row_data(body))

    def status(self, instance_id: int) -> str:
        from engine.models import ProcessInstance

        with self.db.session() as session:
            return session.get(ProcessInstance, instance_id).status


def seed_site(site: Site) -> None:
    """The permit site's master data, tags and approved definition."""
    site.put_in_force("document", {sop: {"title": title, "type": "sop", "version": 1, "effective_date": "2025-06-01"}
                                   for sop, title in SOPS.items()})
    site.register_tags()
    site.deploy()
    site.grant("tom", "SOP-EHS-001", "SOP-EHS-002", "SOP-EHS-003", "SOP-EHS-005")


@pytest.fixture(scope="session")
def _site_templates() -> dict[Any, Any]:
    return {}


@pytest.fixture
def site(backend, db, settings, frozen_clock, simulator, runtime, request, _site_templates) -> Iterator[Site]:  # type: ignore[no-untyped-def]
    """A seeded site in this test's own database: a copy of a template seeded once per backend and
    simulator (the tag registry names the simulator's port; tests/support/seeded.py)."""
    from bpmn.glue import extend
    from signatures import kdf
    from tests.support.seeded import seeded_copy

    def seed(template_db: Any, seeding: Any) -> Any:
        seeded = Site(template_db, seeding, frozen_clock, simulator)
        seed_site(seeded)
        return seeded.admin, seeded.people

    extend(runtime)
    with kdf.unsafe_fast_kdf():
        enrolled = seeded_copy(request, _site_templates, ("permit", backend, simulator.modbus_port), backend, settings,
                               db, frozen_clock, seed)
        yield Site(db, settings, frozen_clock, simulator, enrolled)
