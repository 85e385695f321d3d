"""`gmp records pdf|json`: the record as the web application renders it, for the person at the terminal."""
from __future__ import annotations

import json
import subprocess

import pytest
from click.testing import CliRunner

from cli import gmp
from signatures import testing
from tests.conftest import TEST_PASSPHRASE, TEST_SECRET
from tests.web.test_operator import plant  # noqa: F401  (fixture)


def _env(settings):  # type: ignore[no-untyped-def]
    return {"GMP_INSTANCE_PATH": settings.instance_path, "GMP_DATABASE_URL": settings.database_url,
            "GMP_SECRET_KEY": TEST_SECRET, "GMP_SERVER_KEY_PASSPHRASE": TEST_PASSPHRASE}


def _answers(db, person):  # type: ignore[no-untyped-def]
    return f"{person.password}\n{testing.next_totp(db, person)}\n"


@pytest.mark.req("P11-10b", "P11-10d", "CN-6")
def test_records_pdf_and_json_from_the_command_line(plant, db, settings, tmp_path, frozen_clock):  # noqa: F811
    _client, people = plant
    env = _env(settings)
    frozen_clock.advance(seconds=31)
    quinn = people["quinn"]
    out = tmp_path / "record-1.pdf"
    # no session: asked once; a session is opened for the command and ended after it
    result = CliRunner().invoke(gmp, ["records", "pdf", "1", "--out", str(out), "--user", "quinn"],
                                input=_answers(db, quinn), env=env)
    assert result.exit_code == 0, result.output
    assert "record of instance 1 written to" in result.output and "for Quinn QA (quinn)" in result.output
    assert out.read_bytes().startswith(b"%PDF")
    text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True, check=True).stdout
    assert "Batch B-001" in text
    # in a `gmp login` session: no questions
    frozen_clock.advance(seconds=31)
    assert CliRunner().invoke(gmp, ["login", "--user", "quinn"], env=env, input=_answers(db, quinn)).exit_code == 0
    listing = CliRunner().invoke(gmp, ["records", "json", "1"], env=env)
    assert listing.exit_code == 0, listing.output
    assert json.loads(listing.output)["instance"]["id"] == 1
    missing = CliRunner().invoke(gmp, ["records", "pdf", "99", "--out", str(tmp_path / "x.pdf")], env=env)
    assert missing.exit_code == 1 and "there is no process instance 99" in missing.output
    assert CliRunner().invoke(gmp, ["logout"], env=env).exit_code == 0


@pytest.mark.req("P11-10g", "P11-10d")
def test_records_from_the_command_line_follow_the_access_matrix(plant, db, settings, tmp_path, frozen_clock):  # noqa: F811
    """An administrator may not read records in the browser, nor from the command line; the refusal is recorded."""
    from sqlalchemy import select

    from audit.models import AuditEntry
    from signatures.models import UserAccount

    with db.session() as s:
        secret = s.get(UserAccount, "admin").totp_secret
    admin = testing.Person("admin", "Ada Admin", testing.DEFAULT_PASSWORD, secret)
    frozen_clock.advance(seconds=31)
    out = tmp_path / "r.pdf"
    result = CliRunner().invoke(gmp, ["records", "pdf", "1", "--out", str(out), "--user", "admin"],
                                input=_answers(db, admin), env=_env(settings))
    assert result.exit_code == 1 and "Ada Admin (admin) may not read records" in result.output, result.output
    assert not out.exists()
    with db.session() as s:
        refused = s.execute(select(AuditEntry).where(AuditEntry.action == "access.refused")).scalars().one()
    assert (refused.actor_id, refused.object_id) == ("admin", "records.record_pdf") and "/records/1.pdf" in \
        refused.details
