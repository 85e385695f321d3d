"""Business keys: set at start (explicitly or from the start data), unique per process, audited,
shown in the inbox and listings, searchable; every refusal changes nothing but its audit entry."""
from __future__ import annotations

import contextvars
import json

import pytest
from sqlalchemy import select, text

from audit.verify import verify_trail
from engine import business_keys, instances, tasks
from engine.errors import BusinessKeyError, DefinitionCheckFailed, DuplicateBusinessKey
from engine.models import ProcessInstance
from engine.runtime_models import BusinessKey
from store.uow import UnitOfWork
from tests.engine.conftest import ALL_ROLES, actor, deploy
from tests.engine.keys_support import BATCH, DEVIATION, PLAIN, audit_actions, count_rows, one_step, start

pytestmark = pytest.mark.req("URS-KEY-001")


def _deploy_all(db, services):
    for name, files in (("batch", BATCH), ("deviation", DEVIATION), ("plain", PLAIN)):
        deploy(db, services, files={f"{name}.bpmn": files})


def test_explicit_key_is_stored_audited_and_shown(db, services, frozen_clock):
    _deploy_all(db, services)
    batch = start(db, "batch", business_key="  B-2024-001 ", data={})
    with db.session() as s:
        view = instances.inspect(s, batch)
        (row,) = s.execute(select(BusinessKey)).scalars()
        listed = instances.list_instances(s, key="batch")
    assert view["business_key"] == "B-2024-001"
    assert (row.instance_id, row.business_key, row.created_by) == (batch, "B-2024-001", "sam")
    assert [(r["id"], r["business_key"]) for r in listed] == [(batch, "B-2024-001")]
    (entry,) = audit_actions(db, "instance.business_key_assigned")
    assert (entry.object_type, entry.object_id, entry.actor_id) == ("process_instance", str(batch), "sam")
    assert json.loads(entry.changes) == [["business_key", None, "B-2024-001"]]
    verify_trail(db)  # raises if the chain is broken


def test_key_is_derived_from_the_start_data_field_the_diagram_names(db, services, frozen_clock):
    _deploy_all(db, services)
    batch = start(db, "batch", data={"batch_number": "B-7", "product": "Paracetamol"})
    deviation = start(db, "deviation", data={"deviation": {"number": "DEV-0001", "title": "spill"}})
    numbered = start(db, "batch", data={"batch_number": 240001})
    plain = start(db, "plain")
    with db.session() as s:
        assert business_keys.keys_of(s, [batch, deviation, numbered, plain]) == {
            batch: "B-7", deviation: "DEV-0001", numbered: "240001"}
        assert business_keys.find(s, "batch", "B-7") == batch
        assert business_keys.find(s, "deviation", "B-7") is None
    # the same key in the explicit parameter and in the data is one key, not a contradiction
    assert start(db, "batch", business_key="B-8", data={"batch_number": "B-8"})


def test_duplicate_key_in_the_same_process_is_refused_and_changes_nothing(db, services, frozen_clock):
    _deploy_all(db, services)
    first = start(db, "batch", business_key="B-7")
    before = (count_rows(db, ProcessInstance), count_rows(db, BusinessKey))
    with pytest.raises(DuplicateBusinessKey, match=rf"business key 'B-7' is already used by another instance of "
                                                   rf"process 'batch' \(instance {first}, running\)"):
        start(db, "batch", data={"batch_number": "B-7"})
    assert (count_rows(db, ProcessInstance), count_rows(db, BusinessKey)) == before
    (refusal,) = audit_actions(db, "instance.start_refused")
    assert (refusal.object_type, refusal.object_id, refusal.actor_id) == ("process_definition", "batch", "sam")
    assert "already used" in refusal.reason
    # a different process may carry the same text; a cancelled batch still holds its number
    start(db, "plain", business_key="B-7")
    with UnitOfWork(db, actor("sam")) as uow:
        instances.cancel(uow, first, "wrong product")
        uow.commit()
    with pytest.raises(DuplicateBusinessKey):
        start(db, "batch", business_key="B-7")


@pytest.mark.parametrize("kwargs, message", [
    ({}, "process 'batch' needs a business key: give one or set batch_number in the start data"),
    ({"data": {"batch_number": "   "}}, "the start data's batch_number \\(the business key\\) is empty"),
    ({"business_key": "B-1", "data": {"batch_number": "B-2"}},
     "the business key 'B-1' differs from the start data's batch_number 'B-2'"),
    ({"business_key": "x" * 101}, "the business key is longer than 100 characters"),
    ({"business_key": "B-1\nB-2"}, "the business key contains a control character or line break"),
    ({"business_key": "B\u200b1"}, "the business key contains a control character"),
    ({"data": {"batch_number": 12.5}}, "the start data's batch_number \\(the business key\\) must be text, not float"),
    ({"data": {"batch_number": True}}, "must be text, not bool"),
])
def test_invalid_or_missing_keys_are_refused(db, services, frozen_clock, kwargs, message):
    _deploy_all(db, services)
    with pytest.raises(BusinessKeyError, match=message):
        start(db, "batch", **kwargs)
    assert count_rows(db, ProcessInstance) == 0
    (refusal,) = audit_actions(db, "instance.start_refused")
    assert refusal.object_id == "batch"


