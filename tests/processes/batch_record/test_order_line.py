"""A batch ordered onto a production line (the planner's equipment): kept in the start data and
used by the phases; a class the recipe does not name, equipment not in force or of another
class refuses the order with the reason, and nothing is started."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from audit.canonical import Actor
from core import clock
from engine.models import ProcessInstance
from store.uow import UnitOfWork


def _order(plant, number: str, equipment):  # type: ignore[no-untyped-def]
    from bpmn.batch_record.plan import order

    with UnitOfWork(plant.db, Actor("sam", "Sam Supervisor")) as uow:
        started = order(uow, "RCP-PARA-500", number, planned_date=clock.now().date().isoformat(),
                        equipment=equipment, settings=plant.settings, runtime=plant.runtime)
        uow.commit()
        return started.id


@pytest.mark.req("URS-EBR-001")
def test_a_batch_ordered_onto_a_line_keeps_its_equipment(plant):  # type: ignore[no-untyped-def]
    line = {"balance": "SCALE-01", "granulator": "GR-01", "fluid_bed_dryer": "FBD-01"}
    instance_id = _order(plant, "B-2026-0101", line)
    assert plant.data(instance_id)["equipment"] == line
    assert "equipment" not in plant.data(_order(plant, "B-2026-0102", None))  # the recipe's equipment


@pytest.mark.req("URS-EBR-001")
@pytest.mark.parametrize(("equipment", "reason"), [
    ({"mixer": "GR-01"}, "equipment class mixer is not in recipe RCP-PARA-500"),
    ({"balance": "SCALE-09"}, "equipment SCALE-09 is not in the master data in force"),
    ({"balance": "GR-01"}, "equipment GR-01 is a granulator, not a balance"),
])
def test_an_order_onto_equipment_the_recipe_cannot_use_is_refused(plant, equipment, reason):  # type: ignore[no-untyped-def]
    from bpmn.batch_record.plan import OrderRefused

    def instances() -> int:
        with plant.db.session() as session:
            return int(session.scalar(select(func.count()).select_from(ProcessInstance)) or 0)

    before = instances()
    with pytest.raises(OrderRefused) as refused:
        _order(plant, "B-2026-0103", equipment)
    assert str(refused.value) == reason
    assert instances() == before
