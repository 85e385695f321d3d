"""The pack built end to end, as CI builds it once: quick OQ and PQ --quick, every document
PDF/A-3b with its JSON evidence, signed by executor and reviewer (Part 11) and PAdES-signed;
and the diff of two builds."""
import json
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from signatures import kdf, testing
from signatures.credentials import Credentials
from validation_pack import pack, pades
from validation_pack.diff import write_diff
from validation_pack.oq import ValidationError, run_oq
from validation_pack.pack import PackInvalid, ReviewRefused

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "validation-pack"
# The OQ of the pack CI builds: quick OQ tests (none slow; test_quick_oq.py proves each may be chosen by
# `gmp oq run --quick`, and what the quick OQ chooses), run as a quick OQ (one test per requirement):
# high-risk requirements of the signatures, audit trail, engine, forms, equipment, web and master data,
# and a browser journey with its screenshots. Every test of the quick OQ runs in the suite itself; a
# pack built from all of them would run them twice.
CI_OQ = [
    "tests/api/test_api_basics.py::test_token_speaks_for_its_account_and_every_call_is_audited[sqlite]",
    "tests/audit/test_cli.py::test_verify_exits_zero_on_intact_trail_and_reports_unanchored[sqlite]",
    "tests/browser/test_api_pages.py::test_administrator_issues_and_revokes_a_token_in_the_browser",
    "tests/connectors/test_operators.py::test_read_tag_returns_a_reading_marked_as_equipment_data[sqlite]",
    "tests/engine/test_end_to_end.py::test_line_clearance_released_with_restart_between_every_step[sqlite]",
    "tests/engine/test_tasks.py::test_refusals_change_nothing_but_a_refusal_entry[sqlite]",
    "tests/forms/test_validation.py::test_critical_manual_entry_needs_a_second_person",
    "tests/integration/test_uow_audit.py::test_commit_appends_chained_entries[sqlite]",
    "tests/masterdata/test_changes.py::test_a_change_takes_effect_only_when_another_person_signs_it_and_the_old_"
    "revision_stays_readable[sqlite]",
    "tests/signatures/test_credentials.py::test_login_needs_password_and_totp[sqlite]",
    "tests/signatures/test_signing.py::test_four_eyes_same_person_cannot_sign_twice[sqlite]",
    "tests/signatures/test_signing.py::test_signature_stores_everything_and_verifies[sqlite]",
    "tests/web/test_auth.py::test_sign_in_with_password_and_totp_then_sign_out[sqlite]",
]


def poppler(tool, *args):
    if shutil.which(tool) is None:
        from tests.conftest import missing
        missing(f"{tool} (Debian package poppler-utils)")
    return subprocess.run([tool, *map(str, args)], capture_output=True, text=True, check=True, timeout=120).stdout


@pytest.mark.slow
@pytest.mark.oq_exclude
@pytest.mark.req("URS-VAL-002", "URS-VAL-003", "URS-VAL-004", "URS-VAL-005", "URS-VAL-006", "URS-VAL-007",
                 "CN-10", "P11-10a", "P11-50a", "P11-50b", "A11-4.4")
