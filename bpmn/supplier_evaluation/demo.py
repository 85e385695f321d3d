"""Demo of the supplier evaluation for `make run` (called by bpmn.demo): Quinn QA uploads the
process, Rita Reviewer approves it, and Paula Purchasing requests the evaluation of Indo Cellulose
(SUP-INDO) for lactose (MAT-LAC), started with both named (`evaluation`: the request shows them,
read-only): its lot L-LAC-2602 is refused at dispensing until the approved supplier list
says otherwise."""
from __future__ import annotations

from typing import Any, Callable

from audit.canonical import Actor
from store.db import Database
from store.uow import UnitOfWork


def seed(db: Database, settings: Any, credentials: Callable[[str], Any], runtime: Any) -> None:
    from bpmn.calibration.demo import deploy
    from bpmn.supplier_evaluation import DIAGRAM
    from engine import instances

    deploy(db, settings, credentials, runtime, DIAGRAM, "supplier evaluation library process")
    with UnitOfWork(db, Actor("paula", "Paula Purchasing")) as uow:
        instances.start(uow, "supplier_evaluation", title="Evaluation of SUP-INDO for MAT-LAC", settings=settings,
                        runtime=runtime, data={"evaluation": {"supplier": "SUP-INDO", "material": "MAT-LAC"}})
        uow.commit()
