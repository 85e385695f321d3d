"""A demo plant for the batch record's service tests: the demo users and master data
(bpmn.demo.seed), the plant simulator's tags, a good lactose lot, the batch record process and a
stand-in deviation process (the contract's start: {"deviation": {...}}) approved. Seeded once per
database backend into a template; each test gets its own copy.

`BatchPlant` drives the process as people would through the service layer: claim, complete with
real signature ceremonies (a fresh TOTP step each), net weights captured from the simulated scale
over Modbus, the scheduler running set-point writes and sampling against the simulator."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Iterator, Mapping

import pytest
from sqlalchemy import select

from audit.canonical import Actor
from connectors.simulator.plant import PlantSimulator, free_port
from core import clock
from core.config import load_settings
from engine.models import InstanceTask
from engine.ports import SignatureInput, default_services
from engine.spiff.workflow import COMPLETED, READY, STARTED
from store.db import Database
from store.uow import UnitOfWork

HERE = Path(__file__).resolve().parent
SECRET, PASSPHRASE = "batch-record-test-secret-key-0123456789", "batch record test server key"
FAST_SAMPLING = {"duration_s": 1, "interval_s": 0.5}
NAMES = {"alice": "Alice Operator", "victor": "Victor Verifier", "sam": "Sam Supervisor", "quinn": "Quinn QA",
         "rita": "Rita Reviewer", "peter": "Peter Qualified-Person", "lin": "林晓 Lin Xiao", "admin": "Ada Admin"}
GOOD_LACTOSE = "L-LAC-2603"


@pytest.fixture(scope="session")
def batch_plant_sim() -> Iterator[PlantSimulator]:
    opcua_port = free_port()
    sim = PlantSimulator(modbus_port=free_port(), opcua_port=opcua_port, noise=False).start()
    sim.opcua_test_port = opcua_port  # type: ignore[attr-defined]
    try:
        yield sim
    finally:
        sim.stop()


def _settings(instance: Path, url: str, sim: PlantSimulator) -> Any:
    return load_settings({"instance_path": str(instance), "database_url": url, "secret_key": SECRET,
                          "server_key_passphrase": PASSPHRASE, "modbus_port": sim.modbus_port,
                          "opcua_port": sim.opcua_test_port}, environ={})


class Ceremonies:
    """One ceremony's credentials per call: the frozen clock moves to an unused TOTP step."""

    def __init__(self, secrets: Mapping[str, str], frozen: clock.FrozenClock) -> None:
        self.secrets, self.frozen = dict(secrets), frozen

    def __call__(self, user: str) -> Any:
        from bpmn.demo import DEMO_PASSWORD
        from signatures import totp
        from signatures.credentials import Credentials
        from signatures.testing import fresh_totp_step

        fresh_totp_step(self.frozen)
        secret = self.secrets[user]
        return Credentials(user, DEMO_PASSWORD, totp.code_at_step(secret, totp.current_step(secret, clock.now())))


def _seed(settings: Any) -> tuple[dict[str, str], Any]:
    """The demo plant (with the batch record's demo: a released lactose lot, the process approved) and a
    stand-in deviation process approved."""
    from bpmn import demo
    from bpmn.glue import install
    from engine import definitions
    from signatures import kdf

    with kdf.unsafe_fast_kdf():
        rows = demo.seed(settings)
    secrets = {row[0]: row[3] for row in rows}
    db = Database(settings.database_url)
    previous = clock.get_clock()
    frozen = clock.FrozenClock(clock.now())
    clock.set_clock(frozen)
    try:
        creds = Ceremonies(secrets, frozen)
        runtime = install(db, settings)
        quinn, rita = Actor("quinn", NAMES["quinn"]), Actor("rita", NAMES["rita"])
        stub = {"deviation.bpmn": (HERE / "deviation_stub" / "deviation.bpmn").read_bytes()}
        for files in (stub,):
            with UnitOfWork(db, quinn) as uow:
                version = definitions.upload(uow, files, reason="batch record tests", runtime=runtime)
                uow.commit()
                version_id = version.id
            with UnitOfWork(db, rita) as uow:
                c = creds("rita")
                definitions.approve(uow, version_id, SignatureInput("approved", "rita", {
                    "password": c.password, "totp": c.totp}), settings=settings, reason="reviewed",
                    runtime=runtime)
                uow.commit()
        from signatures.accountability import sign_statement

        for user in ("peter", "lin"):
            with UnitOfWork(db, Actor(user, NAMES[user])) as uow:
                sign_statement(uow, creds(user), settings)
                uow.commit()
    finally:
        clock.set_clock(previous)
        db.dispose()
    return secrets, frozen()


