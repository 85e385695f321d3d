"""Admin pages: users, enrolment secret shown once, unlock, deactivate, reset, alerts."""
from __future__ import annotations

import re

import pytest

from signatures import kdf, testing
from signatures.models import UserAccount
from tests.web.test_access_matrix import open_session

pytestmark = pytest.mark.req("URS-WEB-004", "A11-12", "CN-2")


@pytest.fixture
def admin_client(app, db, settings, frozen_clock):  # type: ignore[no-untyped-def]
    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(db, settings)
        alice = testing.enrolled_user(db, settings, admin, "alice", "Alice Operator", ["operator"], accountability=False)
    client = app.test_client()
    open_session(db, client, admin)
    return client, admin, alice


def post(client, url, **data):  # type: ignore[no-untyped-def]
    return client.post(url, data={"csrf_token": "walk-token", **data})


def test_users_page_and_new_user_gets_a_one_time_secret(admin_client, db):
    client, _, _ = admin_client
    page = client.get("/admin/users").get_data(as_text=True)
    assert 'data-user="alice"' in page and "operator" in page
    response = post(client, "/admin/users", user_id="carol", printed_name="Carol QA", roles="qa")
    assert response.status_code == 200
    secret = re.search(r'data-testid="enrolment-secret">([^<]+)<', response.get_data(as_text=True)).group(1)
    assert len(secret) >= 16
    with db.session() as s:
        assert s.get(UserAccount, "carol").status == "pending_enrolment"


def test_admin_and_business_roles_cannot_be_combined(admin_client):
    client, _, _ = admin_client
    response = client.post("/admin/users", data={"csrf_token": "walk-token", "user_id": "dave", "printed_name": "Dave",
                                                 "roles": ["admin", "operator"]})
    assert response.status_code == 409 and 'data-status="409"' in response.get_data(as_text=True)
    taken = post(client, "/admin/users", user_id="alice", printed_name="Other Alice", roles="qa")
    assert taken.status_code >= 400 and "can never be reused" in taken.get_data(as_text=True)


def test_deactivate_needs_a_reason_and_unknown_action_is_404(admin_client, db):
    client, _, _ = admin_client
    refused = post(client, "/admin/users/alice/deactivate", reason="")
    assert refused.status_code >= 400 and "reason" in refused.get_data(as_text=True)
    with db.session() as s:
        assert s.get(UserAccount, "alice").status == "active"
    assert post(client, "/admin/users/alice/explode", reason="x").status_code == 404
    done = post(client, "/admin/users/alice/deactivate", reason="left the company")
    assert done.status_code == 302
    with db.session() as s:
        assert s.get(UserAccount, "alice").status == "deactivated"


def test_reset_shows_a_new_secret(admin_client, db):
    client, _, _ = admin_client
    response = post(client, "/admin/users/alice/reset", reason="phone lost")
    assert response.status_code == 200 and 'data-testid="enrolment-secret"' in response.get_data(as_text=True)
    with db.session() as s:
        assert s.get(UserAccount, "alice").status == "pending_enrolment"


@pytest.mark.req("P11-300d")
def test_lockout_alert_is_shown_and_acknowledged(admin_client, db, settings):
    client, _, alice = admin_client
    anonymous = client.application.test_client()
    from tests.web.conftest import csrf_of

    token = csrf_of(anonymous)
    for _ in range(settings.lockout_threshold):
        anonymous.post("/sign-in", data={"csrf_token": token, "user_id": "alice", "password": "wrong password!!",
                                         "totp": "000000"})
    page = client.get("/admin/alerts").get_data(as_text=True)
    alert_id = re.search(r'data-alert="(\d+)"', page).group(1)
    assert "alice" in page
    assert post(client, f"/admin/alerts/{alert_id}/acknowledge", reason="").status_code >= 400
    assert post(client, f"/admin/alerts/{alert_id}/acknowledge", reason="called alice").status_code == 302
    assert f'data-alert="{alert_id}"' not in client.get("/admin/alerts").get_data(as_text=True)
    assert post(client, "/admin/users/alice/unlock", reason="identity confirmed by phone").status_code == 302
    with db.session() as s:
        assert s.get(UserAccount, "alice").status == "active"


@pytest.mark.req("A11-12", "CN-2", "CN-1")
def test_grant_and_revoke_roles(admin_client, db):
    from signatures.identities import roles_of

    client, _, _ = admin_client
    assert post(client, "/admin/users/alice/grant", role="verifier", reason="trained").status_code == 302
    with db.session() as s:
        assert roles_of(s, "alice") == {"operator", "verifier"}
    mixed = post(client, "/admin/users/alice/grant", role="auditor", reason="x")
    assert mixed.status_code == 409
    assert post(client, "/admin/users/alice/revoke", role="verifier", reason="moved").status_code == 302
    with db.session() as s:
        assert roles_of(s, "alice") == {"operator"}
