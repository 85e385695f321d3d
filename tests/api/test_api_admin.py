"""System accounts administered in the web and the CLI; the scopes of the matrix walked with tokens;
system roles are never a person's."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.api.conftest import ALL_SCOPES, issue
from tests.web.test_access_matrix import open_session, sample_url


@pytest.mark.req("URS-API-002", "P11-10g", "CN-2")
def test_walk_the_api_scopes(plant, app):
    """Every scope-guarded operation: refused (403, naming Authorization) without its scope, let through with it."""
    from web.access import load_matrix

    matrix = load_matrix()
    walked = 0
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.endpoint):
        cell = matrix[rule.endpoint]
        if not cell.token or not cell.scopes:
            continue
        url = sample_url(app, rule).removeprefix("/api/v1")
        method = "GET" if "GET" in rule.methods else "POST"
        others = [s for s in ALL_SCOPES if s not in cell.scopes]
        without = plant.api.call(method, url, {} if method == "POST" else None,
                                 token=issue(plant.db, plant.people["admin"], "mes-line1", others))
        assert without.status_code == 403 and without.get_json()["field"] == "Authorization", url
        with_scope = plant.api.call(method, url, {} if method == "POST" else None,
                                    token=issue(plant.db, plant.people["admin"], "mes-line1", sorted(cell.scopes)))
        assert with_scope.status_code not in (401, 403), (url, with_scope.get_json())
        walked += 1
    assert walked == 13


@pytest.mark.req("URS-API-003", "CN-1", "P11-200a2", "A11-12")
def test_system_roles_are_never_held_by_a_person_and_never_sign(plant, fast_kdf):
    from signatures.errors import RoleConflict
    from signatures.identities import create_user, grant_role
    from signatures.models import RoleKind
    from signatures.signing_rules import RoleNotPermitted, load_rules
    from store.uow import UnitOfWork
    from web.api.accounts import create_account
    from web.api.errors import AccountError

    admin = plant.people["admin"]
    with UnitOfWork(plant.db, admin.actor) as uow, pytest.raises(RoleConflict, match="system accounts only"):
        grant_role(uow, "alice", "mes", "try")
    with UnitOfWork(plant.db, admin.actor) as uow, pytest.raises(RoleConflict, match="system accounts only"):
        create_user(uow, "mona", "Mona Machine", ["mes"], plant.settings)
    with pytest.raises(RoleNotPermitted, match="system roles never sign"):
        load_rules(plant.settings).check("batch_record", "performed", {"mes"}, RoleKind.SYSTEM)
    with UnitOfWork(plant.db, admin.actor) as uow, pytest.raises(AccountError, match="system roles only"):
        create_account(uow, "erp", "ERP", roles=["operator"], reason="go-live")
    with UnitOfWork(plant.db, admin.actor) as uow, pytest.raises(AccountError, match="person's user ID"):
        create_account(uow, "alice", "Alice's PC", reason="go-live")
    with UnitOfWork(plant.db, admin.actor) as uow, pytest.raises(AccountError, match="invalid system account ID"):
        create_account(uow, "Bad Name", "X", reason="go-live")
    with UnitOfWork(plant.db, admin.actor) as uow, pytest.raises(AccountError, match="is taken"):
        create_account(uow, "mes-line1", "Again", reason="go-live")
    with UnitOfWork(plant.db, admin.actor) as uow, pytest.raises(AccountError, match="needs a reason"):
        create_account(uow, "lims", "LIMS", reason=" ")


@pytest.mark.req("URS-API-002", "P11-10g", "A11-12")
def test_only_an_administrator_manages_system_accounts_and_tokens(plant):
    from datetime import timedelta

    from core import clock
    from signatures.errors import NotAuthorised
    from store.uow import UnitOfWork
    from web.api.accounts import create_account, issue_token
    from web.api.errors import AccountError

    alice = plant.people["alice"]
    with UnitOfWork(plant.db, alice.actor) as uow, pytest.raises(NotAuthorised, match="not an active administrator"):
        create_account(uow, "erp", "ERP", reason="go-live")
    admin = plant.people["admin"]
    for scopes, expiry, message in [([], 10, "at least one scope"), (["tasks:fly"], 10, "unknown scope"),
                                    (["tasks:read"], -1, "not in the future"), (["tasks:read"], 400, "within 366 days")]:
        with UnitOfWork(plant.db, admin.actor) as uow, pytest.raises(AccountError, match=message):
            issue_token(uow, "mes-line1", scopes, clock.now() + timedelta(days=expiry), reason="r")


@pytest.mark.req("URS-API-002", "P11-10g", "A11-12", "URS-WEB-004")
def test_administrator_creates_an_account_issues_shows_once_and_revokes_a_token(plant, client, fast_kdf):
    from web.api.models import ApiToken

    open_session(plant.db, client, plant.people["admin"])
    created = client.post("/admin/system-accounts/", data={
        "csrf_token": "walk-token", "account_id": "lims", "printed_name": "LIMS", "roles": "mes",
        "description": "Laboratory system", "reason": "LIMS go-live"})
    assert created.status_code == 302
    page = client.get("/admin/system-accounts/").get_data(as_text=True)
    assert 'data-account="lims"' in page and "System accounts" in page
    shown = client.post("/admin/system-accounts/lims/tokens", data={
        "csrf_token": "walk-token", "scopes": ["tasks:read", "messages:send"], "expires_on": "2026-06-30",
        "label": "LIMS results", "reason": "LIMS go-live"})
    html = shown.get_data(as_text=True)
    token = re.search(r'data-testid="api-token">([^<]+)<', html).group(1)
    assert shown.status_code == 200 and "shown only once" in html
    assert token not in client.get("/admin/system-accounts/").get_data(as_text=True)
    me = plant.api.get("/me", token=token).get_json()
    assert me["account_id"] == "lims" and me["scopes"] == ["messages:send", "tasks:read"] and me["roles"] == ["mes"]
    token_id = token.split("_")[1]
    assert client.post(f"/admin/system-accounts/tokens/{token_id}/revoke",
                       data={"csrf_token": "walk-token", "reason": "rotated"}).status_code == 302
    assert plant.api.get("/me", token=token).status_code == 401
    with plant.db.session() as session:
        assert session.get(ApiToken, token_id).revoke_reason == "rotated"
    no_reason = client.post("/admin/system-accounts/lims/deactivate", data={"csrf_token": "walk-token", "reason": ""})
    assert no_reason.status_code == 422
    bad = client.post("/admin/system-accounts/lims/tokens", data={"csrf_token": "walk-token", "scopes": "tasks:read",
                                                                 "expires_on": "someday", "reason": "x"})
    assert bad.status_code == 422 and "2027-12-31" in bad.get_data(as_text=True)
    unknown = client.post("/admin/system-accounts/lims/explode", data={"csrf_token": "walk-token", "reason": "x"})
    assert unknown.status_code == 404


@pytest.mark.req("URS-API-002", "P11-10g", "CN-1")
def test_an_auditor_sees_system_accounts_but_changes_nothing(plant, client, fast_kdf):
    from signatures import testing

    auditor = testing.enrolled_user(plant.db, plant.settings, plant.people["admin"], "audrey", "Audrey Auditor",
                                    ["auditor"])
    open_session(plant.db, client, auditor)
    page = client.get("/admin/system-accounts/")
    assert page.status_code == 200 and "mes-line1" in page.get_data(as_text=True)
    assert "Issue token" not in page.get_data(as_text=True)
    assert client.post("/admin/system-accounts/mes-line1/deactivate",
                       data={"csrf_token": "walk-token", "reason": "x"}).status_code == 403


@pytest.mark.req("URS-API-002", "A11-12", "P11-300c")
def test_cli_creates_accounts_issues_and_revokes_tokens(plant, monkeypatch, fast_kdf):
    from click.testing import CliRunner

    from cli import gmp
    from signatures import testing
    from web.api.models import ApiToken

    admin = plant.people["admin"]
    monkeypatch.setenv("GMP_INSTANCE_PATH", plant.settings.instance_path)
    monkeypatch.setenv("GMP_DATABASE_URL", plant.settings.database_url)
    monkeypatch.setenv("GMP_SERVER_KEY_PASSPHRASE", "test server key passphrase")
    monkeypatch.setenv("GMP_ADMIN_USER", admin.user_id)
    monkeypatch.setenv("GMP_ADMIN_PASSWORD", admin.password)

    def run(*args: str):  # type: ignore[no-untyped-def]
        plant.clock.advance(seconds=31)
        monkeypatch.setenv("GMP_ADMIN_TOTP", testing.next_totp(plant.db, admin))
        return CliRunner().invoke(gmp, list(args), catch_exceptions=False)

    created = run("api", "account", "create", "erp", "--name", "SAP ERP", "--reason", "ERP interface go-live")
    assert created.exit_code == 0, created.output
    issued = run("api", "token", "issue", "erp", "--scope", "instances:start", "--scope", "instances:read",
                 "--expires", "2026-12-31", "--label", "batch orders", "--reason", "ERP interface go-live")
    assert issued.exit_code == 0, issued.output
    token = issued.output.strip().splitlines()[-1]
    assert plant.api.get("/me", token=token).get_json()["account_id"] == "erp"
    listed = CliRunner().invoke(gmp, ["api", "account", "list"], catch_exceptions=False)
    assert "erp" in listed.output and token.split("_")[1] in listed.output and token not in listed.output
    bad = run("api", "token", "issue", "erp", "--scope", "nope", "--expires", "2026-12-31", "--reason", "x")
    assert bad.exit_code != 0 and "unknown scope" in bad.output
    revoked = run("api", "token", "revoke", token.split("_")[1], "--reason", "rotated")
    assert revoked.exit_code == 0, revoked.output
    assert plant.api.get("/me", token=token).status_code == 401
    with plant.db.session() as session:
        assert session.execute(select(ApiToken).where(ApiToken.account_id == "erp")).scalar_one().revoked_by == "admin"
