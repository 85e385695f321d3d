"""Completing a signed task from the page: every argon2id derivation runs while no write
transaction is open (nothing queues behind the signer's CPU work), one per signer."""
from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import text

from signatures import kdf, testing
from tests.web.test_operator import form, plant, task_id  # noqa: F401 - plant is a fixture

pytestmark = pytest.mark.req("URS-OPS-003", "P11-200a1")


def write_transaction_open(db) -> bool:  # type: ignore[no-untyped-def]
    if db.is_sqlite:
        probe = sqlite3.connect(db.url[len("sqlite:///"):], timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            assert "locked" in str(exc)
            return True
        finally:
            probe.close()
        return False
    with db.engine.connect() as connection:
        return bool(connection.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()")).scalar_one())


def test_signing_a_task_derives_outside_the_write_transaction(plant, db, monkeypatch):  # noqa: F811
    client, people = plant
    alice, bob = people["alice"], people["bob"]
    seen: list[bool] = []
    derive = kdf.derive_key

    def watched(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(write_transaction_open(db))
        return derive(*args, **kwargs)

    tid = task_id(client)
    data = form(people, sig_password=alice.password, sig_totp=testing.next_totp(db, alice), sig2_user_id="bob",
                sig2_password=bob.password, sig2_totp=testing.next_totp(db, bob))
    monkeypatch.setattr(kdf, "derive_key", watched)
    done = client.post(f"/tasks/{tid}", data=data)
    assert done.status_code == 200, done.get_data(as_text=True)
    assert 'data-testid="task-completed"' in done.get_data(as_text=True)
    assert seen == [False, False]  # alice's and bob's key, each unwrapped once, no lock held
