"""Archive of closed records (A11-17): `gmp archive create|verify|show`; the file verifies offline
like an audit export, tampering is found, and an archive written by an earlier release is read."""
from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from signatures import testing
from tests.web.test_operator import form, plant, task_id  # noqa: F401  (fixture)
from tests.web.test_periodic import flat, pdf_text

pytestmark = pytest.mark.req("URS-OPS-007", "A11-17", "A11-7.1")
GOLDEN = Path(__file__).parent / "archives" / "format-v1.gmparchive"


def gmp(settings, *args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    from cli import gmp as command

    env = env if env is not None else {
        "GMP_INSTANCE_PATH": str(settings.instance), "GMP_DATABASE_URL": settings.database_url,
        "GMP_SECRET_KEY": settings.secret_key, "GMP_SERVER_KEY_PASSPHRASE": settings.server_key_passphrase}
    return CliRunner().invoke(command, list(args), env=env, catch_exceptions=False)


def rewrite(path: Path, out: Path, name: str, change) -> None:  # type: ignore[no-untyped-def]
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.namelist():
            data = source.read(item)
            target.writestr(item, change(data) if item == name else data)


def test_closed_records_are_archived_and_verify_offline(plant, db, settings, tmp_path):  # noqa: F811
    from audit.server_key import public_keys, public_pem
    from engine import instances
    from store.uow import UnitOfWork
    from tests.signatures.helpers import last_entry

    client, people = plant
    alice, bob = people["alice"], people["bob"]
    done = client.post(f"/tasks/{task_id(client)}", data={
        **form(people, **{"f:gross": "13.0", "exc:net": "容器超装 DEV-1"}), "sig_password": alice.password,
        "sig_totp": testing.next_totp(db, alice), "sig2_user_id": "bob", "sig2_password": bob.password,
        "sig2_totp": testing.next_totp(db, bob)})
    assert done.status_code == 200, done.get_data(as_text=True)
    with UnitOfWork(db, people["quinn"].actor) as uow:  # a second batch still running: not archived
        instances.start(uow, "dispense", title="Batch B-002", settings=settings)
        uow.commit()
    out = tmp_path / "2026.gmparchive"
    assert "no closed record" in gmp(settings, "archive", "create", "--before", "2026-01-05", "--out", str(out)).output
    assert "--before must be a date" in gmp(settings, "archive", "create", "--before", "soon", "--out", str(out)).output
    assert not out.exists()
    made = gmp(settings, "archive", "create", "--before", "2026-01-06", "--out", str(out))
    assert made.exit_code == 0, made.output
    assert "1 records closed before 2026-01-06T00:00:00.000000Z" in made.output
    entry = last_entry(db, "archive.created")
    assert json.loads(entry.details)["instances"] == [1]
    # offline: no database, no configuration; the trusted keys from `gmp audit public-key`
    keys = tmp_path / "keys.pem"
    keys.write_bytes(b"".join(public_pem(k) for k in public_keys(settings).values()))
    offline = gmp(settings, "archive", "verify", str(out), "--public-key", str(keys), env={})
    assert offline.exit_code == 0, offline.output
    assert "archive intact: 1 records" in offline.output and "checked with the archive's own" not in offline.output
    listing = gmp(settings, "archive", "show", str(out), env={})
    assert "#1 completed" in listing.output and "Batch B-001" in listing.output and "B-002" not in listing.output
    pdf, data = tmp_path / "1.pdf", tmp_path / "1.json"
    assert gmp(settings, "archive", "show", str(out), "--record", "1", "--pdf", str(pdf), "--json", str(data),
               env={}).exit_code == 0
    assert flat("Batch B-001") in pdf_text(pdf.read_bytes(), tmp_path) and flat("容器超装 DEV-1") in pdf_text(pdf.read_bytes(), tmp_path)
    record = json.loads(data.read_text())
    assert record["instance"]["status"] == "completed" and record["exceptions"][0]["exception_comment"] == "容器超装 DEV-1"
    assert "no record #7" in gmp(settings, "archive", "show", str(out), "--record", "7", env={}).output
    # tampering is found
    changed = tmp_path / "changed.gmparchive"
    rewrite(out, changed, "records/1.json", lambda b: b.replace(b"DEV-1", b"DEV-9"))
    bad = gmp(settings, "archive", "verify", str(changed), env={})
    assert bad.exit_code == 1 and "records/1.json does not match its SHA-256 in the manifest" in bad.output
    rewrite(out, changed, "manifest.json", lambda b: b.replace(b"Batch B-001", b"Batch B-00X"))
    assert "the manifest's signature does not verify" in gmp(settings, "archive", "verify", str(changed), env={}).output
    rewrite(out, changed, "trail/task.jsonl", lambda b: b"\n".join(b.split(b"\n")[:3] + b.split(b"\n")[4:]))
    rewritten = json.loads(zipfile.ZipFile(changed).read("manifest.json"))
    assert rewritten["trail"]  # the manifest names the trail file whose line was removed
    assert gmp(settings, "archive", "verify", str(changed), env={}).exit_code == 1
    other = tmp_path / "other.pem"
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    other.write_bytes(public_pem(Ed25519PrivateKey.generate().public_key()))
    untrusted = gmp(settings, "archive", "verify", str(out), "--public-key", str(other), env={})
    assert untrusted.exit_code == 1 and "not a trusted key" in untrusted.output
    not_archive = tmp_path / "x.gmparchive"
    not_archive.write_bytes(b"PK nothing")
    assert "not an archive file" in gmp(settings, "archive", "show", str(not_archive), env={}).output
    if os.environ.get("GMP_WRITE_GOLDEN_ARCHIVE"):  # written once per released format, then kept
        GOLDEN.parent.mkdir(exist_ok=True)
        shutil.copy(out, GOLDEN)


def test_an_archive_written_by_an_earlier_release_is_read(settings, tmp_path):
    """The archive in tests/web/archives was written by the release that introduced the format (its schema
    revision in the manifest, older than later releases' heads): every later release verifies and shows it offline."""
    from store.migrate import alembic_config

    assert GOLDEN.is_file()
    manifest = json.loads(zipfile.ZipFile(GOLDEN).read("manifest.json"))
    revisions = sorted(p.stem for p in (Path(alembic_config("sqlite://").get_main_option("script_location"))
                                       / "versions").glob("0*.py"))
    assert manifest["version"] == 1 and manifest["schema_revision"] in revisions
    result = gmp(settings, "archive", "verify", str(GOLDEN), env={})
    assert result.exit_code == 0, result.output
    assert "archive intact: 1 records" in result.output and "checked with the archive's own public keys" in result.output
    listing = gmp(settings, "archive", "show", str(GOLDEN), env={})
    assert "#1 completed" in listing.output and f"schema {manifest['schema_revision']}" in listing.output
    pdf = tmp_path / "1.pdf"
    assert gmp(settings, "archive", "show", str(GOLDEN), "--record", "1", "--pdf", str(pdf), env={}).exit_code == 0
    assert flat("Batch B-001") in pdf_text(pdf.read_bytes(), tmp_path)
    newer = tmp_path / "newer.gmparchive"
    rewrite(GOLDEN, newer, "manifest.json", lambda b: b.replace(b'"version": 1', b'"version": 99'))
    refused = gmp(settings, "archive", "show", str(newer), env={})
    assert refused.exit_code == 1 and "is not an archive this release reads" in refused.output