def test_business_keys_are_append_only_in_the_database(db, services, frozen_clock):
    from sqlalchemy.exc import DatabaseError

    _deploy_all(db, services)
    start(db, "batch", business_key="B-7")
    for statement in ("UPDATE engine_business_key SET business_key = 'B-8'", "DELETE FROM engine_business_key"):
        with db.session() as s, pytest.raises(DatabaseError, match="append-only"):
            s.execute(text(statement))
            s.flush()


def test_search_by_key_title_or_number(db, services, frozen_clock):
    _deploy_all(db, services)
    b7 = start(db, "batch", business_key="B-2024-007", title="Paracetamol 500 mg")
    b8 = start(db, "batch", business_key="B-2024-008", title="Ibuprofen")
    odd = start(db, "plain", business_key="100%_sure")
    other = start(db, "plain", business_key="1000-sure")
    with db.session() as s:
        def ids(search, **kw):
            return [r["id"] for r in instances.list_instances(s, search=search, **kw)]
        assert ids("b-2024") == [b7, b8]
        assert ids("2024-008") == [b8]
        assert ids("paracetamol") == [b7]
        assert ids("%_") == [odd]          # the user's % and _ match themselves
        assert ids("100") == [odd, other]
        assert ids(f"#{b8}") == [b8]
        assert ids("b-2024", key="plain") == []
        assert ids("B-2024", status="running", limit=1) == [b8]
        assert ids("no such thing") == []


def test_inbox_shows_the_business_key(db, services, frozen_clock):
    _deploy_all(db, services)
    batch = start(db, "batch", business_key="B-7")
    plain = start(db, "plain")
    with UnitOfWork(db, actor("alice")) as uow:
        views = tasks.inbox(uow, "alice", services=services)
    assert {(v.instance_id, v.business_key) for v in views} == {(batch, "B-7"), (plain, None)}


@pytest.mark.parametrize("props, task_props, message", [
    ({"businessKey.field": "batch number"}, {}, "businessKey.field 'batch number' must name a start data field"),
    ({"businessKey.field": "batch_number", "businessKey.required": "yes"}, {},
     "businessKey.required must be true or false, not 'yes'"),
    ({"businessKey.fields": "batch_number"}, {}, "unknown extension property 'businessKey.fields'"),
    ({}, {"businessKey.field": "batch_number"}, "business key properties belong on the process element 'bad'"),
])
def test_upload_refuses_malformed_business_key_properties(db, services, props, task_props, message):
    from engine import definitions

    files = {"bad.bpmn": one_step("bad", props=props, task_props=task_props)}
    with UnitOfWork(db, actor("anna")) as uow, pytest.raises(DefinitionCheckFailed, match=message):
        definitions.upload(uow, files, reason="test", roles=ALL_ROLES, services=services)


def test_two_starts_racing_for_one_key_the_second_is_refused(db, services, frozen_clock, backend):
    """The unique constraint decides when both pass the check before either commits (PostgreSQL;
    SQLite serialises writers from BEGIN, so there the second sees the first)."""
    import threading

    _deploy_all(db, services)
    outcome: dict[str, object] = {}
    with UnitOfWork(db, actor("sam")) as first:
        instances.start(first, "batch", business_key="B-7")
        if backend == "postgresql":
            def second() -> None:
                try:
                    start(db, "batch", user="alice", business_key="B-7")
                    outcome["result"] = "started"
                except DuplicateBusinessKey as exc:
                    outcome["result"] = exc
            thread = threading.Thread(target=contextvars.copy_context().run, args=(second,))  # the test's runtime
            thread.start()
            _wait_for_lock_wait(db)  # the second insert waits on the first's uncommitted key
            first.commit()
            thread.join(30)
        else:
            first.commit()
            try:
                start(db, "batch", user="alice", business_key="B-7")
            except DuplicateBusinessKey as exc:
                outcome["result"] = exc
    assert isinstance(outcome["result"], DuplicateBusinessKey), outcome
    assert "business key 'B-7' is already used" in str(outcome["result"])
    assert count_rows(db, ProcessInstance) == 1


