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


def deploy_and_start(db, settings, author, approver, files=None) -> int:  # type: ignore[no-untyped-def]
    from engine import definitions, instances
    from engine.ports import SignatureInput, default_services
    from store.uow import UnitOfWork

    with UnitOfWork(db, author.actor) as uow:
        version = definitions.upload(uow, files or bundle(), reason="first version",
                                     services=default_services(settings))
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


def gated_bundle(gate: str) -> dict[str, bytes]:
    """The dispensing process with `gate` named on its weighing task."""
    files = bundle()
    files["dispense.bpmn"] = files["dispense.bpmn"].replace(
        b'<spiffworkflow:property name="signature.verifier" value="verified"/>',
        b'<spiffworkflow:property name="signature.verifier" value="verified"/>'
        + f'<spiffworkflow:property name="gates" value="{gate}"/>'.encode())
    return files


def register_scale_gate(runtime):  # type: ignore[no-untyped-def]
    """A test gate: operators must be certified on the scale; alice is not."""
    from engine.gates import Gate

    def certified(ctx):  # type: ignore[no-untyped-def]
        if ctx.user_id == "alice":
            raise ctx.refuse("not_certified", scale="SC-01")
    runtime.gates.register(Gate("scale_certified", certified,
                                codes={"not_certified": "%(user)s is not certified on scale %(scale)s"}))


@pytest.mark.req("P11-10i", "P11-10g")
def test_gates_refuse_at_claim_and_the_inbox_says_why(app, db, settings, frozen_clock, runtime):
    from sqlalchemy import select

    from audit.models import AuditEntry
    from engine.models import InstanceTask
    from tests.web.conftest import csrf_of

    register_scale_gate(runtime)
    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(db, settings)
        people = {name: testing.enrolled_user(db, settings, admin, name, full, [role]) for name, full, role in [
            ("alice", "Alice Operator", "operator"), ("bob", "Bob Verifier", "operator"),
            ("quinn", "Quinn QA", "qa"), ("quentin", "Quentin QA", "qa")]}
    frozen_clock.advance(seconds=31)
    deploy_and_start(db, settings, people["quinn"], people["quentin"], gated_bundle("scale_certified"))
    client = app.test_client()
    open_session(db, client, people["alice"])
    page = client.get("/tasks/").get_data(as_text=True)
    assert 'data-testid="gate-refusal" data-gate="scale_certified" data-code="not_certified"' in page
    assert "alice is not certified on scale SC-01" in page
    task = page.split('data-task="')[1].split('"')[0]
    assert "alice is not certified on scale SC-01" in client.get(f"/tasks/{task}").get_data(as_text=True)  # opened
    refused = client.post(f"/tasks/{task}/claim", data={"csrf_token": csrf_of(client)}, follow_redirects=True)
    assert "The task was not claimed: alice is not certified on scale SC-01" in refused.get_data(as_text=True)
    with db.session() as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "task.claim_refused")).scalar_one()
        details = json.loads(entry.details)
        assert s.get(InstanceTask, task).claimed_by is None
    assert (details["gate"], details["code"]) == ("scale_certified", "not_certified")
    bob = app.test_client()
    open_session(db, bob, people["bob"])
    assert 'data-testid="gate-refusal"' not in bob.get("/tasks/").get_data(as_text=True)
    bob.post(f"/tasks/{task}/claim", data={"csrf_token": csrf_of(bob)})
    with db.session() as s:
        assert s.get(InstanceTask, task).claimed_by == "bob"


@pytest.mark.req("P11-10i", "CN-6")
def test_a_refusal_is_shown_in_the_users_language(app):
    from flask_babel import force_locale

    from engine.errors import GateRefused
    from engine.gates import Refusal
    from web.i18n import refusal_text

    template = "four-eyes: %(user)s completed the previous step '%(previous)s' and may not also take '%(task)s'"
    params = {"user": "olga", "previous": "weigh", "task": "verify"}
    refusal = GateRefused(template % params, gate="four_eyes_previous", code="completed_previous", template=template,
                          params=params)
    untranslated = GateRefused("bob is not certified", gate="x", code="y", template="%(user)s is not certified",
                               params={"user": "bob"})
    with app.test_request_context("/"):
        with force_locale("zh"):
            assert refusal_text(refusal) == "您执行了此记录的上一步骤（weigh），因此本步骤须由他人完成。"
            assert refusal_text(untranslated) == "bob is not certified"  # no catalogue entry: the English text
            assert refusal_text(GateRefused("x", gate="g", code="z", template="%(task)s is held",
                                            params={"task": "verify"})) == "verify is held"  # template, filled
        with force_locale("en"):
            assert refusal_text(refusal) == "You did the previous step (weigh) of this record, so this one must be done " \
                "by someone else."
            assert refusal_text(Refusal.of(refusal)) == refusal_text(refusal)  # listed as raised
