"""Installation qualification: checks executed on the installation, each with expected,
actual and a verdict (pass, fail, or "n/a" where this host cannot tell and the site's
procedure must confirm).

    checks = run_iq(settings)   # list of dicts: id, title, expected, actual, verdict, details
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

from core.config import PROJECT_ROOT, Settings
from validation_pack import manifest

SECRET_SETTINGS = {"secret_key", "server_key_passphrase", "smtp_password", "opcua_password"}
CJK_SAMPLE = "验证 Validation 批记录"


def _check(cid: str, title: str, expected: str, actual: str, verdict: str, details: Any = None) -> dict[str, Any]:
    return {"id": cid, "title": title, "expected": expected, "actual": actual, "verdict": verdict,
            "details": details if details is not None else []}


def pinned_requirements(root: Path = PROJECT_ROOT) -> tuple[str, dict[str, str]]:
    """(requires-python, {distribution: pinned version}) from pyproject.toml: the release's lock."""
    data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    project = data["project"]
    pins: dict[str, str] = {}
    for spec in project.get("dependencies", []) + project.get("optional-dependencies", {}).get("test", []):
        match = re.match(r"^\s*([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?\s*==\s*([^\s;]+)", spec)
        if match:
            pins[match.group(1)] = match.group(2)
    return project.get("requires-python", ""), pins


def check_python(root: Path) -> dict[str, Any]:
    required, _ = pinned_requirements(root)
    actual = sys.version.split()[0]
    minimum = tuple(int(x) for x in re.findall(r"\d+", required)[:2]) if required else (3, 11)
    ok = sys.version_info[:2] >= minimum
    return _check("IQ-01", "Python interpreter", f"Python {required}", f"Python {actual} ({sys.executable})",
                  "pass" if ok else "fail")


def check_packages(root: Path) -> dict[str, Any]:
    _, pins = pinned_requirements(root)
    rows, bad = [], 0
    for name, version in sorted(pins.items(), key=lambda kv: kv[0].lower()):
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = "not installed"
        ok = installed == version
        bad += not ok
        rows.append({"package": name, "expected": version, "actual": installed, "verdict": "pass" if ok else "fail"})
    return _check("IQ-02", "Python packages against the lock (pyproject.toml pins)",
                  f"{len(pins)} packages at their pinned versions", f"{len(pins) - bad} of {len(pins)} match",
                  "pass" if bad == 0 else "fail", rows)


def check_files(root: Path) -> tuple[dict[str, Any], dict[str, str]]:
    result = manifest.check_installation(root)
    problems = ([{"file": p, "problem": "missing"} for p in result.missing]
                + [{"file": p, "problem": "changed"} for p in result.changed]
                + [{"file": p, "problem": "not in the release"} for p in result.extra])
    actual = (result.error or f"{len(result.files)} files hashed; {len(result.missing)} missing, "
              f"{len(result.changed)} changed, {len(result.extra)} not in the release")
    return (_check("IQ-03", "Installed project files against the release manifest",
                   f"every file identical to {result.source}", actual, "pass" if result.passed else "fail", problems),
            result.files)


def check_migrations(settings: Settings) -> dict[str, Any]:
    from alembic.script import ScriptDirectory

    from store.migrate import MIGRATIONS, alembic_config, current

    heads = ScriptDirectory.from_config(alembic_config(settings.database_url)).get_heads()
    expected = ", ".join(heads)
    try:
        actual = current(settings.database_url) or "no schema"
    except Exception as exc:  # the database cannot be reached: the check fails and says why
        actual = f"database not reachable: {exc.__class__.__name__}: {exc}"
    return _check("IQ-04", "Database schema at the release's migration head", f"revision {expected} "
                  f"({len(list(MIGRATIONS.glob('versions/*.py')))} revisions shipped)", f"revision {actual}",
                  "pass" if len(heads) == 1 and actual == heads[0] else "fail",
                  [{"database": _safe_url(settings.database_url)}])


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def effective_configuration(settings: Settings) -> dict[str, str]:
    values = {}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if f.name in SECRET_SETTINGS:
            value = "(set, not shown)" if value else "(unset)"
        elif f.name == "database_url":
            value = _safe_url(value)
        values["GMP_" + f.name.upper()] = "" if value is None else str(value)
    return values


def check_configuration(settings: Settings) -> dict[str, Any]:
    config = effective_configuration(settings)
    rows = [{"setting": k, "value": v} for k, v in sorted(config.items())]
    return _check("IQ-05", "Effective configuration", "every setting valid (validated at load)",
                  f"{len(config)} settings loaded and validated", "pass", rows)


def check_server_key(settings: Settings) -> dict[str, Any]:
    from audit.server_key import ServerKeyError, load_server_key

    try:
        key = load_server_key(settings, create=False)
    except ServerKeyError as exc:
        return _check("IQ-06", "Server signing key", "present, opens with the configured passphrase", str(exc), "fail")
    fingerprint = hashlib.sha256(key.public_pem()).hexdigest()
    return _check("IQ-06", "Server signing key", "present, opens with the configured passphrase",
                  f"key {key.key_id}, SHA-256 fingerprint of the public key {fingerprint}", "pass",
                  [{"key_id": key.key_id, "fingerprint_sha256": fingerprint}])


def ntp_status() -> str | None:
    """'yes'/'no' from timedatectl, or None when this host cannot tell (containers)."""
    if shutil.which("timedatectl") is None:
        return None
    try:
        out = subprocess.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    value = out.stdout.strip()
    return value if out.returncode == 0 and value in ("yes", "no") else None


