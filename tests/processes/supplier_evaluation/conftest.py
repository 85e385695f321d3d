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
    def __init__(self, db: Any, settings: Any, clock: Any) -> None:
        super().__init__(db, settings, clock, None)
        for uid, name, roles in SE_PEOPLE:
            self.people[uid] = testing.enrolled_user(db, settings, self.admin, uid, name, roles)


@pytest.fixture
def sup(db, settings, frozen_clock, runtime) -> Iterator[SupplierPlant]:  # type: ignore[no-untyped-def]
    from bpmn.glue import extend
    from bpmn.supplier_evaluation import DIAGRAM
    from signatures import kdf

    if "supplier_evaluation" not in runtime.gates:
        extend(runtime, db, settings)
    with kdf.unsafe_fast_kdf():
        plant = SupplierPlant(db, settings, frozen_clock)
        plant.seed_master_data()
        plant.put_in_force("supplier", {"SUP-C": {"name": "Gamma Excipients", "country": "IN"}})
        for folder in (DIAGRAM, CAL_HERE / "processes" / "deviation_stub", HERE / "processes" / "dispense_stub"):
            plant.deploy(folder)
        yield plant
