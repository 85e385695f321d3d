"""The database handle: engine with the product's SQLite pragmas or PostgreSQL."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

READ_ONLY = "gmp_read_only"


class ReadOnlyWrite(RuntimeError):
    """A read-only session was asked to write: a programming error, never a user's."""


class Database:
    """One per process. `session()` gives a plain session; write through `UnitOfWork`.

    `read_session()` gives a session whose transactions only read: on SQLite a deferred
    BEGIN (a snapshot in WAL mode, no write lock: writers are not held up and it is not
    held up by them), on PostgreSQL a READ ONLY transaction. A flush of pending changes
    in it raises `ReadOnlyWrite`.
    """

    def __init__(self, url: str, echo: bool = False) -> None:
        self.url = url
        self.dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
        if self.dialect == "sqlite":
            path = url[len("sqlite:///"):]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(url, echo=echo, poolclass=NullPool if path == ":memory:" else None,
                                                connect_args={"timeout": 30, "check_same_thread": False})
            _install_sqlite_pragmas(self.engine)
        else:
            self.engine = create_engine(url, echo=echo, pool_pre_ping=True)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        read_options: dict[str, Any] = {READ_ONLY: True}
        if self.dialect == "postgresql":
            read_options["postgresql_readonly"] = True
        self._read_sessions = sessionmaker(self.engine.execution_options(**read_options), expire_on_commit=False,
                                           info={READ_ONLY: True})
        event.listen(self._read_sessions, "before_flush", _refuse_flush)

    def session(self) -> Session:
        return self._sessions()

    def read_session(self) -> Session:
        return self._read_sessions()

    def dispose(self) -> None:
        self.engine.dispose()

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"


def _refuse_flush(session: Session, _context: Any, _instances: Any) -> None:
    if session.new or session.dirty or session.deleted:
        changed = sorted({type(obj).__name__ for obj in (*session.new, *session.dirty, *session.deleted)})
        raise ReadOnlyWrite(f"a read-only transaction may not change {', '.join(changed)}")


def _install_sqlite_pragmas(engine: Engine) -> None:
    """WAL, synchronous=FULL, foreign keys on; writers take the lock at BEGIN.

    Python's sqlite3 transaction handling is turned off and BEGIN is emitted here:
    BEGIN IMMEDIATE for every writing transaction, so two writers queue on the database
    lock (busy timeout) instead of failing with 'database is locked' when a read
    transaction upgrades to a write. A read-only session's transaction is a deferred
    BEGIN: a WAL snapshot that neither waits for nor holds up the writer.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # type: ignore[no-untyped-def]
        # straight to the driver: this runs once per unit of work, on the hot path
        read_only = conn._execution_options.get(READ_ONLY)
        conn.connection.dbapi_connection.execute("BEGIN" if read_only else "BEGIN IMMEDIATE")
