"""Engine operators against the simulator: plain functions and from a BPMN service task."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import VALIDATOR
from sqlalchemy import func, select

from connectors import operators
from connectors.errors import UnregisteredTag
from connectors.models import EquipmentReading
from connectors.operators import ConditionTimeout, ConnectorEnvironment
from engine.operators import OperatorCaller, OperatorRegistry
from engine.spiff.parser import GmpBpmnParser
from engine.spiff.script_engine import make_script_engine


@pytest.fixture
def env(registered, settings, client):
    return ConnectorEnvironment(registered, settings, client)


@pytest.mark.req("URS-CON-006", "ALCOA-ORIGINAL")
def test_read_tag_returns_a_reading_marked_as_equipment_data(env, plant):
    plant.force("isolation.breaker_closed", False)
    try:
        result = operators.read_tag(env, "ISO-BRK-01.closed", instance_id="5", task_id="check_isolation")
    finally:
        plant.release()
    assert result["value"] is False and result["origin"] == "equipment" and result["quality"] == "good"
    assert result["equipment_id"] == "ISO-BRK-01" and result["registry_revision"] == 1


@pytest.mark.req("URS-CON-006", "ALCOA-COMPLETE")
def test_sample_tags_reports_statistics_and_every_out_of_limit_sample_and_stores_each_sample(env, plant):
    plant.force("dryer.product_temp", 63.0)  # an excursion above the 60 degC limit
    plant.force("dryer.impeller_speed", 300.0)
    try:
        result = operators.sample_tags(env, ["FBD-01.product_temp", "FBD-01.impeller_speed"], duration_s=0.4,
                                       interval_s=0.1, instance_id="9", task_id="drying")
    finally:
        plant.release()
    assert result["rounds"] == 5
    temp, speed = result["tags"]["FBD-01.product_temp"], result["tags"]["FBD-01.impeller_speed"]
    assert (temp["count"], temp["min"], temp["max"], temp["mean"]) == (5, 63.0, 63.0, 63.0)
    assert len(temp["out_of_limit"]) == 5 and temp["out_of_limit"][0]["high"] == 60.0
    assert speed["mean"] == 300 and speed["out_of_limit"] == [] and result["out_of_limit_count"] == 5
    with env.db.session() as session:
        stored = session.scalar(select(func.count()).select_from(EquipmentReading).where(
            EquipmentReading.sampling_id == result["sampling_id"], EquipmentReading.purpose == "sampled"))
    assert stored == 10


@pytest.mark.req("URS-CON-006", "URS-EBR-004")
def test_sample_tags_lets_the_value_settle_before_the_first_sample(env, plant):
    waits: list[float] = []
    plant.force("dryer.impeller_speed", 150.0)
    try:
        result = operators.sample_tags(env, ["FBD-01.impeller_speed"], duration_s=0.2, interval_s=0.1, settle_s=30,
                                       sleep=waits.append)  # a recorded sleep: the test does not wait 30 s
    finally:
        plant.release()
    assert waits and waits[0] > 29  # the first sample only after the settling time
    assert result["settle_s"] == 30 and result["rounds"] == 3 and result["tags"]["FBD-01.impeller_speed"]["count"] == 3


def test_sample_tags_refuses_bad_arguments_and_unregistered_tags(env):
    from connectors.errors import ConnectorError
    with pytest.raises(ConnectorError, match="needs interval_s > 0"):
        operators.sample_tags(env, ["GAS-01.o2"], duration_s=1, interval_s=0)
    with pytest.raises(ConnectorError, match="settle_s >= 0, got 1, 1, -5"):
        operators.sample_tags(env, ["GAS-01.o2"], duration_s=1, interval_s=1, settle_s=-5)
    with pytest.raises(UnregisteredTag, match="'GAS-02.o2' is not in the effective tag registry: sample refused"):
        operators.sample_tags(env, ["GAS-01.o2", "GAS-02.o2"], duration_s=0, interval_s=1)


@pytest.mark.req("URS-CON-006")
def test_await_condition_returns_when_met_and_times_out_otherwise(env, plant):
    plant.force("gas.lel", 0.0)
    try:
        met = operators.await_condition(env, "GAS-01.lel", "<", 10.0, timeout_s=2.0, interval_s=0.05)
        assert met["met"] is True and met["reading"]["value"] == 0.0
        with pytest.raises(ConditionTimeout, match=r"tag GAS-01.lel did not reach > 50.0 within 0.2 s \(last value 0.0 %LEL\)"):
            operators.await_condition(env, "GAS-01.lel", ">", 50.0, timeout_s=0.2, interval_s=0.05)
        from connectors.errors import ConnectorError
        with pytest.raises(ConnectorError, match="unknown condition '=~'"):
            operators.await_condition(env, "GAS-01.lel", "=~", 1, timeout_s=1)
    finally:
        plant.release()


BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="defs" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="weigh" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:serviceTask id="read_weight" name="Read net weight">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="equipment.read_tag" resultVariable="weight">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="tag" type="str" value="scale_tag"/>
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="read_weight"/>
    <bpmn:sequenceFlow id="f2" sourceRef="read_weight" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


_Parser = GmpBpmnParser  # the engine's parser: service tasks call the operator registry


def operator(name: str) -> Any:
    """The function a runtime's registry holds for `name`, after `register_operators` (the public way in)."""
    return operators.register_operators(OperatorRegistry()).get(name).function


