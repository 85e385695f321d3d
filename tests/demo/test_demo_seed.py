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
from web import demo_cli


@pytest.mark.req("URS-FND-001")
def test_seed_creates_enrolled_users_who_can_sign_in(db, settings, frozen_clock):
    with kdf.unsafe_fast_kdf():
        rows = demo_cli.seed(settings)
        assert {row[0] for row in rows} == {"admin"} | {u.user_id for u in demo.DEMO_USERS}
        assert demo_cli.seed(settings) == []  # idempotent
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
    result = CliRunner().invoke(demo_cli.demo, ["totp", "alice"])
    assert result.exit_code != 0
    assert "not a demo database" in result.output


@pytest.mark.req("URS-FND-001")
def test_seed_puts_tags_and_processes_in_effect_with_work_waiting(db, settings):
    from audit.verify import verify_trail
    from connectors.registry import effective_tags
    from engine import definitions, instances, tasks

    with kdf.unsafe_fast_kdf():
        demo.seed(settings)
    with db.session() as session:
        assert "SCALE-01.net_weight" in effective_tags(session)
        assert definitions.approved_version(session, "scale_weigh").status == "approved"
        started = instances.list_instances(session)
        library = {"calibration", "calibration_schedule", "supplier_evaluation", "document_lifecycle",
                   "controlled_copy", "work_permit", "deviation", "training"}
        # (the process library's own demos: bpmn/<process>/demo.py)
        assert len([i for i in started if i["process"] not in library]) == len(list(demo.DEMO_PROCESSES.iterdir()))
        assert sorted(i["business_key"] for i in started if i["process"] == "calibration") == [
            "CAL-PT-102-0001", "CAL-REF-P-02-0001"]  # overdue: work orders opened by the schedule
        assert [i["business_key"] for i in started if i["process"] == "work_permit"] == ["PTW-0001"]
        deviations = {i["title"]: i for i in started if i["process"] == "deviation"}  # bpmn/deviation_capa/demo.py
        assert sorted(deviations) == ["Deviation: Granulator bowl temperature above its limit",
                                      "Deviation: Torn label on a lactose drum"]
        trainings = {i["business_key"]: i["status"] for i in started if i["process"] == "training"}
        assert trainings["TRN-0001"] == "running" and trainings["TRN-0002"] == "running"
    with UnitOfWork(db) as uow:
        assert tasks.inbox(uow, "alice")
        assert [t.bpmn_id for t in tasks.inbox(uow, "victor") if t.business_key == "TRN-0001"] == ["exam"]
        assert [t.bpmn_id for t in tasks.inbox(uow, "lin") if t.business_key == "TRN-0002"] == ["study"]
        assert {t.bpmn_id for t in tasks.inbox(uow, "quinn")} >= {"triage"}  # the reported deviation
        assert "investigate" in {t.bpmn_id for t in tasks.inbox(uow, "iris")}  # the raised one, triaged
    with db.session() as session:
        latest = session.execute(select(AuditEntry.ts).order_by(AuditEntry.seq.desc()).limit(1)).scalar_one()
    assert latest < clock.isoformat(clock.now())  # the demo history lies in the past
    verify_trail(db, settings)


@pytest.mark.req("URS-FND-001")
def test_seed_after_bootstrap_says_what_it_found_and_what_to_do(db, settings, monkeypatch):
    """`gmp demo seed` after `gmp admin bootstrap` printed "demo data already present" and seeded nothing."""
    from signatures import testing

    with kdf.unsafe_fast_kdf():
        testing.bootstrap_admin(db, settings)
    monkeypatch.setenv("GMP_INSTANCE_PATH", settings.instance_path)
    monkeypatch.setenv("GMP_DATABASE_URL", settings.database_url)
    result = CliRunner().invoke(demo_cli.demo, ["seed"])
    assert result.exit_code == 0, result.output
    assert "demo data already present" not in result.output
    assert "nothing seeded: the database" in result.output and "already has 1 user account(s) (admin)" in result.output
    assert "`gmp admin bootstrap`" in result.output and "GMP_INSTANCE_PATH=/tmp/gmp-demo GMP_DEMO=1 make run" \
        in result.output and "`gmp user add`" in result.output
    with kdf.unsafe_fast_kdf():
        demo.seed(settings)  # nothing: the database is not empty
    with db.session() as session:
        assert session.get(UserAccount, "alice") is None
