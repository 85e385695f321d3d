"""A test's own copy of a database seeded once per key (backend, simulator port, ...) and test session.

    enrolled = seeded_copy(request, cache, key, backend, settings, db, frozen_clock, seed)

`seed(db, settings)` seeds a template database of its own (a migrated copy on `backend`, with its
own instance folder) on the test's frozen clock, and returns what the tests need to know about it
(people and their TOTP secrets...). Every test then gets a copy of the template in its own
database (SQLite file copy; PostgreSQL CREATE DATABASE ... TEMPLATE) and of the template's instance
folder (server key), and its frozen clock is set to where the seeding left it: the clock starts at
the same fixed time in every test and each ceremony moves it deterministically, so the test sees
what it would have seen had it seeded itself. Returns seed's value.
"""
from __future__ import annotations

import shutil
from dataclasses import replace
from typing import Any, Callable


def _name(url: str) -> str:
    return url.rsplit("/", 1)[-1].split("?")[0]


def seeded_copy(request: Any, cache: dict[Any, Any], key: Any, backend: str, settings: Any, db: Any,
                frozen_clock: Any, seed: Callable[[Any, Any], Any]) -> Any:
    from store.db import Database

    if key not in cache:
        label = "-".join(str(part) for part in (key if isinstance(key, tuple) else (key,)))
        folder = request.getfixturevalue("tmp_path_factory").mktemp(f"seeded-{label}")
        (folder / "instance").mkdir()
        if backend == "sqlite":
            shutil.copy(request.getfixturevalue("_sqlite_template"), folder / "seeded.sqlite3")
            url = f"sqlite:///{folder / 'seeded.sqlite3'}"
        else:
            server = request.getfixturevalue("pg_server")
            name = "seeded_" + "".join(c if c.isalnum() else "_" for c in label).lower()
            server.admin_execute(f"CREATE DATABASE {name} TEMPLATE {request.getfixturevalue('_pg_template')}")
            url = server.url(name)
        template_db = Database(url)
        try:
            value = seed(template_db, replace(settings, instance_path=str(folder / "instance"), database_url=url))
        finally:
            template_db.dispose()
        cache[key] = (folder, url, value, frozen_clock.value)
    folder, url, value, seeded_until = cache[key]
    db.dispose()
    if backend == "sqlite":
        shutil.copy(url.removeprefix("sqlite:///"), settings.database_url.removeprefix("sqlite:///"))
    else:
        server = request.getfixturevalue("pg_server")
        server.admin_execute(f"DROP DATABASE IF EXISTS {_name(settings.database_url)} WITH (FORCE)")
        server.admin_execute(f"CREATE DATABASE {_name(settings.database_url)} TEMPLATE {_name(url)}")
    shutil.copytree(folder / "instance", settings.instance_path, dirs_exist_ok=True)
    frozen_clock.value = seeded_until  # after every TOTP step the seeding used
    return value
