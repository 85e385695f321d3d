"""`gmp demo seed` creates working demo users through the real services."""
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from audit.models import AuditEntry
from bpmn import demo
from core import clock
from signatures import kdf, totp
from signatures.credentials import login
from signatures.identities import roles_of
from signatures.models import UserAccount
from store.uow import UnitOfWork


@pytest.mark.req("URS-FND-001")
def test_seed_creates_enrolled_users_who_can_sign_in(db, settings, frozen_clock):
    with kdf.unsafe_fast_kdf():
        rows = demo.seed(settings)
        assert {row[0] for row in rows} == {"admin"} | {u.user_id for u in demo.DEMO_USERS}
        assert demo.seed(settings) == []  # idempotent
        with db.session() as session:
            peter = session.get(UserAccount, "peter")
            assert roles_of(session, "peter") == {"qp"}
            code = totp.code_at_step(peter.totp_secret, totp.current_step(peter.totp_secret, clock.now()))
        with UnitOfWork(db) as uow:
            auth = login(uow, "peter", demo.DEMO_PASSWORD, code, settings)
            uow.commit()
        assert auth.user_id == "peter"
    with db.session() as session:
        actions = session.execute(select(AuditEntry.action).where(AuditEntry.object_id == "lin")).scalars().all()
    assert "user.enrolled" in actions and "user.language_set" in actions


def test_demo_totp_refuses_a_non_demo_database(settings, monkeypatch):
    monkeypatch.setenv("GMP_INSTANCE_PATH", settings.instance_path)
    monkeypatch.setenv("GMP_DATABASE_URL", settings.database_url)
    result = CliRunner().invoke(demo.demo, ["totp", "alice"])
    assert result.exit_code != 0
    assert "not a demo database" in result.output
