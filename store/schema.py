"""Is the configured database migrated? Asked before use, and when a command fails on the database.

`schema_state(url)` never creates anything: a SQLite file that does not exist is reported
as missing, not created. `require_current(url)` raises SchemaNotCurrent with the one thing
to do: run `gmp db upgrade`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.errors import GmpError


class SchemaNotCurrent(GmpError):
    """The database is missing, empty or behind the code's migrations."""


@dataclass(frozen=True)
class SchemaState:
    url: str  # with the password hidden
    current: str | None  # the database's revision (None: not migrated)
    head: str  # the code's newest revision
    reachable: bool = True
    problem: str | None = None  # why the database could not be asked

    @property
    def is_current(self) -> bool:
        return self.reachable and self.current == self.head

    def advice(self) -> str:
        if not self.reachable:
            return f"cannot open the database {self.url}: {self.problem}"
        if self.current is None:
            return (f"the database {self.url} is not migrated (no schema yet): run `gmp db upgrade` first "
                    "(`make run` does it too)")
        if self.current != self.head:
            return (f"the database {self.url} is at schema revision {self.current}, this version needs {self.head}: "
                    "run `gmp db upgrade`")
        return f"the database {self.url} is at the current schema revision {self.head}"


def display_url(url: str) -> str:
    """The URL with its password hidden."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown as "the configured URL"
        return "(the configured GMP_DATABASE_URL)"


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    from store.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def schema_state(url: str) -> SchemaState:
    """The database's schema revision against the code's, without creating or changing anything."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.pool import NullPool

    shown, head = display_url(url), head_revision()
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:" and not Path(path.split("?")[0]).exists():
            return SchemaState(shown, None, head)
    try:
        engine = create_engine(url, poolclass=NullPool)
    except (SQLAlchemyError, ValueError, ImportError) as exc:
        return SchemaState(shown, None, head, reachable=False, problem=str(exc).splitlines()[0])
    try:
        with engine.connect() as connection:
            return SchemaState(shown, MigrationContext.configure(connection).get_current_revision(), head)
    except SQLAlchemyError as exc:
        return SchemaState(shown, None, head, reachable=False,
                           problem=str(getattr(exc, "orig", None) or exc).splitlines()[0])
    finally:
        engine.dispose()


def require_current(url: str) -> None:
    state = schema_state(url)
    if not state.is_current:
        raise SchemaNotCurrent(state.advice())
