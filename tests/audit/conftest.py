"""Fixtures of the audit tests: a small trail, tampering with the triggers lifted, the CLI."""
from __future__ import annotations

from typing import Any, Callable

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import text

from audit.canonical import Actor
from store.db import Database
from store.sqlguards import suspended_triggers
from store.uow import UnitOfWork

ALICE = Actor("alice", "Alice Example")
BOB = Actor("bob", "Bob 王")
AUDIT_TABLES = ["audit_entry", "audit_head", "audit_checkpoint", "audit_server_key", "audit_review"]


def add_entries(db: Database, count: int, actor: Actor = ALICE, object_type: str = "batch_record",
                object_id: str = "B-1", action: str = "batch_record.changed") -> list[int]:
    seqs: list[int] = []
    for number in range(count):
        with UnitOfWork(db, actor) as uow:
            uow.audit(action, object_type, object_id, changes=[["weight_kg", number, number + 1]],
                      reason="correction" if number % 2 else None, details={"n": number})
            uow.commit()
            seqs += uow.audit_seqs
    return seqs


def tamper(db: Database, *statements: str, params: dict[str, Any] | None = None) -> None:
    """Run SQL against the audit tables with their append-only triggers dropped."""
    with db.engine.begin() as connection:
        with suspended_triggers(connection, AUDIT_TABLES):
            for statement in statements:
                connection.execute(text(statement), params or {})


@pytest.fixture
def trail(db: Database) -> Database:
    add_entries(db, 6)
    return db


@pytest.fixture
def cli(settings) -> Callable[..., Result]:  # type: ignore[no-untyped-def]
    """Invoke `gmp ...` with the test settings in the environment."""
    from cli import gmp

    env = {"GMP_INSTANCE_PATH": str(settings.instance), "GMP_DATABASE_URL": settings.database_url,
           "GMP_SECRET_KEY": settings.secret_key, "GMP_SERVER_KEY_PASSPHRASE": settings.server_key_passphrase,
           "GMP_SITE_TIMEZONE": "Asia/Shanghai", "GMP_CHECKPOINT_INTERVAL_ENTRIES": "1000"}

    def run(*args: str) -> Result:
        return CliRunner().invoke(gmp, list(args), env=env, catch_exceptions=False)

    return run