def test_ci_builds_the_pack_once_signed_by_executor_and_reviewer(installation, validators, tmp_path):
    from bpmn.glue import install
    from engine.runtime import using

    db, vera, rob = validators
    runtime = install(db, installation)  # the product's runtime and PQ scenarios, as every gmp process has
    out = tmp_path / "pack"
    with using(runtime), kdf.unsafe_fast_kdf():
        built = pack.build(installation, out, quick=True, oq_select=CI_OQ,
                           executor=lambda: testing.credentials(db, vera), db=db)
    oq = json.loads((out / "json" / "OQ.json").read_text(encoding="utf-8"))
    assert oq["counts"]["total"] == len(CI_OQ) and oq["counts"]["passed"] == oq["counts"]["total"], oq["counts"]
    assert sorted(r["nodeid"] for r in oq["records"]) == sorted(CI_OQ)  # the quick OQ keeps every test of its own choice
    assert oq["run"]["quick"] and oq["run"]["require_all"]
    assert any(e["kind"] == "screenshot" for r in oq["records"] for e in r["evidence"])  # browser evidence
    assert all(r["steps"] and r["started_at"] <= r["finished_at"] for r in oq["records"])
    pq = json.loads((out / "json" / "PQ.json").read_text(encoding="utf-8"))
    assert pq["passed"] and pq["batches"] == 2 and pq["audit_verification"]["ok"] and pq["result"]["signatures"] >= 2 * 13
    assert pq["scenario"] == "batch_record" and all(b["path"].endswith("released") for b in pq["batch_results"])
    trace = json.loads((out / "json" / "TRACE.json").read_text(encoding="utf-8"))
    proven = {rid for r in oq["records"] for rid in r["requirements"]}
    assert trace["counts"]["failed"] == 0 and trace["counts"]["passed"] == len(proven) > 15
    assert any(g["kind"] == "requirement without test" for g in trace["gaps"])  # processes not built: gaps shown

    with kdf.unsafe_fast_kdf():
        with pytest.raises(ReviewRefused, match="already signed 'executed' by Vera Validation"):
            pack.sign_pack(installation, out, "executed", testing.credentials(db, vera), db=db)
        with pytest.raises(ReviewRefused, match="vera executed this pack and may not review it"):
            pack.sign_pack(installation, out, "reviewed", testing.credentials(db, vera), db=db)
        pack.sign_pack(installation, out, "reviewed", testing.credentials(db, rob), db=db)
    lines = pack.verify_pack(installation, out)
    assert sum("2 Part 11 signature(s) verify" in line for line in lines) == 6
    for doc in ("SUMMARY", "DQ", "IQ", "OQ", "PQ", "TRACE"):
        path = out / f"{doc}.pdf"
        assert "Signature is Valid." in pades.pdfsig_report(path)
        assert f"{doc}.json" in poppler("pdfdetach", "-list", path)
        assert "pdfaid:part" in poppler("pdfinfo", "-meta", path)
        assert all(line.split()[-5] == "yes" for line in poppler("pdffonts", path).splitlines()[2:] if line.strip())
    summary_text = poppler("pdftotext", "-layout", out / "SUMMARY.pdf", "-")
    assert "验证总结报告" in summary_text and "Vera Validation 王验证" in summary_text and "Rob Reviewer" in summary_text
    assert built["pack_id"] in summary_text
    if ARTIFACTS.parent.exists() or True:
        shutil.rmtree(ARTIFACTS, ignore_errors=True)
        shutil.copytree(out, ARTIFACTS)

    (out / "json" / "OQ.json").write_text(json.dumps({"records": []}), encoding="utf-8")
    with pytest.raises(PackInvalid, match="OQ: json/OQ.json is missing or was changed after the pack was built"):
        pack.verify_pack(installation, out)


TEST_V1 = '''
import pytest


@pytest.mark.req("URS-VAL-008")
def test_delta_example():
    """The example the diff compares."""
    assert sum([1, 2]) == 3
'''


