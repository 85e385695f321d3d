"""An archive written by an earlier release, from that release's database, is read by this one
(Annex 11 §17: archived data stays accessible and readable across upgrades).

The released code (tests/support/upgrade.py RELEASES, taken out of git) fills a database at its
schema revision, then writes the archive of its closed records with its own `gmp archive create`,
in its own process. This release verifies that file offline, lists it and renders a record's PDF
from it; the database is then upgraded to this release's head and the archived record still
matches what this release reads from the database."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from core import clock
from tests.web.test_periodic import flat, pdf_text

pytestmark = [pytest.mark.slow, pytest.mark.req("URS-OPS-007", "A11-17", "A11-4.8")]

# The oldest release that writes archives (format v1 landed before 0011_md_records was released).
WRITER = "0011_md_records"


def released_gmp(tree: Path, populated, *args: str) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    """`gmp ARGS` run by the released code in `tree` (and only it), in its own process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GMP_", "PYTHON"))}
    env.update({"PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1",
                "GMP_INSTANCE_PATH": str(populated.instance_path), "GMP_DATABASE_URL": populated.url,
                "GMP_SECRET_KEY": populated.secret_key, "GMP_SERVER_KEY_PASSPHRASE": populated.passphrase})
    return subprocess.run([sys.executable, "-c", "import sys; from cli import main; main(sys.argv[1:])", *args],
                          cwd=tree, env=env, capture_output=True, text=True, timeout=600)


def current_gmp(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    from cli import gmp as command

    return CliRunner().invoke(command, list(args), env=env or {}, catch_exceptions=False)


def test_an_archive_written_by_the_previous_release_is_read_after_the_upgrade(
        populated_database, request, tmp_path):
    from tests.support import upgrade

    populated = populated_database(WRITER)
    tree = upgrade.release_tree(WRITER, request.getfixturevalue("_released_databases")["dir"])
    archive = tmp_path / "closed.gmparchive"
    tomorrow = (clock.now() + timedelta(days=1)).date().isoformat()

    written = released_gmp(tree, populated, "archive", "create", "--before", tomorrow, "--out", str(archive))
    assert written.returncode == 0, written.stderr + written.stdout
    manifest = json.loads(zipfile.ZipFile(archive).read("manifest.json"))
    assert manifest["schema_revision"] == WRITER and manifest["version"] == 1
    closed = {r["instance_id"]: r for r in manifest["records"]}
    assert closed and all(r["status"] in ("completed", "cancelled") for r in closed.values())

    verified = current_gmp("archive", "verify", str(archive))
    assert verified.exit_code == 0, verified.output
    assert f"archive intact: {len(closed)} records" in verified.output
    listing = current_gmp("archive", "show", str(archive))
    assert listing.exit_code == 0 and f"schema {WRITER}" in listing.output
    completed = next(i for i, r in closed.items() if r["status"] == "completed")
    assert f"#{completed} completed" in listing.output
    pdf, body = tmp_path / "record.pdf", tmp_path / "record.json"
    shown = current_gmp("archive", "show", str(archive), "--record", str(completed), "--pdf", str(pdf),
                        "--json", str(body))
    assert shown.exit_code == 0, shown.output
    archived = json.loads(body.read_text(encoding="utf-8"))
    assert archived["instance"]["id"] == completed
    assert flat(archived["instance"]["title"]) in pdf_text(pdf.read_bytes(), tmp_path)

    # The site upgrades: the database moves to this release's head; the archive still verifies, and what it
    # holds is what this release reads from the upgraded database (the same values, signatures and entries).
    from store.migrate import upgrade as migrate
    migrate(populated.url)
    assert current_gmp("archive", "verify", str(archive)).exit_code == 0
    from engine.runtime import using
    from web.factory import create_app
    from web.records import build_record
    app = create_app({"instance_path": str(populated.instance_path), "database_url": populated.url,
                      "secret_key": populated.secret_key, "server_key_passphrase": populated.passphrase})
    try:
        with app.test_request_context("/"), using(app.extensions["gmp.runtime"]):
            with app.extensions["gmp.db"].read_session() as session:
                now = build_record(session, completed)
    finally:
        app.extensions["gmp.db"].dispose()
    def essentials(record):  # type: ignore[no-untyped-def]
        return [(t["task_id"], t["completed_by"], t["record_hash"], len(t["signatures"])) for t in record["tasks"]]
    assert essentials(archived) and essentials(now) == essentials(archived)
    archived_entries = [e["seq"] for e in archived["timeline"]]
    assert archived_entries and [e["seq"] for e in now["timeline"]][:len(archived_entries)] == archived_entries

    # A changed byte in the archive is found by this release too.
    tampered = tmp_path / "tampered.gmparchive"
    with zipfile.ZipFile(archive) as source, zipfile.ZipFile(tampered, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            target.writestr(name, data.replace(b'"completed"', b'"cancelled"', 1) if name == f"records/{completed}.json"
                            else data)
    refused = current_gmp("archive", "verify", str(tampered))
    assert refused.exit_code == 1 and f"records/{completed}.json" in refused.output
