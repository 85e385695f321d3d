"""Database triggers that make tables append-only, on SQLite and PostgreSQL.

`append_only(table)` is called from migrations. `suspended_triggers(connection, tables)`
is for restore only: it lifts every user trigger of the given tables inside the
caller's transaction and puts them back before the transaction ends (DDL is
transactional on both backends, so a failed restore leaves the triggers in place).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterable, Iterator

from alembic import op
from sqlalchemy import Connection, text


def _message(table: str) -> str:
    return f"{table} is append-only: rows may not be updated or deleted"


def append_only(table: str) -> None:
    """Refuse UPDATE and DELETE on `table` inside the database itself."""
    bind = op.get_bind()
    message = _message(table)
    if bind.dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{message}'); END;"
            )
    else:
        op.execute(
            f"CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger AS $$ "
            f"BEGIN RAISE EXCEPTION '{message}'; END; $$ LANGUAGE plpgsql;"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only();"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only();"
        )


def trigger_names(connection: Connection, table: str) -> list[str]:
    """Names of the user triggers on `table`."""
    if connection.dialect.name == "sqlite":
        rows = connection.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t ORDER BY name"),
            {"t": table})
    else:
        rows = connection.execute(
            text("SELECT tgname FROM pg_trigger WHERE tgrelid = to_regclass(:t) AND NOT tgisinternal ORDER BY tgname"),
            {"t": table})
    return [row[0] for row in rows]


@contextmanager
def suspended_triggers(connection: Connection, tables: Iterable[str]) -> Iterator[None]:
    """Lift the user triggers of `tables` for the body, in the caller's transaction."""
    tables = list(tables)
    if connection.dialect.name == "sqlite":
        saved: list[str] = []
        for table in tables:
            for name, sql in connection.execute(
                    text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"),
                    {"t": table}).all():
                saved.append(sql)
                connection.exec_driver_sql(f'DROP TRIGGER "{name}"')
        yield
        for sql in saved:
            connection.exec_driver_sql(sql)
    else:
        for table in tables:
            connection.exec_driver_sql(f'ALTER TABLE "{table}" DISABLE TRIGGER USER')
        yield
        for table in tables:
            connection.exec_driver_sql(f'ALTER TABLE "{table}" ENABLE TRIGGER USER')
