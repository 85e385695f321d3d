"""Notifications: stored ones (read once), live security alerts for administrators, tasks for operators."""
from __future__ import annotations

import pytest

from notifications.delivery import deliver_email
from notifications.queue import notify
from signatures import kdf, testing
from store.uow import UnitOfWork
from tests.web.test_access_matrix import open_session


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


@pytest.mark.req("URS-WEB-004")
def test_completing_a_task_notifies_the_next_lane(app, db, settings, frozen_clock):
    import re


    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(db, settings)
        alice = testing.enrolled_user(db, settings, admin, "alice", "Alice Operator", ["operator"], accountability=False)
        quinn = testing.enrolled_user(db, settings, admin, "quinn", "Quinn QA", ["qa"])
        quentin = testing.enrolled_user(db, settings, admin, "quentin", "Quentin QA", ["qa"])
    frozen_clock.advance(seconds=31)
    start_approved_chain(db, settings, quinn, quentin)
    client = app.test_client()
    open_session(db, client, alice)
    first = re.search(r'data-task="([^"]+)"', client.get("/tasks/").get_data(as_text=True)).group(1)
    done = client.post(f"/tasks/{first}", data={"csrf_token": "walk-token"})
    assert done.status_code == 200, done.get_data(as_text=True)
    page = client.get("/notifications/").get_data(as_text=True)
    assert "Step 1" in page and "Two steps" in page and 'data-notification="1"' in page


def start_approved_chain(db, settings, author, approver, data=None) -> int:  # type: ignore[no-untyped-def]
    """Upload a two-step chain as `author`, approve it by `approver`'s signature, start it; the instance id."""
    from engine import definitions, instances
    from engine.ports import SignatureInput, default_services

    with UnitOfWork(db, author.actor) as uow:
        version = definitions.upload(uow, {"chain.bpmn": chain_bpmn(2)}, reason="two steps",
                                     services=default_services(settings))
        uow.commit()
    with UnitOfWork(db, approver.actor) as uow:
        definitions.approve(uow, version.id, SignatureInput("approved", approver.user_id, {
            "password": approver.password, "totp": testing.next_totp(db, approver)}), services=default_services(settings))
        uow.commit()
    with UnitOfWork(db, author.actor) as uow:
        instance = instances.start(uow, "chain", title="Two steps", data=data, settings=settings)
        uow.commit()
        return instance.id


def chain_bpmn(n: int) -> bytes:
    """A linear process of n user tasks (no forms, no signatures) in the operator lane."""
    refs = "".join(f"<bpmn:flowNodeRef>t{i}</bpmn:flowNodeRef>" for i in range(n))
    parts = ['<?xml version="1.0" encoding="UTF-8"?>'
             '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" '
             'targetNamespace="x"><bpmn:process id="chain" isExecutable="true">'
             f'<bpmn:laneSet id="ls"><bpmn:lane id="l" name="operator">{refs}</bpmn:lane></bpmn:laneSet>'
             '<bpmn:startEvent id="s"/>']
    prev = "s"
    for i in range(n):
        parts.append(f'<bpmn:userTask id="t{i}" name="Step {i}"/>'
                     f'<bpmn:sequenceFlow id="f{i}" sourceRef="{prev}" targetRef="t{i}"/>')
        prev = f"t{i}"
    parts.append(f'<bpmn:endEvent id="e"/><bpmn:sequenceFlow id="fe" sourceRef="{prev}" targetRef="e"/>'
                 '</bpmn:process></bpmn:definitions>')
    return "".join(parts).encode()
