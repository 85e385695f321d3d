"""Commands on a database that was never migrated (or is behind), and `gmp process check` without one."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import TEST_PASSPHRASE, TEST_SECRET

ROOT = Path(__file__).resolve().parents[2]
LINE_CLEARANCE = ROOT / "tests" / "engine" / "processes" / "line_clearance"
RELATIVE_NAMESPACE = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:tri="trisotech/model"
    id="d1" targetNamespace="http://example.com/x">
  <bpmn:process id="p1" isExecutable="true">
    <bpmn:startEvent id="s1" tri:origin="x"/>
    <bpmn:endEvent id="e1"/>
    <bpmn:sequenceFlow id="f1" sourceRef="s1" targetRef="e1"/>
  </bpmn:process>
</bpmn:definitions>
"""

# Every command that reads or writes the database, with what it needs typed in.
COMMANDS = [
    (["process", "list"], None), (["process", "instances"], None), (["process", "inspect", "1"], None),
    (["process", "history", "x"], None), (["tags", "list"], None), (["tags", "unconfirmed"], None),
    (["audit", "verify"], None), (["audit", "checkpoint"], None), (["audit", "export", "--out", "{tmp}/x.jsonl"], None),
    (["audit", "rotate-key"], None), (["role", "list"], None), (["backup", "--out", "{tmp}/b.gmpbak"], None),
    (["scheduler", "--once"], None), (["scheduler"], None), (["notify", "--once"], None), (["notify"], None),
    (["serve", "--port", "1"], None), (["demo", "seed"], None),
    (["user", "list"], "admin\npassword\n123456\n"), (["tags", "read", "X", "--user", "alice"], "pw\n123456\n"),
    (["tags", "write", "X", "1", "--reason", "r"], "alice\npw\n123456\n"), (["login"], "alice\npw\n123456\n"),
    (["records", "json", "1"], None), (["process", "compare", "x", "1", "2"], None),
    (["report", "periodic", "--from", "2026-01-01", "--to", "2026-02-01", "--out", "{tmp}/r.pdf"], None),
    (["report", "periodic", "--from", "2026-01-01", "--to", "2026-02-01", "--out", "{tmp}/r.pdf", "--sign-as", "quinn"],
     "pw\n123456\n"),
    (["api", "account", "list"], None), (["admin", "bootstrap", "admin", "--name", "Ada"], None),
    (["role", "add", "x", "--kind", "business", "--label-en", "x", "--label-zh", "x", "--reason", "r"], None),
    (["api", "account", "create", "mes", "--name", "MES", "--reason", "r"], None),
    (["api", "account", "deactivate", "mes", "--reason", "r"], None),
    (["api", "account", "grant", "mes", "r", "--reason", "r"], None),
    (["api", "account", "revoke", "mes", "r", "--reason", "r"], None),
    (["api", "token", "issue", "mes", "--scope", "audit:read", "--expires", "2027-12-31", "--reason", "r"], None),
    (["api", "token", "revoke", "1", "--reason", "r"], None),
    (["process", "approve", "x", "1"], "alice\npw\n123456\n"), (["process", "upload", "{tmp}", "--reason", "r"], None),
    (["records", "pdf", "1", "--out", "{tmp}/r.pdf"], None), (["records", "verify", "{tmp}/r.json"], None),
    (["tags", "approve", "1", "--reason", "r"], None), (["tags", "reject", "1", "--reason", "r"], None),
    (["tags", "import", "{tmp}/tags.yaml", "--reason", "r"], None),
    (["user", "access-review", "--comment", "c"], None), (["user", "accountability", "alice"], None),
    (["user", "add", "bob", "--name", "Bob", "--role", "operator"], None), (["user", "alerts"], None),
    (["user", "deactivate", "bob", "--reason", "r"], None), (["user", "enrol", "bob"], None),
    (["user", "grant", "bob", "qa", "--reason", "r"], None), (["user", "revoke", "bob", "qa", "--reason", "r"], None),
    (["user", "reset-credentials", "bob", "--reason", "r"], None), (["user", "unlock", "bob", "--reason", "r"], None),
    (["user", "verify-identity", "bob", "--method", "passport", "--reason", "r"], None),
    (["archive", "create", "--before", "2026-01-01", "--out", "{tmp}/a.zip"], None),
    (["master", "approve", "1"], "alice\npw\n123456\n"), (["master", "export", "equipment"], None),
    (["master", "import", "equipment", "{tmp}/master.yaml", "--reason", "r"], "alice\npw\n123456\n"),
    (["master", "list", "equipment"], None), (["master", "pending"], None), (["master", "show", "equipment", "x"], None),
    (["master", "withdraw", "1", "--reason", "r"], "alice\npw\n123456\n"),
    (["process", "start", "x"], "alice\npw\n123456\n"), (["process", "links", "1"], None),
    (["process", "link", "dev:DEV-7", "affects", "batch:B-8"], "alice\npw\n123456\n"),
    (["process", "unlink", "1", "--reason", "r"], "alice\npw\n123456\n"),
]
# Commands not run above, and why: each new command is added to one of the two lists.
NOT_ON_THE_DATABASE = {
    "process check": "checks files (test_process_check_needs_no_database)",
    "plant set": "the simulator's control channel (tests/connectors/test_plant_control.py)",
    "plant show": "the simulator's control channel (tests/connectors/test_plant_control.py)",
    "audit public-key": "reads the key folder", "audit verify-export": "reads an export file",
    "api token scopes": "lists the scopes", "config check": "reads the settings", "db current": "reports the revision",
    "db upgrade": "migrates", "demo totp": "needs instance/demo-users.txt first", "logout": "ends the session file",
    "whoami": "reads the session file first", "restore": "reads the backup file first (into an empty database)",
    "run": "migrates first (tests/integration/test_gmp_run.py)", "simulate": "plant simulators",
    "oq run": "runs the OQ tests", "oq list": "collects the OQ tests without running them",
    "validation-pack build": "builds from tests and requirements",
    "validation-pack diff": "compares two packs", "validation-pack issue": "a pack folder",
    "validation-pack manifest": "release files", "validation-pack pq": "its own databases",
    "validation-pack sign": "a pack folder", "validation-pack verify": "a pack folder",
    "archive verify": "reads an archive file offline", "archive show": "reads an archive file offline",
    "master kinds": "lists the kinds the code defines",
}


