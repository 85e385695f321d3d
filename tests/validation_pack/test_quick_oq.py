"""What the quick OQ chooses (`gmp oq list --quick`, collected by the same pytest process `gmp oq
run --quick` starts, without running a test): one test per user requirement, nothing slow, one
browser journey for its screenshots; and the pack CI builds runs tests the quick OQ may choose."""
import json

import pytest

from tests.validation_pack.test_pack import CI_OQ


def urs(entry):  # type: ignore[no-untyped-def]
    return [rid for rid in entry["requirements"] if rid.startswith("URS-")]


@pytest.mark.req("URS-VAL-005", "CN-10")
def test_the_quick_oq_chooses_one_test_per_requirement_and_the_ci_pack_runs_quick_oq_tests(installation, monkeypatch):
    from click.testing import CliRunner

    from validation_pack.cli import oq

    monkeypatch.setenv("GMP_INSTANCE_PATH", installation.instance_path)
    monkeypatch.setenv("GMP_DATABASE_URL", installation.database_url)
    result = CliRunner().invoke(oq, ["list", "--quick", "--json"])
    assert result.exit_code == 0, result.output
    inventory = json.loads(result.output)
    chosen = [e for e in inventory if e["selected"]]
    candidates = [e for e in inventory if urs(e) and not e["slow"] and not e["oq_exclude"]]

    # every user requirement that a quick test proves is proven by a chosen test ...
    assert {rid for e in chosen for rid in urs(e)} == {rid for e in candidates for rid in urs(e)}
    # ... by the first test that proves it, one without a browser preferred, plus one browser journey
    first: dict[str, str] = {}
    for entry in [e for e in candidates if not e["browser"]] + [e for e in candidates if e["browser"]]:
        for rid in urs(entry):
            first.setdefault(rid, entry["nodeid"])
    expected = set(first.values())
    browser = {e["nodeid"] for e in candidates if e["browser"]}
    if not expected & browser:
        expected.add(next(e["nodeid"] for e in candidates if e["browser"]))
    assert {e["nodeid"] for e in chosen} == expected
    assert 50 < len(chosen) < len(candidates) and expected & browser
    # never a slow test (journeys, upgrades, load, fuzzing: the full OQ's), never a test that builds a pack
    assert not any(e["slow"] or e["oq_exclude"] for e in chosen)
    builders = [e for e in inventory if e["nodeid"].startswith("tests/validation_pack/test_pack.py::test_ci_builds")]
    assert builders and all(e["oq_exclude"] and not e["selected"] for e in builders)
    assert any(e["slow"] and urs(e) for e in inventory)

    # the pack CI builds (tests/validation_pack/test_pack.py) runs quick OQ tests, a browser journey among them
    eligible = {e["nodeid"] for e in candidates}
    assert set(CI_OQ) <= eligible, sorted(set(CI_OQ) - eligible)
    assert any(e["browser"] for e in candidates if e["nodeid"] in CI_OQ)


@pytest.mark.req("URS-VAL-005")
def test_listing_tests_that_cannot_be_collected_is_refused_with_pytests_words(installation):
    from validation_pack.oq import ValidationError, plan_oq

    with pytest.raises(ValidationError, match=r"(?s)collecting the OQ tests failed \(exit 4\).*no_such_tests\.py"):
        plan_oq(installation, select=["tests/no_such_tests.py"])