@pytest.mark.slow
@pytest.mark.oq_exclude
@pytest.mark.req("URS-VAL-008", "A11-10", "A11-11")
def test_diff_of_two_builds_reports_a_changed_file_and_a_changed_test(installation, validators, tmp_path):
    from tests.validation_pack.test_iq import git

    db, vera, rob = validators
    release = tmp_path / "release"
    (release / "core").mkdir(parents=True)
    shutil.copy(Path(pack.__file__).parents[1] / "pyproject.toml", release / "pyproject.toml")
    (release / "core" / "clock.py").write_text("# release 1\n")
    git(release, "init", "-q")
    git(release, "add", ".")
    git(release, "commit", "-qm", "release 1")
    example = tmp_path / "oqtests" / "test_delta_example.py"
    example.parent.mkdir()
    example.write_text(textwrap.dedent(TEST_V1))
    run_oq(tmp_path / "oq1", installation, select=[str(example)])
    old = tmp_path / "old"
    with pytest.raises(ValidationError, match=r"was built in .* but not signed: .*gmp validation-pack sign"):
        pack.build(installation, old, from_results=tmp_path / "oq1", skip_pq=True, install_root=release, db=db,
                   executor=lambda: Credentials("vera", "not vera's password", "000000"))
    assert (old / "OQ.pdf").exists() and pack.load_pack(old)["signatures"]["OQ"] == []  # the work is kept, unsigned

    (release / "core" / "clock.py").write_text("# release 2: changed\n")
    git(release, "commit", "-qam", "release 2")
    example.write_text(textwrap.dedent(TEST_V1).replace("[1, 2]) == 3", "[1, 2, 3]) == 7"))  # now fails
    run_oq(tmp_path / "oq2", installation, select=[str(example)])
    new = tmp_path / "new"
    pack.build(installation, new, from_results=tmp_path / "oq2", skip_pq=True, install_root=release,
               deviations={"URS-VAL-008": "DEV-2026-017"})
    failed = json.loads((new / "json" / "OQ.json").read_text(encoding="utf-8"))["records"][0]
    assert failed["outcome"] == "failed" and failed["deviation"] == "DEV-2026-017"
    assert json.loads((new / "json" / "SUMMARY.json").read_text(encoding="utf-8"))["failures_without_deviation"] == []

    with kdf.unsafe_fast_kdf(), pytest.raises(ReviewRefused, match="must be signed by its executor before it is reviewed"):
        pack.sign_pack(installation, old, "reviewed", testing.credentials(db, rob), db=db)
    result = write_diff(installation, old, new, tmp_path / "diff")
    sections = {s["title"].split(" /")[0]: s for s in result["sections"]}
    assert {"file": "core/clock.py", "change": "changed"}.items() <= sections["2. Installed files"]["rows"][0].items()
    assert [t["change"] for t in sections["4. Tests"]["rows"]] == ["script changed"]
    assert "test_delta_example" in sections["4. Tests"]["rows"][0]["test"]
    assert any(r["item"] == "source commit" for r in sections["3. Versions, schema and keys"]["rows"])
    assert [(r["old"], r["new"]) for r in sections["5. Results per test"]["rows"]] == [("passed", "failed")]
    assert "Signature is Valid." in pades.pdfsig_report(tmp_path / "diff" / "DIFF.pdf")
    text = poppler("pdftotext", "-layout", tmp_path / "diff" / "DIFF.pdf", "-")
    assert "core/clock.py" in text and "script changed" in text and "再验证差异报告" in text
    if ARTIFACTS.exists():
        shutil.copy(tmp_path / "diff" / "DIFF.pdf", ARTIFACTS / "DIFF-example.pdf")
    with pytest.raises(PackInvalid, match="holds no validation pack"):
        write_diff(installation, tmp_path / "oq1", new, tmp_path / "diff2")


@pytest.mark.req("URS-VAL-005")
def test_build_refuses_a_malformed_deviations_file_before_building(installation, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from validation_pack.cli import validation_pack

    monkeypatch.setenv("GMP_INSTANCE_PATH", installation.instance_path)
    monkeypatch.setenv("GMP_DATABASE_URL", installation.database_url)
    bad = tmp_path / "deviations.json"
    bad.write_text("[1, 2]")
    out = tmp_path / "pack"
    result = CliRunner().invoke(validation_pack, ["build", "--out", str(out), "--deviations", str(bad)])
    assert result.exit_code == 1 and "expected {" in result.output and not out.exists()
    bad.write_text("{not json")
    result = CliRunner().invoke(validation_pack, ["build", "--out", str(out), "--deviations", str(bad)])
    assert result.exit_code == 1 and "not JSON" in result.output and not out.exists()
