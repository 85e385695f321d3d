"""Fixtures of the connectors suite: a real plant simulator per module, a registry, a client."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from connectors import registry
from connectors.client import ClientOptions, EquipmentClient
from connectors.simulator.plant import PlantSimulator, free_port
from store.uow import UnitOfWork

OPERATOR_LABEL = ("op.chen", "Chen Operator")
PLANT_TAGS = Path(__file__).resolve().parents[2] / "connectors" / "plant_tags.yaml"


class People:
    """Real, enrolled users (cheap KDF): an engineer who imports tags, QA, and an operator
    (created on first use: most tests only need the registry approved)."""

    def __init__(self, db: Any, settings: Any) -> None:
        from signatures import testing

        self._db, self._settings = db, settings
        self.admin = testing.bootstrap_admin(db, settings)
        self.engineer = testing.enrolled_user(db, settings, self.admin, "eng.li", "Li Engineer", ["validation"])
        self.qa = testing.enrolled_user(db, settings, self.admin, "qa.wang", "Wang QA", ["qa"])
        self._operator: Any = None

    @property
    def operator(self) -> Any:
        from signatures import testing

        if self._operator is None:
            self._operator = testing.enrolled_user(self._db, self._settings, self.admin, "op.chen", "Chen Operator",
                                                   ["operator"])
        return self._operator


@pytest.fixture
def people(db, settings, frozen_clock) -> Iterator[People]:  # type: ignore[no-untyped-def]
    from signatures import kdf

    with kdf.unsafe_fast_kdf():
        yield People(db, settings)


OPCUA_USER = ("opc.operator", "S3cure pass phrase")


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Self-signed certificates for the simulator (server) and the connector (client)."""
    from connectors.certificates import write_self_signed

    folder = tmp_path_factory.mktemp("pki")
    write_self_signed(folder / "server.der", folder / "server.pem", "urn:gmp:plant-simulator:server", "GMP plant simulator")
    write_self_signed(folder / "client.der", folder / "client.pem", "urn:gmp:connector", "GMP connector")
    return folder


@pytest.fixture(scope="session")
def plant(pki: Path) -> Iterator[PlantSimulator]:
    """One simulator for the whole suite (OPC UA start-up is the slow part): anonymous,
    username/password and Basic256Sha256 SignAndEncrypt sessions are all accepted."""
    sim = PlantSimulator(modbus_port=free_port(), opcua_port=free_port(), noise=True,
                         opcua_users=dict([OPCUA_USER]), certificate=pki / "server.der",
                         private_key=pki / "server.pem").start()
    try:
        yield sim
    finally:
        sim.stop()


def endpoint_overrides(sim: PlantSimulator) -> dict[str, str]:
    overrides = {"plant-modbus": f"modbus://127.0.0.1:{sim.modbus_port}"}
    if sim.opcua is not None:
        overrides["plant-opcua"] = sim.opcua_endpoint
    return overrides


def import_and_approve(db, settings, people: People, sim: PlantSimulator, raw: bytes | None = None,  # type: ignore[no-untyped-def]
                       name: str = "plant_tags.yaml") -> int:
    from signatures import testing

    with UnitOfWork(db, people.engineer.actor) as uow:
        revision = registry.import_revision(uow, raw or PLANT_TAGS.read_bytes(), name, reason="plant simulator tags",
                                            endpoint_overrides=endpoint_overrides(sim))
        number = revision.number
        uow.commit()
    with UnitOfWork(db, people.qa.actor) as uow:
        registry.approve_revision(uow, number, credentials=testing.credentials(db, people.qa), settings=settings,
                                  reason="checked against the P&ID")
        uow.commit()
    return number


@pytest.fixture
def registered(db, settings, people, plant):  # type: ignore[no-untyped-def]
    """A database whose effective registry is the plant's tags at the simulator's ports."""
    import_and_approve(db, settings, people, plant)
    return db


@pytest.fixture(scope="session")
def client() -> EquipmentClient:
    return EquipmentClient(ClientOptions(timeout=1.0))

