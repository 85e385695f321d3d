"""Periodic evaluation (A11-11): the report of a period from the audit trail, as a page, PDF/A
(text read back with pdftotext) and from `gmp report periodic`; signed by QA."""
from __future__ import annotations

import re
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from signatures import kdf, testing
from tests.conftest import missing
from tests.web.test_access_matrix import open_session
from tests.web.test_operator import form, plant, task_id  # noqa: F401  (fixture)

pytestmark = pytest.mark.req("URS-OPS-005", "A11-11")


def flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def pdf_text(data: bytes, tmp_path: Path) -> str:
    if shutil.which("pdftotext") is None:
        missing("pdftotext (poppler-utils)")
    path = tmp_path / "report.pdf"
    path.write_bytes(data)
    text = subprocess.run(["pdftotext", "-raw", str(path), "-"], check=True, capture_output=True, text=True).stdout
    return re.sub(r"\s+", "", text)  # table cells wrap: compare without white space


@pytest.fixture
def period(plant, db, settings, tmp_path, frozen_clock):  # noqa: F811
    """Two days of a plant's life (2026-01-05 and -06), then an event after the period."""
    from audit.backup import take_backup
    from audit.checkpoints import create_checkpoint
    from audit.review import record_review
    from signatures.credentials import login
    from signatures.errors import SignatureError
    from signatures.identities import create_user, record_access_review
    from store.uow import UnitOfWork
    from store.verified_upgrade import UpgradeReport, _audit

    client, people = plant
    alice, bob = people["alice"], people["bob"]
    # day 1: a task completed with a value accepted out of its limits (an exception)
    done = client.post(f"/tasks/{task_id(client)}", data={
        **form(people, **{"f:gross": "13.0", "exc:net": "容器超装，偏差 DEV-1"}),
        "sig_password": alice.password, "sig_totp": testing.next_totp(db, alice),
        "sig2_user_id": "bob", "sig2_password": bob.password, "sig2_totp": testing.next_totp(db, bob)})
    assert done.status_code == 200, done.get_data(as_text=True)
    frozen_clock.value = datetime(2026, 1, 6, 9, 0, tzinfo=timezone.utc)
    admin = people["admin"] = testing.Person("admin", "Ada Admin", testing.DEFAULT_PASSWORD, "")
    with UnitOfWork(db, admin.actor) as uow:
        create_user(uow, "wei", "王伟", ["operator"], settings, reason="new operator on line 2")
        record_access_review(uow, "季度权限审核：无发现")
        uow.commit()
    with UnitOfWork(db, people["quinn"].actor) as uow:
        record_review(uow, 1, 20, people["quinn"].actor, "trail reviewed, no findings")
        uow.commit()
    # a master-data change under change control: drafted by one person, approved by another's signature
    from masterdata import changes
    from masterdata.kinds import MATERIAL

    with UnitOfWork(db, people["quinn"].actor) as uow:
        material = changes.draft(uow, None, MATERIAL, "MAT-LAC", {
            "code": "MAT-LAC", "name": "Lactose monohydrate", "oeb": 1, "unit": "kg",
            "storage": {"condition": "below 25 °C"}}, "新辅料 CC-2026-007",
            action="create", settings=settings)
        uow.commit()
    testing.fresh_totp_step(frozen_clock)
    with UnitOfWork(db, people["quentin"].actor) as uow:
        changes.approve(uow, None, material.id, credentials=testing.credentials(db, people["quentin"]),
                        settings=settings, reason="specification checked", kind=MATERIAL)
        uow.commit()
    for _ in range(settings.lockout_threshold):  # failed sign-ins lock bob's account: a security alert
        with pytest.raises(SignatureError):
            with UnitOfWork(db) as uow:
                login(uow, "bob", "not his password", None, settings)
    take_backup(db, settings, tmp_path / "backup-1.gmpbak")
    create_checkpoint(db, settings)
    # an upgrade's entry, as `gmp db upgrade` writes it (the upgrade itself: tests/integration/test_verified_upgrade.py;
    # released revisions are never downgraded, so this database cannot be taken back to upgrade it again)
    with db.engine.connect() as connection:
        with connection.begin():
            _audit(connection, "database.upgraded", UpgradeReport("0009_periodic_report", "0010_tag_registry_changes"))
    frozen_clock.value = datetime(2026, 1, 8, 9, 0, tzinfo=timezone.utc)
    with UnitOfWork(db, admin.actor) as uow:
        record_access_review(uow, "after the period")
        uow.commit()
    return client, people


