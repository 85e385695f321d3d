"""Business keys through the API: an instance started with one (or given one by its definition,
from its data or numbered) is found by it and receives messages correlated by it; a refused key
is answered with the field, acknowledged as refused and changes nothing."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.api.conftest import deploy
from tests.api.test_api_basics import count

pytestmark = pytest.mark.req("URS-KEY-001", "URS-KEY-002", "URS-API-005")


def _instances(db) -> int:  # type: ignore[no-untyped-def]
    from engine.models import ProcessInstance

    with db.session() as session:
        return int(session.execute(select(func.count()).select_from(ProcessInstance)).scalar_one())


def _weighed(plant, key: str) -> int:  # type: ignore[no-untyped-def]
    """An api_batch instance with business key `key`, weighed by the MES: it waits for its lab result."""
    instance_id = plant.start(business_key=key)
    task = plant.task(instance_id, "system")
    done = plant.api.post(f"/tasks/{task['task_id']}/complete", {"data": {"weight_kg": 10.0, "balance": "BAL-07"}})
    assert done.status_code == 200, done.get_json()
    return instance_id


def test_an_instance_started_with_a_business_key_is_found_by_it(plant):
    from engine import business_keys

    response = plant.api.post("/instances", {"process": "api_batch", "title": "Batch B-2026-0142",
                                             "business_key": "B-2026-0142"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    instance_id = body["instance"]["instance_id"]
    assert body["instance"]["business_key"] == "B-2026-0142"
    assert body["acknowledgement"]["result"] == {"instance_id": instance_id, "process": "api_batch",
                                                 "business_key": "B-2026-0142"}
    other = plant.start(business_key="B-2026-0143")
    unkeyed = plant.start()

    found = plant.api.get("/instances?business_key=B-2026-0142").get_json()
    assert [(i["instance_id"], i["business_key"]) for i in found["items"]] == [(instance_id, "B-2026-0142")]
    listed = plant.api.get("/instances?process=api_batch").get_json()["items"]
    assert [(i["instance_id"], i["business_key"]) for i in listed] == [
        (unkeyed, None), (other, "B-2026-0143"), (instance_id, "B-2026-0142")]
    assert plant.api.get("/instances?business_key=B-404").get_json() == {"items": [], "next": None}
    assert plant.api.get(f"/instances/{instance_id}").get_json()["business_key"] == "B-2026-0142"
    assert plant.task(other, "system")["business_key"] == "B-2026-0143"
    with plant.db.session() as session:
        assert business_keys.find(session, "api_batch", "B-2026-0142") == instance_id
    assert count(plant.db, "instance.business_key_assigned", "system:mes-line1") == 2


def test_a_duplicate_business_key_is_refused_acknowledged_and_changes_nothing(plant):
    first = plant.start(business_key="B-7")
    before = _instances(plant.db)
    again = plant.api.post("/instances", {"process": "api_batch", "title": "Batch B-7 again", "business_key": "B-7"})
    assert again.status_code == 409, again.get_json()
    body = again.get_json()
    assert body["error"] == "DuplicateBusinessKey" and body["field"] == "/business_key"
    assert body["message"] == (f"business key 'B-7' is already used by another instance of process 'api_batch' "
                               f"(instance {first}, running)")
    assert body["acknowledgement"]["outcome"] == "refused" and body["acknowledgement"]["status"] == 409
    assert _instances(plant.db) == before
    assert count(plant.db, "instance.start_refused", "system:mes-line1") == 1
    assert plant.api.get("/instances?business_key=B-7").get_json()["items"][0]["instance_id"] == first

    control = plant.api.post("/instances", {"process": "api_batch", "business_key": "B-\u00078"})
    assert control.status_code == 422 and control.get_json()["field"] == "/business_key"
    too_long = plant.api.post("/instances", {"process": "api_batch", "business_key": "B" * 101})
    assert too_long.status_code == 422 and too_long.get_json()["field"] == "/business_key"
    assert _instances(plant.db) == before


def test_the_definition_takes_the_key_from_the_start_data_or_numbers_it(plant):
    plant.clock.advance(seconds=31)
    deploy(plant.db, plant.settings, plant.people["quinn"], plant.people["quentin"], "api_keyed")

    def start(body):  # type: ignore[no-untyped-def]
        return plant.api.post("/instances", {"process": "api_keyed", **body})

    assert start({}).get_json()["instance"]["business_key"] == "LOT-001"
    assert start({"title": "second"}).get_json()["instance"]["business_key"] == "LOT-002"
    assert start({"data": {"lot": "L-77"}}).get_json()["instance"]["business_key"] == "L-77"
    assert start({"data": {"lot": "L-78"}, "business_key": "L-78"}).status_code == 201

    before = _instances(plant.db)
    contradiction = start({"data": {"lot": "L-79"}, "business_key": "L-80"})
    assert contradiction.status_code == 422, contradiction.get_json()
    body = contradiction.get_json()
    assert body["error"] == "BusinessKeyError" and body["field"] == "/business_key"
    assert body["message"] == "the business key 'L-80' differs from the start data's lot 'L-79'"
    assert body["acknowledgement"]["outcome"] == "refused"
    taken = start({"data": {"lot": "L-77"}})
    assert taken.status_code == 409 and taken.get_json()["error"] == "DuplicateBusinessKey"
    assert _instances(plant.db) == before
    assert [i["business_key"] for i in plant.api.get("/instances?process=api_keyed").get_json()["items"]] == [
        "L-78", "L-77", "LOT-002", "LOT-001"]


@pytest.mark.req("URS-API-006", "P11-10f")
def test_a_message_correlated_by_business_key_reaches_that_instance(plant):
    one = _weighed(plant, "B-1")
    two = _weighed(plant, "B-2")

    nobody = plant.api.post("/messages", {"name": "lab_result", "correlation": {"business_key": "B-404"}})
    assert nobody.status_code == 409 and nobody.get_json()["error"] == "MessageNotDeliverable"
    assert nobody.get_json()["field"] == "/correlation"

    sent = plant.api.post("/messages", {"name": "lab_result", "correlation": {"business_key": "B-2"},
                                        "payload": {"assay_percent": 99.2}})
    assert sent.status_code == 200, sent.get_json()
    assert sent.get_json()["outcome"] == "delivered" and sent.get_json()["instance_id"] == two
    assert [t["bpmn_id"] for t in plant.api.get(f"/instances/{two}").get_json()["ready_tasks"]] == ["confirm"]
    assert plant.api.get(f"/instances/{one}").get_json()["ready_tasks"] == []

    both = plant.api.post("/messages", {"name": "lab_result", "correlation": {"business_key": "B-1", "lot": "L-x"}})
    assert both.status_code == 409  # every correlation key must match
    by_key = plant.api.post("/messages", {"name": "lab_result", "correlation": {"business_key": "B-1"}})
    assert by_key.status_code == 200 and by_key.get_json()["instance_id"] == one


@pytest.mark.req("URS-API-006")
def test_a_message_that_starts_a_process_gives_it_the_correlations_business_key(plant):
    started = plant.api.post("/messages", {"name": "sample_received", "correlation": {"business_key": "S-1"},
                                           "payload": {"material": "API lot 7"}})
    assert started.status_code == 200, started.get_json()
    assert started.get_json()["outcome"] == "started"
    instance = plant.api.get(f"/instances/{started.get_json()['instance_id']}").get_json()
    assert instance["process"] == "sample_intake" and instance["business_key"] == "S-1"
    assert [i["instance_id"] for i in plant.api.get("/instances?business_key=S-1").get_json()["items"]] == [
        instance["instance_id"]]

    before = _instances(plant.db)
    again = plant.api.post("/messages", {"name": "sample_received", "correlation": {"business_key": "S-1"},
                                         "payload": {"material": "API lot 7"}})
    assert again.status_code == 409 and again.get_json()["error"] == "DuplicateBusinessKey"
    assert again.get_json()["acknowledgement"]["outcome"] == "refused"
    assert _instances(plant.db) == before
