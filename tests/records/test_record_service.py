"""A task completed through the service layer without the form's record of each value (a script,
an integration) still has its values in the executed record, each as submitted."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine import instances
from engine.models import InstanceTask
from engine.ports import EngineServices, jsonschema_validate
from engine.tasks import complete_task
from store.uow import UnitOfWork
from tests.engine.conftest import MEANINGS, ROLES, TestSigner, actor, deploy, sig
from tests.web.conftest import app  # noqa: F401  (fixture)

BPMN = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d" targetNamespace="x">
  <bpmn:process id="plain_rows" isExecutable="true">
    <bpmn:laneSet id="ls"><bpmn:lane id="l" name="operator"><bpmn:flowNodeRef>s</bpmn:flowNodeRef>
      <bpmn:flowNodeRef>weigh</bpmn:flowNodeRef><bpmn:flowNodeRef>e</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="weigh"/>
    <bpmn:userTask id="weigh" name="Weigh"><bpmn:extensionElements><spiffworkflow:properties>
      <spiffworkflow:property name="formJsonSchemaFilename" value="weigh.json"/>
      <spiffworkflow:property name="signature.meaning" value="performed"/>
    </spiffworkflow:properties></bpmn:extensionElements></bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="weigh" targetRef="e"/><bpmn:endEvent id="e"/>
  </bpmn:process>
</bpmn:definitions>
"""
FORM = b"""{"type": "object", "required": ["lot", "rows"], "properties": {
  "lot": {"type": "string", "title": "Lot"},
  "rows": {"type": "array", "title": "Lines", "items": {"type": "object", "properties": {
    "material": {"type": "string", "title": "Material"},
    "net": {"type": "number", "title": "Net weight", "x-gmp-unit": "kg"}}}}}}"""


@pytest.mark.req("P11-10b", "ALCOA-COMPLETE")
def test_values_completed_without_the_form_record_are_in_the_record(app, db, settings):  # noqa: F811
    from web.records import build_record

    services = EngineServices(roles_of=lambda uow, user: ROLES.get(user, set()), sign=TestSigner(),
                              validate_form=jsonschema_validate, meanings=MEANINGS)
    deploy(db, services, files={"plain_rows.bpmn": BPMN, "weigh.json": FORM})
    with UnitOfWork(db, actor("alice")) as uow:
        instance_id = instances.start(uow, "plain_rows").id
        uow.commit()
    with db.session() as session:
        task_id = session.scalars(select(InstanceTask.id).where(InstanceTask.instance_id == instance_id,
                                                                InstanceTask.bpmn_id == "weigh")).one()
    with UnitOfWork(db, actor("alice")) as uow:
        complete_task(uow, task_id, {"lot": "L-7", "rows": [{"material": "API", "net": 1.5},
                                                             {"material": "LAC", "net": 2.25}]},
                      [sig("alice", "performed")], services=services)
        uow.commit()
    with app.test_request_context(), db.session() as session:
        record = build_record(session, instance_id)
    [task] = record["tasks"]
    values = {v["field"]: (v["value"], v["source"], v["entered_by"]) for v in task["values"]}
    assert values == {"lot": ("L-7", "manual", "alice"), "rows.0.material": ("API", "manual", "alice"),
                      "rows.0.net": ("1.5", "manual", "alice"), "rows.1.material": ("LAC", "manual", "alice"),
                      "rows.1.net": ("2.25", "manual", "alice")}
    [table] = task["tables"]
    assert [c["key"] for c in table["columns"]] == ["material", "net"] and len(table["rows"]) == 2
