"""`gmp tags`: import, approve, list, read, unconfirmed."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cli import gmp
from signatures import testing
from tests.connectors.conftest import PLANT_TAGS


@pytest.fixture
def run(settings, database_url):
    env = {"GMP_INSTANCE_PATH": settings.instance_path, "GMP_DATABASE_URL": database_url,
           "GMP_SECRET_KEY": settings.secret_key, "GMP_SERVER_KEY_PASSPHRASE": settings.server_key_passphrase,
           "GMP_CONNECTOR_TIMEOUT_SECONDS": "1"}

    def invoke(args, person=None, db=None):
        stdin = f"{person.password}\n{testing.next_totp(db, person)}\n" if person else None
        return CliRunner().invoke(gmp, args, input=stdin, env=env, catch_exceptions=False)
    return invoke


@pytest.mark.req("URS-CON-001", "P11-10k")
def test_import_approve_list_and_read_from_the_command_line(db, people, plant, run, frozen_clock):
    endpoint = f"plant-modbus=modbus://127.0.0.1:{plant.modbus_port}"
    result = run(["tags", "import", str(PLANT_TAGS), "--reason", "commissioning", "--endpoint", endpoint,
                  "--endpoint", f"plant-opcua={plant.opcua_endpoint}", "--user", "eng.li"], people.engineer, db)
    assert result.exit_code == 0 and "registry revision 1: 30 tags, pending approval by QA" in result.output
    frozen_clock.advance(seconds=31)
    refused = run(["tags", "approve", "1", "--reason", "ok", "--user", "eng.li"], people.engineer, db)
    assert refused.exit_code == 1 and "imported by eng.li: a different user must approve it" in refused.output
    approved = run(["tags", "approve", "1", "--reason", "checked", "--user", "qa.wang"], people.qa, db)
    assert approved.exit_code == 0 and "approved by qa.wang (signature" in approved.output
    listing = run(["tags", "list"])
    assert "revision 1  approved" in listing.output and "FBD-01.inlet_temp_sp" in listing.output
    assert "unit 2 holding 0 float32/little  [30.0, 80.0] degC" in listing.output
    plant.force("gas.o2", 20.5)
    try:
        frozen_clock.advance(seconds=31)
        read = run(["tags", "read", "GAS-01.o2", "--user", "op.chen"], people.operator, db)
    finally:
        plant.release()
    assert read.exit_code == 0, read.output
    document = json.loads(read.output.strip().splitlines()[-1])
    assert document["value"] == pytest.approx(20.5) and document["origin"] == "equipment"
    assert run(["tags", "unconfirmed"]).output.strip().endswith("0 unconfirmed write(s)")
    bad = run(["tags", "import", str(PLANT_TAGS), "--reason", "x", "--endpoint", "nonsense", "--user", "eng.li"])
    assert bad.exit_code == 2 and "expected NAME=URL" in bad.output
