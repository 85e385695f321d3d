"""Work through the API: start, tasks, messages, records, master data, audit trail, acknowledgements."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from tests.api.test_api_basics import count


# ---------------------------------------------------------------- exchange checks (Annex 11 §5)
@pytest.mark.req("URS-API-005", "URS-API-006", "A11-5", "ALCOA-ATTRIBUTABLE", "P11-10e")
def test_start_an_instance_is_acknowledged_and_attributed_to_the_system(plant):
    response = plant.api.post("/instances", {"process": "api_batch", "title": "Batch B-7", "data": {"lot": "L-7"}},
                              headers={"X-Request-Id": "erp-order-4711"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    instance, ack = body["instance"], body["acknowledgement"]
    assert instance["started_by"] == "system:mes-line1" and instance["status"] == "running"
    assert instance["data"]["lot"] == "L-7" and [t["bpmn_id"] for t in instance["ready_tasks"]] == ["weigh"]
    assert ack["outcome"] == "accepted" and ack["status"] == 201 and ack["client_reference"] == "erp-order-4711"
    sent = json.dumps({"process": "api_batch", "title": "Batch B-7", "data": {"lot": "L-7"}}).encode()
    import hashlib

    assert ack["request_sha256"] == hashlib.sha256(sent).hexdigest()
    again = plant.api.get(f"/acknowledgements/{ack['ack_id']}").get_json()
    assert again == ack
    found = plant.api.get("/acknowledgements?client_reference=erp-order-4711").get_json()["items"]
    assert [a["ack_id"] for a in found] == [ack["ack_id"]]
    assert count(plant.db, "instance.started", "system:mes-line1") == 1
    assert count(plant.db, "api.call", "system:mes-line1") >= 1


@pytest.mark.req("URS-API-005", "URS-API-006", "A11-5")
@pytest.mark.parametrize("headers,digest_of,field,status", [
    ({"Content-Digest": ""}, None, "Content-Digest", 400),
    ({"Content-Digest": "md5=:abc:"}, None, "Content-Digest", 400),
    ({"Content-Digest": "sha-256=:%%%:"}, None, "Content-Digest", 400),
    ({}, b"a different body", "Content-Digest", 400),
    ({"Content-Type": "text/plain"}, None, "Content-Type", 415),
])
def test_a_body_whose_checksum_fails_is_refused_acknowledged_and_changes_nothing(plant, headers, digest_of, field,
                                                                                   status):
    from engine.models import ProcessInstance

    response = plant.api.post("/instances", {"process": "api_batch"}, headers=headers, digest_of=digest_of)
    assert response.status_code == status
    body = response.get_json()
    assert body["field"] == field
    ack = body["acknowledgement"]
    assert ack["outcome"] == "refused" and ack["result"]["field"] == field
    assert response.headers["X-Acknowledgement-Id"] == ack["ack_id"]
    assert plant.api.get(f"/acknowledgements/{ack['ack_id']}").get_json()["outcome"] == "refused"
    with plant.db.session() as session:
        assert session.execute(select(ProcessInstance)).first() is None


@pytest.mark.req("URS-API-005", "URS-API-006", "A11-5", "URS-FRM-002")
@pytest.mark.parametrize("body,field", [
    ({}, "/process"),
    ({"process": "api_batch", "colour": "red"}, "/colour"),
    ({"process": "../etc"}, "/process"),
    ({"process": "api_batch", "title": ""}, "/title"),
    ({"process": "api_batch", "data": {"not an identifier": 1}}, "/data"),
    ({"process": "api_batch", "data": []}, "/data"),
    ([1, 2], "/"),
    ({"process": "no_such_process"}, "/process"),
])
def test_schema_errors_name_the_field(plant, body, field):
    response = plant.api.post("/instances", body)
    assert 400 <= response.status_code < 500
    assert response.get_json()["field"] == field, response.get_json()


@pytest.mark.req("URS-API-005", "URS-API-006", "A11-5")
def test_malformed_json_and_parameters_name_the_field(plant):
    bad = plant.api.post("/instances", raw=b'{"process": ')
    assert bad.status_code == 400 and bad.get_json()["field"] == "body"
    for query, field in [("limit=0", "limit"), ("limit=abc", "limit"), ("kind=robot", "kind"), ("colour=1", "colour"),
                         ("after=x", "after"), ("limit=1&limit=2", "limit")]:
        response = plant.api.get(f"/tasks?{query}")
        assert response.status_code == 422 and response.get_json()["field"] == field, query
    assert plant.api.get("/tasks/not-a-uuid").get_json()["field"] == "task_id"
    assert plant.api.get("/instances/0").get_json()["field"] == "instance_id"
    assert plant.api.get("/instances/99999").status_code == 404
    missing = plant.api.get("/nothing/here")
    assert missing.status_code == 404 and missing.get_json()["field"] == "path"
    wrong = plant.api.call("DELETE", "/tasks")
    assert wrong.status_code == 405 and wrong.get_json()["field"] == "method"


# ---------------------------------------------------------------- system tasks
@pytest.mark.req("URS-API-003", "URS-API-006", "P11-10g", "A11-5", "URS-FRM-003")
def test_a_system_task_is_completed_by_the_system_account_without_signature(plant):
    instance_id = plant.start()
    task = plant.task(instance_id, "system")
    assert task["lane"] == "mes" and task["kind"] == "system" and task["bpmn_id"] == "weigh"
    detail = plant.api.get(f"/tasks/{task['task_id']}").get_json()
    assert detail["form"]["required"] == ["weight_kg", "balance"] and detail["signature_meanings"] == []

    out = plant.api.post(f"/tasks/{task['task_id']}/complete", {"data": {"weight_kg": 11.2, "balance": "BAL-07"}})
    assert out.status_code == 422 and out.get_json()["field"] == "/data/weight_kg"
    assert "outside the limits" in out.get_json()["message"]
    signer = plant.api.post(f"/tasks/{task['task_id']}/complete", {"data": {}, "signer": plant.creds("alice")})
    assert signer.status_code == 422 and signer.get_json()["field"] == "/signer"

    done = plant.api.post(f"/tasks/{task['task_id']}/complete", {
        "data": {"weight_kg": 11.2, "balance": "BAL-07"}, "exceptions": {"weight_kg": "scale recalibrated, QA informed"}})
    assert done.status_code == 200, done.get_json()
    result = done.get_json()
    assert result["completed_by"] == "system:mes-line1" and result["signatures"] == []
    assert result["acknowledgement"]["outcome"] == "accepted" and result["ready_tasks"] == []
    record = plant.api.get(f"/records/{instance_id}").get_json()
    weigh = next(t for t in record["tasks"] if t["bpmn_id"] == "weigh")
    assert weigh["completed_by"] == "system:mes-line1" and weigh["entered_by"] == "system:mes-line1"
    value = next(v for v in weigh["values"] if v["field"] == "weight_kg")
    assert value["out_of_limits"] and value["exception_comment"] == "scale recalibrated, QA informed"


@pytest.mark.req("URS-API-003", "P11-10g", "CN-1")
def test_a_system_account_without_the_lane_role_or_scope_is_refused(plant):
    from store.uow import UnitOfWork
    from tests.api.conftest import create_account, issue
    from web.api.accounts import revoke_role

    instance_id = plant.start()
    task = plant.task(instance_id, "system")
    admin = plant.people["admin"]
    create_account(plant.db, admin, "erp", roles=())
    erp = issue(plant.db, admin, "erp", ["tasks:complete", "tasks:read"])
    refused = plant.api.post(f"/tasks/{task['task_id']}/complete", {"data": {"weight_kg": 10, "balance": "BAL-07"}},
                             token=erp)
    assert refused.status_code == 403 and refused.get_json()["error"] == "LaneRoleRefused"
    assert refused.get_json()["field"] == "task_id"
    reader = issue(plant.db, admin, "mes-line1", ["tasks:read"])
    scope = plant.api.post(f"/tasks/{task['task_id']}/complete", {"data": {}}, token=reader)
    assert scope.status_code == 403 and "tasks:complete" in scope.get_json()["message"]
    with UnitOfWork(plant.db, admin.actor) as uow:
        revoke_role(uow, "mes-line1", "mes", "MES no longer weighs")
        uow.commit()
    revoked = plant.api.post(f"/tasks/{task['task_id']}/complete", {"data": {"weight_kg": 10, "balance": "BAL-07"}})
    assert revoked.status_code == 403 and revoked.get_json()["error"] == "LaneRoleRefused"
    assert count(plant.db, "task.refused", "system:mes-line1") == 1


# ---------------------------------------------------------------- messages
_lots = iter(range(100, 10_000))


def _to_waiting(plant) -> int:  # type: ignore[no-untyped-def]
    instance_id = plant.start(data={"lot": f"L-{next(_lots)}"})
    task = plant.task(instance_id, "system")
    done = plant.api.post(f"/tasks/{task['task_id']}/complete", {"data": {"weight_kg": 10.0, "balance": "BAL-07"}})
    assert done.status_code == 200, done.get_json()
    return instance_id


@pytest.mark.req("URS-API-005", "URS-API-006", "A11-5", "P11-10f")
def test_a_message_is_delivered_by_correlation(plant):
    first = _to_waiting(plant)
    plant.clock.advance(seconds=1)
    second = plant.api.post("/instances", {"process": "api_batch", "data": {"lot": "L-2"}}).get_json()
    task = second["instance"]["ready_tasks"][0]
    assert plant.api.post(f"/tasks/{task['task_id']}/complete",
                          {"data": {"weight_kg": 10.0, "balance": "BAL-07"}}).status_code == 200
    second_id = second["instance"]["instance_id"]

    nobody = plant.api.post("/messages", {"name": "lab_result", "correlation": {"lot": "L-404"}, "payload": {}})
    assert nobody.status_code == 409 and nobody.get_json()["field"] == "/correlation"
    assert nobody.get_json()["acknowledgement"]["outcome"] == "refused"

    sent = plant.api.post("/messages", {"name": "lab_result", "correlation": {"lot": "L-2"},
                                        "payload": {"assay_percent": 99.2}})
    assert sent.status_code == 200, sent.get_json()
    assert sent.get_json()["outcome"] == "delivered" and sent.get_json()["instance_id"] == second_id
    detail = plant.api.get(f"/instances/{second_id}").get_json()
    assert detail["data"].get("assay_percent") == 99.2 or any(
        t["bpmn_id"] == "confirm" for t in detail["ready_tasks"])
    assert [t["bpmn_id"] for t in detail["ready_tasks"]] == ["confirm"]
    assert plant.api.get(f"/instances/{first}").get_json()["ready_tasks"] == []

    by_id = plant.api.post("/messages", {"name": "lab_result", "correlation": {"instance_id": first}})
    assert by_id.status_code == 200 and by_id.get_json()["instance_id"] == first
    assert count(plant.db, "message.received", "system:mes-line1") == 2


@pytest.mark.req("URS-API-005", "URS-API-006", "A11-5")
def test_an_ambiguous_message_is_refused_and_a_start_message_starts_its_process(plant):
    _to_waiting(plant)
    _to_waiting(plant)
    both = plant.api.post("/messages", {"name": "lab_result", "correlation": {"balance": "BAL-07"}})
    assert both.status_code == 409 and both.get_json()["error"] == "MessageAmbiguous"

    started = plant.api.post("/messages", {"name": "sample_received", "correlation": {"sample_id": "S-1"},
                                           "payload": {"material": "API lot 7"}})
    assert started.status_code == 200, started.get_json()
    assert started.get_json()["outcome"] == "started"
    instance = plant.api.get(f"/instances/{started.get_json()['instance_id']}").get_json()
    assert instance["process"] == "sample_intake" and [t["bpmn_id"] for t in instance["ready_tasks"]] == ["log"]


# ---------------------------------------------------------------- a person's task
@pytest.mark.req("URS-API-003", "P11-200a2", "P11-200a1", "P11-10d", "A11-14", "P11-300d")
def test_a_persons_task_needs_that_persons_own_signature_ceremony(plant, fast_kdf):
    from signatures.models import Signature

    instance_id = _to_waiting(plant)
    assert plant.api.post("/messages", {"name": "lab_result", "correlation": {"instance_id": instance_id}}).status_code == 200
    task = plant.task(instance_id, "human")
    assert task["lane"] == "operator" and task["bpmn_id"] == "confirm"
    url = f"/tasks/{task['task_id']}/complete"
    data = {"comment": "line clear, batch continues"}

    no_signer = plant.api.post(url, {"data": data})
    assert no_signer.status_code == 422 and no_signer.get_json()["field"] == "/signer"
    assert "never signs for a person" in no_signer.get_json()["message"]
    narrow = plant.api.post(url, {"data": data, "signer": plant.creds("alice")},
                            token=__import__("tests.api.conftest", fromlist=["issue"]).issue(
                                plant.db, plant.people["admin"], "mes-line1", ["tasks:complete"]))
    assert narrow.status_code == 403 and "tasks:complete-human" in narrow.get_json()["message"]

    wrong = plant.api.post(url, {"data": data, "signer": {**plant.creds("alice"), "password": "not her password"}})
    assert wrong.status_code == 401 and wrong.get_json()["error"] == "AuthenticationFailed"
    assert count(plant.db, "api.person_refused", "alice") == 1
    qa = plant.api.post(url, {"data": data, "signer": plant.creds("quinn")})
    assert qa.status_code == 403 and qa.get_json()["error"] == "LaneRoleRefused"

    plant.clock.advance(seconds=31)
    done = plant.api.post(url, {"data": data, "signer": plant.creds("alice")})
    assert done.status_code == 200, done.get_json()
    result = done.get_json()
    assert result["completed_by"] == "alice" and result["instance_status"] == "completed"
    assert [(s["signer_id"], s["meaning"]) for s in result["signatures"]] == [("alice", "performed")]
    with plant.db.session() as session:
        signers = {s.signer_id for s in session.execute(select(Signature)).scalars()}
    assert not any(s.startswith("system:") or s == "mes-line1" for s in signers)
    from audit.models import AuditEntry

    with plant.db.session() as session:
        calls = [e for e in session.execute(select(AuditEntry).where(AuditEntry.action == "api.call")).scalars()
                 if json.loads(e.details).get("person") == "alice"]
        call = calls[0]
        assert len(calls) == 1
        completed = session.execute(select(AuditEntry).where(AuditEntry.action == "task.completed",
                                                             AuditEntry.object_id == task["task_id"])).scalar_one()
    assert call.actor_id == "system:mes-line1" and completed.actor_id == "alice"
    record = plant.api.get(f"/records/{instance_id}").get_json()
    confirm = next(t for t in record["tasks"] if t["bpmn_id"] == "confirm")
    assert confirm["signatures"][0]["printed_name"] == "Alice Operator"


def watch_derivations(db, monkeypatch) -> list[tuple[str, bool]]:  # type: ignore[no-untyped-def]
    """Every argon2id derivation from now on (key unwrap, password hash check), each with whether a
    write transaction was open while it ran."""
    from signatures import kdf
    from tests.web.test_ceremony import write_transaction_open

    seen: list[tuple[str, bool]] = []
    derive, hasher = kdf.derive_key, kdf.password_hasher

    def watched_derive(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(("key unwrap", write_transaction_open(db)))
        return derive(*args, **kwargs)

    class WatchedHasher:
        def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
            self.inner = inner

        def verify(self, *args):  # type: ignore[no-untyped-def]
            seen.append(("password hash", write_transaction_open(db)))
            return self.inner.verify(*args)

        def __getattr__(self, name):  # type: ignore[no-untyped-def]
            return getattr(self.inner, name)

    monkeypatch.setattr(kdf, "derive_key", watched_derive)
    monkeypatch.setattr(kdf, "password_hasher", lambda: WatchedHasher(hasher()))
    return seen


@pytest.mark.req("URS-OPS-003", "URS-API-003", "P11-200a1")
def test_a_persons_signature_through_the_api_takes_one_derivation_outside_the_write_transaction(
        plant, fast_kdf, monkeypatch):
    """The credential work of a person's task completed through the API (the check of the
    person before anything is attributed to them, and the signing ceremony) is one argon2id
    derivation, the unwrap of their key, done while no write transaction is open."""
    instance_id = _to_waiting(plant)
    assert plant.api.post("/messages", {"name": "lab_result", "correlation": {"instance_id": instance_id}}).status_code == 200
    task = plant.task(instance_id, "human")
    seen = watch_derivations(plant.db, monkeypatch)
    plant.clock.advance(seconds=31)
    wrong = plant.api.post(f"/tasks/{task['task_id']}/complete", {
        "data": {"comment": "line clear"}, "signer": {**plant.creds("alice"), "password": "not her password"}})
    assert wrong.status_code == 401 and seen == [("key unwrap", False)]  # refused on the one derivation
    seen.clear()
    plant.clock.advance(seconds=31)
    done = plant.api.post(f"/tasks/{task['task_id']}/complete", {
        "data": {"comment": "line clear"}, "signer": plant.creds("alice")})
    assert done.status_code == 200, done.get_json()
    assert [(s["signer_id"], s["meaning"]) for s in done.get_json()["signatures"]] == [("alice", "performed")]
    assert seen == [("key unwrap", False)]  # one derivation serves the check and the signature; no lock held


@pytest.mark.req("URS-OPS-003", "URS-API-003", "P11-200a2")
def test_a_persons_unsigned_task_through_the_api_checks_the_password_once_outside_the_write_transaction(
        plant, fast_kdf, monkeypatch):
    """A person's task that asks for no signature: the person is checked as at a sign-in (user ID,
    password, TOTP), the password hash checked once, before any write transaction opens."""
    started = plant.api.post("/messages", {"name": "sample_received", "correlation": {"sample_id": "S-9"},
                                           "payload": {"material": "API lot 9"}})
    assert started.status_code == 200, started.get_json()
    task = plant.task(started.get_json()["instance_id"], "human")
    assert task["bpmn_id"] == "log"
    seen = watch_derivations(plant.db, monkeypatch)
    plant.clock.advance(seconds=31)
    wrong = plant.api.post(f"/tasks/{task['task_id']}/complete", {
        "data": {}, "signer": {**plant.creds("alice"), "password": "not her password"}})
    assert wrong.status_code == 401 and seen == [("password hash", False)]
    seen.clear()
    plant.clock.advance(seconds=31)
    done = plant.api.post(f"/tasks/{task['task_id']}/complete", {"data": {}, "signer": plant.creds("alice")})
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["completed_by"] == "alice" and done.get_json()["signatures"] == []
    assert seen == [("password hash", False)]


# ---------------------------------------------------------------- reading
@pytest.mark.req("URS-API-006", "P11-10b", "CN-6")
def test_records_as_json_and_pdf(plant):
    instance_id = plant.start()
    record = plant.api.get(f"/records/{instance_id}")
    assert record.status_code == 200 and record.get_json()["instance"]["id"] == instance_id
    pdf = plant.api.get(f"/records/{instance_id}/pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF") and pdf.mimetype == "application/pdf"
    from web.api.exchange import content_digest

    assert pdf.headers["Content-Digest"] == content_digest(pdf.data)
    assert plant.api.get("/records/424242").status_code == 404


@pytest.mark.req("URS-OPS-002", "URS-API-006")
def test_reads_through_the_api_take_no_write_lock(plant, monkeypatch):
    """A record read through the API is built in a read-only snapshot (only the call's audit entry is
    written, afterwards): a long read does not hold up the plant's writers."""
    from tests.web.test_ceremony import write_transaction_open
    from web import records

    instance_id = plant.start()
    seen: list[bool] = []
    real = records.build_record

    def watched(session, number, runtime=None):  # type: ignore[no-untyped-def]
        built = real(session, number, runtime)  # the session's transaction has begun by now
        seen.append(write_transaction_open(plant.db))
        return built

    monkeypatch.setattr(records, "build_record", watched)
    assert plant.api.get(f"/records/{instance_id}").status_code == 200
    assert plant.api.get(f"/records/{instance_id}/pdf").status_code == 200
    assert seen == [False, False]


