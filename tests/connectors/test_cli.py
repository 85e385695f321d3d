"""`gmp tags`: import, approve, list, read, unconfirmed."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cli import gmp
from signatures import testing
from tests.connectors.conftest import PLANT_TAGS
from tests.connectors.test_registry import PLANT_TAG_COUNT


@pytest.fixture
def run(settings, database_url):
    env = {"GMP_INSTANCE_PATH": settings.instance_path, "GMP_DATABASE_URL": database_url,
           "GMP_SECRET_KEY": settings.secret_key, "GMP_SERVER_KEY_PASSPHRASE": settings.server_key_passphrase,
           "GMP_CONNECTOR_TIMEOUT_SECONDS": "1"}

    def invoke(args, person=None, db=None):
        stdin = f"{person.password}\n{testing.next_totp(db, person)}\n" if person else None
        return CliRunner().invoke(gmp, args, input=stdin, env=env, catch_exceptions=False)
    invoke.env = env  # type: ignore[attr-defined]
    return invoke


@pytest.mark.req("URS-CON-001", "P11-10k")
def test_import_approve_list_and_read_from_the_command_line(db, people, plant, run, frozen_clock):
    endpoint = f"plant-modbus=modbus://127.0.0.1:{plant.modbus_port}"
    result = run(["tags", "import", str(PLANT_TAGS), "--reason", "commissioning", "--endpoint", endpoint,
                  "--endpoint", f"plant-opcua={plant.opcua_endpoint}", "--user", "eng.li"], people.engineer, db)
    assert result.exit_code == 0 and f"registry revision 1: {PLANT_TAG_COUNT} tags, pending approval by QA" in result.output
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


def _actions(db, action):  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from audit.models import AuditEntry

    with db.session() as s:
        return list(s.execute(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq))
                    .scalars())


@pytest.mark.req("P11-200a1", "P11-10d", "URS-CON-001")
def test_a_read_only_user_scripts_reads_in_a_cli_session_that_times_out(db, settings, registered, people, plant,
                                                                         run, frozen_clock):
    """`gmp login` once (password + TOTP), then reads without prompts (no stdin at all) until the session has
    been idle for GMP_SESSION_TIMEOUT_MINUTES; `gmp logout` ends it. Before: every `gmp tags` command asked for
    password and TOTP, and one TOTP code served one command per 30 s."""
    from signatures import kdf

    with kdf.unsafe_fast_kdf():
        audrey = testing.enrolled_user(db, settings, people.admin, "audrey", "Audrey Auditor", ["auditor"])
    frozen_clock.advance(seconds=31)
    login = run(["login", "--user", "audrey"], audrey, db)
    assert login.exit_code == 0, login.output
    assert "logged in as Audrey Auditor (audrey); the session ends after 15 minutes without a command" in login.output
    for minute in range(3):
        frozen_clock.advance(minutes=10)  # each read is activity: the session slides
        read = run(["tags", "read", "GAS-01.o2"])
        assert read.exit_code == 0, read.output
        assert json.loads(read.output.strip().splitlines()[-1])["tag"] == "GAS-01.o2"
    from sqlalchemy import select

    from connectors.models import EquipmentReading

    with db.session() as s:
        assert list(s.execute(select(EquipmentReading.captured_by)).scalars()) == ["audrey"] * 3
    assert "Audrey Auditor (audrey); session ends at" in run(["whoami"]).output
    assert [e.details for e in _actions(db, "user.login")][-1].count('"cli session"') == 1
    frozen_clock.advance(minutes=15, seconds=1)
    expired = run(["tags", "read", "GAS-01.o2"])  # no stdin: the prompt for a new sign-in aborts
    assert expired.exit_code == 1
    assert "your command-line session is over (session expired after 15 minutes of inactivity" in expired.output
    assert run(["whoami"]).exit_code == 1
    frozen_clock.advance(seconds=31)
    assert run(["login"], None, None).exit_code == 1  # no user, no input: nothing opened
    assert run(["login", "--user", "audrey"], audrey, db).exit_code == 0
    out = run(["logout"])
    assert out.exit_code == 0 and "logged out (audrey)" in out.output
    assert _actions(db, "user.logout")[-1].actor_id == "audrey"
    assert run(["logout"]).output.strip() == "no command-line session was open"


@pytest.mark.req("URS-CON-003", "P11-200a1", "P11-10k")
def test_tags_write_signs_writes_and_reads_back(db, settings, registered, people, plant, run, frozen_clock):
    from connectors.models import SetpointWrite

    operator = people.operator
    before = len(_actions(db, "signature.created"))  # the registry approval
    frozen_clock.advance(seconds=31)
    # without a session: user ID given, password and TOTP asked once; signed with no session
    done = run(["tags", "write", "FBD-01.inlet_temp_sp", "65.5", "--reason", "CR-12 new drying profile",
                "--user", "op.chen"], operator, db)
    assert done.exit_code == 0, done.output
    assert "FBD-01.inlet_temp_sp = 65.5 degC: written and confirmed by read-back" in done.output
    assert plant.value("dryer.inlet_temp_sp") == 65.5
    with db.session() as s:
        write = s.query(SetpointWrite).one()
        assert (write.instance_id, write.requested_by) == ("manual", "op.chen") and write.task_id.startswith("change-")
    signature = _actions(db, "signature.created")[-1]
    assert signature.actor_id == "op.chen" and '"ceremony":"no_session"' in signature.details
    # refused before any signature: out of range, not a number, read-only, unregistered (no password asked)
    for args, message in ((["FBD-01.inlet_temp_sp", "95"], "outside the allowed range [30.0, 80.0] degC"),
                          (["FBD-01.inlet_temp_sp", "warm"], "takes a number, got 'warm'"),
                          (["GAS-01.o2", "21"], "tag GAS-01.o2 is read-only"),
                          (["NOPE-01.x", "1"], "NOPE-01.x")):
        refused = run(["tags", "write", *args, "--reason", "x", "--user", "op.chen"])
        assert refused.exit_code == 1 and message in refused.output, refused.output
    assert len(_actions(db, "signature.created")) == before + 1
    # in a `gmp login` session: the first signature needs password and TOTP, the next the password alone
    frozen_clock.advance(seconds=31)
    assert run(["login", "--user", "op.chen"], operator, db).exit_code == 0
    frozen_clock.advance(seconds=31)
    first = run(["tags", "write", "FBD-01.inlet_temp_sp", "60", "--reason", "CR-12 step 2"], operator, db)
    assert first.exit_code == 0, first.output
    second = CliRunner().invoke(gmp, ["tags", "write", "FBD-01.inlet_temp_sp", "62", "--reason", "CR-12 step 3"],
                                input=f"{operator.password}\n", env=run.env)  # type: ignore[attr-defined]
    assert second.exit_code == 0, second.output
    assert [json.loads(e.details)["ceremony"] for e in _actions(db, "signature.created")[-2:]] == \
        ["first_in_session", "continuous_session"]
    assert plant.value("dryer.inlet_temp_sp") == 62.0
    other = run(["tags", "write", "FBD-01.inlet_temp_sp", "61", "--reason", "x", "--user", "qa.wang"])
    assert other.exit_code == 1 and "you are logged in as op.chen, not qa.wang" in other.output
    plant.set("dryer.inlet_temp_sp", 60.0)
