"""Fixtures of the connectors suite: a real plant simulator per module, a registry, a client."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Iterator

import pytest

from audit.canonical import Actor
from connectors import registry
from connectors.client import ClientOptions, EquipmentClient
from connectors.simulator.plant import PlantSimulator, free_port
from store.uow import UnitOfWork

PLANT_TAGS = Path(__file__).resolve().parents[2] / "connectors" / "plant_tags.yaml"
ENGINEER = Actor("eng.li", "Li Engineer")
QA = Actor("qa.wang", "Wang QA")
OPERATOR = Actor("op.chen", "Chen Operator")


@pytest.fixture(scope="module")
def plant() -> Iterator[PlantSimulator]:
    sim = PlantSimulator(modbus_port=free_port(), opcua_port=free_port(), noise=True).start()
    try:
        yield sim
    finally:
        sim.stop()


def endpoint_overrides(sim: PlantSimulator) -> dict[str, str]:
    overrides = {"plant-modbus": f"modbus://127.0.0.1:{sim.modbus_port}"}
    if sim.opcua is not None:
        overrides["plant-opcua"] = sim.opcua_endpoint
    return overrides


def import_and_approve(db, sim: PlantSimulator, raw: bytes | None = None, name: str = "plant_tags.yaml") -> int:  # type: ignore[no-untyped-def]
    with UnitOfWork(db, ENGINEER) as uow:
        revision = registry.import_revision(uow, raw or PLANT_TAGS.read_bytes(), name, reason="plant simulator tags",
                                            endpoint_overrides=endpoint_overrides(sim))
        number = revision.number
        uow.commit()
    with UnitOfWork(db, QA) as uow:
        registry.approve_revision(uow, number, reason="checked against the P&ID")
        uow.commit()
    return number


@pytest.fixture
def registered(db, plant):  # type: ignore[no-untyped-def]
    """A database whose effective registry is the plant's tags at the simulator's ports."""
    import_and_approve(db, plant)
    return db


@pytest.fixture(scope="module")
def client() -> EquipmentClient:
    return EquipmentClient(ClientOptions(timeout=1.0))


def thread_names() -> list[str]:
    return sorted(t.name for t in threading.enumerate())
