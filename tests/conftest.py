"""Test harness: requirement markers, throw-away databases on SQLite and PostgreSQL.

GMP_TEST_DB=sqlite|postgresql|all (default all) picks the backends.
GMP_TEST_REQUIRE_ALL=1 turns every skip for a missing server or browser into a failure.
"""
from __future__ import annotations

import itertools
import json
import os
import shutil
from pathlib import Path
from typing import Iterator

import pytest

from core import clock
from core.config import load_settings
from tests.support.pgserver import ExternalPgServer, PgServer, find_bindir

pytest_plugins = ["validation_pack.evidence"]  # OQ evidence (active with --oq-evidence DIR)

REQUIRE_ALL = os.environ.get("GMP_TEST_REQUIRE_ALL") == "1"
BACKENDS = {"all": ["sqlite", "postgresql"], "sqlite": ["sqlite"], "postgresql": ["postgresql"]}[
    os.environ.get("GMP_TEST_DB", "all")
]
TEST_SECRET = "test-secret-key-0123456789abcdef0123456789"
TEST_PASSPHRASE = "test server key passphrase"


def missing(what: str) -> None:
    """Skip for a missing server or browser, or fail under GMP_TEST_REQUIRE_ALL=1."""
    message = f"{what} is not available"
    if REQUIRE_ALL:
        pytest.fail(message + " (GMP_TEST_REQUIRE_ALL=1)")
    pytest.skip(message)  # allowed only when GMP_TEST_REQUIRE_ALL is unset


# ---------------------------------------------------------------- requirement markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from validation_pack.catalogue import known_ids

    known = known_ids()
    bad = []
    for item in items:
        for marker in item.iter_markers("req"):
            if not marker.args:
                bad.append(f"{item.nodeid}: req marker without IDs")
            for rid in marker.args:
                if rid not in known:
                    bad.append(f"{item.nodeid}: unknown requirement ID {rid!r}")
    if bad:
        raise pytest.UsageError("requirement markers name unknown IDs:\n  " + "\n  ".join(bad))
    if hasattr(config, "workerinput"):  # a pytest-xdist worker: the long tests are handed out first
        items[:] = sorted(items, key=length_rank)


def length_rank(item: pytest.Item) -> int:
    """0 for the tests that build a validation pack (a whole OQ and PQ run inside them), 1 for the
    others marked `slow`, 2 for those driving a browser, 3 for the rest. Run in this order when
    tests run in parallel, so that no worker is still busy with a long one while the others
    have nothing left to do."""
    if item.get_closest_marker("slow") is not None:
        return 0 if item.get_closest_marker("oq_exclude") is not None else 1
    return 2 if "page" in getattr(item, "fixturenames", ()) else 3


# ---------------------------------------------------------------- databases
@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    if os.environ.get("GMP_TEST_PG_URL"):  # a server given to the OQ run (`gmp oq run --database-url`)
        yield ExternalPgServer(os.environ["GMP_TEST_PG_URL"])  # type: ignore[misc]
        return
    if find_bindir() is None:
        missing("PostgreSQL server (Debian package postgresql)")
    server = PgServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from store.migrate import upgrade

    given = os.environ.get("GMP_TEST_SQLITE_TEMPLATE")  # a file given to the OQ run (`gmp oq run --database-url`)
    path = Path(given) if given else tmp_path_factory.mktemp("tmpl") / "template.sqlite3"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _pg_template(pg_server: PgServer) -> str:
    from store.migrate import upgrade

    name = getattr(pg_server, "template", None)
    if name is None:
        name = "gmp_template"
        pg_server.admin_execute(f"CREATE DATABASE {name}")
    upgrade(pg_server.url(name))
    return name


_counter = itertools.count()


