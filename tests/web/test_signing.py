"""The accountability statement page and the signature dialog's continuous-session rule."""
from __future__ import annotations

import pytest

from signatures import kdf, testing
from tests.web.test_access_matrix import open_session


@pytest.mark.req("P11-10j")
def test_accountability_statement_is_signed_once(app, db, settings, frozen_clock):
    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(db, settings)
        bob = testing.enrolled_user(db, settings, admin, "bob", "Bob Operator", ["operator"], accountability=False)
    client = app.test_client()
    open_session(db, client, bob)
    page = client.get("/accountability").get_data(as_text=True)
    assert "legally binding equivalent" in page and "同等法律约束力" in page
    refused = client.post("/accountability", data={"csrf_token": "walk-token", "sig_password": bob.password})
    assert refused.status_code == 422
    assert "Please enter your password and the code from your authenticator app to sign." in refused.get_data(as_text=True)
    done = client.post("/accountability", data={"csrf_token": "walk-token", "sig_password": bob.password,
                                                "sig_totp": testing.next_totp(db, bob)})
    assert done.status_code == 302
    assert 'data-testid="statement-signed"' in client.get("/accountability").get_data(as_text=True)