@dataclass
class _Context:
    db: Any
    settings: Any
    instance_id: str
    element_id: str
    task_data: dict = field(default_factory=dict)


@pytest.mark.req("URS-CON-006", "ALCOA-ORIGINAL")
def test_read_tag_runs_from_a_bpmn_service_task(registered, settings, plant):
    registry = operators.register_operators(OperatorRegistry())  # a registry of its own
    parser = _Parser(validator=VALIDATOR)
    parser.add_bpmn_str(BPMN.encode(), filename="weigh.bpmn")
    caller = OperatorCaller(registry, context_for=lambda call: _Context(registered, settings, "31",
                                                                        call.element_id, call.task_data))
    wf = BpmnWorkflow(parser.get_spec("weigh"), {}, script_engine=make_script_engine(service_caller=caller))
    wf.get_next_task(spec_name="start").set_data(scale_tag="SCALE-01.net_weight")
    plant.force("scale.net_weight", 24.987)
    try:
        wf.do_engine_steps()
    finally:
        plant.release()
    assert wf.completed
    weight = wf.data["weight"]
    assert weight["value"] == pytest.approx(24.987, abs=1e-5) and weight["unit"] == "kg"
    assert weight["origin"] == "equipment"
    with registered.session() as session:
        row = session.scalars(select(EquipmentReading)).one()
    assert (row.instance_id, row.task_id, json.loads(row.value_json)) == ("31", "read_weight", weight["value"])


def test_an_unregistered_tag_in_a_diagram_fails_with_a_catchable_code(registered, settings):
    from engine.operators import OperatorFailed
    context = _Context(registered, settings, "31", "read_weight")
    with pytest.raises(OperatorFailed, match="'NOPE' is not in the effective tag registry") as info:
        operator("equipment.read_tag")(context, "NOPE")
    assert info.value.code == "equipment_refused"


@dataclass
class _StepContext:
    """What the engine gives a short operator inside a step: its unit of work."""

    uow: Any
    settings: Any
    instance_id: str
    element_id: str


def test_a_read_inside_an_engine_step_is_stored_in_the_steps_transaction(registered, settings, plant):
    from audit.canonical import Actor
    from store.uow import UnitOfWork
    with UnitOfWork(registered, Actor("op.chen", "Chen Operator")) as uow:
        result = operator("equipment.read_tag")(_StepContext(uow, settings, "8", "read_o2"), "GAS-01.o2")
        # not committed: a rolled-back step leaves no reading behind
    assert result["tag"] == "GAS-01.o2"
    with registered.session() as session:
        assert session.scalars(select(EquipmentReading)).all() == []
    with UnitOfWork(registered, Actor("op.chen", "Chen Operator")) as uow:
        operator("equipment.read_tag")(_StepContext(uow, settings, "8", "read_o2"), "GAS-01.o2")
        uow.commit()
    with registered.session() as session:
        row = session.scalars(select(EquipmentReading)).one()
    assert (row.instance_id, row.task_id, row.captured_by) == ("8", "read_o2", "op.chen")


@dataclass
class _JobContext:
    """What the scheduler gives a long-running operator: the database; each action commits itself."""

    db: Any
    settings: Any
    instance_id: int
    element_id: str


@pytest.mark.req("URS-CON-005", "URS-CON-006")
def test_write_tag_operator_writes_a_signed_set_point_and_maps_refusals_to_codes(registered, settings, people, plant,
                                                                                 frozen_clock):
    from connectors.setpoints import SetpointRecord
    from engine.operators import OperatorFailed
    from signatures import testing
    from signatures.service import sign
    from store.uow import UnitOfWork
    frozen_clock.advance(seconds=31)
    with UnitOfWork(registered, people.operator.actor) as uow:
        signature = sign(uow, SetpointRecord.of("FBD-01.impeller_speed_sp", 280, 55, "set_speed"), "performed",
                         testing.credentials(registered, people.operator), None, settings)
        uow.commit()
    context = _JobContext(registered, settings, 55, "write_speed")
    try:
        result = operator("equipment.write_tag")(context, "FBD-01.impeller_speed_sp", 280, signature.seq, "set_speed")
        assert result["state"] == "confirmed" and result["readback"]["value"] == 280
        assert plant.value("dryer.impeller_speed_sp") == 280.0
    finally:
        plant.set("dryer.impeller_speed_sp", 300.0)
    with pytest.raises(OperatorFailed, match="outside the allowed range") as info:
        operator("equipment.write_tag")(context, "FBD-01.impeller_speed_sp", 900, signature.seq, "set_speed")
    assert info.value.code == "setpoint_refused"
