"""Databases as installed sites have them: migrated to a released revision and filled with
records by the code of that release, for upgrade tests (Annex 11 §4.8).

`RELEASES` maps each released schema revision to the commit whose code wrote databases at
that revision and the populate script written against that code's API
(tests/support/releases/). `populated(backend, revision, ...)` takes the release's code out
of git (`git archive`), runs the script with it in a separate process against a fresh
database and instance folder, and returns a `PopulatedDatabase`; the test suite's
`populated_database` fixture (tests/conftest.py) caches one per backend and revision and
hands each test its own copy. `snapshot(url)` reads every table of a database as rows, to
compare before and after an upgrade.

When a new revision lands after the current head, the previous head becomes a released
revision: add it here with the commit of main the new revision went after (see
docs/dev/conventions.md), reusing the newest populate script while the services' API has not
changed.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, create_engine, select
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = Path(__file__).resolve().parent / "releases"


@dataclass(frozen=True)
class Release:
    revision: str
    commit: str
    script: str


RELEASES = {
    "0006_web": Release("0006_web", "8f57166f9ed3bc857b38f62a28608a22a81b7406", "populate_v1.py"),
    "0007_api": Release("0007_api", "6c3d75908c6d993cc9fc97a6ccaf54dc9585c2e9", "populate_v1.py"),
    "0008_md_changes": Release("0008_md_changes", "48713cb011628ffdc16aeabf62515aad0f68a014", "populate_v1.py"),
    "0009_periodic_report": Release("0009_periodic_report", "1f6f3060bef411883d2693f8f312c632d3ddaddf",
                                    "populate_v1.py"),
    "0010_tag_registry_changes": Release("0010_tag_registry_changes", "1e64707f363c149733710356b63b3e0ae9afb511",
                                         "populate_v1.py"),
    "0011_md_records": Release("0011_md_records", "1be4923a5dd0e099a467d4010c3a66c1cab0fbab", "populate_v1.py"),
    "0012_business_keys_links": Release("0012_business_keys_links", "3cd83a6dd4a1bf79735b5fff0d68fd403e919662",
                                        "populate_v2.py"),
    "0013_documents": Release("0013_documents", "d6e7725f91ce90446c38634e680bff0eb54d62ba", "populate_v2.py"),
}
OLDEST_RELEASED = "0006_web"

# New columns a revision fills in existing rows, because it carries those records over into
# new tables and links them there (every other new column stays NULL in existing rows):
# (table, column) -> (revision, the table the value points to).
FILLED_COLUMNS = {
    ("tag_registry_revision", "change_set_id"): ("0010_tag_registry_changes", "md_change_set"),
}


@dataclass
class PopulatedDatabase:
    """A database at `revision` filled by that release's code, with its instance folder."""

    backend: str
    revision: str
    url: str
    instance_path: Path
    secret_key: str
    passphrase: str
    manifest: dict[str, Any] = field(default_factory=dict)

    def settings(self):  # type: ignore[no-untyped-def]
        from core.config import load_settings

        return load_settings({"instance_path": str(self.instance_path), "database_url": self.url,
                              "secret_key": self.secret_key, "server_key_passphrase": self.passphrase}, environ={})


class ReleaseUnavailable(RuntimeError):
    """The released code cannot be taken out of git here (no git, or a shallow clone)."""


@lru_cache(maxsize=None)
def head_revision() -> str:
    return _script_directory().get_current_head()  # type: ignore[no-any-return]


@lru_cache(maxsize=None)
def previous_head() -> str:
    """The revision the current head goes after: what installed sites run before upgrading."""
    down = _script_directory().get_revision(head_revision()).down_revision
    assert isinstance(down, str), "the migration chain must stay linear"
    return down


def _script_directory():  # type: ignore[no-untyped-def]
    from alembic.script import ScriptDirectory

    from store.migrate import alembic_config

    return ScriptDirectory.from_config(alembic_config("sqlite://"))


