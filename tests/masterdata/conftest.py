"""Master data fixtures: real, enrolled people and a small plant put in force through the
change-control primitive (drafted by one QA person, approved by another with a signature)."""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from masterdata import changes
from masterdata.changes import ChangeCatalogue
from masterdata.kinds import register_kinds
from signatures import testing
from store.uow import UnitOfWork

PEOPLE = [("alice", "Alice Operator", ["operator"]), ("bob", "Bob Operator", ["operator"]),
          ("quinn", "Quinn QA", ["qa"]), ("rita", "Rita Reviewer", ["qa"]), ("cora", "Cora QC", ["qc"]),
          ("mike", "Mike Metrology", ["metrology"]), ("tess", "Tess Trainer", ["trainer"]),
          ("sam", "Sam Supervisor", ["supervisor"]), ("peter", "Peter QP", ["qp"])]

MATERIALS = {
    "MAT-API": {"name": "Paracetamol", "oeb": 3, "unit": "kg", "protective_equipment": ["FFP3 mask", "nitrile gloves"],
                "storage": {"condition": "15-25 °C, dry", "min_c": 15, "max_c": 25}},
    "MAT-LAC": {"name": "Lactose monohydrate", "oeb": 1, "unit": "kg", "storage": {"condition": "below 25 °C"}},
}
SUPPLIERS = {"SUP-A": {"name": "Alpha Pharma", "country": "CN"}, "SUP-B": {"name": "Beta Chemicals", "country": "DE"}}
ASL = {"SUP-A:MAT-API": {"supplier": "SUP-A", "material": "MAT-API", "status": "approved", "valid_until": "2027-12-31"},
       "SUP-A:MAT-LAC": {"supplier": "SUP-A", "material": "MAT-LAC", "status": "approved", "valid_until": "2026-03-31"},
       "SUP-B:MAT-LAC": {"supplier": "SUP-B", "material": "MAT-LAC", "status": "rejected", "valid_until": "2027-12-31"}}
EQUIPMENT = {"GR-01": {"name": "High-shear granulator 1", "class": "granulator", "location": "Room 101",
                       "instruments": ["TT-01"], "clean_hold_hours": 72},
             "GR-02": {"name": "High-shear granulator 2", "class": "granulator", "location": "Room 102"},
             "BAL-01": {"name": "Floor balance", "class": "balance", "location": "Dispensary", "instruments": ["WT-01"]}}
INSTRUMENTS = {"TT-01": {"name": "Bowl temperature", "equipment": "GR-01", "range": {"min": 0, "max": 120, "unit": "°C"},
                         "tolerance": {"value": 0.5, "unit": "°C"}, "interval_days": 180},
               "WT-01": {"name": "Load cell", "equipment": "BAL-01", "range": {"min": 0, "max": 300, "unit": "kg"},
                         "tolerance": {"value": 0.05, "unit": "kg"}, "interval_days": 90, "warning_days": 10},
               "REF-01": {"name": "Reference thermometer", "range": {"min": -20, "max": 150, "unit": "°C"},
                          "tolerance": {"value": 0.1, "unit": "°C"}, "interval_days": 365}}
DOCUMENTS = {"SOP-PRD-012": {"title": "Granulation", "type": "sop", "version": 4, "effective_date": "2026-01-01"},
             "SOP-DSP-001": {"title": "Dispensing", "type": "sop", "version": 2, "effective_date": "2025-06-01"}}
RECIPES = {"RCP-PARA-500": {
    "product": "Paracetamol 500 mg tablets", "version": 1, "batch_size": {"quantity": 100, "unit": "kg"},
    "bom": [{"material": "MAT-API", "quantity": 50, "unit": "kg", "tolerance_pct": 0.5, "oeb": 3},
            {"material": "MAT-LAC", "quantity": 45, "unit": "kg", "tolerance_pct": 1, "oeb": 1}],
    "equipment": [{"class": "granulator", "equipment": ["GR-01", "GR-02"]}, {"class": "balance"}],
    "phases": [{"name": "Granulation", "equipment_class": "granulator",
                "setpoints": [{"parameter": "impeller speed", "value": 150, "unit": "rpm"}],
                "cpp": [{"parameter": "impeller speed", "min": 120, "max": 180, "unit": "rpm"}]}],
    "ipc": [{"test": "LOD", "max": 2.0, "unit": "%"}], "yield": {"min_pct": 95, "max_pct": 101},
    "sops": ["SOP-PRD-012", "SOP-DSP-001"]}}


class Plant:
    """People and master data of a small plant; helpers that act as one of them."""

    def __init__(self, db: Any, settings: Any, clock: Any) -> None:
        self.db, self.settings, self.clock = db, settings, clock
        self.admin = testing.bootstrap_admin(db, settings)
        self.people = {uid: testing.enrolled_user(db, settings, self.admin, uid, name, roles)
                       for uid, name, roles in PEOPLE}
        self.catalogue = register_kinds(ChangeCatalogue()).freeze()

    def __getitem__(self, user_id: str) -> Any:
        return self.people[user_id]

    def creds(self, user_id: str) -> Any:
        testing.fresh_totp_step(self.clock)  # a fresh TOTP step for every ceremony, one step apart
        return testing.credentials(self.db, self.people[user_id])

    def act(self, user_id: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run `fn(uow, *args, credentials=..., settings=..., **kwargs)` as `user_id` and commit."""
        creds = self.creds(user_id)
        with UnitOfWork(self.db, self.people[user_id].actor) as uow:
            result = fn(uow, *args, credentials=creds, settings=self.settings, **kwargs)
            uow.commit()
        return result

    def put_in_force(self, kind: str, items: dict[str, dict[str, Any]], *, action: str = "create",
                     effective_from: Any = None, drafter: str = "quinn", approver: str = "rita") -> None:
        key_field = self.catalogue.get(kind).key_field
        with UnitOfWork(self.db, self.people[drafter].actor) as uow:
            found = changes.draft_set(uow, self.catalogue, kind, [
                (key, {key_field: key, **data}, action) for key, data in items.items()], f"plant {kind} data",
                settings=self.settings)
            uow.commit()
        creds = self.creds(approver)
        with UnitOfWork(self.db, self.people[approver].actor) as uow:
            changes.approve_set(uow, self.catalogue, found.id, credentials=creds, settings=self.settings,
                                reason="checked", effective_from=effective_from)
            uow.commit()

    def seed_master_data(self) -> None:
        for kind, items in (("material", MATERIALS), ("supplier", SUPPLIERS), ("approved_supplier", ASL),
                            ("equipment", EQUIPMENT), ("instrument", INSTRUMENTS), ("document", DOCUMENTS),
                            ("recipe", RECIPES)):
            self.put_in_force(kind, items)


@pytest.fixture
def plant(db, settings, frozen_clock) -> Iterator[Plant]:  # type: ignore[no-untyped-def]
    from signatures import kdf

    with kdf.unsafe_fast_kdf():
        found = Plant(db, settings, frozen_clock)
        yield found


@pytest.fixture
def stocked(plant) -> Plant:  # type: ignore[no-untyped-def]
    """The plant with its master data in force."""
    plant.seed_master_data()
    return plant
