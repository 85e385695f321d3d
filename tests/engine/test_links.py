"""Links between instances: rows queryable from both ends (a batch's open deviations, a
deviation's affected batches), audited, retracted with a reason, written by the engine when a
message starts a process; rows of the older kinds read the same way."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from audit.verify import verify_trail
from engine import business_keys, instances, links, tasks
from engine.errors import InstanceNotFound, LinkRefused
from engine.models import ProcessInstance
from engine.runtime_models import InstanceLink, InstanceLinkRetraction
from store.uow import UnitOfWork
from tests.engine.conftest import actor, deploy
from tests.engine.keys_support import BATCH, DEVIATION, REPORTING_BATCH, REQUESTED_DEVIATION, audit_actions, count_rows, start

pytestmark = pytest.mark.req("URS-LNK-001")

OPEN_DEVIATIONS = {"relation": ("raised", "affected_by"), "process": "deviation", "status": "running"}


def _link(db, subject, relation, obj, user="quinn", **kwargs):
    with UnitOfWork(db, actor(user)) as uow:
        made = links.link(uow, subject, relation, obj, **kwargs)
        uow.commit()
    return made


@pytest.fixture
def plant(db, services, frozen_clock):
    """Three batches, two deviations raised from B-1 (D-1 also affects B-2), one of them closed."""
    deploy(db, services, files={"batch.bpmn": BATCH})
    deploy(db, services, files={"deviation.bpmn": DEVIATION})
    ids = {number: start(db, "batch", data={"batch_number": number}) for number in ("B-1", "B-2", "B-3")}
    for number in ("D-1", "D-2"):
        ids[number] = start(db, "deviation", user="alice", data={"deviation": {"number": number}})
    _link(db, ids["D-1"], "raised_from", ids["B-1"], user="alice", reason="found at weighing")
    _link(db, ids["B-2"], "affected_by", ids["D-1"], reason="same API lot L-77")  # named from the batch's side
    _link(db, ids["D-2"], "raised_from", ids["B-1"], user="alice")
    with UnitOfWork(db, actor("quinn")) as uow:  # D-2 is closed: its QA step is done
        (view,) = [v for v in tasks.inbox(uow, "quinn", services=services) if v.instance_id == ids["D-2"]]
        tasks.complete_task(uow, view.id, {}, [], services=services)
        uow.commit()
    return ids


def test_a_batchs_open_deviations_and_a_deviations_affected_batches(db, plant):
    ids = plant
    with db.session() as s:
        b1 = business_keys.find(s, "batch", "B-1")
        open_for_b1 = links.related(s, b1, **OPEN_DEVIATIONS)
        open_for_b2 = links.related(s, ids["B-2"], **OPEN_DEVIATIONS)
        all_for_b1 = links.related(s, b1, relation=("raised", "affected_by"), process="deviation")
        affected = links.related(s, ids["D-1"], relation=("raised_from", "affects"), process="batch")
        assert links.related(s, ids["B-3"], **OPEN_DEVIATIONS) == []
    assert [(r.instance_id, r.business_key, r.relation, r.status) for r in open_for_b1] == [
        (ids["D-1"], "D-1", "raised", "running")]
    assert [(r.business_key, r.relation, r.reason) for r in open_for_b2] == [("D-1", "affected_by", "same API lot L-77")]
    assert sorted((r.business_key, r.status) for r in all_for_b1) == [("D-1", "running"), ("D-2", "completed")]
    assert [(r.business_key, r.relation, r.kind, r.process) for r in affected] == [
        ("B-1", "raised_from", "raised_from", "batch"), ("B-2", "affects", "affects", "batch")]
    # one row per link, stored source -> target whichever side named it
    with db.session() as s:
        rows = s.execute(select(InstanceLink).order_by(InstanceLink.id)).scalars().all()
    assert [(r.from_instance_id, r.kind, r.to_instance_id, r.created_by) for r in rows] == [
        (ids["D-1"], "raised_from", ids["B-1"], "alice"), (ids["D-1"], "affects", ids["B-2"], "quinn"),
        (ids["D-2"], "raised_from", ids["B-1"], "alice")]


def test_links_are_audited_with_both_ends(db, plant):
    ids = plant
    entries = audit_actions(db, "instance.linked")
    assert len(entries) == 3
    second = entries[1]
    assert (second.object_type, second.actor_id, second.reason) == ("instance_link", "quinn", "same API lot L-77")
    assert json.loads(second.details) == {
        "source_instance_id": ids["D-1"], "source_process": "deviation", "source_business_key": "D-1",
        "target_instance_id": ids["B-2"], "target_process": "batch", "target_business_key": "B-2",
        "element_id": None}
    verify_trail(db)


def test_a_retracted_link_no_longer_counts_but_stays_on_record(db, plant):
    ids = plant
    with db.session() as s:
        (link,) = [r for r in links.related(s, ids["B-2"], **OPEN_DEVIATIONS)]
    with UnitOfWork(db, actor("quinn")) as uow:
        links.retract(uow, link.link_id, "B-2 used lot L-78, not L-77")
        uow.commit()
    with db.session() as s:
        assert links.related(s, ids["B-2"], **OPEN_DEVIATIONS) == []
        (kept,) = links.related(s, ids["B-2"], include_retracted=True)
    assert kept.retracted == {"reason": "B-2 used lot L-78, not L-77", "at": kept.retracted["at"], "by": "quinn"}
    (entry,) = audit_actions(db, "instance.link_retracted")
    assert (entry.object_id, entry.reason) == (str(link.link_id), "B-2 used lot L-78, not L-77")
    with UnitOfWork(db, actor("quinn")) as uow, pytest.raises(LinkRefused, match=rf"link {link.link_id} was "
                                                                                 "retracted already"):
        links.retract(uow, link.link_id, "again")
    # linked again later: a new row, the retracted one stays
    _link(db, ids["D-1"], "affects", ids["B-2"], reason="confirmed after all")
    with db.session() as s:
        assert [r.business_key for r in links.related(s, ids["B-2"], **OPEN_DEVIATIONS)] == ["D-1"]
    assert count_rows(db, InstanceLink) == 4 and count_rows(db, InstanceLinkRetraction) == 1


@pytest.mark.parametrize("case, error, message", [
    ("unknown", LinkRefused, "unknown link relation 'blames' \\(known: affected_by, affects, caused, caused_by, "
                             "raised, raised_from, started, started_by\\)"),
    ("self", LinkRefused, "cannot be linked to itself"),
    ("missing", InstanceNotFound, "no process instance 999"),
    ("twice", LinkRefused, "raised_from instance .* already \\(link 1,"),
    ("twice_inverse", LinkRefused, "raised_from instance .* already"),
    ("long_reason", LinkRefused, "the reason is longer than 2000 characters"),
])
def test_refused_links_change_nothing_but_the_record_of_the_attempt(db, plant, case, error, message):
    ids = plant
    args = {"unknown": (ids["D-1"], "blames", ids["B-3"]), "self": (ids["D-1"], "affects", ids["D-1"]),
            "missing": (ids["D-1"], "affects", 999), "twice": (ids["D-1"], "raised_from", ids["B-1"]),
            "twice_inverse": (ids["B-1"], "raised", ids["D-1"]),
            "long_reason": (ids["D-1"], "affects", ids["B-3"])}[case]
    before = count_rows(db, InstanceLink)
    with pytest.raises(error, match=message):
        _link(db, *args, reason="x" * 2001 if case == "long_reason" else None)
    assert count_rows(db, InstanceLink) == before
    (refusal,) = audit_actions(db, "instance.link_refused")
    assert (refusal.object_type, refusal.object_id) == ("process_instance", str(args[0]))


@pytest.mark.parametrize("reason, message", [("  ", "a reason is required"), ("ok", "no link 999")])
def test_retraction_needs_a_reason_and_an_existing_link(db, plant, reason, message):
    with UnitOfWork(db, actor("quinn")) as uow, pytest.raises(LinkRefused, match=message):
        links.retract(uow, 999 if reason == "ok" else 1, reason)
    assert count_rows(db, InstanceLinkRetraction) == 0


def test_unknown_relation_in_a_query_is_an_error_not_an_empty_answer(db, plant):
    with db.session() as s, pytest.raises(LinkRefused, match="unknown link relation 'opened'"):
        links.related(s, plant["B-1"], relation="opened")


def test_rows_of_the_older_kinds_read_as_the_standard_ones(db, plant):
    """Rows written before the standard kinds (batch -> deviation 'deviation', starter -> started
    'message' / 'linked') are read canonically; stored rows are never rewritten."""
    ids = plant
    with UnitOfWork(db, actor("quinn")) as uow:
        for kind, source, target in (("deviation", ids["B-3"], ids["D-1"]), ("message", ids["B-3"], ids["D-2"]),
                                     ("custom_kind", ids["B-3"], ids["B-1"])):
            uow.session.add(InstanceLink(from_instance_id=source, to_instance_id=target, kind=kind,
                                         created_at="2025-01-01T00:00:00.000000Z", created_by="system"))
        uow.commit()
    with db.session() as s:
        found = links.related(s, ids["B-3"], **OPEN_DEVIATIONS)
        started = links.related(s, ids["D-2"], relation="started_by")
        everything = {(r.relation, r.business_key) for r in links.related(s, ids["B-3"])}
        stored = [link.stored_kind for link in links.links_of(s, ids["B-3"])]
    assert [(r.business_key, r.relation, r.kind) for r in found] == [("D-1", "raised", "raised_from")]
    assert [(r.business_key, r.relation) for r in started] == [("B-3", "started_by")]
    assert everything == {("raised", "D-1"), ("started", "D-2"), ("custom_kind", "B-1")}
    assert stored == ["deviation", "message", "custom_kind"]


def test_kind_sets_are_built_explicitly_and_the_standard_set_is_frozen():
    own = links.standard_kinds()
    own.add(links.LinkKind("supersedes", "superseded_by", "a document version and the one it replaces"))
    assert own.parse("superseded_by") == (own.kinds["supersedes"], True)
    with pytest.raises(LinkRefused, match="frozen"):
        links.STANDARD.add(links.LinkKind("x", "y"))
    with pytest.raises(LinkRefused, match="'raised' is defined already"):
        own.add(links.LinkKind("raised", "z"))
    with pytest.raises(LinkRefused, match="must be an identifier"):
        own.add(links.LinkKind("has space", "z"))
    assert "supersedes" not in links.STANDARD.relations()


def test_a_message_start_records_started_by_and_takes_the_key_from_the_payload(db, services, frozen_clock):
    deploy(db, services, files={"reporting_batch.bpmn": REPORTING_BATCH})
    deploy(db, services, files={"requested_deviation.bpmn": REQUESTED_DEVIATION})
    batch = start(db, "reporting_batch", data={"batch_number": "B-9", "deviation_number": "DEV-0042"})
    with UnitOfWork(db, actor("alice")) as uow:
        (view,) = tasks.inbox(uow, "alice", services=services)
        tasks.complete_task(uow, view.id, {}, [], services=services)
        uow.commit()
    with db.session() as s:
        (started,) = links.related(s, batch, relation="started")
        deviation = business_keys.find(s, "requested_deviation", "DEV-0042")
        (link,) = links.links_of(s, batch)
    assert (started.instance_id, started.business_key, started.process) == (deviation, "DEV-0042",
                                                                            "requested_deviation")
    assert (link.source_id, link.kind, link.target_id, link.element_id) == (deviation, "started_by", batch,
                                                                            "deviation_request")
    # the same number requested again: the step that throws it is refused, nothing changes
    second = start(db, "reporting_batch", data={"batch_number": "B-10", "deviation_number": "DEV-0042"})
    from engine.errors import DuplicateBusinessKey

    with UnitOfWork(db, actor("alice")) as uow, pytest.raises(DuplicateBusinessKey, match="DEV-0042"):
        (view,) = [v for v in tasks.inbox(uow, "alice", services=services) if v.instance_id == second]
        tasks.complete_task(uow, view.id, {}, [], services=services)
    with db.session() as s:
        assert instances.inspect(s, second)["status"] == "running"
        assert s.execute(select(func.count()).select_from(ProcessInstance)).scalar_one() == 3
