"""Demo of the calibration processes for `make run` (called by bpmn.demo).

Quinn QA uploads the work order and the daily schedule, Rita Reviewer approves both with a
signature, and Mike Metrology starts the schedule: it opens a work order at once for PT-102
(the dryer's filter differential pressure, overdue: the reason drying is refused) and for any
other instrument due within its warning days. PT-102 sits on the simulated calibration bench
(`connectors/simulator`: the pressure calibrator REF-P-01 applies `cal.dp_reference`, PT-102
reads it plus `cal.dp_transmitter_offset`); REF-P-02 is an overdue calibrator, refused as a
reference standard.
"""
from __future__ import annotations

from typing import Any, Callable

from audit.canonical import Actor
from store.db import Database
from store.uow import UnitOfWork


def deploy(db: Database, settings: Any, credentials: Callable[[str], Any], runtime: Any, folder: Any,
           reason: str) -> str:
    """Upload a process folder as Quinn QA and approve it as Rita Reviewer; the process key."""
    from engine import definitions
    from engine.models import ProcessDefinition
    from engine.ports import SignatureInput

    files = {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}
    with UnitOfWork(db, Actor("quinn", "Quinn QA")) as uow:
        version = definitions.upload(uow, files, reason=reason, runtime=runtime)
        key = uow.session.get(ProcessDefinition, version.definition_id).key
        uow.commit()
        version_id = version.id
    creds = credentials("rita")
    with UnitOfWork(db, Actor("rita", "Rita Reviewer")) as uow:
        definitions.approve(uow, version_id, SignatureInput.of("approved", creds), settings=settings,
                            reason="process reviewed against GMP_PROCESSES §5", runtime=runtime)
        uow.commit()
    return str(key)


def seed(db: Database, settings: Any, credentials: Callable[[str], Any], runtime: Any) -> None:
    from bpmn.calibration import DIAGRAMS
    from engine import instances

    for key, folder in DIAGRAMS.items():
        deploy(db, settings, credentials, runtime, folder, f"calibration library process {key}")
    with UnitOfWork(db, Actor("mike", "Mike Metrology")) as uow:
        instances.start(uow, "calibration_schedule", title="Calibration schedule", settings=settings, runtime=runtime)
        uow.commit()
