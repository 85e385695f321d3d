"""Notifications: stored ones (read once), live security alerts for administrators, tasks for operators."""
from __future__ import annotations

import pytest

from signatures import kdf, testing
from store.uow import UnitOfWork
from tests.web.test_access_matrix import open_session
from web.notifications import deliver_email, notify


@pytest.mark.req("P11-300d")
def test_notifications_page(app, db, settings, frozen_clock):
    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(db, settings)
        alice = testing.enrolled_user(db, settings, admin, "alice", "Alice Operator", ["operator"], accountability=False)
    with UnitOfWork(db) as uow:
        note = notify(uow, "alice", "task_assigned", "Weigh the material", "Batch B-001", "/tasks/")
        notify(uow, "admin", "security_alert", "Account locked")
        uow.commit()
    client = app.test_client()
    open_session(db, client, alice)
    page = client.get("/notifications/").get_data(as_text=True)
    assert "Weigh the material" in page and "Account locked" not in page
    assert client.post(f"/notifications/{note.id}/read", data={"csrf_token": "walk-token"}).status_code == 302
    assert "Mark as read" not in client.get("/notifications/").get_data(as_text=True)
    other = client.post("/notifications/2/read", data={"csrf_token": "walk-token"})
    assert other.status_code == 404
    assert deliver_email(db, settings, {"alice": "alice@example.org"}) == 0  # no GMP_SMTP_HOST: in-app only
