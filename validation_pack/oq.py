"""`gmp oq run`: the operational qualification, executed.

Runs the tests that carry requirement markers (the OQ tests) once, with the evidence
plugin (validation_pack/evidence.py), in a separate pytest process with
GMP_TEST_REQUIRE_ALL=1 (a missing server, browser or tool fails the test, it is never
skipped), against fresh databases on the installation's backend (SQLite files, or
PostgreSQL databases created from a migrated template), the plant simulators on free
local ports and Debian's Chromium. The installation's own database is never touched.

A database given with `--database-url` becomes the template the test databases are made
from; it must hold no records: the OQ refuses a database that holds production records
(user accounts or audit entries), and the installation's own database in any case.

Output folder: run.json (metadata), records.jsonl (one record per test), evidence/ (files),
progress.json, pytest.log; `load_results(folder)` reads them back for `build --from-results`.
`plan_oq` lists what a run would execute (`gmp oq list`), collecting the tests without running them.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from core.config import PROJECT_ROOT, Settings
from core.errors import GmpError
from validation_pack.evidence import PROGRESS, RECORDS, RUN


class ValidationError(GmpError):
    """Root of the validation pack's errors."""

    http_status = 409


class ProductionDatabase(ValidationError):
    """The OQ was pointed at a database that holds production records."""


class OqNotAvailable(ValidationError):
    """The OQ tests are not installed here."""


class ResultsInvalid(ValidationError):
    """An OQ or PQ results folder is missing or incomplete."""

    http_status = 400


@dataclass(frozen=True)
class OqResults:
    folder: Path
    run: dict[str, Any]
    records: list[dict[str, Any]]

    @property
    def counts(self) -> dict[str, int]:
        counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
        for record in self.records:
            counts[record["outcome"]] = counts.get(record["outcome"], 0) + 1
        counts["total"] = len(self.records)
        return counts

    @property
    def passed(self) -> bool:
        counts = self.counts
        return counts["total"] > 0 and counts["total"] == counts["passed"] and self.run.get("exitstatus") == 0


def backend_of(database_url: str) -> str:
    return "postgresql" if database_url.startswith("postgresql") else "sqlite"


def database_records(database_url: str) -> dict[str, int]:
    """How many user accounts and audit entries a database holds (0 for a missing or empty one)."""
    from sqlalchemy import create_engine, inspect, text

    if database_url.startswith("sqlite:///") and not Path(database_url[len("sqlite:///"):]).exists():
        return {"user_account": 0, "audit_entry": 0}
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            return {table: (conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() if table in tables else 0)
                    for table in ("user_account", "audit_entry")}
    finally:
        engine.dispose()


def check_oq_database(database_url: str, settings: Settings | None = None) -> None:
    """Refuse a database that holds production records (or is the installation's own)."""
    if settings is not None and database_url == settings.database_url:
        raise ProductionDatabase(f"the OQ never runs against the installation's own database ({_safe(database_url)}); "
                                 "give an empty database, or none to let the OQ create its own")
    counts = database_records(database_url)
    if any(counts.values()):
        raise ProductionDatabase(
            f"the database {_safe(database_url)} holds records ({counts['user_account']} user accounts, "
            f"{counts['audit_entry']} audit entries): the OQ writes test records and refuses a database that "
            "holds production records; give an empty database")


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown as given, it holds no secret we could find
        return url


def tests_folder(project_root: Path = PROJECT_ROOT) -> Path:
    folder = project_root / "tests"
    if not (folder / "conftest.py").exists():
        raise OqNotAvailable(f"the OQ tests are not installed here ({folder} missing): run the OQ from the "
                             "release's source tree, where tests/ ships beside the packages")
    return folder