def test_report_of_a_period_page_and_pdf(period, app, db, tmp_path):
    _, people = period
    quinn = people["quinn"]
    client = app.test_client()
    open_session(db, client, quinn)
    assert "Periodic evaluation" in client.get("/").get_data(as_text=True)  # in the navigation
    made = client.post("/reports/periodic", data={"csrf_token": "walk-token", "from": "2026-01-05", "to": "2026-01-06"})
    assert made.status_code == 302, made.get_data(as_text=True)
    url = made.headers["Location"]
    page = client.get(url).get_data(as_text=True)
    counts = dict(re.findall(r'<tr data-section="(\w+)">.*?<td>(\d+)</td></tr>', page))
    # definition uploaded, version created + approved, its revision under change control approved + in force;
    # the material drafted, approved and in force
    assert counts["changes"] == "8"
    assert counts["access_reviews"] == "1" and counts["audit_reviews"] == "1" and counts["upgrades"] == "1"
    assert int(counts["access"]) >= 9  # users created, enrolled, verified; roles; wei
    assert int(counts["security"]) == 6  # five refused sign-ins and the lockout
    assert counts["backups"] == "1" and counts["deviations"] == "1"
    assert "季度权限审核：无发现" in page and "after the period" not in page
    assert "intact" in page and "Quinn QA (quinn)" in page
    text = pdf_text(client.get(url + ".pdf").data, tmp_path)
    for expected in ("Periodic evaluation report 定期评估报告", "2026-01-05 – 2026-01-06", "Process and configuration changes",
                     "流程和配置变更", "definition_version.approved", "md_change.drafted", "新辅料 CC-2026-007",
                     "md_change.approved", "material", "MAT-LAC", "Role and user changes", "王伟", "user.created",
                     "Deviations and incidents", "偏差和事件", "value out of limits", "容器超装，偏差 DEV-1",
                     "Audit-trail reviews", "trail reviewed, no findings", "Access reviews", "季度权限审核：无发现",
                     "Failed sign-ins, lockouts and security alerts", "user.login_refused", "user.locked",
                     "Backups, restores and archives", "backup.created", "Upgrades", "database.upgraded",
                     "from_revision: 0009_periodic_report",
                     "Signed checkpoints", "intact / 完整", "Quinn QA (quinn)", "Not signed electronically",
                     "Reviewed by (QA) / 审核人（QA）"):
        assert flat(expected) in text, expected
    assert flat("after the period") not in text
    # QA signs the report (Part 11 ceremony); the printout then carries the manifestation
    sign_form = {"csrf_token": "walk-token", "comment": "系统状态受控，无需再验证", "sig_password": "wrong"}
    refused = client.post(url + "/sign", data=sign_form)
    assert refused.status_code == 422
    signed = client.post(url + "/sign", data={**sign_form, "sig_password": quinn.password,
                                              "sig_totp": testing.next_totp(db, quinn)})
    html = signed.get_data(as_text=True)
    assert signed.status_code == 200 and "signature-manifestations" in html and "Quinn QA" in html
    assert 'id="sign-form"' not in html  # signed once by this person
    text = pdf_text(client.get(url + ".pdf").data, tmp_path)
    assert flat("审核") in text and flat("Quinn QA") in text and flat("系统状态受控，无需再验证") in text
    assert flat("Not signed electronically") not in text
    listing = client.get("/reports/periodic").get_data(as_text=True)
    assert 'data-report="1"' in listing


def test_report_is_stored_audited_and_verifiable(period, db, settings):
    import hashlib

    from audit.models import PeriodicReport
    from audit.verify import verify_trail
    from signatures.verify import verify_signature
    from store.canonical import Actor
    from web.periodic_core import generate, report_record, signature_rows

    _, people = period
    quinn = people["quinn"]
    report_id = generate(db, settings, "2026-01-05", "2026-01-06", quinn.actor,
                         credentials=testing.credentials(db, quinn), conclusion="reviewed")
    with db.session() as session:
        row = session.get(PeriodicReport, report_id)
        assert hashlib.sha256(row.content.encode()).hexdigest() == row.content_sha256
        [signature] = signature_rows(session, row)
        assert signature.content_sha256 == hashlib.sha256(report_record(row).canonical_content()).hexdigest()
        verify_signature(session, signature, report_record(row), settings)
    from tests.signatures.helpers import actions

    assert "periodic_report.generated" in actions(db)
    verify_trail(db, settings)
    # the content is fixed: the database refuses to change a stored report
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError, match="append-only"):
        with db.session() as session:
            session.get(PeriodicReport, report_id).content = "{}"
            session.commit()
    # a refused signature stores nothing
    from signatures.errors import SignatureError

    with pytest.raises(SignatureError):
        generate(db, settings, "2026-01-05", "2026-01-06", Actor("alice", "Alice Operator"),
                 credentials=testing.credentials(db, people["alice"]))
    with db.session() as session:
        assert session.query(PeriodicReport).count() == 1