def release_tree(revision: str, cache: Path) -> Path:
    """The release's code (its git tree) extracted under `cache`, once."""
    release = RELEASES.get(revision)
    if release is None:
        raise KeyError(f"{revision} is not a released revision (known: {', '.join(sorted(RELEASES))}): "
                       "add it to tests/support/upgrade.py RELEASES")
    tree = cache / f"release-{revision}"
    if (tree / ".complete").exists():
        return tree
    if shutil.which("git") is None:
        raise ReleaseUnavailable("git is not installed")
    found = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{release.commit}^{{commit}}"],
                           capture_output=True)
    if found.returncode != 0:
        raise ReleaseUnavailable(f"commit {release.commit[:12]} (the code released at {revision}) is not in this "
                                 "clone: fetch the full history (git fetch --unshallow)")
    if tree.exists():
        shutil.rmtree(tree)
    tree.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", release.commit],
                             capture_output=True, check=True).stdout
    archive_path = cache / f"release-{revision}.tar"
    archive_path.write_bytes(archive)
    with tarfile.open(archive_path) as tar:
        tar.extractall(tree, filter="data")
    archive_path.unlink()
    (tree / ".complete").touch()
    return tree


def populate(tree: Path, script: str, url: str, instance_path: Path, secret_key: str,
             passphrase: str) -> dict[str, Any]:
    """Run the populate script with the released code (and only it) importable; its manifest."""
    target = tree / "_populate_release.py"
    shutil.copyfile(SCRIPTS / script, target)
    for earlier in SCRIPTS.glob("populate_v*.py"):  # a later script builds on the earlier ones
        shutil.copyfile(earlier, tree / earlier.name)
    instance_path.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GMP_", "PYTHON"))}
    env["PYTHONPATH"] = str(tree)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    done = subprocess.run([sys.executable, str(target), url, str(instance_path), secret_key, passphrase],
                          cwd=tree, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"populating with the code released at {tree.name} failed:\n{done.stderr[-6000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# ---------------------------------------------------------------- reading whole databases
def _value(value: Any) -> Any:
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def snapshot(url: str) -> dict[str, dict[str, Any]]:
    """Every table of the database (reflected, so whatever the revision): its column names and
    its rows as tuples ordered by primary key (by all columns where it has none)."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        tables: dict[str, dict[str, Any]] = {}
        with engine.connect() as conn:
            for name, table in sorted(metadata.tables.items()):
                order = list(table.primary_key.columns) or list(table.columns)
                rows = conn.execute(select(table).order_by(*order)).all()
                tables[name] = {"columns": [c.name for c in table.columns],
                                "rows": [tuple(_value(v) for v in row) for row in rows]}
        return tables
    finally:
        engine.dispose()


# Tables a revision carries existing records over into, appending rows after the existing ones
# (which stay unchanged): table -> the revisions that do.
CARRIED_INTO = {
    "md_change_set": ("0010_tag_registry_changes", "0014_definition_changes"),
    "md_change": ("0010_tag_registry_changes", "0014_definition_changes"),
}


def unchanged(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]],
              ignore: tuple[str, ...] = ("alembic_version",)) -> list[str]:
    """Differences between two snapshots for every table and column that existed before
    (tables and columns added later are not compared; rows must not change, vanish or appear,
    except rows appended after the existing ones in the tables of `CARRIED_INTO`).
    `alembic_version` names the revision and is expected to change."""
    problems = []
    for name, old in before.items():
        if name in ignore:
            continue
        new = after.get(name)
        if new is None:
            problems.append(f"table {name} is gone")
            continue
        gone = [c for c in old["columns"] if c not in new["columns"]]
        if gone:
            problems.append(f"{name}: columns gone: {gone}")
            continue
        index = [new["columns"].index(c) for c in old["columns"]]
        rows = [tuple(row[i] for i in index) for row in new["rows"]]
        if name in CARRIED_INTO:
            rows = rows[:len(old["rows"])]
        if rows != old["rows"]:
            problems.append(f"{name}: {len(old['rows'])} rows before, {len(rows)} after, or their values differ")
    return problems


def added_columns(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    return {name: [c for c in new["columns"] if c not in before[name]["columns"]]
            for name, new in after.items() if name in before and set(new["columns"]) - set(before[name]["columns"])}


__all__ = ["RELEASES", "OLDEST_RELEASED", "FILLED_COLUMNS", "Release", "PopulatedDatabase", "ReleaseUnavailable", "head_revision",
           "previous_head", "release_tree", "populate", "snapshot", "unchanged", "added_columns"]