@pytest.mark.req("URS-API-006", "P11-10k", "A11-5")
def test_master_data_resources(plant):
    index = plant.api.get("/masterdata").get_json()["resources"]
    names = [r["name"] for r in index]
    assert names[:2] == ["equipment-tags", "process-definitions"]
    assert {"material", "supplier", "approved-supplier", "equipment", "instrument", "document", "training-matrix",
            "recipe"} <= set(names[2:]) and "tag" not in names and "process-definition" not in names
    page = plant.api.get("/masterdata/process-definitions?limit=1").get_json()
    assert [d["key"] for d in page["items"]] == ["api_batch"] and page["next"] == "api_batch"
    rest = plant.api.get(f"/masterdata/process-definitions?after={page['next']}").get_json()
    assert [d["key"] for d in rest["items"]] == ["sample_intake"] and rest["next"] is None
    one = plant.api.get("/masterdata/process-definitions/api_batch").get_json()
    assert one["approved_version"] == 1 and one["versions"][0]["approved_by"] == "quentin"
    assert plant.api.get("/masterdata/equipment-tags").get_json() == {"items": [], "next": None}
    missing = plant.api.get("/masterdata/process-definitions/nope")
    assert missing.status_code == 404 and missing.get_json()["field"] == "key"
    unknown = plant.api.get("/masterdata/materials")
    assert unknown.status_code == 404 and unknown.get_json()["field"] == "resource"