@pytest.mark.parametrize("first,last,message", [
    ("2026-01-06", "2026-01-05", "the period ends (2026-01-05) before it begins (2026-01-06)"),
    ("05.01.2026", "2026-01-06", "--from must be a date (YYYY-MM-DD), not '05.01.2026'"),
    ("2026-01-05", "", "--to must be a date"),
    ("2027-01-01", "2027-01-31", "the period begins in the future"),
])
def test_bad_periods_are_refused_and_nothing_is_stored(plant, app, db, settings, first, last, message):  # noqa: F811
    from audit.models import PeriodicReport
    from audit.periodic import ReportError
    from web.periodic_core import generate

    _, people = plant
    with pytest.raises(ReportError, match=re.escape(message)):
        generate(db, settings, first, last, people["quinn"].actor)
    client = app.test_client()
    open_session(db, client, people["quinn"])
    response = client.post("/reports/periodic", data={"csrf_token": "walk-token", "from": first, "to": last})
    assert response.status_code == 422 and message in response.get_data(as_text=True).replace("&#39;", "'")
    with db.session() as session:
        assert session.query(PeriodicReport).count() == 0


def test_who_may_generate_and_sign(plant, app, db, settings):  # noqa: F811
    _, people = plant
    with kdf.unsafe_fast_kdf():
        admin = testing.Person("admin", "Ada Admin", testing.DEFAULT_PASSWORD, "")
        audrey = testing.enrolled_user(db, settings, admin, "audrey", "Audrey Auditor", ["auditor"])
    operator = app.test_client()
    open_session(db, operator, people["alice"])
    assert operator.get("/reports/periodic").status_code == 403
    auditor = app.test_client()
    open_session(db, auditor, audrey)
    made = auditor.post("/reports/periodic", data={"csrf_token": "walk-token", "from": "2026-01-05", "to": "2026-01-05"})
    assert made.status_code == 302
    page = auditor.get(made.headers["Location"]).get_data(as_text=True)
    assert "Audrey Auditor (audrey)" in page and 'id="sign-form"' not in page  # auditors read, QA signs
    assert auditor.post(made.headers["Location"] + "/sign", data={"csrf_token": "walk-token"}).status_code == 403
    assert auditor.get("/reports/periodic/99").status_code == 404


def test_gmp_report_periodic(plant, db, settings, tmp_path):  # noqa: F811
    from cli import gmp

    _, people = plant
    quinn = people["quinn"]
    env = {"GMP_INSTANCE_PATH": str(settings.instance), "GMP_DATABASE_URL": settings.database_url,
           "GMP_SECRET_KEY": settings.secret_key, "GMP_SERVER_KEY_PASSPHRASE": settings.server_key_passphrase,
           "GMP_SITE_TIMEZONE": "Asia/Shanghai"}
    out = tmp_path / "q1.pdf"
    result = CliRunner().invoke(gmp, ["report", "periodic", "--from", "2026-01-01", "--to", "2026-01-31",
                                      "--out", str(out)], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "periodic report 1 (2026-01-01 – 2026-01-31) written to" in result.output
    text = pdf_text(out.read_bytes(), tmp_path)
    assert flat("System (command line, OS user") in text and flat("Asia/Shanghai") in text and flat("definition_version.approved") in text
    signed = tmp_path / "signed.pdf"
    result = CliRunner().invoke(gmp, ["report", "periodic", "--from", "2026-01-01", "--to", "2026-01-31", "--out",
                                      str(signed), "--sign-as", "quinn", "--conclusion", "no findings"],
                                input=f"{quinn.password}\n{testing.next_totp(db, quinn)}\n", env=env,
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "signed 'reviewed' by quinn" in result.output
    text = pdf_text(signed.read_bytes(), tmp_path)
    assert flat("Quinn QA") in text and flat("no findings") in text and flat("periodic_report.generated") in text  # report 1 is in report 2
    bad = CliRunner().invoke(gmp, ["report", "periodic", "--from", "2026-02-01", "--to", "2026-01-01", "--out",
                                   str(tmp_path / "x.pdf")], env=env, catch_exceptions=False)
    assert bad.exit_code == 1 and "before it begins" in bad.output and not (tmp_path / "x.pdf").exists()
