"""The demo plant: master data in force, records made through the real services, and each
refusal the README promises met by the demo user it names."""
import pytest
from sqlalchemy import select

from bpmn import demo
from bpmn.glue import install
from engine import tasks
from engine.models import InstanceTask, ProcessInstance
from masterdata import calibration, changes, checks, lots
from signatures import kdf
from store.uow import UnitOfWork


@pytest.mark.req("URS-FND-001", "URS-GATE-001", "URS-GATE-002", "URS-GATE-003", "URS-GATE-004")
def test_the_demo_plant_shows_each_refusal(db, settings):
    with kdf.unsafe_fast_kdf():
        demo.seed(settings)
    runtime = install(db, settings)
    with db.session() as session:
        assert len(changes.effective_items(session, "recipe")) == 2
        assert len(changes.effective_items(session, "material")) == 6
        assert len(changes.effective_items(session, "equipment")) == 3
        assert len(changes.effective_items(session, "instrument")) == 7
        assert {lot.material for lot in lots.lots(session)} == set(changes.items(session, "material"))
        assert calibration.instrument_state(session, "PT-102").status == "overdue"
        instance = session.scalar(select(ProcessInstance.id).where(ProcessInstance.title == "Demo gated batch"))
        ids = dict(session.execute(select(InstanceTask.bpmn_id, InstanceTask.id)
                                   .where(InstanceTask.instance_id == instance)).all())
        found = {lot: [p.code for p in checks.lot_problems(session, [lot])]
                 for lot in ("L-LAC-2511", "L-LAC-2602", "L-MCC-2602", "L-PARA-2601")}
    assert found == {"L-LAC-2511": ["lot_expired"], "L-LAC-2602": ["supplier_not_approved"],
                     "L-MCC-2602": ["lot_quarantined"], "L-PARA-2601": []}

    def refusal(user, task):  # type: ignore[no-untyped-def]
        with UnitOfWork(db) as uow:
            found = tasks.gate_refusal(uow, ids[task], user, stage="claim", runtime=runtime)
        return (found.gate, found.code) if found else None

    assert refusal("alice", "dispense") is None and refusal("alice", "granulate") is None
    assert refusal("alice", "dry") == ("equipment", "instrument_overdue")
    assert refusal("victor", "dispense") == ("training", "expired")
    assert refusal("lin", "granulate") == ("training", "old_version")
    assert refusal("peter", "release") is None and refusal("rita", "release") == ("qp", "not_qp")
