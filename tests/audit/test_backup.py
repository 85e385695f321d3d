"""Backup and restore: full, differential, across backends, audited (URS-BCK-001)."""
from __future__ import annotations

import json
import zipfile

import pytest
from sqlalchemy import select

from audit.backup import BackupFile, restore, take_backup
from audit.checkpoints import create_checkpoint
from audit.errors import BackupError, RestoreError
from audit.models import AuditEntry, AuditHead
from audit.verify import verify_trail
from core.config import load_settings
from store.db import Database
from tests.audit.conftest import add_entries
from tests.conftest import TEST_PASSPHRASE, TEST_SECRET, make_database_url

pytestmark = pytest.mark.req("URS-BCK-001", "CN-7", "A11-7.2")


@pytest.fixture
def target(request, tmp_path):
    """A second, freshly migrated database and instance folder; the backend follows `backend`."""
    def make(backend: str):
        folder = tmp_path / f"target-{backend}"
        folder.mkdir()
        url = make_database_url(backend, request, folder)
        settings = load_settings({"instance_path": str(folder / "instance"), "database_url": url,
                                  "secret_key": TEST_SECRET, "server_key_passphrase": TEST_PASSPHRASE}, environ={})
        db = Database(url)
        request.addfinalizer(db.dispose)
        return db, settings
    return make


def _head(db):
    with db.session() as s:
        return tuple(s.execute(select(AuditHead.seq, AuditHead.entry_hash)).one())


def _actions(db):
    with db.session() as s:
        return list(s.execute(select(AuditEntry.action).order_by(AuditEntry.seq)).scalars())


def test_full_backup_restores_into_empty_database(db, settings, backend, target, tmp_path):
    add_entries(db, 4)
    create_checkpoint(db, settings)
    out = tmp_path / "full.gmpbak"
    info = take_backup(db, settings, out, details={"os_user": "tester"})
    assert info.kind == "full" and info.audit_head_seq == 5  # the backup's own entry is inside
    assert _actions(db)[-1] == "backup.created"
    head = _head(db)
    new_db, new_settings = target(backend)
    result = restore(new_db, new_settings, [out], details={"os_user": "tester"})
    assert result.audit_head_seq == head[0] and result.restored_seq == head[0] + 1
    with new_db.session() as s:
        restored = s.execute(select(AuditEntry).where(AuditEntry.seq == head[0])).scalar_one()
        assert restored.entry_hash == head[1]
    assert _actions(new_db).count("backup.restored") == 1 and _actions(new_db)[-1] == "backup.restored"
    report = verify_trail(new_db, new_settings)  # keys come from the restored database
    assert report.head_seq == head[0] + 1 and report.checkpoints == 1


@pytest.mark.req("URS-BCK-001", "A11-4.8")
def test_sqlite_backup_restores_on_postgresql(request, tmp_path, target):
    source_url = make_database_url("sqlite", request, tmp_path)
    source = Database(source_url)
    request.addfinalizer(source.dispose)
    settings = load_settings({"instance_path": str(tmp_path / "src"), "database_url": source_url,
                              "secret_key": TEST_SECRET, "server_key_passphrase": TEST_PASSPHRASE}, environ={})
    add_entries(source, 3)
    create_checkpoint(source, settings)
    out = tmp_path / "migrate.gmpbak"
    take_backup(source, settings, out)
    new_db, new_settings = target("postgresql")
    restore(new_db, new_settings, [out])
    report = verify_trail(new_db, new_settings)
    assert report.head_seq == 5 and report.entries == 5
    with source.session() as a, new_db.session() as b:
        assert [r.entry_hash for r in a.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars()] == \
               [r.entry_hash for r in b.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars()][:4]
    add_entries(new_db, 1)  # the restored database keeps working (ids, sequences, head)
    create_checkpoint(new_db, new_settings)
    assert verify_trail(new_db, new_settings).head_seq == 6


def test_differential_backup_holds_only_changes_and_restores_in_order(db, settings, backend, target, tmp_path):
    add_entries(db, 3)
    full = tmp_path / "full.gmpbak"
    take_backup(db, settings, full)
    add_entries(db, 2)
    create_checkpoint(db, settings)
    diff = tmp_path / "diff.gmpbak"
    info = take_backup(db, settings, diff, since=full)
    manifest = BackupFile(diff).manifest
    entries = next(t for t in manifest["tables"] if t["name"] == "audit_entry")
    assert info.kind == "differential" and entries["rows"] == 3 and entries["state_rows"] == 7
    head = _head(db)
    new_db, new_settings = target(backend)
    result = restore(new_db, new_settings, [full, diff])
    assert result.audit_head_seq == head[0]
    assert verify_trail(new_db, new_settings).head_seq == head[0] + 1
    assert _actions(new_db).count("backup.restored") == 1


def test_cli_backup_and_restore_are_audited_with_the_os_user(trail, cli, tmp_path):
    out = tmp_path / "cli.gmpbak"
    result = cli("backup", "--out", str(out))
    assert result.exit_code == 0 and "full backup" in result.output
    with trail.session() as s:
        entry = s.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).scalar_one()
    assert entry.action == "backup.created" and entry.actor_id == "system" and "os_user" in json.loads(entry.details)
    again = cli("backup", "--out", str(out))
    assert again.exit_code == 1 and "exists already" in again.output
    refused = cli("restore", str(out))
    assert refused.exit_code == 1 and "the target database is not empty" in refused.output


def test_restore_refuses_a_non_empty_database(trail, settings, tmp_path):
    out = tmp_path / "b.gmpbak"
    take_backup(trail, settings, out)
    with pytest.raises(RestoreError, match="the target database is not empty: its audit trail holds 7 entries"):
        restore(trail, settings, [out])
    assert _head(trail)[0] == 7


def test_damaged_backup_is_refused_and_changes_nothing(db, settings, backend, target, tmp_path):
    add_entries(db, 2)
    out = tmp_path / "b.gmpbak"
    take_backup(db, settings, out)
    damaged = tmp_path / "damaged.gmpbak"
    with zipfile.ZipFile(out) as src, zipfile.ZipFile(damaged, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "tables/audit_entry.jsonl":
                data = data.replace(b"Alice", b"Alicf", 1)
            dst.writestr(item, data)
    new_db, new_settings = target(backend)
    with pytest.raises(BackupError, match="tables/audit_entry.jsonl is damaged"):
        restore(new_db, new_settings, [damaged])
    assert _head(new_db)[0] == 0


def test_restore_order_is_checked(db, settings, tmp_path):
    add_entries(db, 1)
    full = tmp_path / "full.gmpbak"
    take_backup(db, settings, full)
    diff = tmp_path / "diff.gmpbak"
    take_backup(db, settings, diff, since=full)
    with pytest.raises(RestoreError, match="a restore starts with a full backup"):
        restore(db, settings, [diff, full])
    with pytest.raises(BackupError, match="a differential backup is taken since a full backup"):
        take_backup(db, settings, tmp_path / "x.gmpbak", since=diff)


def test_not_a_backup_is_refused(db, settings, tmp_path):
    bogus = tmp_path / "bogus.gmpbak"
    bogus.write_text("hello")
    with pytest.raises(BackupError, match="not a readable backup file"):
        restore(db, settings, [bogus])


def test_backup_includes_every_table_of_every_package(db, settings, tmp_path):
    from store.models import load_all

    out = tmp_path / "b.gmpbak"
    take_backup(db, settings, out)
    names = {t["name"] for t in BackupFile(out).manifest["tables"]}
    assert names == set(load_all().metadata.tables)
