"""Operator pages: inbox, claim, task form with limits and critical entries, sign and complete
with a second person verifying in the same dialog."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from signatures import kdf, testing
from tests.web.test_access_matrix import open_session

PROCESS = Path(__file__).parent / "processes" / "dispense"


def bundle() -> dict[str, bytes]:
    return {str(p.relative_to(PROCESS)): p.read_bytes() for p in sorted(PROCESS.rglob("*")) if p.is_file()}


def deploy_and_start(db, settings, author, approver) -> int:  # type: ignore[no-untyped-def]
    from engine import definitions, instances
    from engine.ports import SignatureInput, default_services
    from store.uow import UnitOfWork

    with UnitOfWork(db, author.actor) as uow:
        version = definitions.upload(uow, bundle(), reason="first version", services=default_services(settings))
        uow.commit()
    with UnitOfWork(db, approver.actor) as uow:
        definitions.approve(uow, version.id, SignatureInput("approved", approver.user_id, {
            "password": approver.password, "totp": testing.next_totp(db, approver)}),
            services=default_services(settings))
        uow.commit()
    with UnitOfWork(db, author.actor) as uow:
        instance = instances.start(uow, "dispense", title="Batch B-001", settings=settings)
        uow.commit()
        return instance.id


@pytest.fixture
def plant(app, db, settings, frozen_clock):  # type: ignore[no-untyped-def]
    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(db, settings)
        people = {name: testing.enrolled_user(db, settings, admin, name, full, [role]) for name, full, role in [
            ("alice", "Alice Operator", "operator"), ("bob", "Bob Verifier", "operator"),
            ("quinn", "Quinn QA", "qa"), ("quentin", "Quentin QA", "qa")]}
    frozen_clock.advance(seconds=31)
    deploy_and_start(db, settings, people["quinn"], people["quentin"])
    client = app.test_client()
    open_session(db, client, people["alice"])
    return client, people


def task_id(client) -> str:  # type: ignore[no-untyped-def]
    import re

    page = client.get("/tasks/").get_data(as_text=True)
    return re.search(r'data-task="([^"]+)"', page).group(1)


def form(people, **extra):  # type: ignore[no-untyped-def]
    return {"csrf_token": "walk-token", "f:lot": "L-001", "f:gross": "12.1", "f:tare": "2.0", **extra}


@pytest.mark.req("URS-FRM-002", "URS-FRM-008")
def test_inbox_claim_and_task_form(plant):
    client, _ = plant
    tid = task_id(client)
    assert client.post(f"/tasks/{tid}/claim", data={"csrf_token": "walk-token"}).status_code == 302
    page = client.get(f"/tasks/{tid}").get_data(as_text=True)
    assert "Weigh the material" in page and 'name="f:lot"' in page and "Lot code from the container label" in page
    assert 'data-meaning="performed"' in page and 'name="sig2_user_id"' in page
    assert client.post(f"/tasks/{tid}/release", data={"csrf_token": "walk-token"}).status_code == 302


@pytest.mark.req("URS-FRM-003", "URS-FRM-002")
def test_field_errors_are_shown_next_to_fields_and_nothing_changes(plant, db):
    client, _ = plant
    tid = task_id(client)
    response = client.post(f"/tasks/{tid}", data=form(None, **{"f:gross": "13.0", "f:lot": "L"}))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="f-lot-error"' in html and "outside the limits 9.5 – 10.5 kg" in html
    assert task_id(client) == tid


@pytest.mark.req("URS-FRM-005", "A11-6", "CN-3", "P11-200a2")
def test_sign_and_complete_with_a_second_person(plant, db):
    from engine.models import InstanceTask

    client, people = plant
    alice, bob = people["alice"], people["bob"]
    tid = task_id(client)
    base = form(people, sig_password=alice.password, sig_totp=testing.next_totp(db, alice))
    no_verifier = client.post(f"/tasks/{tid}", data=base)
    assert no_verifier.status_code == 403 and "second person" in no_verifier.get_data(as_text=True)
    same = client.post(f"/tasks/{tid}", data={**base, "sig2_user_id": "alice", "sig2_password": alice.password,
                                               "sig2_totp": "123456"})
    assert same.status_code == 422 and "someone other than who entered" in same.get_data(as_text=True)
    done = client.post(f"/tasks/{tid}", data={**base, "sig_totp": testing.next_totp(db, alice),
                                               "sig2_user_id": "bob", "sig2_password": bob.password,
                                               "sig2_totp": testing.next_totp(db, bob)})
    html = done.get_data(as_text=True)
    assert done.status_code == 200, html
    assert 'data-testid="task-completed"' in html and "Alice Operator" in html and "Bob Verifier" in html
    with db.session() as s:
        row = s.get(InstanceTask, tid)
        body = json.loads(row.body)
    text = json.dumps(body)
    assert '"net": {"typename": "Decimal", "value": "10.1"}' in text and '"verified_by": "bob"' in text and '"source": "calculated"' in text
    assert "Weigh the material" not in client.get("/tasks/").get_data(as_text=True)


@pytest.mark.req("P11-10i", "P11-10g")
def test_inbox_shows_why_a_gate_blocks_the_user(plant):
    from engine.errors import GateRefused
    from engine.extensions import FOUR_EYES_GATE
    from engine.gates import register_gate

    client, _ = plant

    def refuse(ctx):  # type: ignore[no-untyped-def]
        raise GateRefused(f"{ctx.user_id} holds no current qualification for SOP-DISP-001")

    original = __import__("engine.gates", fromlist=["_registry"])._registry[FOUR_EYES_GATE]
    register_gate(FOUR_EYES_GATE, refuse, replace=True)
    try:
        page = client.get("/tasks/").get_data(as_text=True)
    finally:
        register_gate(FOUR_EYES_GATE, original, replace=True)
    assert 'data-testid="gate-refusal"' in page and "no current qualification for SOP-DISP-001" in page
    assert 'data-testid="gate-refusal"' not in client.get("/tasks/").get_data(as_text=True)
