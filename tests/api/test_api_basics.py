"""Tokens, scopes, the OpenAPI document and the reference page."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.api.conftest import ALL_SCOPES, issue


def count(db, action: str, actor: str | None = None) -> int:  # type: ignore[no-untyped-def]
    from audit.models import AuditEntry

    query = select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action)
    if actor:
        query = query.where(AuditEntry.actor_id == actor)
    with db.session() as session:
        return int(session.execute(query).scalar_one())


@pytest.mark.req("URS-API-002", "URS-API-004", "P11-10d", "P11-10g", "A11-12")
def test_token_speaks_for_its_account_and_every_call_is_audited(plant):
    response = plant.api.get("/me")
    assert response.status_code == 200
    me = response.get_json()
    assert me["account_id"] == "mes-line1" and me["actor_id"] == "system:mes-line1" and me["roles"] == ["mes"]
    assert sorted(me["scopes"]) == sorted(ALL_SCOPES)
    assert response.headers["Content-Digest"].startswith("sha-256=:")
    assert "Set-Cookie" not in response.headers
    assert count(plant.db, "api.call", "system:mes-line1") == 1


@pytest.mark.req("URS-API-002", "URS-API-004", "P11-10d", "P11-300c", "CN-2")
@pytest.mark.parametrize("header,message", [
    (None, "needs an API token"),
    ("Basic abc", "must be 'Bearer <token>'"),
    ("Bearer nonsense", "malformed"),
    ("Bearer gmp_0123456789abcdef_" + "A" * 43, "not valid"),
])
def test_bad_tokens_are_refused_with_the_header_named(plant, header, message):
    headers = {"Authorization": header} if header else {}
    response = plant.api.client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    body = response.get_json()
    assert body["error"] == "TokenRefused" and body["field"] == "Authorization" and message in body["message"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.req("URS-API-002", "P11-300c", "P11-10d", "A11-12")
def test_revoked_expired_and_deactivated_tokens_are_refused(plant):
    from signatures.models import SecurityAlert
    from store.uow import UnitOfWork
    from web.api.accounts import deactivate_account, revoke_token

    admin = plant.people["admin"]
    token_id = plant.api.token.split("_")[1]
    with UnitOfWork(plant.db, admin.actor) as uow:
        revoke_token(uow, token_id, "the MES server was replaced")
        uow.commit()
    refused = plant.api.get("/me")
    assert refused.status_code == 401 and "was revoked" in refused.get_json()["message"]
    with plant.db.session() as session:
        alerts = session.execute(select(SecurityAlert).where(SecurityAlert.kind == "api_token_revoked_used")).scalars().all()
    assert len(alerts) == 1 and "mes-line1" in alerts[0].message

    short = issue(plant.db, admin, "mes-line1", ["tasks:read"], days=1)
    assert plant.api.get("/me", token=short).status_code == 200
    plant.clock.advance(days=2)
    expired = plant.api.get("/me", token=short)
    assert expired.status_code == 401 and "expired" in expired.get_json()["message"]

    fresh = issue(plant.db, admin, "mes-line1", ["tasks:read"])
    with UnitOfWork(plant.db, admin.actor) as uow:
        deactivate_account(uow, "mes-line1", "line 1 closed")
        uow.commit()
    gone = plant.api.get("/me", token=fresh)
    assert gone.status_code == 401 and "revoked" in gone.get_json()["message"]
    assert count(plant.db, "api.token_refused") == 3


@pytest.mark.req("URS-API-002", "P11-10d", "A11-12")
def test_token_secret_is_stored_hashed_and_shown_once(plant):
    from web.api.models import ApiToken

    token_id, secret = plant.api.token.split("_")[1], plant.api.token.split("_", 2)[2]
    with plant.db.session() as session:
        row = session.get(ApiToken, token_id)
        import hashlib

        assert row.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in repr(row.__dict__)
    with plant.db.session() as session:
        from audit.models import AuditEntry

        texts = [e.details + e.changes for e in session.execute(select(AuditEntry)).scalars()]
    assert not any(secret in text for text in texts)


@pytest.mark.req("URS-API-002", "URS-API-004", "P11-10g", "CN-2")
def test_a_token_without_the_scope_is_refused_and_recorded(plant):
    narrow = issue(plant.db, plant.people["admin"], "mes-line1", ["masterdata:read"])
    response = plant.api.get("/tasks", token=narrow)
    assert response.status_code == 403
    body = response.get_json()
    assert body["error"] == "ScopeRefused" and body["field"] == "Authorization" and "tasks:read" in body["message"]
    assert count(plant.db, "api.refused", "system:mes-line1") == 1
    assert plant.api.get("/masterdata", token=narrow).status_code == 200


@pytest.mark.req("URS-API-003", "P11-10d", "P11-200a2", "P11-200a3")
def test_a_system_account_never_signs_in_to_the_web_nor_signs(plant, client, fast_kdf):
    from signatures.errors import AuthenticationFailed
    from signatures.records import SimpleRecord
    from signatures.service import Credentials, sign
    from store.uow import UnitOfWork
    from tests.web.conftest import csrf_of

    page = client.post("/sign-in", data={"csrf_token": csrf_of(client), "username": "mes-line1",
                                         "password": "anything at all", "totp": "123456"})
    assert page.status_code in (200, 401, 422) and "mes-line1" not in (client.get("/").get_data(as_text=True))
    for user in ("mes-line1", "system:mes-line1"):
        with UnitOfWork(plant.db) as uow, pytest.raises(AuthenticationFailed, match="user ID, password or TOTP"):
            sign(uow, SimpleRecord("batch_record", "1", 1, {"x": 1}), "performed",
                 Credentials(user, "whatever password", "123456"), None, plant.settings)


@pytest.mark.req("URS-API-002", "P11-10d")
def test_a_web_session_is_not_an_api_credential(plant, client):
    from tests.web.test_access_matrix import open_session

    open_session(plant.db, client, plant.people["alice"])
    response = client.get("/api/v1/me")
    assert response.status_code == 401 and response.get_json()["field"] == "Authorization"
    posted = client.post("/api/v1/instances", json={"process": "api_batch"})
    assert posted.status_code == 401


@pytest.mark.req("URS-API-001", "A11-5", "P11-10k")
def test_openapi_document_describes_every_operation_with_its_scope(plant, app):
    from web.access import load_matrix

    doc = plant.api.client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"] == "3.1.0" and doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    matrix = load_matrix()

    def endpoint_of(operation_id: str) -> str:  # one operation per master-data resource: masterdata_list_<resource>
        return next((base for base in ("masterdata_list", "masterdata_item") if operation_id.startswith(base + "_")),
                    operation_id)

    documented = {endpoint_of(op["operationId"]) for methods in doc["paths"].values() for op in methods.values()}
    routes = {r.endpoint.split(".", 1)[1] for r in app.url_map.iter_rules() if r.endpoint.startswith("api.")}
    assert routes - documented == {"openapi", "docs"}
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            endpoint = "api." + endpoint_of(op["operationId"])
            assert op["security"] == [{"bearer": sorted(matrix[endpoint].scopes)}], path
            assert "401" in op["responses"]
            if "requestBody" in op:
                assert op["x-content-digest"] == "required" and "Content-Digest" in op["description"] + doc["info"][
                    "description"]
    assert "/masterdata/equipment-tags/{key}" in doc["paths"] and "/masterdata/recipe/{key}" in doc["paths"]
    assert len({op["operationId"] for methods in doc["paths"].values() for op in methods.values()}) == \
        sum(len(methods) for methods in doc["paths"].values())  # operation ids are unique


@pytest.mark.req("URS-API-001", "A11-5", "CN-6")
def test_reference_page_is_self_hosted(plant):
    page = plant.api.client.get("/api/v1/docs")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Content-Digest" in html and 'id="start_instance"' in html
    assert "<script" not in html and "https://" not in html.replace("https://json-schema.org", "")
    assert "tasks:complete-human" in html and "/api/v1/tasks/{task_id}/complete" in html
