"""Demo data for `make run`: the deviation process approved, and two open deviations.

- DEV-YYYY-0001 raised from the demo batch's granulation step (a temperature excursion, as the
  `raise_deviation` operator raises it: pre-filled, linked `raised_from` the batch, which is
  on hold), triaged by Quinn QA (classified by the table) and waiting for Iris Investigator;
- DEV-YYYY-0002 reported by hand by Alice Operator (a torn label), waiting for QA triage.

`seed(db, settings, credentials, runtime)`: `credentials(user_id)` gives one ceremony's
components (bpmn.demo). Uses the services, like a person would.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Callable

from sqlalchemy import select

from audit.canonical import Actor
from core import clock
from core.config import Settings
from store.db import Database
from store.uow import UnitOfWork

DEMO_BATCH_PROCESS = "gated_batch"


def _sign(credentials: Callable[[str], Any], user_id: str, meaning: str) -> Any:
    from engine.ports import SignatureInput

    return SignatureInput.of(meaning, credentials(user_id))


def _ready_task(session: Any, instance_id: int, bpmn_id: str) -> str:
    from engine.models import InstanceTask
    from engine.spiff.workflow import READY

    return str(session.scalars(select(InstanceTask.id).where(
        InstanceTask.instance_id == instance_id, InstanceTask.bpmn_id == bpmn_id, InstanceTask.state == READY,
        InstanceTask.dropped.is_(False))).first())


def _demo_batch(session: Any) -> int | None:
    from engine.models import ProcessDefinition, ProcessDefinitionVersion, ProcessInstance

    return session.scalars(select(ProcessInstance.id)
                           .join(ProcessDefinitionVersion, ProcessDefinitionVersion.id == ProcessInstance.version_id)
                           .join(ProcessDefinition, ProcessDefinition.id == ProcessDefinitionVersion.definition_id)
                           .where(ProcessDefinition.key.in_(["batch_record", DEMO_BATCH_PROCESS]),
                                  ProcessInstance.status == "running")
                           .order_by(ProcessInstance.id)).first()


def seed(db: Database, settings: Settings, credentials: Callable[[str], Any], runtime: Any) -> None:
    from bpmn.deviation_capa import bundle
    from engine import definitions, instances, tasks
    from engine.business_keys import key_of
    from engine.messages import DbOperatorActions
    from engine.ports import default_services

    quinn, rita, alice = Actor("quinn", "Quinn QA"), Actor("rita", "Rita Reviewer"), Actor("alice", "Alice Operator")
    with UnitOfWork(db, quinn) as uow:
        version = definitions.upload(uow, bundle(), reason="demo: the deviation and CAPA process", runtime=runtime)
        uow.commit()
        version_id = version.id
    approval = _sign(credentials, "rita", "approved")  # the password checked before the write transaction
    with UnitOfWork(db, rita) as uow:
        definitions.approve(uow, version_id, approval, settings=settings,
                            reason="deviation process reviewed", runtime=runtime)
        uow.commit()
    with UnitOfWork(db, alice) as uow:
        batch = _demo_batch(uow.session)
        if batch is None:
            return
        number = key_of(uow.session, batch) or "demo batch"
        raised = DbOperatorActions(uow, batch, "granulate", settings, runtime=runtime).raise_deviation(
            "Granulator bowl temperature above its limit", {
                "source_kind": "cpp_excursion", "batch": number, "step": "granulate", "tag": "GR-01.bowl_temp",
                "value": 72.4, "limit_low": 40, "limit_high": 70, "unit": "°C", "equipment": "GR-01"}, "major")
        uow.commit()
    due = (clock.now() + timedelta(days=7)).date().isoformat()
    classified = _sign(credentials, "quinn", "classified")
    with UnitOfWork(db, quinn) as uow:
        task_id = _ready_task(uow.session, int(raised), "triage")
        tasks.complete_task(uow, task_id, {
            "severity": "medium", "occurrence": "occasional", "detectability": "medium", "investigation_owner": "iris",
            "investigation_due": due, "triage_note": "excursion of 2.4 °C for 6 minutes; dissolution at risk"},
            [classified], services=default_services(settings), settings=settings,
            runtime=runtime)
        uow.commit()
    with UnitOfWork(db, alice) as uow:
        instances.start(uow, "deviation", title="Deviation: Torn label on a lactose drum", settings=settings,
                        runtime=runtime, data={"deviation": {
                            "title": "Torn label on a lactose drum", "severity": "minor",
                            "description": "At goods receipt the label of drum 4 of lot L-LAC-2601 was torn; the lot "
                                           "number is still readable.",
                            "occurred_on": clock.now().date().isoformat(), "location": "Warehouse, goods receipt",
                            "material": "MAT-LAC", "immediate_action": "Drum set aside and labelled 'on hold'",
                            "context": {"source_kind": "manual", "material": "MAT-LAC"}, "reported_by": "alice"}})
        uow.commit()
