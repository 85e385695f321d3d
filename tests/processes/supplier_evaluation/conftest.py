"""Supplier evaluation fixtures: the masterdata plant (suppliers SUP-A approved, SUP-B rejected for
lactose) with a new supplier SUP-C, the people of the evaluation's lanes, the library's runtime, the
evaluation approved, a stand-in `deviation` process receiving raised CAPAs and a dispensing step
behind the supplier gate."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from signatures import testing
from tests.processes.calibration.conftest import HERE as CAL_HERE
from tests.processes.calibration.conftest import CalPlant

HERE = Path(__file__).resolve().parent
SE_PEOPLE = [("rob", "Rob Requester", ["requester"]), ("paula", "Paula Purchasing", ["purchasing"]),
             ("sue", "Sue Auditor", ["supplier_auditor"])]


class SupplierPlant(CalPlant):
    def __init__(self, db: Any, settings: Any, clock: Any, enrolled: tuple[Any, dict[str, Any]] | None = None) -> None:
        super().__init__(db, settings, clock, None, enrolled)
        if enrolled is None:
            for uid, name, roles in SE_PEOPLE:
                self.people[uid] = testing.enrolled_user(db, settings, self.admin, uid, name, roles)


@pytest.fixture(scope="session")
def _sup_templates() -> dict[Any, Any]:
    return {}


@pytest.fixture
def sup(backend, db, settings, frozen_clock, runtime, request, _sup_templates) -> Iterator[SupplierPlant]:  # type: ignore[no-untyped-def]
    """The plant with the supplier evaluation approved, in this test's own database: a copy of a
    template seeded once per backend (tests/support/seeded.py)."""
    from bpmn.glue import extend
    from bpmn.supplier_evaluation import DIAGRAM
    from signatures import kdf
    from tests.support.seeded import seeded_copy

    def seed(template_db: Any, seeding: Any) -> Any:
        plant = SupplierPlant(template_db, seeding, frozen_clock)
        plant.seed_master_data()
        plant.put_in_force("supplier", {"SUP-C": {"name": "Gamma Excipients", "country": "IN"}})
        for folder in (DIAGRAM, CAL_HERE / "processes" / "deviation_stub", HERE / "processes" / "dispense_stub"):
            plant.deploy(folder)
        return plant.admin, plant.people

    if "supplier_evaluation" not in runtime.gates:
        extend(runtime, db, settings)
    with kdf.unsafe_fast_kdf():
        enrolled = seeded_copy(request, _sup_templates, ("supplier", backend), backend, settings, db, frozen_clock, seed)
        yield SupplierPlant(db, settings, frozen_clock, enrolled)