def check_time(settings: Settings) -> list[dict[str, Any]]:
    from core import clock

    product = clock.now()
    system = datetime.now(timezone.utc)
    delta = abs((product - system).total_seconds())
    checks = [_check("IQ-07", "Product clock against the system UTC clock", "difference below 1 s, UTC, "
                     f"site time zone {settings.site_timezone}",
                     f"product {clock.isoformat(product)}, system {system.isoformat()}, difference {delta:.3f} s",
                     "pass" if delta < 1 and product.utcoffset() is not None and product.utcoffset().total_seconds() == 0
                     else "fail")]
    status = ntp_status()
    checks.append(_check("IQ-08", "System time synchronised (NTP)", "NTPSynchronized=yes",
                         {"yes": "NTPSynchronized=yes", "no": "NTPSynchronized=no",
                          None: "not reported by this host (no time synchronisation service visible)"}[status],
                         {"yes": "pass", "no": "fail", None: "n/a"}[status]))
    return checks


def check_writable(settings: Settings, extra: list[Path]) -> dict[str, Any]:
    from audit.checkpoints import log_path

    paths = [settings.instance, log_path(settings).parent, *extra]
    if settings.database_url.startswith("sqlite:///"):
        paths.append(Path(settings.database_url[len("sqlite:///"):]).parent)
    rows, bad = [], 0
    for path in dict.fromkeys(paths):
        ok = path.is_dir() and os.access(path, os.W_OK)
        if ok:
            try:
                with tempfile.NamedTemporaryFile(dir=path, prefix=".iq-"):
                    pass
            except OSError:
                ok = False
        bad += not ok
        rows.append({"path": str(path), "verdict": "pass" if ok else "fail"})
    return _check("IQ-09", "Writable paths", "instance folder, checkpoint log, database folder and output writable",
                  f"{len(rows) - bad} of {len(rows)} writable", "pass" if bad == 0 else "fail", rows)


def check_fonts() -> dict[str, Any]:
    from audit.pdf import html_document, render_pdf

    expected = "Noto Sans CJK SC installed and embedded in a rendered PDF"
    match = subprocess.run(["fc-match", "-f", "%{family}", "Noto Sans CJK SC"], capture_output=True, text=True,
                           timeout=20).stdout if shutil.which("fc-match") else ""
    pdf = render_pdf(html_document("IQ font check", f"<p>{CJK_SAMPLE}</p>"))
    fonts = []
    if shutil.which("pdffonts"):
        with tempfile.NamedTemporaryFile(suffix=".pdf") as handle:
            handle.write(pdf)
            handle.flush()
            listing = subprocess.run(["pdffonts", handle.name], capture_output=True, text=True, timeout=20).stdout
        for line in listing.splitlines()[2:]:
            parts = line.split()
            if parts:
                emb = parts[-5] if len(parts) >= 7 else "?"
                fonts.append({"font": parts[0], "embedded": emb})
    cjk = [f for f in fonts if "CJK" in f["font"]]
    ok = "Noto Sans CJK SC" in match and bool(cjk) and all(f["embedded"] == "yes" for f in fonts)
    return _check("IQ-10", "PDF fonts (Chinese included)", expected,
                  f"fontconfig resolves to {match or 'nothing'}; rendered PDF fonts: "
                  + ", ".join(f"{f['font']} (embedded {f['embedded']})" for f in fonts), "pass" if ok else "fail", fonts)


def check_tools(settings: Settings) -> dict[str, Any]:
    tools = {"pdfsig": "verifies the PAdES signatures of the pack", "pdffonts": "reads fonts of rendered PDFs",
             "chromium": "browser of the OQ's browser tests", "openssl": "verifies exported signatures"}
    rows, bad = [], 0
    for tool, why in tools.items():
        found = shutil.which(tool)
        bad += found is None
        rows.append({"tool": tool, "purpose": why, "found": found or "missing"})
    if settings.database_url.startswith("postgresql"):
        rows.append({"tool": "PostgreSQL", "purpose": "database server", "found": _safe_url(settings.database_url)})
    return _check("IQ-11", "Supporting programs", "every program found", f"{len(rows) - bad} of {len(rows)} found",
                  "pass" if bad == 0 else "fail", rows)


def run_iq(settings: Settings, *, root: Path = PROJECT_ROOT, out: Path | None = None,
           progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Execute every IQ check; returns {checks, files (path -> sha256), configuration, provenance, executed_at}."""
    from core import clock

    started = clock.isoformat(clock.now())
    steps: list[Callable[[], Any]] = [
        lambda: check_python(root), lambda: check_packages(root), lambda: check_files(root),
        lambda: check_migrations(settings), lambda: check_configuration(settings), lambda: check_server_key(settings),
        lambda: check_time(settings), lambda: check_writable(settings, [out] if out else []), check_fonts,
        lambda: check_tools(settings)]
    checks: list[dict[str, Any]] = []
    files: dict[str, str] = {}
    for step in steps:
        result = step()
        if isinstance(result, tuple):
            result, files = result
        for check in (result if isinstance(result, list) else [result]):
            check["executed_at"] = clock.isoformat(clock.now())
            checks.append(check)
            if progress:
                progress(f"IQ {check['id']} {check['title']}: {check['verdict']}")
    return {"checks": checks, "files": files, "configuration": effective_configuration(settings),
            "provenance": manifest.provenance(root), "started_at": started, "finished_at": clock.isoformat(clock.now())}
