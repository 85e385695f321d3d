"""Engine runtime fixtures: deploying test diagrams through the engine core, scheduler helpers."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine import persistence
from tests.engine.conftest import actor, deploy, services  # noqa: F401 - `services` is a fixture

SCHEDULED = Path(__file__).parent / "processes" / "scheduled"


def deploy_file(db: Any, services: Any, name: str) -> int:  # noqa: F811
    return deploy(db, services, files={name: (SCHEDULED / name).read_bytes()})


@pytest.fixture(autouse=True)
def _cold_engine_cache():
    persistence.CACHE.clear()
    yield
    persistence.CACHE.clear()


__all__ = ["actor", "deploy_file"]