@pytest.fixture
def unmigrated(backend, request, tmp_path):  # type: ignore[no-untyped-def]
    """(url, tmp_path): a database that exists but was never migrated (an empty PostgreSQL database; an
    SQLite file path nobody created yet)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'never-migrated.sqlite3'}"
    server = request.getfixturevalue("pg_server")
    name = f"empty_{abs(hash(request.node.nodeid)) % 10**8}"
    server.admin_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    server.admin_execute(f"CREATE DATABASE {name}")
    request.addfinalizer(lambda: server.admin_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    return server.url(name)


def _run(url: str, tmp_path: Path, args: list[str], stdin: str | None = None):  # type: ignore[no-untyped-def]
    from cli import gmp
    from store import runtime

    runtime.cli_settings.cache_clear()
    env = {"GMP_INSTANCE_PATH": str(tmp_path / "instance"), "GMP_DATABASE_URL": url, "GMP_SECRET_KEY": TEST_SECRET,
           "GMP_SERVER_KEY_PASSPHRASE": TEST_PASSPHRASE, "GMP_USER": "", "GMP_PASSWORD": "", "GMP_TOTP": ""}
    try:
        return CliRunner().invoke(gmp, [a.replace("{tmp}", str(tmp_path)) for a in args], env=env, input=stdin)
    finally:
        runtime.cli_settings.cache_clear()


@pytest.mark.req("URS-FND-001")
def test_every_command_on_an_unmigrated_database_says_run_db_upgrade(unmigrated, tmp_path):
    (tmp_path / "tags.yaml").write_text("tags: []\n", encoding="utf-8")
    (tmp_path / "master.yaml").write_text("items:\n- {key: X-1}\n", encoding="utf-8")
    wrong = {}
    for args, stdin in COMMANDS:  # one database for all: each command must leave it unmigrated
        result = _run(unmigrated, tmp_path, args, stdin)
        if result.exit_code != 1 or not isinstance(result.exception, SystemExit) or (  # a message, not a traceback
                "is not migrated (no schema yet): run `gmp db upgrade`" not in result.output) or (
                "Password" in result.output or "TOTP" in result.output):  # said before anyone types a secret
            wrong[" ".join(args)] = (result.exit_code, result.output[-300:], repr(result.exception))
    assert wrong == {}


def test_every_command_is_on_one_of_the_lists():
    """A new command is checked on an unmigrated database too, or says why not."""
    import click

    from cli import gmp

    context = click.Context(gmp)

    def leaves(group: click.Group, path: list[str]) -> list[str]:
        found = []
        for name in group.list_commands(context):
            command = group.get_command(context, name)
            found += leaves(command, [*path, name]) if isinstance(command, click.Group) else [" ".join([*path, name])]
        return found

    def command_of(args: list[str]) -> str:
        command, path = gmp, []
        while isinstance(command, click.Group):
            path.append(args[len(path)])
            command = command.get_command(context, path[-1])
        return " ".join(path)

    run = {command_of(args) for args, _ in COMMANDS}
    assert sorted(name for name in leaves(gmp, []) if name not in NOT_ON_THE_DATABASE and name not in run) == []
    assert sorted(run & set(NOT_ON_THE_DATABASE)) == []


@pytest.mark.req("URS-FND-001")
def test_a_database_behind_the_code_names_both_revisions(unmigrated, tmp_path):
    from store.migrate import upgrade
    from store.schema import head_revision

    upgrade(unmigrated, "0005_connectors")
    for args in (["serve", "--port", "1"], ["notify", "--once"], ["scheduler", "--once"]):
        result = _run(unmigrated, tmp_path, args)
        assert result.exit_code == 1
        assert (f"is at schema revision 0005_connectors, this version needs {head_revision()}: run `gmp db upgrade`"
                in result.output), result.output


def test_process_check_needs_no_database(unmigrated, tmp_path, backend):
    """`gmp process check` on an unmigrated database checks against the seeded role catalogue, and creates
    nothing (no SQLite file, no schema)."""
    from store.schema import schema_state

    result = _run(unmigrated, tmp_path, ["process", "check", str(LINE_CLEARANCE)])
    assert result.exit_code == 0, result.output
    assert "passes every check (roles: the seeded role catalogue (the configured database is not migrated))" \
        in result.output
    assert schema_state(unmigrated).current is None
    if backend == "sqlite":
        assert not (tmp_path / "never-migrated.sqlite3").exists()
    result = _run(unmigrated, tmp_path, ["process", "check", str(LINE_CLEARANCE), "--role", "x"])
    assert result.exit_code == 0


def test_process_check_uses_the_sites_roles_when_migrated(db, settings, tmp_path):
    result = _run(settings.database_url, tmp_path, ["process", "check", str(LINE_CLEARANCE)])
    assert result.exit_code == 0 and "roles: the seeded catalogue and the site's roles" in result.output


@pytest.mark.req("URS-ENG-003")
def test_relative_namespace_uri_is_read_not_a_traceback(tmp_path):
    """A diagram with a relative namespace URI (as the OMG MIWG reference C.8.0 exported by Trisotech) made
    lxml's C14N raise C14NError out of `gmp process check`."""
    from engine.parsing import parse_bundle

    bundle = parse_bundle({"C.8.0.bpmn": RELATIVE_NAMESPACE})
    assert bundle.process_id == "p1" and bundle.elements["s1"].fingerprint
    path = tmp_path / "C.8.0.bpmn"
    path.write_bytes(RELATIVE_NAMESPACE)
    result = _run(f"sqlite:///{tmp_path / 'none.sqlite3'}", tmp_path, ["process", "check", str(path)])
    assert result.exit_code == 0 and "ok: process 'p1'" in result.output, result.output


@pytest.mark.req("URS-ENG-003")
def test_any_parser_failure_is_a_clear_error_naming_the_file(tmp_path, monkeypatch):
    """Whatever the XML or BPMN library raises while reading a file (here C14N 1.0 on a relative namespace,
    as before the fix) is a DefinitionCheckFailed naming the file, and the CLI prints it without a traceback."""
    from lxml import etree

    from engine import parsing
    from engine.errors import DefinitionCheckFailed

    monkeypatch.setattr(parsing, "_canonical", lambda element: etree.tostring(element, method="c14n"))
    with pytest.raises(DefinitionCheckFailed, match=r"C.8.0.bpmn: cannot be read as BPMN/DMN \(C14NError"):
        parsing.parse_bundle({"C.8.0.bpmn": RELATIVE_NAMESPACE})
    path = tmp_path / "C.8.0.bpmn"
    path.write_bytes(RELATIVE_NAMESPACE)
    result = _run(f"sqlite:///{tmp_path / 'none.sqlite3'}", tmp_path, ["process", "check", str(path)])
    assert result.exit_code == 1 and "C.8.0.bpmn: cannot be read as BPMN/DMN (C14NError" in result.output
    assert "Traceback" not in result.output
