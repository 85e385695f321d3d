"""Small batch and deviation diagrams and helpers for the business-key and link tests."""
from __future__ import annotations

from sqlalchemy import func, select

from audit.models import AuditEntry
from engine import instances
from store.uow import UnitOfWork
from tests.engine.conftest import actor

NS = ('xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
      'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" targetNamespace="http://gmp.example/keys"')


def properties(props: dict[str, str]) -> str:
    if not props:
        return ""
    inner = "".join(f'<spiffworkflow:property name="{k}" value="{v}"/>' for k, v in props.items())
    return f"<bpmn:extensionElements><spiffworkflow:properties>{inner}</spiffworkflow:properties></bpmn:extensionElements>"


def one_step(process_id: str, lane: str = "operator", *, props: dict[str, str] | None = None,
             task_props: dict[str, str] | None = None, start: str = "", head: str = "", throw: str = "") -> bytes:
    """start -> user task `step` in `lane` [-> throw event] -> end, with process-level properties."""
    after = "throw" if throw else "end"
    body = (f'<bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing>{start}</bpmn:startEvent>'
            '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="step"/>'
            f'<bpmn:userTask id="step" name="Step">{properties(task_props or {})}'
            '<bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>'
            f'<bpmn:sequenceFlow id="f2" sourceRef="step" targetRef="{after}"/>')
    nodes = ["start", "step", "end"]
    if throw:
        body += (f'<bpmn:intermediateThrowEvent id="throw"><bpmn:incoming>f2</bpmn:incoming>'
                 f'<bpmn:outgoing>f3</bpmn:outgoing>{throw}</bpmn:intermediateThrowEvent>'
                 '<bpmn:sequenceFlow id="f3" sourceRef="throw" targetRef="end"/>'
                 '<bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>')
        nodes.insert(2, "throw")
    else:
        body += '<bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>'
    refs = "".join(f"<bpmn:flowNodeRef>{n}</bpmn:flowNodeRef>" for n in nodes)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions {NS} id="defs_{process_id}">{head}'
            f'<bpmn:process id="{process_id}" name="{process_id.replace("_", " ").capitalize()}" isExecutable="true">'
            f'{properties(props or {})}'
            f'<bpmn:laneSet id="lanes"><bpmn:lane id="lane" name="{lane}">{refs}</bpmn:lane></bpmn:laneSet>'
            f'{body}</bpmn:process></bpmn:definitions>').encode()


BATCH = one_step("batch", props={"businessKey.field": "batch_number", "businessKey.required": "true"})
DEVIATION = one_step("deviation", "qa", props={"businessKey.field": "deviation.number"})
PLAIN = one_step("plain")

REQUEST = '<bpmn:message id="msg_request" name="deviation_request"/>'
# A batch step that asks for a deviation: the message payload carries the deviation number.
REPORTING_BATCH = one_step(
    "reporting_batch", props={"businessKey.field": "batch_number"}, head=REQUEST,
    throw='<bpmn:messageEventDefinition messageRef="msg_request"><bpmn:extensionElements>'
          "<spiffworkflow:messagePayload>{'number': deviation_number, 'batch': batch_number}"
          '</spiffworkflow:messagePayload></bpmn:extensionElements></bpmn:messageEventDefinition>')
# Started by that message; its business key is the payload's `number`.
REQUESTED_DEVIATION = one_step(
    "requested_deviation", "qa", props={"businessKey.field": "number", "businessKey.required": "true"}, head=REQUEST,
    start='<bpmn:messageEventDefinition messageRef="msg_request"><bpmn:extensionElements>'
          '<spiffworkflow:messageVariable>request</spiffworkflow:messageVariable>'
          '</bpmn:extensionElements></bpmn:messageEventDefinition>')


def start(db, key, user="sam", **kwargs) -> int:
    with UnitOfWork(db, actor(user)) as uow:
        instance = instances.start(uow, key, **kwargs)
        uow.commit()
    return instance.id


def count_rows(db, model) -> int:
    with db.session() as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def audit_actions(db, action) -> list:
    with db.session() as s:
        return s.execute(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)).scalars().all()
