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
