"""Fixtures of the validation pack's tests: an installation on SQLite (the pack builds run once,
not per backend) with two enrolled validation users."""
from __future__ import annotations

import pytest

from tests.conftest import TEST_PASSPHRASE, TEST_SECRET, make_database_url


@pytest.fixture
def installation(request, tmp_path):  # type: ignore[no-untyped-def]
    """Settings of a migrated SQLite installation with its server key."""
    from audit.server_key import load_server_key
    from core.config import load_settings

    instance = tmp_path / "instance"
    instance.mkdir()
    settings = load_settings({"instance_path": str(instance), "database_url": make_database_url("sqlite", request, tmp_path),
                              "secret_key": TEST_SECRET, "server_key_passphrase": TEST_PASSPHRASE}, environ={})
    load_server_key(settings)
    return settings


@pytest.fixture
def validators(installation):  # type: ignore[no-untyped-def]
    """(database, executor, reviewer): two validation users, enrolled through the real services ten
    minutes ago (so every TOTP code they used lies in the past); the test then runs on real time, as
    the OQ and PQ processes it starts do."""
    from datetime import timedelta

    from core import clock
    from signatures import kdf, testing
    from store.db import Database

    db = Database(installation.database_url)
    clock.set_clock(clock.FrozenClock(clock.now() - timedelta(minutes=10)))
    try:
        with kdf.unsafe_fast_kdf():
            admin = testing.bootstrap_admin(db, installation)
            vera = testing.enrolled_user(db, installation, admin, "vera", "Vera Validation 王验证", ["validation"])
            rob = testing.enrolled_user(db, installation, admin, "rob", "Rob Reviewer", ["validation"])
    finally:
        clock.set_clock(None)
    yield db, vera, rob
    db.dispose()
