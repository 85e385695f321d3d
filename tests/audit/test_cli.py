"""`gmp audit verify / checkpoint / public-key / rotate-key`."""
from __future__ import annotations

import pytest

from audit.checkpoints import log_path, read_log
from audit.verify import verify_trail
from tests.audit.conftest import add_entries, tamper


@pytest.mark.req("URS-AUD-003", "P11-10a")
def test_verify_exits_zero_on_intact_trail_and_reports_unanchored(trail, cli):
    result = cli("audit", "verify")
    assert result.exit_code == 0, result.output
    assert "6 entries after the newest checkpoint are not yet anchored" in result.output
    assert cli("audit", "checkpoint").exit_code == 0
    result = cli("audit", "verify")
    assert "0 entries after the newest checkpoint" in result.output


@pytest.mark.req("URS-AUD-003", "P11-10a")
def test_verify_exits_non_zero_naming_the_first_bad_entry(trail, cli):
    tamper(trail, "UPDATE audit_entry SET object_id = 'B-2' WHERE seq = 5")
    result = cli("audit", "verify")
    assert result.exit_code == 1
    assert "audit entry 5: column object_id differs from the canonical bytes: expected 'B-1', found 'B-2'" in result.output


@pytest.mark.req("URS-AUD-007", "P11-10e")
def test_checkpoint_goes_to_table_and_log(trail, cli, settings):
    result = cli("audit", "checkpoint")
    assert result.exit_code == 0 and "checkpoint at entry 6" in result.output
    assert [c.seq for c in read_log(log_path(settings))] == [6]
    again = cli("audit", "checkpoint")  # same head: no second checkpoint
    assert again.exit_code == 0 and len(read_log(log_path(settings))) == 1


@pytest.mark.req("URS-AUD-007")
def test_checkpoint_of_empty_trail_is_refused(db, cli):
    result = cli("audit", "checkpoint")
    assert result.exit_code == 1 and "the audit trail is empty" in result.output


@pytest.mark.req("URS-AUD-007", "P11-10e")
def test_rotation_keeps_old_checkpoints_valid(trail, cli, settings):
    cli("audit", "checkpoint")
    first = cli("audit", "public-key", "--current").output
    result = cli("audit", "rotate-key")
    assert result.exit_code == 0 and "server key rotated" in result.output
    cli("audit", "checkpoint")
    keys = cli("audit", "public-key").output
    assert keys.count("BEGIN PUBLIC KEY") == 2 and first.splitlines()[1] in keys
    report = verify_trail(trail, settings)
    assert report.checkpoints == 2 and report.newest_checkpoint.seq == 7  # 7 = the rotation entry
    with trail.engine.connect() as c:
        from sqlalchemy import text
        assert c.execute(text("SELECT count(*) FROM audit_server_key")).scalar_one() == 2
        assert c.execute(text("SELECT action FROM audit_entry WHERE seq = 7")).scalar_one() == "server_key.rotated"


@pytest.mark.req("URS-AUD-007", "P11-10e")
def test_periodic_checkpoint_when_a_commit_crosses_the_interval(db, settings):
    from dataclasses import replace

    from audit.checkpoints import enable_periodic

    enable_periodic(db, replace(settings, checkpoint_interval_entries=4))
    add_entries(db, 9)
    assert [c.seq for c in read_log(log_path(settings))] == [4, 8]
    assert verify_trail(db, settings).unanchored == 1
