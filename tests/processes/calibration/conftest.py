"""Calibration fixtures: the masterdata plant with a fluid bed dryer whose differential pressure
transmitter PT-102 sits on the simulated calibration bench, pressure calibrators (one in
calibration, one overdue), the plant's tags registered at a real simulator, the library's
runtime, and the calibration diagrams approved (plus a stand-in `deviation` process that
receives raised deviations, and a batch step on the dryer)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from sqlalchemy import select

from engine import definitions, instances, tasks
from engine.models import InstanceTask
from engine.ports import SignatureInput, default_services
from engine.spiff.workflow import WAITING
from engine.tasks import READY
from masterdata.changes import ChangeCatalogue
from masterdata.kinds import register_kinds
from signatures import testing
from store.uow import UnitOfWork
from tests.masterdata.conftest import Plant

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
PLANT_TAGS = ROOT / "connectors" / "plant_tags.yaml"
MORE_PEOPLE = [("tom", "Tom Technician", ["technician"]), ("tina", "Tina Technician", ["technician"]),
               ("vic", "Vic Verifier", ["verifier"]), ("mia", "Mia Metrology", ["metrology"]),
               ("olga", "Olga Operator", ["operator"])]
DRYER = {"FBD-01": {"name": "Fluid bed dryer", "class": "fluid_bed_dryer", "location": "Room 102",
                    "instruments": ["PT-102"]}}
INSTRUMENTS = {
    "PT-102": {"name": "Filter differential pressure", "equipment": "FBD-01", "tag": "PT-102.dp",
               "range": {"min": 0, "max": 5000, "unit": "Pa"}, "tolerance": {"value": 25, "unit": "Pa"},
               "interval_days": 365, "test_points": [500, 2500, 4500]},
    "PT-103": {"name": "Exhaust pressure (not connected)", "equipment": "FBD-01",
               "range": {"min": 0, "max": 5000, "unit": "Pa"}, "tolerance": {"value": 25, "unit": "Pa"},
               "interval_days": 365, "test_points": [1000, 4000]},
    "REF-P-01": {"name": "Pressure calibrator", "tag": "REF-P-01.dp", "reference": True,
                 "range": {"min": 0, "max": 6000, "unit": "Pa"}, "tolerance": {"value": 2, "unit": "Pa"},
                 "interval_days": 365},
    "REF-P-02": {"name": "Old pressure calibrator", "reference": True,
                 "range": {"min": 0, "max": 6000, "unit": "Pa"}, "tolerance": {"value": 2, "unit": "Pa"},
                 "interval_days": 365},
}


def diagrams_for_tests() -> list[Path]:
    from bpmn.calibration import DIAGRAMS

    return [DIAGRAMS["calibration"], DIAGRAMS["calibration_schedule"], HERE / "processes" / "deviation_stub",
            HERE / "processes" / "uses_dryer"]


class CalPlant(Plant):
    def __init__(self, db: Any, settings: Any, clock: Any, sim: Any, enrolled: tuple[Any, dict[str, Any]] | None = None) -> None:
        """A new plant (its people enrolled now), or with `enrolled` (admin, people) one whose database
        already holds them (a copy of a seeded template)."""
        self.sim = sim
        if enrolled is not None:
            self.db, self.settings, self.clock = db, settings, clock
            self.admin, self.people = enrolled[0], dict(enrolled[1])
            self.catalogue = register_kinds(ChangeCatalogue()).freeze()
            return
        super().__init__(db, settings, clock)
        for uid, name, roles in MORE_PEOPLE:
            self.people[uid] = testing.enrolled_user(db, settings, self.admin, uid, name, roles)

    def sign(self, meaning: str, user: str) -> SignatureInput:
        creds = self.creds(user)
        return SignatureInput(meaning, user, {"password": creds.password, "totp": creds.totp})

    def deploy(self, folder: Path) -> None:
        files = {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
        services = default_services(self.settings)
        with UnitOfWork(self.db, self["quinn"].actor) as uow:
            version = definitions.upload(uow, files, reason=f"process {folder.name}", services=services)
            uow.commit()
        creds = self.creds("rita")
        with UnitOfWork(self.db, self["rita"].actor) as uow:
            definitions.approve(uow, version.id, SignatureInput("approved", "rita", {
                "password": creds.password, "totp": creds.totp}), services=services)
            uow.commit()

    def register_tags(self) -> None:
        from connectors import registry

        with UnitOfWork(self.db, self["quinn"].actor) as uow:
            number = registry.import_revision(uow, PLANT_TAGS.read_bytes(), "plant_tags.yaml", reason="simulator",
                                              endpoint_overrides={
                                                  "plant-modbus": f"modbus://127.0.0.1:{self.sim.modbus_port}",
                                                  "plant-opcua": "opc.tcp://127.0.0.1:1/none"}).number
            uow.commit()
        creds = self.creds("rita")
        with UnitOfWork(self.db, self["rita"].actor) as uow:
            registry.approve_revision(uow, number, credentials=creds, settings=self.settings, reason="checked")
            uow.commit()

    # ------------------------------------------------------------ instances and tasks
    def start(self, process: str, data: dict[str, Any] | None = None, key: str | None = None, user: str = "sam") -> int:
        with UnitOfWork(self.db, self[user].actor) as uow:
            instance = instances.start(uow, process, data=data or {}, settings=self.settings, business_key=key)
            uow.commit()
            return int(instance.id)

    def task(self, instance_id: int, bpmn_id: str) -> str:
        with self.db.session() as session:
            found = session.scalars(select(InstanceTask.id).where(
                InstanceTask.instance_id == instance_id, InstanceTask.bpmn_id == bpmn_id,
                InstanceTask.state == READY)).all()
        assert found, f"no ready task {bpmn_id} in instance {instance_id}"
        return found[-1]

    def ready(self, instance_id: int) -> list[str]:
        with self.db.session() as session:
            return sorted(session.scalars(select(InstanceTask.bpmn_id).where(
                InstanceTask.instance_id == instance_id, InstanceTask.state == READY,
                InstanceTask.manual.is_(True))).all())

    def complete(self, instance_id: int, bpmn_id: str, user: str, data: dict[str, Any] | None = None,
                 meanings: tuple[str, ...] = (), verifier: str | None = None) -> Any:
        task_id = self.task(instance_id, bpmn_id)
        signatures = [self.sign(m, user) for m in meanings]
        if verifier:
            signatures.append(self.sign("verified", verifier))
        with UnitOfWork(self.db, self[user].actor) as uow:
            done = tasks.complete_task(uow, task_id, data or {}, signatures, settings=self.settings)
            uow.commit()
        return done

    def inspect(self, instance_id: int) -> dict[str, Any]:
        """The instance (engine.instances.inspect) with `data` as it stands: the data of its
        ready task (else of its waiting event) while it waits for one, else the workflow's."""
        from engine.spiff.serializer import row_data

        with self.db.session() as session:
            found = instances.inspect(session, instance_id)
            body = session.scalars(select(InstanceTask.body).where(
                InstanceTask.instance_id == instance_id, InstanceTask.state == READY,
                InstanceTask.manual.is_(True)).order_by(InstanceTask.seq)).all() or session.scalars(
                select(InstanceTask.body).where(InstanceTask.instance_id == instance_id,  # a timer waiting
                                                InstanceTask.state == WAITING).order_by(InstanceTask.seq)).all()
        if body:
            found["data"] = row_data(body[-1])
        return found


