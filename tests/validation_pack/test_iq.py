"""IQ checks executed on an installation: expected, actual, verdict."""
import shutil
import subprocess

import pytest

from core.config import PROJECT_ROOT
from validation_pack import iq, manifest


def git(root, *args):
    subprocess.run(["git", "-C", str(root), "-c", "user.email=iq@example.org", "-c", "user.name=IQ", *args],
                   check=True, capture_output=True)


@pytest.fixture
def release(tmp_path):
    """A small released tree: a git commit of three project files."""
    if shutil.which("git") is None:
        from tests.conftest import missing
        missing("git")
    root = tmp_path / "release"
    (root / "core").mkdir(parents=True)
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root / "pyproject.toml")
    shutil.copy(PROJECT_ROOT / "core" / "clock.py", root / "core" / "clock.py")
    (root / "core" / "__init__.py").write_text("")
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-qm", "release 1")
    return root


@pytest.mark.req("URS-VAL-004", "CN-10")
def test_installed_files_are_checked_against_the_release_commit(release):
    check = manifest.check_installation(release)
    assert check.passed and set(check.files) == {"pyproject.toml", "core/clock.py", "core/__init__.py"}
    (release / "core" / "clock.py").write_text("# changed after the release\n")
    (release / "core" / "extra.py").write_text("print('not released')\n")
    (release / "core" / "__init__.py").unlink()
    check = manifest.check_installation(release)
    assert (check.changed, check.extra, check.missing) == (["core/clock.py"], ["core/extra.py"], ["core/__init__.py"])
    assert not check.passed


@pytest.mark.req("URS-VAL-004")
def test_without_manifest_or_commit_the_file_check_fails_and_says_why(tmp_path):
    check = manifest.check_installation(tmp_path)
    assert not check.passed and "no release manifest shipped and no git commit" in check.error


@pytest.mark.req("URS-VAL-004", "A11-4.8")
def test_iq_checks_report_expected_actual_and_verdict(installation, tmp_path):
    result = iq.run_iq(installation, out=tmp_path)
    checks = {c["id"]: c for c in result["checks"]}
    assert set(checks) == {f"IQ-{n:02d}" for n in range(1, 12)}
    assert all({"expected", "actual", "verdict", "executed_at"} <= set(c) for c in checks.values())
    assert checks["IQ-02"]["verdict"] == "pass"  # every pinned package at its version
    assert checks["IQ-04"]["verdict"] == "pass" and "revision" in checks["IQ-04"]["actual"]
    assert checks["IQ-06"]["verdict"] == "pass" and "SHA-256 fingerprint" in checks["IQ-06"]["actual"]
    assert checks["IQ-07"]["verdict"] == "pass"
    assert checks["IQ-09"]["verdict"] == "pass"
    assert checks["IQ-10"]["verdict"] == "pass" and "Noto-Sans-CJK-SC" in checks["IQ-10"]["actual"]
    assert checks["IQ-08"]["verdict"] in ("pass", "fail", "n/a")
    assert result["configuration"]["GMP_SECRET_KEY"] == "(set, not shown)"
    assert len(result["files"]) > 100


@pytest.mark.req("URS-VAL-004")
def test_iq_fails_a_missing_server_key_and_a_schema_behind_the_head(tmp_path):
    from core.config import load_settings

    instance = tmp_path / "instance"
    instance.mkdir()
    settings = load_settings({"instance_path": str(instance), "secret_key": "s" * 40,
                              "server_key_passphrase": "p" * 20}, environ={})
    checks = {c["id"]: c for c in iq.run_iq(settings)["checks"]}
    assert checks["IQ-06"]["verdict"] == "fail" and "no server key" in checks["IQ-06"]["actual"]
    assert checks["IQ-04"]["verdict"] == "fail" and "no schema" in checks["IQ-04"]["actual"]