def _oq_process(settings: Settings, *, backend: str | None, database_url: str | None) -> tuple[Path, dict[str, str]]:
    """(tests folder, environment) of an OQ pytest process: REQUIRE_ALL, the backend, no GMP_ setting
    of this installation."""
    tests = tests_folder(PROJECT_ROOT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GMP_")}
    env["GMP_TEST_REQUIRE_ALL"] = "1"
    backend = backend or backend_of(database_url or settings.database_url)
    if backend not in ("sqlite", "postgresql", "all"):
        raise ValidationError(f"unknown OQ backend {backend!r}: expected sqlite, postgresql or all")
    env["GMP_TEST_DB"] = backend
    if database_url:
        check_oq_database(database_url, settings)
        if database_url.startswith("postgresql"):
            env["GMP_TEST_PG_URL"] = database_url
            env["GMP_TEST_DB"] = "postgresql"
        else:
            env["GMP_TEST_SQLITE_TEMPLATE"] = database_url[len("sqlite:///"):]
            env["GMP_TEST_DB"] = "sqlite"
    return tests, env


def _oq_command(out: Path, tests: Path, *, quick: bool, select: list[str] | None, collect_only: bool = False) -> list[str]:
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "validation_pack.evidence",
            "--oq-evidence", str(out), "-o", "console_output_style=classic", *(["--oq-quick"] if quick else []),
            *(["--collect-only"] if collect_only else []), *(select or [str(tests)])]


def run_oq(out: Path, settings: Settings, *, quick: bool = False, backend: str | None = None,
           database_url: str | None = None, select: list[str] | None = None,
           progress: Callable[[int, int], None] | None = None, timeout_s: int = 3600) -> OqResults:
    """Run the OQ into `out` and return its results (a failing test is a result, not an error)."""
    tests, env = _oq_process(settings, backend=backend, database_url=database_url)
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise ValidationError(f"the OQ output folder {out} is not empty: give a new folder")
    command = _oq_command(out, tests, quick=quick, select=select)
    with (out / "pytest.log").open("wb") as log:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while process.poll() is None:
            if progress is not None:
                done, total = read_progress(out)
                progress(done, total)
            if time.monotonic() > deadline:
                process.kill()
                process.wait()
                raise ValidationError(f"the OQ did not finish within {timeout_s} s; see {out / 'pytest.log'}")
            time.sleep(0.5)
    if progress is not None:
        progress(*read_progress(out))
    return load_results(out)


def plan_oq(settings: Settings, *, quick: bool = False, backend: str | None = None,
            select: list[str] | None = None, timeout_s: int = 600) -> list[dict[str, Any]]:
    """The tests an OQ run would execute, without running any: the run's inventory (every collected
    test with its requirements and `selected`), from the same pytest process `run_oq` starts, collecting only."""
    tests, env = _oq_process(settings, backend=backend, database_url=None)
    with tempfile.TemporaryDirectory(prefix="gmp-oq-plan-") as folder:
        out = Path(folder)
        try:
            done = subprocess.run(_oq_command(out, tests, quick=quick, select=select, collect_only=True),
                                  cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise ValidationError(f"collecting the OQ tests did not finish within {timeout_s} s") from exc
        run_path = out / RUN
        if done.returncode != 0 or not run_path.exists():
            raise ValidationError(f"collecting the OQ tests failed (exit {done.returncode}):\n"
                                  f"{(done.stdout + done.stderr)[-2000:]}")
        return list(json.loads(run_path.read_text(encoding="utf-8"))["inventory"])


def read_progress(out: Path) -> tuple[int, int]:
    try:
        data = json.loads((out / PROGRESS).read_text(encoding="utf-8"))
        return int(data["done"]), int(data["total"])
    except (OSError, ValueError, KeyError):
        return 0, 0


def load_results(folder: Path) -> OqResults:
    """Read an OQ run folder back (for `build --from-results`)."""
    folder = Path(folder)
    run_path, records_path = folder / RUN, folder / RECORDS
    if not run_path.exists() or not records_path.exists():
        raise ResultsInvalid(f"{folder} holds no OQ run (run.json and records.jsonl expected): run `gmp oq run` first")
    try:
        run = json.loads(run_path.read_text(encoding="utf-8"))
        records = [json.loads(line) for line in records_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except ValueError as exc:
        raise ResultsInvalid(f"{folder}: the OQ results are damaged: {exc}") from exc
    if "finished_at" not in run:
        tail = (folder / "pytest.log").read_text(encoding="utf-8", errors="replace")[-2000:] \
            if (folder / "pytest.log").exists() else ""
        raise ResultsInvalid(f"{folder}: the OQ run did not finish (no end time recorded)\n{tail}")
    return OqResults(folder, run, records)
