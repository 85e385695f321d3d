"""`gmp db upgrade` verifies the data migration (Annex 11 §4.8): every record and the audit trail
digested before and after; a populated database upgrades from the oldest released revision and
the verification is in the trail; a migration that changes a record is rolled back and refused,
and the command says so and fails."""
from __future__ import annotations

import itertools
import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from audit import chain
from audit.canonical import Actor, AuditEvent
from store.db import Database
from store.migrate import MIGRATIONS, current, upgrade
from store.verified_upgrade import MigrationNotVerified, verified_upgrade

pytestmark = pytest.mark.req("URS-OPS-004", "A11-4.8")
OLDEST = "0001_foundation"
_names = itertools.count()


@pytest.fixture
def empty_url(backend, request, tmp_path):  # type: ignore[no-untyped-def]
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    server = request.getfixturevalue("pg_server")
    name = f"u{os.getpid()}_{next(_names)}"
    server.admin_execute(f"CREATE DATABASE {name}")
    request.addfinalizer(lambda: server.admin_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    return server.url(name)


def audit_actions(url: str) -> list[str]:
    db = Database(url)
    try:
        with db.read_session() as session:
            return list(session.execute(text("SELECT action FROM audit_entry ORDER BY seq")).scalars())
    finally:
        db.dispose()


def append_entries(url: str, count: int) -> None:
    db = Database(url)
    try:
        with db.session() as session:
            chain.append(session, [AuditEvent("record.created", "record", str(n), Actor("olga", "Olga Example"),
                                              changes=[["value", None, n]], details={"n": n}) for n in range(count)])
            session.commit()
    finally:
        db.dispose()


def test_a_populated_database_upgrades_from_the_oldest_revision_verified(empty_url, tmp_path):
    from audit.verify import verify_trail

    upgrade(empty_url, OLDEST)
    append_entries(empty_url, 25)
    report = verified_upgrade(empty_url)
    assert report.verified and report.from_revision == OLDEST and report.to_revision == current(empty_url)
    assert report.tables["audit_entry"].rows == report.tables["audit_entry"].rows_after == 25
    assert report.tables["audit_entry"].sha256 == report.tables["audit_entry"].sha256_after
    assert report.trail_before == report.trail_after and report.trail_before["entries"] == 25
    assert audit_actions(empty_url)[-1] == "database.upgraded"
    db = Database(empty_url)
    try:
        with db.read_session() as session:
            details = session.execute(text("SELECT details FROM audit_entry ORDER BY seq DESC")).scalars().first()
            assert '"verified":true' in details.replace(" ", "") and OLDEST in details
        assert verify_trail(db).entries == 26
    finally:
        db.dispose()
    again = verified_upgrade(empty_url)  # already at head: nothing to do, nothing recorded
    assert again.from_revision == again.to_revision and audit_actions(empty_url).count("database.upgraded") == 1


def extra_revision(tmp_path: Path, monkeypatch, body: str) -> str:  # type: ignore[no-untyped-def]
    """A copy of the migrations with one more revision after the head (the next release's migration)."""
    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    head = sorted(p.stem for p in (copy / "versions").glob("0*.py"))[-1]
    (copy / "versions" / "9999_next_release.py").write_text(
        f'"""next release"""\nimport sqlalchemy as sa\nfrom alembic import op\n\nrevision = "9999_next_release"\n'
        f'down_revision = "{head}"\nbranch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n{body}\n\n\n'
        'def downgrade():\n    pass\n')
    monkeypatch.setattr("store.migrate.MIGRATIONS", copy)
    return head


def populated(settings, db):  # type: ignore[no-untyped-def]
    from signatures import kdf, testing

    with kdf.unsafe_fast_kdf():
        testing.bootstrap_admin(db, settings)


def test_a_migration_that_adds_columns_and_rows_is_verified(settings, db, tmp_path, monkeypatch):
    populated(settings, db)
    head = extra_revision(tmp_path, monkeypatch, "    op.add_column('role', sa.Column('note', sa.Text(), nullable=True))\n"
                          "    op.execute(\"INSERT INTO role (name, kind, label_en, label_zh, description, created_at, created_by) \"\n"
                          "               \"SELECT 'archivist', 'business', 'Archivist', 'Archivist', '', created_at, created_by \"\n"
                          "               \"FROM role WHERE name = 'operator'\")")
    report = verified_upgrade(settings.database_url)
    assert report.verified and (report.from_revision, report.to_revision) == (head, "9999_next_release")
    assert report.tables["role"].rows_after == report.tables["role"].rows + 1
    assert audit_actions(settings.database_url)[-1] == "database.upgraded"


def test_a_migration_that_changes_a_record_is_rolled_back_and_refused(settings, db, tmp_path, monkeypatch):
    populated(settings, db)
    before = audit_actions(settings.database_url)
    head = extra_revision(tmp_path, monkeypatch, "    op.add_column('role', sa.Column('note', sa.Text(), nullable=True))\n"
                          "    op.execute(\"UPDATE user_account SET printed_name = 'Somebody Else' WHERE user_id = 'admin'\")")
    with pytest.raises(MigrationNotVerified, match="rolled back: records differ") as caught:
        verified_upgrade(settings.database_url)
    assert any("user_account" in d and "changed" in d for d in caught.value.report.differences)
    assert current(settings.database_url) == head  # the schema change was rolled back too
    with db.read_session() as session:
        assert session.execute(text("SELECT printed_name FROM user_account WHERE user_id = 'admin'")).scalar_one() == "Ada Admin"
        columns = [c for c in session.execute(text("SELECT * FROM role")).keys()]
        assert "note" not in columns
    after = audit_actions(settings.database_url)
    assert after[:len(before)] == before and after[len(before):] == ["database.upgrade_refused"]


def test_gmp_db_upgrade_reports_the_verification(empty_url, tmp_path):
    import subprocess
    import sys

    upgrade(empty_url, OLDEST)
    append_entries(empty_url, 3)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GMP_")}
    env.update(GMP_DATABASE_URL=empty_url, GMP_INSTANCE_PATH=str(tmp_path / "instance"))
    result = subprocess.run([sys.executable, "-m", "cli", "db", "upgrade"], cwd=Path(__file__).resolve().parents[2],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "verified: " in result.stdout and "3 audit entries identical before and after" in result.stdout
    db = Database(empty_url)
    try:
        with db.read_session() as session:
            assert session.execute(select(func.count()).select_from(text("audit_entry"))).scalar_one() == 4
    finally:
        db.dispose()


def test_gmp_db_upgrade_refuses_to_finish_when_a_record_differs(settings, db, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from cli import gmp

    populated(settings, db)
    head = extra_revision(tmp_path, monkeypatch, "    op.execute(\"UPDATE user_account SET printed_name = 'Somebody Else' "
                          "WHERE user_id = 'admin'\")")
    env = {"GMP_DATABASE_URL": settings.database_url, "GMP_INSTANCE_PATH": settings.instance_path,
           "GMP_SECRET_KEY": settings.secret_key, "GMP_SERVER_KEY_PASSPHRASE": settings.server_key_passphrase}
    result = CliRunner().invoke(gmp, ["db", "upgrade"], env=env)
    assert result.exit_code == 1, result.output
    assert "rolled back: records differ" in result.output and "user_account" in result.output
    assert "verified:" not in result.output and "database at revision" not in result.output
    assert current(settings.database_url) == head  # nothing migrated
    assert audit_actions(settings.database_url)[-1] == "database.upgrade_refused"
    with db.read_session() as session:
        assert session.execute(text("SELECT printed_name FROM user_account WHERE user_id = 'admin'")).scalar_one() == "Ada Admin"