@pytest.fixture(scope="module")
def simulator() -> Iterator[Any]:
    from connectors.simulator.plant import PlantSimulator, free_port

    sim = PlantSimulator(modbus_port=free_port(), opcua_port=None, noise=False).start()
    try:
        yield sim
    finally:
        sim.stop()


def seed_cal(plant: CalPlant) -> None:
    """Master data, the dryer and its instruments in force, the tags registered, the diagrams approved."""
    plant.seed_master_data()
    plant.put_in_force("instrument", INSTRUMENTS)
    plant.put_in_force("equipment", DRYER)
    plant.register_tags()
    for folder in diagrams_for_tests():
        plant.deploy(folder)


@pytest.fixture(scope="session")
def _cal_templates() -> dict[Any, Any]:
    return {}


@pytest.fixture
def cal(backend, db, settings, frozen_clock, simulator, runtime, request, _cal_templates) -> Iterator[CalPlant]:  # type: ignore[no-untyped-def]
    """The plant with the calibration process approved and the tags registered, in this test's own
    database: a copy of a template seeded once per backend and simulator (the tag registry names the
    simulator's port; tests/support/seeded.py)."""
    from bpmn.glue import extend
    from signatures import kdf
    from tests.support.seeded import seeded_copy

    def seed(template_db: Any, seeding: Any) -> Any:
        seeded = CalPlant(template_db, seeding, frozen_clock, simulator)
        seed_cal(seeded)
        return seeded.admin, seeded.people

    if "calibration" not in runtime.gates:  # the web app's fixture may have extended it already
        extend(runtime, db, settings)
    for point in ("cal.dp_reference", "cal.dp_transmitter_offset"):
        simulator.set(point, 0.0)
    with kdf.unsafe_fast_kdf():
        enrolled = seeded_copy(request, _cal_templates, ("cal", backend, simulator.modbus_port), backend, settings,
                               db, frozen_clock, seed)
        yield CalPlant(db, settings, frozen_clock, simulator, enrolled)
