import pytest
from sqlalchemy import func, select, text

from audit.canonical import Actor
from audit.models import AuditEntry
from store.uow import UnitOfWork

ALICE = Actor("alice", "Alice Example")


@pytest.mark.req("URS-FND-002", "P11-10e")
def test_commit_appends_chained_entries(db):
    with UnitOfWork(db, ALICE) as uow:
        uow.audit("thing.created", "thing", 1, changes=[["name", None, "x"]])
        uow.audit("thing.changed", "thing", 1, changes=[["name", "x", "y"]], reason="typo")
        uow.commit()
    with db.session() as s:
        rows = s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars().all()
    assert [r.seq for r in rows] == [1, 2]
    assert rows[1].prev_hash == rows[0].entry_hash
    assert rows[0].actor_name == "Alice Example"


@pytest.mark.req("URS-FND-002")
def test_rollback_leaves_nothing_but_refusals(db):
    with pytest.raises(ZeroDivisionError):
        with UnitOfWork(db, ALICE) as uow:
            uow.audit("thing.created", "thing", 1)
            uow.record_refusal("thing.refused", "thing", 1, reason="not allowed")
            1 / 0
    with db.session() as s:
        actions = s.execute(select(AuditEntry.action)).scalars().all()
    assert actions == ["thing.refused"]


@pytest.mark.req("URS-AUD-002", "P11-10e")
@pytest.mark.parametrize("statement", ["UPDATE audit_entry SET reason = 'x'", "DELETE FROM audit_entry"])
def test_database_refuses_update_and_delete(db, statement):
    with UnitOfWork(db, ALICE) as uow:
        uow.audit("thing.created", "thing", 1)
        uow.commit()
    with db.session() as s:
        with pytest.raises(Exception, match="append-only"):
            s.execute(text(statement))
            s.commit()
        s.rollback()
        assert s.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == 1