@pytest.mark.req("URS-API-006", "URS-MD-023", "A11-10", "A11-5")
def test_master_data_under_change_control_is_served_as_in_force(plant):
    """Each kind of controlled data (materials, recipes, the approved supplier list, ...) is a
    resource: the revision in force with its data; a draft or a revision dated later is not served."""
    from datetime import timedelta

    from masterdata import changes
    from masterdata.kinds import MATERIAL
    from signatures import testing
    from store.uow import UnitOfWork

    quinn, quentin = plant.people["quinn"], plant.people["quentin"]

    def draft(data, action, reason):  # type: ignore[no-untyped-def]
        with UnitOfWork(plant.db, quinn.actor) as uow:
            change = changes.draft(uow, None, MATERIAL, data["code"], data, reason, action=action,
                                   settings=plant.settings)
            uow.commit()
        return change

    def approve(change, **kw):  # type: ignore[no-untyped-def]
        testing.fresh_totp_step(plant.clock)
        with UnitOfWork(plant.db, quentin.actor) as uow:
            changes.approve(uow, None, change.id, credentials=testing.credentials(plant.db, quentin),
                            settings=plant.settings, reason="checked", kind=MATERIAL, **kw)
            uow.commit()

    lactose = {"code": "MAT-LAC", "name": "Lactose monohydrate", "oeb": 1, "unit": "kg",
               "storage": {"condition": "below 25 °C", "max_c": 25}}
    api = {"code": "MAT-API", "name": "Paracetamol", "oeb": 3, "unit": "kg", "protective_equipment": ["FFP3 mask"],
           "storage": {"condition": "15-25 °C, dry"}}
    with UnitOfWork(plant.db, quinn.actor) as uow:
        drafted = changes.draft_set(uow, None, MATERIAL, [("MAT-LAC", lactose, "create"), ("MAT-API", api, "create")],
                                    "initial list", settings=plant.settings)
        uow.commit()
    assert plant.api.get("/masterdata/material").get_json() == {"items": [], "next": None}  # drafts only
    testing.fresh_totp_step(plant.clock)
    with UnitOfWork(plant.db, quentin.actor) as uow:
        changes.approve_set(uow, None, drafted.id, credentials=testing.credentials(plant.db, quentin),
                            settings=plant.settings, reason="checked", kind=MATERIAL)
        uow.commit()
    page = plant.api.get("/masterdata/material?limit=1").get_json()
    assert [i["key"] for i in page["items"]] == ["MAT-API"] and page["next"] == "MAT-API"
    rest = plant.api.get(f"/masterdata/material?after={page['next']}").get_json()
    assert [i["key"] for i in rest["items"]] == ["MAT-LAC"] and rest["next"] is None
    one = plant.api.get("/masterdata/material/MAT-LAC")
    assert one.status_code == 200 and one.get_json()["revision"] == 1 and one.get_json()["data"] == lactose
    assert one.get_json()["approved_by"] == "quentin"

    # revision 2 approved for tomorrow: revision 1 is served until then, and no open draft ever
    tomorrow = (plant.clock.value + timedelta(days=1)).date().isoformat()
    approve(draft({**lactose, "oeb": 2}, "change", "new toxicology data"), effective_from=tomorrow)
    draft({**api, "name": "Paracetamol (acetaminophen)"}, "change", "synonym")
    assert plant.api.get("/masterdata/material/MAT-LAC").get_json()["data"]["oeb"] == 1
    assert plant.api.get("/masterdata/material/MAT-API").get_json()["data"]["name"] == "Paracetamol"
    plant.clock.advance(days=1)
    moved = plant.api.get("/masterdata/material/MAT-LAC").get_json()
    assert (moved["revision"], moved["data"]["oeb"], moved["effective_from"][:10]) == (2, 2, tomorrow)
    missing = plant.api.get("/masterdata/material/MAT-404")
    assert missing.status_code == 404 and missing.get_json()["field"] == "key"
    doc = plant.api.get("/openapi.json").get_json()
    item = doc["paths"]["/masterdata/material/{key}"]["get"]["responses"]["200"]["content"]["application/json"]
    assert item["schema"]["properties"]["data"]["properties"]["oeb"]["maximum"] == 5  # the kind's own schema


