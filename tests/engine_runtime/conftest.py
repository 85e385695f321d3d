"""Engine runtime fixtures: deploying test diagrams through the engine core, scheduler helpers."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine import definitions, persistence
from store.uow import UnitOfWork
from tests.engine.conftest import ALL_ROLES, actor, deploy, services, sig  # noqa: F401 - `services` is a fixture

SCHEDULED = Path(__file__).parent / "processes" / "scheduled"


def deploy_file(db: Any, services: Any, name: str) -> int:  # noqa: F811
    return deploy(db, services, files={name: (SCHEDULED / name).read_bytes()})


def deploy_bundle(db: Any, services: Any, files: dict[str, bytes], process_id: str) -> int:  # noqa: F811
    """Upload as anna, approve as quinn (the engine core's change control); the version id."""
    with UnitOfWork(db, actor("anna")) as uow:
        version = definitions.upload(uow, files, reason="runtime sample", process_id=process_id, roles=ALL_ROLES,
                                     services=services)
        uow.commit()
    with UnitOfWork(db, actor("quinn")) as uow:
        definitions.approve(uow, version.id, sig("quinn", "approved"), services=services)
        uow.commit()
    return int(version.id)


@pytest.fixture(autouse=True)
def _cold_engine_cache():
    persistence.CACHE.clear()
    yield
    persistence.CACHE.clear()


__all__ = ["actor", "deploy_file", "deploy_bundle"]
