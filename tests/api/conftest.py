"""API fixtures: the real application, a deployed process with a system lane, a system
account with a token, and a helper that sends JSON with its Content-Digest."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from signatures import kdf, testing
from tests.web.conftest import app, client  # noqa: F401 - the application fixtures

PROCESSES = Path(__file__).parent / "processes"
ALL_SCOPES = ["instances:start", "instances:read", "tasks:read", "tasks:complete", "tasks:complete-human",
              "messages:send", "records:read", "masterdata:read", "audit:read"]


def bundle(name: str) -> dict[str, bytes]:
    folder = PROCESSES / name
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def deploy(db, settings, author, approver, name: str) -> None:  # type: ignore[no-untyped-def]
    from engine import definitions
    from engine.ports import SignatureInput, default_services
    from store.uow import UnitOfWork

    with UnitOfWork(db, author.actor) as uow:
        version = definitions.upload(uow, bundle(name), reason="first version", services=default_services(settings))
        uow.commit()
    with UnitOfWork(db, approver.actor) as uow:
        definitions.approve(uow, version.id, SignatureInput("approved", approver.user_id, {
            "password": approver.password, "totp": testing.next_totp(db, approver)}),
            services=default_services(settings))
        uow.commit()


def digest(body: bytes) -> str:
    from web.api.exchange import content_digest

    return content_digest(body)


def issue(db, admin, account: str, scopes: list[str], days: int = 30) -> str:  # type: ignore[no-untyped-def]
    from core import clock
    from store.uow import UnitOfWork
    from web.api.accounts import issue_token

    with UnitOfWork(db, admin.actor) as uow:
        _row, token = issue_token(uow, account, scopes, clock.now() + timedelta(days=days), label="tests",
                                  reason="integration test")
        uow.commit()
    return token


@dataclass
class Api:
    client: Any
    token: str

    def call(self, method: str, path: str, body: Any = None, *, token: str | None = None, raw: bytes | None = None,
             headers: dict[str, str] | None = None, digest_of: bytes | None = None):  # type: ignore[no-untyped-def]
        sent = dict(headers or {})
        if token is not False:
            sent.setdefault("Authorization", f"Bearer {token or self.token}")
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
            sent.setdefault("Content-Digest", digest(digest_of if digest_of is not None else data))
        return self.client.open(f"/api/v1{path}", method=method, data=data, headers=sent)

    def get(self, path: str, **kw: Any):  # type: ignore[no-untyped-def]
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any):  # type: ignore[no-untyped-def]
        return self.call("POST", path, body, **kw)


@dataclass
class Plant:
    api: Api
    db: Any
    settings: Any
    people: dict[str, Any]
    clock: Any

    def start(self, **extra: Any) -> int:
        response = self.api.post("/instances", {"process": "api_batch", "title": "Batch B-1", **extra})
        assert response.status_code == 201, response.get_json()
        return int(response.get_json()["instance"]["instance_id"])

    def task(self, instance_id: int, kind: str) -> dict[str, Any]:
        items = self.api.get(f"/tasks?instance_id={instance_id}&kind={kind}").get_json()["items"]
        assert len(items) == 1, items
        return items[0]

    def creds(self, name: str) -> dict[str, str]:
        person = self.people[name]
        return {"user_id": person.user_id, "password": person.password, "totp": testing.next_totp(self.db, person)}


def add_system_role(db, admin, name: str = "mes") -> None:  # type: ignore[no-untyped-def]
    from signatures.roles import add_role
    from store.uow import UnitOfWork

    with UnitOfWork(db, admin.actor) as uow:
        add_role(uow, name, "system", "Manufacturing execution system", "制造执行系统", "Tasks done by the MES",
                 "the MES records weighings")
        uow.commit()


def create_account(db, admin, account: str = "mes-line1", roles=("mes",)) -> None:  # type: ignore[no-untyped-def]
    from store.uow import UnitOfWork
    from web.api.accounts import create_account as create

    with UnitOfWork(db, admin.actor) as uow:
        create(uow, account, "MES line 1", roles=list(roles), description="Line 1 MES", reason="line 1 go-live")
        uow.commit()


@pytest.fixture
def plant(app, db, settings, frozen_clock) -> Plant:  # type: ignore[no-untyped-def]  # noqa: F811
    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(db, settings)
        add_system_role(db, admin)
        people = {name: testing.enrolled_user(db, settings, admin, name, full, [role]) for name, full, role in [
            ("alice", "Alice Operator", "operator"), ("victor", "Victor Verifier", "operator"),
            ("quinn", "Quinn QA", "qa"), ("quentin", "Quentin QA", "qa")]}
        people["admin"] = admin
        frozen_clock.advance(seconds=31)
        deploy(db, settings, people["quinn"], people["quentin"], "api_batch")
        frozen_clock.advance(seconds=31)
        deploy(db, settings, people["quinn"], people["quentin"], "sample_intake")
        create_account(db, admin)
        token = issue(db, admin, "mes-line1", ALL_SCOPES)
    frozen_clock.advance(seconds=31)
    return Plant(Api(app.test_client(), token), db, settings, people, frozen_clock)


@pytest.fixture
def fast_kdf():  # type: ignore[no-untyped-def]
    with kdf.unsafe_fast_kdf():
        yield
