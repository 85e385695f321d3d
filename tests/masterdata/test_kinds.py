"""The master data kinds: each schema and cross-field check refuses bad data naming the field,
and nothing is stored; the library's catalogue holds every kind."""
from __future__ import annotations

import copy

import pytest
from sqlalchemy import func, select

from masterdata import changes
from masterdata.errors import ChangeInvalid
from masterdata.kinds import KINDS
from masterdata.models import ChangeRow
from store.uow import UnitOfWork
from tests.masterdata.conftest import ASL, INSTRUMENTS, MATERIALS, RECIPES


def _draft(plant, kind, key, data):  # type: ignore[no-untyped-def]
    with UnitOfWork(plant.db, plant["quinn"].actor) as uow:
        changes.draft(uow, plant.catalogue, kind, key, data, "new item", action="create",
                      settings=plant.settings)
        uow.commit()


def _recipe(**changes_to):  # type: ignore[no-untyped-def]
    data = copy.deepcopy(RECIPES["RCP-PARA-500"])
    data.update(changes_to)
    return data


BAD = [
    ("material", "MAT-X", {**MATERIALS["MAT-API"], "protective_equipment": []},
     "protective_equipment", "OEB 3 material: name the protective equipment it requires"),
    ("material", "MAT-X", {**MATERIALS["MAT-LAC"], "oeb": 6}, "oeb", "6 is greater than the maximum of 5"),
    ("material", "MAT-X", {**MATERIALS["MAT-LAC"], "storage": {"condition": "cold", "min_c": 8, "max_c": 2}},
     "storage.max_c", "must not be below the minimum temperature (8)"),
    ("material", "MAT-X", {**MATERIALS["MAT-LAC"], "unit": "tons"}, "unit", "'tons' is not one of"),
    ("approved_supplier", "SUP-A:MAT-API", {**ASL["SUP-A:MAT-API"], "material": "MAT-LAC"},
     "code", "must be '<supplier>:<material>' (SUP-A:MAT-LAC)"),
    ("approved_supplier", "SUP-A:MAT-API", {**ASL["SUP-A:MAT-API"], "status": "conditional"},
     "conditions", "a conditional approval names its conditions"),
    ("approved_supplier", "SUP-A:MAT-API", {**ASL["SUP-A:MAT-API"], "valid_until": "31.12.2027"},
     "valid_until", "does not match"),
    ("approved_supplier", "SUP-A:MAT-API", {**ASL["SUP-A:MAT-API"], "valid_until": "2027-02-30"},
     "valid_until", "2027-02-30 is not a date"),
    ("document", "SOP-9", {"title": "x", "type": "sop", "version": 1, "effective_date": "2026-13-01"},
     "effective_date", "2026-13-01 is not a date"),
    ("instrument", "TT-9", {**INSTRUMENTS["TT-01"], "range": {"min": 100, "max": 0, "unit": "°C"}},
     "range.max", "must not be below min (100)"),
    ("instrument", "TT-9", {**INSTRUMENTS["TT-01"], "interval_days": 0}, "interval_days", "less than the minimum"),
    ("equipment", "EQ-9", {"name": "Mixer", "class": "Mixer Class", "location": "Room 1"}, "class", "does not match"),
    ("document", "SOP-9", {"title": "x", "type": "memo", "version": 1, "effective_date": "2026-01-01"},
     "type", "'memo' is not one of"),
    ("training_matrix", "operator", {"sops": "SOP-1"}, "sops", "is not of type 'array'"),
    ("recipe", "RCP-9", _recipe(bom=[]), "bom", "should be non-empty"),
    ("recipe", "RCP-9", _recipe(bom=RECIPES["RCP-PARA-500"]["bom"] * 2), "bom.3.material", "MAT-API is listed twice"),
    ("recipe", "RCP-9", _recipe(phases=[{"name": "Coating", "equipment_class": "coater"}]),
     "phases.1.equipment_class", "'coater' is not among the recipe's equipment classes"),
    ("recipe", "RCP-9", _recipe(phases=[{"name": "Granulation", "equipment_class": "granulator",
                                         "setpoints": [{"parameter": "impeller speed", "value": 200, "unit": "rpm"}],
                                         "cpp": [{"parameter": "impeller speed", "min": 120, "max": 180,
                                                  "unit": "rpm"}]}]),
     "phases.1.setpoints.1.value", "200 is outside the critical limits 120..180"),
    ("recipe", "RCP-9", _recipe(**{"yield": {"min_pct": 101, "max_pct": 95}}), "yield.max_pct",
     "must not be below min_pct (101)"),
    ("recipe", "RCP-9", _recipe(ipc=[{"test": "LOD", "min": 3, "max": 2, "unit": "%"}]), "ipc.1.max",
     "must not be below min (3)"),
]


@pytest.mark.req("URS-MD-007", "A11-5")
def test_each_kind_refuses_bad_data_naming_the_field_and_stores_nothing(plant):
    for kind, key, data, field, message in BAD:
        with pytest.raises(ChangeInvalid) as caught:
            _draft(plant, kind, key, data)
        assert any(f == field and message in m for f, m in caught.value.errors), (kind, caught.value.errors)
    with plant.db.session() as session:
        assert session.scalar(select(func.count()).select_from(ChangeRow)) == 0


@pytest.mark.req("URS-MD-007", "URS-MD-003")
def test_every_kind_accepts_the_plants_data(stocked):
    from tests.masterdata.conftest import DOCUMENTS, EQUIPMENT, SUPPLIERS

    stocked.put_in_force("training_matrix", {"operator": {"sops": ["SOP-PRD-012", "SOP-DSP-001"]}})
    with stocked.db.session() as session:
        counts = {kind.name: len(changes.effective_items(session, kind.name)) for kind in KINDS}
    assert counts == {"material": len(MATERIALS), "supplier": len(SUPPLIERS), "approved_supplier": len(ASL),
                      "equipment": len(EQUIPMENT), "instrument": len(INSTRUMENTS), "document": len(DOCUMENTS),
                      "training_matrix": 1, "recipe": 1}
    assert {kind.name for kind in KINDS} <= set(stocked.catalogue.names())