def make_database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        template = request.getfixturevalue("_sqlite_template")
        path = tmp_path / "gmp.sqlite3"
        shutil.copy(template, path)
        return f"sqlite:///{path}"
    server: PgServer = request.getfixturevalue("pg_server")
    template = request.getfixturevalue("_pg_template")
    name = f"t{os.getpid()}_{next(_counter)}"
    server.admin_execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    request.addfinalizer(lambda: server.admin_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    return server.url(name)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return make_database_url(backend, request, tmp_path)


@pytest.fixture
def settings(database_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    instance = tmp_path / "instance"
    instance.mkdir(exist_ok=True)
    return load_settings({"instance_path": str(instance), "database_url": database_url,
                          "secret_key": TEST_SECRET, "server_key_passphrase": TEST_PASSPHRASE},
                         environ={})


@pytest.fixture
def db(settings):  # type: ignore[no-untyped-def]
    from store.db import Database

    database = Database(settings.database_url)
    yield database
    database.dispose()


@pytest.fixture(autouse=True)
def runtime():  # type: ignore[no-untyped-def]
    """This test's engine runtime: the engine's own gates, properties, operators and save hooks,
    current while the test runs. A test registers what it needs on it (never on a module);
    `bpmn.glue.extend(runtime, db, settings)` adds the process library's parts."""
    from engine.install import build_runtime
    from engine.runtime import using

    with using(build_runtime(name="test")) as built:
        yield built


@pytest.fixture
def frozen_clock() -> Iterator[clock.FrozenClock]:
    frozen = clock.FrozenClock()
    clock.set_clock(frozen)
    try:
        yield frozen
    finally:
        clock.set_clock(None)


# ---------------------------------------------------------------- databases filled by a released version
@pytest.fixture(scope="session")
def _released_databases(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return {"dir": tmp_path_factory.mktemp("releases"), "made": {}}


@pytest.fixture
def populated_database(backend: str, request: pytest.FixtureRequest, tmp_path: Path, _released_databases: dict):
    """Factory: `populated_database(revision=None)` gives this test its own copy of a database at
    `revision` (default: the previous head, i.e. what installed sites run before an upgrade),
    filled with records by the code released at that revision, with its instance folder (server
    key, checkpoint log). Returns a tests.support.upgrade.PopulatedDatabase; the release is
    populated once per backend and test session (tests/support/upgrade.py)."""
    from tests.support import upgrade

    def make(revision: str | None = None) -> upgrade.PopulatedDatabase:
        revision = revision or upgrade.previous_head()
        made = _released_databases["made"]
        if (backend, revision) not in made:
            try:
                tree = upgrade.release_tree(revision, _released_databases["dir"])
            except upgrade.ReleaseUnavailable as exc:
                missing(f"the released code of {revision} ({exc})")
            folder = _released_databases["dir"] / f"{backend}-{revision}"
            if backend == "sqlite":
                folder.mkdir(parents=True, exist_ok=True)
                url = f"sqlite:///{folder / 'gmp.sqlite3'}"
            else:
                server: PgServer = request.getfixturevalue("pg_server")
                server.admin_execute(f"CREATE DATABASE rel_{revision.lower()}")
                url = server.url(f"rel_{revision.lower()}")
            manifest = upgrade.populate(tree, upgrade.RELEASES[revision].script, url, folder / "instance",
                                        TEST_SECRET, TEST_PASSPHRASE)
            made[(backend, revision)] = (url, folder, manifest)
        url, folder, manifest = made[(backend, revision)]
        instance = tmp_path / f"instance-{revision}"
        shutil.copytree(folder / "instance", instance)
        if backend == "sqlite":
            path = tmp_path / f"gmp-{revision}.sqlite3"
            shutil.copy(folder / "gmp.sqlite3", path)
            url = f"sqlite:///{path}"
        else:
            server = request.getfixturevalue("pg_server")
            name = f"u{os.getpid()}_{next(_counter)}"
            server.admin_execute(f"CREATE DATABASE {name} TEMPLATE rel_{revision.lower()}")
            request.addfinalizer(lambda: server.admin_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            url = server.url(name)
        return upgrade.PopulatedDatabase(backend, revision, url, instance, TEST_SECRET, TEST_PASSPHRASE,
                                         json.loads(json.dumps(manifest)))
    return make


@pytest.fixture(autouse=True, scope="session")
def _private_state_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Command-line sessions (`gmp login`) keep their file under XDG_STATE_HOME: never the real home in tests."""
    previous = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state-home"))
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("XDG_STATE_HOME", None)
        else:
            os.environ["XDG_STATE_HOME"] = previous
