"""The migrated schema matches the models, on SQLite and PostgreSQL."""
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from store.db import Database
from store.models import load_all


@pytest.mark.req("URS-FND-001", "A11-10")
def test_models_match_migrations(database_url):
    metadata = load_all().metadata
    database = Database(database_url)
    try:
        with database.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, metadata)
    finally:
        database.dispose()
    assert diff == [], f"models and migrations differ: {diff}"


@pytest.mark.req("URS-FND-001", "A11-10")
def test_models_keep_the_migrated_column_order(database_url):
    """Backups list a table's columns in the models' order and an incremental backup refuses a table
    whose columns changed since its base (audit.backup): a model keeps its table's column order."""
    from sqlalchemy import inspect

    metadata = load_all().metadata
    database = Database(database_url)
    try:
        inspector = inspect(database.engine)
        found = {name: [c["name"] for c in inspector.get_columns(name)] for name in metadata.tables}
    finally:
        database.dispose()
    differ = {name: ([c.name for c in table.columns], found[name]) for name, table in metadata.tables.items()
              if [c.name for c in table.columns] != found[name]}
    assert differ == {}