@pytest.fixture(scope="session")
def _batch_templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return {}


@pytest.fixture
def plant(backend, request, tmp_path, _batch_templates, batch_plant_sim, runtime):  # type: ignore[no-untyped-def]
    """A seeded demo plant database of this backend (a copy of the template) and its driver."""
    from bpmn.glue import extend

    if backend not in _batch_templates:
        folder = request.getfixturevalue("tmp_path_factory").mktemp(f"batch-{backend}")
        instance = folder / "instance"
        instance.mkdir()
        if backend == "sqlite":
            template = request.getfixturevalue("_sqlite_template")
            path = folder / "plant.sqlite3"
            shutil.copy(template, path)
            url = f"sqlite:///{path}"
        else:
            server = request.getfixturevalue("pg_server")
            name = "batch_plant_template"
            server.admin_execute(f"CREATE DATABASE {name} TEMPLATE {request.getfixturevalue('_pg_template')}")
            url = server.url(name)
        settings = _settings(instance, url, batch_plant_sim)
        secrets, seeded_until = _seed(settings)
        _batch_templates[backend] = (instance, url, secrets, seeded_until)
    instance, url, secrets, seeded_until = _batch_templates[backend]
    if backend == "sqlite":
        path = tmp_path / "plant.sqlite3"
        shutil.copy(url.removeprefix("sqlite:///"), path)
        copy_url = f"sqlite:///{path}"
    else:
        server = request.getfixturevalue("pg_server")
        name = f"batch_{abs(hash(request.node.nodeid)) % 10**8}"
        server.admin_execute(f"CREATE DATABASE {name} TEMPLATE batch_plant_template")
        request.addfinalizer(lambda: server.admin_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        copy_url = server.url(name)
    settings = _settings(instance, copy_url, batch_plant_sim)
    db = Database(copy_url)
    frozen = clock.FrozenClock(max(clock.now(), seeded_until))  # after every TOTP step the seed used
    clock.set_clock(frozen)
    from signatures import kdf

    try:
        with kdf.unsafe_fast_kdf():
            yield BatchPlant(db, settings, extend(runtime, db, settings), Ceremonies(secrets, frozen), batch_plant_sim)
    finally:
        clock.set_clock(None)
        db.dispose()


class BatchPlant:
    def __init__(self, db: Database, settings: Any, runtime: Any, creds: Ceremonies, sim: PlantSimulator) -> None:
        self.db, self.settings, self.runtime, self.creds, self.sim = db, settings, runtime, creds, sim
        sim.set("dryer.impeller_speed", 150.0)
        sim.set("dryer.impeller_speed_sp", 150.0)
        sim.set("dryer.inlet_temp", 60.0)
        sim.set("dryer.inlet_temp_sp", 60.0)
        sim.release()

    # ---------------------------------------------------------------- people and records
    def actor(self, user: str) -> Actor:
        return Actor(user, NAMES[user])

    def signature(self, user: str, meaning: str) -> SignatureInput:
        c = self.creds(user)
        return SignatureInput(meaning, user, {"password": c.password, "totp": c.totp})

    def calibrate(self, instrument: str) -> None:
        from masterdata import calibration

        with UnitOfWork(self.db, self.actor("quinn")) as uow:
            calibration.record_calibration(uow, instrument, calibrated_on=clock.now().date().isoformat(), result="pass",
                                           certificate=f"CAL-{instrument}-T", note="calibrated for the batch",
                                           credentials=self.creds("quinn"), settings=self.settings)
            uow.commit()

    def grant(self, user: str, sop: str, version: int) -> None:
        from datetime import timedelta

        from masterdata import qualifications

        today = clock.now().date()
        with UnitOfWork(self.db, self.actor("quinn")) as uow:
            qualifications.grant_qualification(uow, user, sop, version, granted_on=(today - timedelta(days=1)).isoformat(),
                                               valid_until=(today + timedelta(days=365)).isoformat(),
                                               basis="trained for the test", credentials=self.creds("quinn"),
                                               settings=self.settings)
            uow.commit()

    # ---------------------------------------------------------------- the batch
    def order(self, number: str = "B-2026-0001", recipe: str = "RCP-PARA-500") -> int:
        from bpmn.batch_record.plan import order

        with UnitOfWork(self.db, self.actor("sam")) as uow:
            started = order(uow, recipe, number, planned_date=clock.now().date().isoformat(), sampling=FAST_SAMPLING,
                            settings=self.settings, runtime=self.runtime)
            uow.commit()
            return started.id

    def task_id(self, instance_id: int, bpmn_id: str, states: tuple[int, ...] = (READY,)) -> str:
        with self.db.session() as session:
            found = session.scalars(select(InstanceTask.id).where(
                InstanceTask.instance_id == instance_id, InstanceTask.bpmn_id == bpmn_id,
                InstanceTask.state.in_(states)).order_by(InstanceTask.seq.desc())).first()
        assert found is not None, f"no task {bpmn_id} in states {states}"
        return found

    def ready(self, instance_id: int) -> list[str]:
        with self.db.session() as session:
            return sorted(session.scalars(select(InstanceTask.bpmn_id).where(
                InstanceTask.instance_id == instance_id, InstanceTask.state == READY, InstanceTask.manual.is_(True))))

    def claim(self, user: str, task_id: str) -> None:
        from engine import tasks

        with UnitOfWork(self.db, self.actor(user)) as uow:
            tasks.claim(uow, task_id, runtime=self.runtime)
            uow.commit()

    def complete(self, user: str, instance_id: int, bpmn_id: str, data: Mapping[str, Any] | None = None, *,
                 meanings: tuple[str, ...] = (), verifier: tuple[str, str] | None = None,
                 exceptions: Mapping[str, str] | None = None, captured: Mapping[str, Any] | None = None,
                 overrides: Mapping[str, str] | None = None) -> str:
        """Complete the ready task as `user` with the form checked as the task page checks it."""
        from engine.ports import EngineServices
        from engine.tasks import complete_task
        from forms import validate_submission

        task_id = self.task_id(instance_id, bpmn_id)
        signatures = [self.signature(user, m) for m in meanings]
        if verifier is not None:
            signatures.append(self.signature(verifier[0], verifier[1]))
        base = default_services(self.settings)

        def validator(schema: Any, ui: Any, values: Mapping[str, Any]) -> dict[str, Any]:
            checked = validate_submission(schema, ui, values, exceptions=dict(exceptions or {}),
                                          overrides=dict(overrides or {}), captured=dict(captured or {}),
                                          entered_by=user, verified_by=verifier[0] if verifier else None)
            record = checked.to_record()
            record.pop("data")
            return {**checked.data, "_form": record}

        services = EngineServices(roles_of=base.roles_of, sign=base.sign, validate_form=validator,
                                  meanings=base.meanings)
        with UnitOfWork(self.db, self.actor(user)) as uow:
            complete_task(uow, task_id, dict(data or {}), signatures, services=services, settings=self.settings,
                          runtime=self.runtime)
            uow.commit()
        return task_id

    def weigh(self, instance_id: int, kg: float) -> Any:
        """Put `kg` on the simulated scale and capture the net weight over Modbus for the dispensing task."""
        from connectors.models import EquipmentReading
        from connectors.operators import environment, read_tag
        from core.clock import parse_iso
        from forms import CapturedValue

        self.sim.set("scale.load", kg)
        self.sim.set("scale.net_weight", kg)
        task_id = self.task_id(instance_id, "dispense")
        read_tag(environment(self.db, self.settings), "SCALE-01.net_weight", actor=self.actor("alice"),
                 instance_id=str(instance_id), task_id=task_id)
        with self.db.session() as session:
            row = session.scalars(select(EquipmentReading).where(EquipmentReading.task_id == task_id)
                                  .order_by(EquipmentReading.id.desc())).first()
        return CapturedValue(tag="SCALE-01.net_weight", value=json.loads(row.value_json),
                             captured_at=parse_iso(row.source_timestamp), unit=row.unit or None,
                             stable=row.quality == "good", reading_id=row.id)

    def run_scheduler(self) -> Any:
        from engine.scheduler import Scheduler

        return Scheduler(self.db, self.settings, name="batch-tests", runtime=self.runtime).run_once()

    def data(self, instance_id: int) -> dict[str, Any]:
        """The batch's data: its newest task's (the instance's own once it has ended)."""
        from engine import instances
        from engine.spiff.serializer import row_data

        with self.db.session() as session:
            found = dict(instances.inspect(session, instance_id)["data"])
            newest = session.scalars(select(InstanceTask).where(
                InstanceTask.instance_id == instance_id, InstanceTask.state.in_((READY, STARTED, COMPLETED)))
                .order_by(InstanceTask.state.in_((READY, STARTED)).desc(), InstanceTask.seq.desc())).first()
            if newest is not None:
                found.update(row_data(newest.body))
            return found

    def status(self, instance_id: int) -> str:
        from bpmn.batch_record.status import batch_status

        with self.db.session() as session:
            return batch_status(session, instance_id)

    def started(self, instance_id: int, bpmn_id: str) -> str:
        return self.task_id(instance_id, bpmn_id, (STARTED,))