@pytest.mark.req("URS-API-006", "P11-10e", "A11-9", "P11-10a")
def test_audit_trail_entries_and_verifiable_export(plant, tmp_path):
    from audit.export import verify_export
    from audit.server_key import public_keys

    plant.start()
    page = plant.api.get("/audit-trail/entries?limit=5").get_json()
    assert [e["seq"] for e in page["items"]] == [1, 2, 3, 4, 5] and page["next"] == "5"
    started = plant.api.get("/audit-trail/entries?action=instance.started").get_json()["items"]
    assert len(started) == 1 and started[0]["actor_id"] == "system:mes-line1"
    export = plant.api.get("/audit-trail/export?format=jsonl")
    assert export.status_code == 200 and export.mimetype == "application/x-ndjson"
    path = tmp_path / "trail.jsonl"
    path.write_bytes(export.data)
    report = verify_export(path, public_keys(plant.settings))
    assert report.entries > 10
    csv = plant.api.get("/audit-trail/export?format=csv&actor=system:mes-line1")
    assert csv.status_code == 200 and b"instance.started" in csv.data
    bad = plant.api.get("/audit-trail/export?since=yesterday")
    assert bad.status_code == 422 and bad.get_json()["field"] == "since"
    lonely = plant.api.get("/audit-trail/entries?object_id=5")
    assert lonely.status_code == 422 and lonely.get_json()["field"] == "object_id"