def _wait_for_lock_wait(db, timeout: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.session() as s:
            waiting = s.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar_one()
        if waiting:
            return
        time.sleep(0.02)
    raise AssertionError("the second start never waited on the first's key")


def test_a_change_of_the_business_key_properties_shows_in_the_version_comparison(db, services):
    from engine import definitions

    deploy(db, services, files={"batch.bpmn": one_step("batch", props={"businessKey.field": "batch_number"})})
    deploy(db, services, files={"batch.bpmn": BATCH}, reason="CC-7 batch number required")
    with db.session() as s:
        diff = definitions.compare_versions(s, "batch", 1, 2).as_dict()
    assert diff["changed"] == [{"id": "batch", "tag": "process", "name": "Batch",
                                "fields": [["property:businessKey.required", None, "true"]]}]


def test_an_instance_is_named_by_number_process_and_key_or_a_key_alone(db, services, frozen_clock):
    from engine.errors import InstanceNotFound

    _deploy_all(db, services)
    b7 = start(db, "batch", business_key="B-7")
    p7 = start(db, "plain", business_key="B-7")
    numeric = start(db, "plain", business_key="9000")
    with db.session() as s:
        ref = business_keys.instance_by_reference
        assert (ref(s, str(b7)), ref(s, f" #{p7} "), ref(s, "batch:B-7"), ref(s, "plain: B-7 ")) == (b7, p7, b7, p7)
        assert ref(s, "9000") == numeric  # not an instance number: a business key
        with pytest.raises(BusinessKeyError, match=r"business key 'B-7' is used by several processes \(batch, plain\): "
                                                   r"write PROCESS:B-7"):
            ref(s, "B-7")
        for text, message in (("#9000", "no process instance 9000"), ("batch:B-9", "no instance of process 'batch' "
                                                                                   "has business key 'B-9'"),
                              ("nothing:1", "no instance has the number or business key 'nothing:1'")):
            with pytest.raises(InstanceNotFound, match=message):
                ref(s, text)
        with pytest.raises(BusinessKeyError, match="name an instance"):
            ref(s, "  ")


def test_keys_generated_from_the_diagrams_pattern_count_per_year_in_the_site_time_zone(db, services, settings,
                                                                                      frozen_clock):
    from datetime import datetime, timezone

    from core.config import load_settings

    deploy(db, services, files={"dev.bpmn": one_step("dev", "qa", props={"businessKey.generate": "DEV-{yyyy}-{seq:4}",
                                                                        "businessKey.field": "number"})})
    shanghai = load_settings({**settings.__dict__, "site_timezone": "Asia/Shanghai"}, environ={})
    frozen_clock.value = datetime(2026, 12, 31, 15, 30, tzinfo=timezone.utc)  # 23:30 in Shanghai
    first = start(db, "dev", settings=shanghai)
    given = start(db, "dev", data={"number": "DEV-2026-0100"}, settings=shanghai)  # a given number counts too
    second = start(db, "dev", settings=shanghai)
    frozen_clock.advance(minutes=40)  # 00:10 on 1 January 2027 in Shanghai, still 2026 in UTC
    new_year = start(db, "dev", settings=shanghai)
    utc = start(db, "dev")
    with db.session() as s:
        keys = business_keys.keys_of(s, [first, given, second, new_year, utc])
    assert [keys[i] for i in (first, given, second, new_year, utc)] == [
        "DEV-2026-0001", "DEV-2026-0100", "DEV-2026-0101", "DEV-2027-0001", "DEV-2026-0102"]


@pytest.mark.parametrize("pattern, message", [
    ("DEV-{yyyy}", "needs exactly one {seq}"), ("DEV-{seq}-{seq}", "needs exactly one {seq}"),
    ("DEV-{dd}-{seq}", "unknown placeholder\\(s\\) dd"), ("DEV-{seq:4}}", "stray braces"),
])
def test_upload_refuses_a_pattern_that_cannot_number(db, services, pattern, message):
    from engine import definitions

    files = {"bad.bpmn": one_step("bad", props={"businessKey.generate": pattern})}
    with UnitOfWork(db, actor("anna")) as uow, pytest.raises(DefinitionCheckFailed, match=message):
        definitions.upload(uow, files, reason="test", roles=ALL_ROLES, services=services)


def test_two_starts_drawing_numbers_at_once_get_consecutive_numbers(db, services, frozen_clock, backend):
    import threading

    deploy(db, services, files={"dev.bpmn": one_step("dev", "qa", props={"businessKey.generate": "D{seq:3}"})})
    drawn: dict[str, object] = {}
    with UnitOfWork(db, actor("sam")) as first:
        drawn["first"] = instances.start(first, "dev").id
        if backend == "postgresql":
            def second() -> None:
                drawn["second"] = start(db, "dev", user="alice")
            thread = threading.Thread(target=contextvars.copy_context().run, args=(second,))  # the test's runtime
            thread.start()
            _wait_for_lock_wait(db)  # the second waits for the definition row the first holds
            first.commit()
            thread.join(30)
        else:
            first.commit()
            drawn["second"] = start(db, "dev", user="alice")
    with db.session() as s:
        assert business_keys.keys_of(s, [drawn["first"], drawn["second"]]) == {drawn["first"]: "D001",
                                                                             drawn["second"]: "D002"}
