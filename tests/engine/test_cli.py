"""`gmp process ...` through the same services as the web application."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cli import gmp
from signatures import kdf, testing
from store import runtime
from tests.engine.conftest import PROCESSES


@pytest.fixture
def run(settings, monkeypatch):
    monkeypatch.setenv("GMP_INSTANCE_PATH", settings.instance_path)
    monkeypatch.setenv("GMP_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("GMP_SECRET_KEY", settings.secret_key)
    monkeypatch.setenv("GMP_SERVER_KEY_PASSPHRASE", settings.server_key_passphrase)
    runtime.cli_settings.cache_clear()
    runner = CliRunner()

    def invoke(*args: str, env: dict | None = None):
        return runner.invoke(gmp, list(args), env=env, catch_exceptions=True)
    yield invoke
    runtime.cli_settings.cache_clear()


def login_env(db, person):
    creds = testing.credentials(db, person)
    return {"GMP_USER": person.user_id, "GMP_PASSWORD": creds.password, "GMP_TOTP": creds.totp}


@pytest.mark.req("URS-ENG-003", "URS-ENG-004", "P11-10k")
def test_upload_approve_history_compare(db, settings, run, frozen_clock, tmp_path):
    folder = str(PROCESSES / "line_clearance")
    result = run("process", "check", folder)
    assert result.exit_code == 0, result.output
    assert "passes every check" in result.output
    assert "line_clearance.bpmn:25: startEvent 'start' has no diagram layout (BPMNShape)" in result.output
    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(db, settings)
        anna = testing.enrolled_user(db, settings, admin, "anna", "Anna Author", ["qa"])
        quinn = testing.enrolled_user(db, settings, admin, "quinn", "Quinn QA", ["qa"])
        frozen_clock.advance(seconds=30)
        result = run("process", "upload", folder, "--reason", "CC-001 first issue", env=login_env(db, anna))
        assert result.exit_code == 0, result.output
        assert "draft version 1 stored" in result.output
        result = run("process", "approve", "line_clearance", "1", env=login_env(db, quinn))
        assert result.exit_code == 0, result.output
    result = run("process", "list")
    assert "line_clearance\tLine clearance\tv1 approved" in result.output
    history = json.loads(run("process", "history", "line_clearance").output)
    assert history[0]["created_by"] == "anna" and history[0]["approved_by"] == "quinn"
    diff = json.loads(run("process", "compare", "line_clearance", "1", "1").output)
    assert diff["changed"] == [] and diff["added"] == []

    broken = tmp_path / "broken.bpmn"
    broken.write_bytes((PROCESSES / "line_clearance" / "line_clearance.bpmn").read_bytes())
    result = run("process", "check", str(broken))
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)  # a message, not a traceback
    assert "form file 'forms/clearance.json' (formJsonSchemaFilename) is not among the uploaded files" in \
        result.output


@pytest.mark.req("URS-LIB-006")
def test_check_reports_bpmnlint_findings_and_layout_without_refusing(run):
    from engine.diagram_lint import bpmnlint
    from tests.conftest import missing

    if bpmnlint() is None:
        missing("bpmnlint 11 with Node.js (npm ci --prefix tools/bpmnlint)")
    shipped = run("process", "check", str(PROCESSES.parents[2] / "docs" / "examples" / "line_clearance"))
    assert shipped.exit_code == 0, shipped.output
    assert "diagram: bpmnlint 11." in shipped.output and "(recommended rules): nothing to report" in shipped.output
    undrawn = run("process", "check", str(PROCESSES / "line_clearance"))  # runs, but has no layout
    assert undrawn.exit_code == 0, undrawn.output
    assert "passes every check" in undrawn.output
    assert "line_clearance.bpmn: element 'start': Element is missing bpmndi (bpmnlint no-bpmndi, error)" in \
        undrawn.output


@pytest.mark.req("URS-ENG-003", "P11-10k", "A11-10")
def test_approve_with_an_effective_date(db, settings, run, frozen_clock, tmp_path):
    """`gmp process approve --effective-from`: a date in the past is refused (exit 1, nothing stored);
    a later date leaves v1 in force until then (`gmp process list`)."""
    folder = PROCESSES / "line_clearance"
    copy = tmp_path / "line_clearance"
    for path in folder.rglob("*"):
        if path.is_file():
            target = copy / path.relative_to(folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            data = path.read_bytes()
            target.write_bytes(data.replace(b"<bpmn:definitions", b"<!-- v2 -->\n<bpmn:definitions", 1)
                               if path.suffix == ".bpmn" else data)
    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(db, settings)
        anna = testing.enrolled_user(db, settings, admin, "anna", "Anna Author", ["qa"])
        quinn = testing.enrolled_user(db, settings, admin, "quinn", "Quinn QA", ["qa"])
        frozen_clock.advance(seconds=30)
        assert run("process", "upload", str(folder), "--reason", "CC-001", env=login_env(db, anna)).exit_code == 0
        assert run("process", "approve", "line_clearance", "1", env=login_env(db, quinn)).exit_code == 0
        frozen_clock.advance(seconds=30)
        assert run("process", "upload", str(copy), "--reason", "CC-002", env=login_env(db, anna)).exit_code == 0
        frozen_clock.advance(seconds=30)
        past = run("process", "approve", "line_clearance", "2", "--effective-from", "2025-12-31",
                   env=login_env(db, quinn))
        assert past.exit_code == 1 and isinstance(past.exception, SystemExit), past.output
        assert "effective from 2025-12-31: a change cannot take effect in the past" in past.output
        assert "line_clearance\tLine clearance\tv1 approved, v2 draft" in run("process", "list").output
        frozen_clock.advance(seconds=30)
        dated = run("process", "approve", "line_clearance", "2", "--effective-from", "2026-02-01",
                    env=login_env(db, quinn))
        assert dated.exit_code == 0, dated.output
        assert "line_clearance v2 approved, effective from 2026-02-01" in dated.output
    assert "v1 approved, v2 scheduled" in run("process", "list").output
    assert json.loads(run("process", "history", "line_clearance").output)[1]["effective_from"].startswith(
        "2026-02-01T00:00:00")
    frozen_clock.advance(days=30)
    assert "v1 superseded, v2 approved" in run("process", "list").output
