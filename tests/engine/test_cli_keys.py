"""`gmp process start/instances/inspect/links/link/unlink`: business keys and links from the command line."""
from __future__ import annotations

import json

import pytest

from signatures import kdf, testing
from tests.engine.conftest import deploy
from tests.engine.keys_support import BATCH, DEVIATION
from tests.engine.test_cli import login_env, run  # noqa: F401 - `run` is a fixture


@pytest.mark.req("URS-KEY-001", "URS-KEY-002", "URS-LNK-001")
def test_start_search_and_link_from_the_command_line(db, settings, services, run, frozen_clock, tmp_path):  # noqa: F811
    deploy(db, services, files={"batch.bpmn": BATCH})
    deploy(db, services, files={"deviation.bpmn": DEVIATION})
    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(db, settings)
        sam = testing.enrolled_user(db, settings, admin, "sam", "Sam Supervisor", ["supervisor"])
        quinn = testing.enrolled_user(db, settings, admin, "quinn", "Quinn QA", ["qa"])

        def fresh(person):  # a new TOTP step for every ceremony
            frozen_clock.advance(seconds=30)
            return login_env(db, person)

        result = run("process", "start", "batch", "--business-key", "B-7", "--title", "Paracetamol",
                     env=fresh(sam))
        assert result.exit_code == 0, result.output
        assert "instance 1 of batch started (business key B-7)" in result.output
        data = tmp_path / "start.json"
        data.write_text(json.dumps({"batch_number": "B-8"}))
        result = run("process", "start", "batch", "--data", f"@{data}", env=fresh(sam))
        assert "instance 2 of batch started (business key B-8)" in result.output, result.output
        result = run("process", "start", "deviation", "--data", '{"deviation": {"number": "DEV-1"}}',
                     env=fresh(quinn))
        assert "instance 3 of deviation started (business key DEV-1)" in result.output, result.output

        refused = run("process", "start", "batch", "--business-key", "B-7", env=fresh(sam))
        assert refused.exit_code == 1  # a message, not a traceback
        assert "Error: business key 'B-7' is already used by another instance of process 'batch' (instance 1, " \
            "running)" in refused.output
        bad = run("process", "start", "batch", "--data", "[1]", env=fresh(sam))
        assert bad.exit_code == 2 and "--data must be a JSON object" in bad.output

        result = run("process", "link", "deviation:DEV-1", "raised_from", "batch:B-7", "--reason", "found at weighing",
                     env=fresh(quinn))
        assert result.output.strip().endswith("link 1: instance 3 raised_from instance 1"), result.output
        result = run("process", "link", "batch:B-8", "affected_by", "#3", env=fresh(quinn))
        assert result.output.strip().endswith("link 2: instance 3 affects instance 2"), result.output
        again = run("process", "link", "3", "affects", "2", env=fresh(quinn))
        assert again.exit_code == 1 and "Error: instance 3 affects instance 2 already" in again.output, again.output

    listed = run("process", "instances", "--search", "b-")
    assert listed.output.splitlines() == ["1\tbatch v1\trunning\tB-7\tParacetamol", "2\tbatch v1\trunning\tB-8\tBatch"]
    assert run("process", "instances", "--search", "DEV").output.splitlines() == [
        "3\tdeviation v1\trunning\tDEV-1\tDeviation"]
    open_deviations = run("process", "links", "batch:B-8", "--relation", "raised", "--relation", "affected_by",
                          "--process", "deviation", "--status", "running")
    assert open_deviations.output.splitlines() == ["2\taffected_by\t3\tdeviation\trunning\tDEV-1\tDeviation"]
    affected = run("process", "links", "deviation:DEV-1", "--relation", "affects", "--relation", "raised_from")
    assert [line.split("\t")[:6] for line in affected.output.splitlines()] == [
        ["1", "raised_from", "1", "batch", "running", "B-7"], ["2", "affects", "2", "batch", "running", "B-8"]]
    view = json.loads(run("process", "inspect", "deviation:DEV-1").output)
    assert view["business_key"] == "DEV-1"
    assert [(x["relation"], x["business_key"], x["reason"]) for x in view["links"]] == [
        ("raised_from", "B-7", "found at weighing"), ("affects", "B-8", None)]
    unknown = run("process", "links", "batch:B-99")
    assert unknown.exit_code == 2 and "no instance of process 'batch' has business key 'B-99'" in unknown.output
    nonsense = run("process", "inspect", "batch")
    assert nonsense.exit_code == 2 and "no instance has the number or business key 'batch'" in nonsense.output
    assert json.loads(run("process", "inspect", "B-7").output)["id"] == 1

    with kdf.unsafe_fast_kdf():
        result = run("process", "unlink", "2", "--reason", "B-8 used another lot", env=fresh(quinn))
        assert result.exit_code == 0 and "link 2 retracted" in result.output, result.output
    assert run("process", "links", "batch:B-8").output == ""
    retracted = run("process", "links", "batch:B-8", "--retracted").output
    assert "\tretracted " in retracted and "by quinn" in retracted
