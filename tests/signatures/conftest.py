"""Fixtures: cheap KDF parameters (named as unsafe), a frozen clock, enrolled people."""
from __future__ import annotations

import pytest

from signatures import kdf, testing


@pytest.fixture(autouse=True)
def _unsafe_fast_kdf():
    with kdf.unsafe_fast_kdf():
        yield


@pytest.fixture
def admin(db, settings, frozen_clock):
    return testing.bootstrap_admin(db, settings)


@pytest.fixture
def make_user(db, settings, admin):
    def make(user_id, name=None, roles=("operator",), **kwargs):
        return testing.enrolled_user(db, settings, admin, user_id, name or user_id.title() + " Example",
                                     list(roles), **kwargs)
    return make
