"""`equipment.sample_tags` in a BPMN process, run by the engine's scheduler (a long-running operator)."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

import connectors.operators  # noqa: F401  (registers the equipment operators in the engine's registry)
from connectors.models import EquipmentReading
from engine import instances
from engine.models import ProcessInstance
from engine.ports import EngineServices, jsonschema_validate
from engine.scheduler import Scheduler
from store.uow import UnitOfWork
from tests.engine.conftest import MEANINGS, ROLES, TestSigner, actor, deploy

BPMN = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="defs_dry" targetNamespace="http://gmp.example/connectors">
  <bpmn:process id="dry_and_sample" name="Drying with sampled critical parameters" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="sample" />
    <bpmn:serviceTask id="sample" name="Sample product temperature"><bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="equipment.sample_tags" resultVariable="drying">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="tags" type="list" value="['FBD-01.product_temp', 'FBD-01.ua.inlet_temp']" />
            <spiffworkflow:parameter id="duration_s" type="float" value="0.3" />
            <spiffworkflow:parameter id="interval_s" type="float" value="0.1" />
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="sample" targetRef="end" />
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.mark.req("URS-CON-006", "ALCOA-COMPLETE")
def test_sample_tags_runs_in_the_scheduler_from_a_bpmn_service_task(registered, settings, plant, frozen_clock,
                                                                    runtime):
    from bpmn.glue import extend

    extend(runtime, registered, settings)  # what the worker's install step does at start-up
    services = EngineServices(roles_of=lambda uow, user: ROLES.get(user, set()), sign=TestSigner(),
                              validate_form=jsonschema_validate, meanings=MEANINGS)
    deploy(registered, services, files={"dry_and_sample.bpmn": BPMN})
    with UnitOfWork(registered, actor("alice")) as uow:
        instance_id = instances.start(uow, "dry_and_sample").id
        uow.commit()
    plant.force("dryer.product_temp", 61.5)  # above the 60 degC limit: every sample is out of limit
    try:
        report = Scheduler(registered, settings, name="worker-1").run_once()
    finally:
        plant.release()
    assert report.operations == 1
    with registered.session() as session:
        assert session.get(ProcessInstance, instance_id).status == "completed"
        data = instances.inspect(session, instance_id)["data"]
        stored = session.scalar(select(func.count()).select_from(EquipmentReading).where(
            EquipmentReading.instance_id == str(instance_id), EquipmentReading.purpose == "sampled"))
    temp = data["drying"]["tags"]["FBD-01.product_temp"]
    assert data["drying"]["rounds"] == 4 and stored == 8
    assert (temp["min"], temp["max"], len(temp["out_of_limit"])) == (61.5, 61.5, 4)
    assert json.dumps(data["drying"])  # the result is plain JSON in the instance data