@pytest.mark.req("URS-API-005", "URS-API-006", "A11-5")
def test_acknowledgements_belong_to_their_account(plant):
    from tests.api.conftest import create_account, issue

    ack = plant.api.post("/instances", {"process": "api_batch"}).get_json()["acknowledgement"]
    create_account(plant.db, plant.people["admin"], "lims", roles=())
    other = issue(plant.db, plant.people["admin"], "lims", ["tasks:read"])
    assert plant.api.get(f"/acknowledgements/{ack['ack_id']}", token=other).status_code == 404
    assert plant.api.get("/acknowledgements", token=other).get_json()["items"] == []
    mine = plant.api.get("/acknowledgements?limit=1").get_json()
    assert mine["items"][0]["ack_id"] == ack["ack_id"]


@pytest.mark.req("URS-API-005", "URS-API-006", "A11-5", "P11-10e")
def test_acknowledgements_are_append_only(plant):
    from sqlalchemy.exc import DBAPIError

    from web.api.models import Acknowledgement

    plant.api.post("/instances", {"process": "api_batch"})
    with plant.db.session() as session:
        row = session.execute(select(Acknowledgement)).scalars().first()
        row.outcome = "refused"
        with pytest.raises(DBAPIError, match="append-only"):
            session.flush()


@pytest.mark.req("URS-API-006", "P11-10k", "A11-10")
def test_a_version_approved_for_a_later_date_is_served_and_started_from_that_date(plant):
    """Through the API: a version approved to take effect later is `scheduled` with its date; starts
    use the version in force at that moment (v1 before the date, v2 after; no job)."""
    from engine import definitions, instances
    from engine.ports import SignatureInput, default_services
    from signatures import testing
    from store.uow import UnitOfWork
    from tests.api.conftest import bundle

    quinn, quentin = plant.people["quinn"], plant.people["quentin"]
    files = bundle("api_batch")
    name = next(n for n in files if n.endswith(".bpmn"))
    files[name] = files[name].replace(b"<bpmn:definitions", b"<!-- v2 -->\n<bpmn:definitions", 1)
    with UnitOfWork(plant.db, quinn.actor) as uow:
        v2 = definitions.upload(uow, files, reason="CC-080 from 20 January", services=default_services(plant.settings))
        uow.commit()
    with UnitOfWork(plant.db, quentin.actor) as uow:
        definitions.approve(uow, v2.id, SignatureInput("approved", "quentin", {
            "password": quentin.password, "totp": testing.next_totp(plant.db, quentin)}),
            services=default_services(plant.settings), effective_from="2026-01-20")
        uow.commit()

    def version_of(instance_id: int) -> int:
        with plant.db.session() as s:
            return instances.inspect(s, instance_id)["version"]

    one = plant.api.get("/masterdata/process-definitions/api_batch").get_json()
    assert one["approved_version"] == 1
    assert [(v["version"], v["status"]) for v in one["versions"]] == [(1, "approved"), (2, "scheduled")]
    assert one["versions"][1]["effective_from"].startswith("2026-01-20T00:00:00")
    assert version_of(plant.start()) == 1
    plant.clock.advance(days=15)
    one = plant.api.get("/masterdata/process-definitions/api_batch").get_json()
    assert one["approved_version"] == 2
    assert [(v["version"], v["status"]) for v in one["versions"]] == [(1, "superseded"), (2, "approved")]
    assert version_of(plant.start()) == 2
