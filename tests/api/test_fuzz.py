"""Property-based fuzzing of the API (schemathesis) against the running server.

The production server (gunicorn, as `gmp serve` runs it) serves the application on 127.0.0.1 (SQLite), seeded with a system
account, a person, and the test processes with instances at each step. Schemathesis
generates valid and invalid requests for every operation of /api/v1/openapi.json; each
body is sent with its correct Content-Digest (the checksum itself is tested elsewhere), so
the schemas are exercised. Checks: no 5xx, status codes, content types and response bodies
as documented, invalid data refused, and every 4xx is JSON naming the field. Bounded by
examples per operation and a deadline, well under a minute.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings

from tests.conftest import TEST_PASSPHRASE, TEST_SECRET

EXAMPLES = 5
# The kinds of controlled data (material, recipe, ...) are one resource each, all served by the same
# code (web.api.resources.kind_resource): one of them stands for the others here.
KIND_RESOURCE_FUZZED = "material"


@pytest.fixture(scope="module")
def fuzz_server(_sqlite_template, tmp_path_factory):  # type: ignore[no-untyped-def]
    from core import clock
    from core.config import load_settings
    from signatures import kdf, testing
    from store.db import Database
    from store.uow import UnitOfWork
    from tests.api.conftest import ALL_SCOPES, add_system_role, create_account, deploy, issue
    from tests.browser.conftest import LiveServer
    from tests.support.shared_clock import SharedClock

    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "instance").mkdir()
    shutil.copy(_sqlite_template, folder / "gmp.sqlite3")
    config = {"instance_path": str(folder / "instance"), "database_url": f"sqlite:///{folder / 'gmp.sqlite3'}",
              "secret_key": TEST_SECRET, "server_key_passphrase": TEST_PASSPHRASE}
    cfg = load_settings(config, environ={})
    frozen = SharedClock(folder / "instance" / "test-clock")
    clock.set_clock(frozen)
    db = Database(cfg.database_url)
    from bpmn.glue import install
    from engine.runtime import using

    try:
        with kdf.unsafe_fast_kdf(), using(install(db, cfg)):  # this module's setup runs before any test's runtime
            admin = testing.bootstrap_admin(db, cfg)
            add_system_role(db, admin)
            quinn = testing.enrolled_user(db, cfg, admin, "quinn", "Quinn QA", ["qa"])
            quentin = testing.enrolled_user(db, cfg, admin, "quentin", "Quentin QA", ["qa"])
            testing.enrolled_user(db, cfg, admin, "alice", "Alice Operator", ["operator"])
            frozen.advance(seconds=31)
            deploy(db, cfg, quinn, quentin, "api_batch")
            frozen.advance(seconds=31)
            deploy(db, cfg, quinn, quentin, "sample_intake")
            create_account(db, admin)
            token = issue(db, admin, "mes-line1", ALL_SCOPES)
            from engine import instances

            for n in range(3):
                with UnitOfWork(db, admin.actor) as uow:
                    instances.start(uow, "api_batch", title=f"Batch F-{n}", data={"lot": f"F-{n}"}, settings=cfg)
                    uow.commit()
            frozen.advance(seconds=31)
        with LiveServer(cfg, frozen.path) as server:  # the production server, as `gmp serve` runs it
            yield server.url, token
    finally:
        clock.set_clock(None)
        db.dispose()


def field_is_named(response: requests.Response) -> None:
    if 400 <= response.status_code < 500:
        body = response.json()
        assert body["status"] == response.status_code and body["error"] and body["message"], body
        assert body.get("field"), f"a {response.status_code} answer that names no field: {body}"


def send(case, url: str, token: str) -> None:  # type: ignore[no-untyped-def]
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        negative_data_rejection,
        response_schema_conformance,
        status_code_conformance,
    )

    from web.api.exchange import content_digest

    kwargs = case.as_transport_kwargs(base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {token}"})
    headers = dict(kwargs.pop("headers", {}) or {})
    if "json" in kwargs:
        kwargs["data"] = json.dumps(kwargs.pop("json")).encode()
    data = kwargs.get("data")
    if isinstance(data, str):
        data = kwargs["data"] = data.encode()
    if data is not None and case.operation.method.upper() == "POST":
        headers["Content-Digest"] = content_digest(data)
    kwargs.pop("auth", None)
    response = requests.request(headers=headers, timeout=30, **kwargs)
    case.validate_response(response, checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                                             response_schema_conformance, negative_data_rejection],
                           headers=headers)
    field_is_named(response)


@pytest.mark.slow
@pytest.mark.req("URS-API-007", "URS-API-005", "A11-5")
def test_fuzz_the_api(fuzz_server):  # type: ignore[no-untyped-def]
    from hypothesis import given

    url, token = fuzz_server
    schema = schemathesis.openapi.from_url(f"{url}/api/v1/openapi.json")
    failures, operations = [], 0
    from web.api.resources import OWN_RESOURCES

    own = {"equipment-tags", "process-definitions", *(name.replace("_", "-") for name in OWN_RESOURCES)}
    for result in schema.get_all_operations():
        operation = result.ok()
        parts = operation.path.split("/")
        if len(parts) > 2 and parts[1] == "masterdata" and parts[2] not in own | {KIND_RESOURCE_FUZZED}:
            continue
        operations += 1
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case):  # type: ignore[no-untyped-def]
                send(case, url, token)
            try:
                run()
            except Exception as exc:  # noqa: BLE001 - collected and reported per operation below
                failures.append(f"{operation.label} ({mode.value}): {exc}"[:3000])
    assert operations >= 19
    Path(tempfile.gettempdir(), "gmp-fuzz-failures.txt").write_text("\n\n".join(failures))
    assert failures == [], "\n\n".join(failures)
