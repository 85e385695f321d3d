from __future__ import annotations

from alembic import context

from store.db import Database
from store.models import load_all

config = context.config
target_metadata = load_all().metadata


def run_migrations_online() -> None:
    given = config.attributes.get("connection")
    if given is not None:  # store.verified_upgrade: the caller's connection and transaction
        context.configure(connection=given, target_metadata=target_metadata,
                          render_as_batch=given.dialect.name == "sqlite", compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    db = Database(config.get_main_option("sqlalchemy.url"))
    try:
        with db.engine.connect() as connection:
            context.configure(connection=connection, target_metadata=target_metadata,
                              render_as_batch=db.is_sqlite, compare_type=True)
            with context.begin_transaction():
                context.run_migrations()
            if connection.in_transaction():
                connection.commit()
    finally:
        db.dispose()


run_migrations_online()
