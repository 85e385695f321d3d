"""`gmp master`: list, show, export and import (CSV and YAML) any kind; imports are drafts approved by
another person's signature; a bad row is refused with its line number and nothing is stored."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from cli import gmp
from masterdata import changes
from masterdata.models import ChangeRow
from signatures import testing
from tests.masterdata.test_changes import WIDGET, _count, people  # noqa: F401 - the people fixture


@pytest.fixture
def run(settings, database_url, monkeypatch, tmp_path, frozen_clock):  # type: ignore[no-untyped-def]
    from bpmn import glue

    real = glue.install

    def install(*args, **kwargs):  # type: ignore[no-untyped-def]
        runtime = real(*args, **{**kwargs, "freeze": False})
        runtime.changes.register(WIDGET)
        return runtime.freeze()

    monkeypatch.setattr(glue, "install", install)
    env = {"GMP_INSTANCE_PATH": settings.instance_path, "GMP_DATABASE_URL": database_url,
           "GMP_SECRET_KEY": settings.secret_key, "GMP_SERVER_KEY_PASSPHRASE": settings.server_key_passphrase,
           "XDG_STATE_HOME": str(tmp_path / "state")}

    def invoke(args, person=None, db=None):  # type: ignore[no-untyped-def]
        if person is not None:
            frozen_clock.advance(seconds=31)  # a fresh TOTP step for every sign-in
        stdin = f"{person.password}\n{testing.next_totp(db, person)}\n" if person else None
        return CliRunner().invoke(gmp, args, input=stdin, env=env, catch_exceptions=False)
    return invoke


CSV_GOOD = ("code,name,oeb,storage.min_c,storage.max_c\n"
            "W-001,Lactose,1,2,8\n"
            "W-002,\"Starch, maize\",2,,\n")


@pytest.mark.req("URS-MD-025", "URS-MD-020", "A11-10", "CN-3")
def test_import_is_drafted_all_or_nothing_and_approved_by_another_person(people, run, tmp_path, frozen_clock):  # noqa: F811
    db = people.db
    bad = tmp_path / "widgets.csv"
    bad.write_text(CSV_GOOD + "W-003,Talc,seven,,\n", encoding="utf-8")
    refused = run(["master", "import", "widget", str(bad), "--reason", "initial list", "--user", "eng.li"],
                  people.drafter, db)
    assert refused.exit_code == 1 and "line 4: oeb: 'seven' is not integer" in refused.output
    bad.write_text(CSV_GOOD + "W-003,Talc,7,,\n", encoding="utf-8")
    refused = run(["master", "import", "widget", str(bad), "--reason", "initial list", "--user", "eng.li"],
                  people.drafter, db)
    assert refused.exit_code == 1 and "line 4: Widget W-003: oeb: 7 is greater than the maximum of 5" in refused.output
    assert _count(db, ChangeRow) == 0  # nothing stored

    good = tmp_path / "good.csv"
    good.write_text(CSV_GOOD, encoding="utf-8")
    done = run(["master", "import", "widget", str(good), "--reason", "initial list", "--user", "eng.li"],
               people.drafter, db)
    assert done.exit_code == 0 and "change set 1: 2 create; drafts wait for approval" in done.output
    assert "set 1  change 1  widget W-001 r1 create" in run(["master", "pending"]).output
    frozen_clock.advance(seconds=31)
    mine = run(["master", "approve", "1", "--user", "eng.li"], people.drafter, db)
    assert mine.exit_code == 1 and "drafted by eng.li: a different person must approve it" in mine.output
    frozen_clock.advance(seconds=31)
    ok = run(["master", "approve", "1", "--reason", "checked", "--user", "qa.wang"], people.qa, db)
    assert ok.exit_code == 0 and "2 change(s) approved by qa.wang" in ok.output

    listing = run(["master", "list", "widget"]).output
    assert "W-001  Lactose  1" in listing and "Starch, maize" in listing and "r1 in force" in listing
    exported = run(["master", "export", "widget", "--format", "csv"]).output
    assert exported.splitlines()[0] == "code,name,oeb,storage.min_c,storage.max_c"
    assert "W-001,Lactose,1,2,8" in exported and '"Starch, maize"' in exported

    # the export, edited, comes back as one change (the unchanged row is skipped)
    (tmp_path / "edited.csv").write_text(exported.replace("W-001,Lactose,1,2,8", "W-001,Lactose,1,2,25"),
                                         encoding="utf-8")
    frozen_clock.advance(seconds=31)
    again = run(["master", "import", "widget", str(tmp_path / "edited.csv"), "--reason", "room temperature",
                 "--user", "eng.li"], people.drafter, db)
    assert again.exit_code == 0 and "1 change, 1 unchanged" in again.output
    frozen_clock.advance(seconds=31)
    assert run(["master", "approve", "2", "--user", "qa.zhao"], people.qa2, db).exit_code == 0
    # the YAML export reads back as the items in force: importing it unchanged drafts nothing
    exported_yaml = run(["master", "export", "widget", "--format", "yaml"]).output
    import yaml

    assert {item["code"]: item for item in yaml.safe_load(exported_yaml)}["W-001"]["storage"] == \
        {"min_c": 2, "max_c": 25}
    (tmp_path / "same.yaml").write_text(exported_yaml, encoding="utf-8")
    frozen_clock.advance(seconds=31)
    same = run(["master", "import", "widget", str(tmp_path / "same.yaml"), "--reason", "no change", "--user", "eng.li"],
               people.drafter, db)
    assert same.exit_code == 1 and "every item is in force as given: nothing to change" in same.output
    shown = run(["master", "show", "widget", "W-001"]).output
    assert "revision 2 in force" in shown and "storage.max_c: 25" in shown
    assert "r1 create superseded" in shown and "r2 change effective" in shown and "approved by qa.zhao" in shown
    compared = run(["master", "show", "widget", "W-001", "--compare", "1", "2"]).output
    assert "storage.max_c: 8 -> 25" in compared
    assert run(["master", "show", "widget", "W-404"]).exit_code == 1
    assert "no kind of controlled data is called 'gadget'" in run(["master", "list", "gadget"]).output


@pytest.mark.req("URS-MD-025")
def test_yaml_import_names_the_line_of_a_bad_item(people, run, tmp_path, frozen_clock):  # noqa: F811
    db = people.db
    path = tmp_path / "widgets.yaml"
    path.write_text("- code: W-001\n  name: Lactose\n  oeb: 1\n- code: W-002\n  name: ''\n  oeb: 1\n",
                    encoding="utf-8")
    refused = run(["master", "import", "widget", str(path), "--reason", "initial", "--user", "eng.li"],
                  people.drafter, db)
    assert refused.exit_code == 1 and "line 4: Widget W-002: name: '' should be non-empty" in refused.output
    path.write_text("- code: W-001\n  name: Lactose\n  oeb: 1\n", encoding="utf-8")
    assert run(["master", "import", "widget", str(path), "--reason", "initial", "--user", "eng.li"],
               people.drafter, db).exit_code == 0
    with db.session() as session:
        assert [c.key for c in changes.pending(session, "widget")] == ["W-001"]
    path.write_text("items:\n  - code: W-001\n    _action: retire\n", encoding="utf-8")
    frozen_clock.advance(seconds=31)
    refused = run(["master", "import", "widget", str(path), "--reason", "gone", "--user", "eng.li"], people.drafter, db)
    assert refused.exit_code == 1 and "W-001 has an open draft" in refused.output
    unknown = tmp_path / "w.txt"
    unknown.write_text("x", encoding="utf-8")
    frozen_clock.advance(seconds=31)
    assert "expected a .csv, .yaml or .yml file" in run(["master", "import", "widget", str(unknown), "--reason", "x",
                                                         "--user", "eng.li"], people.drafter, db).output
