"""The batch record in the demo (`make run`, called by bpmn.demo.seed): a lactose lot that passes
the supplier gate (L-LAC-2603 from SUP-EURO, received by Quinn QA and released by Rita Reviewer),
and the batch record process uploaded by Quinn and approved by Rita. Sam (planner) orders the
first batch himself on the Batches page: README, "Run a batch"."""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Callable

from audit.canonical import Actor
from core import clock
from core.config import Settings
from store.db import Database
from store.uow import UnitOfWork

LACTOSE_LOT = "L-LAC-2603"


def seed(db: Database, settings: Settings, credentials: Callable[[str], Any], runtime: Any) -> None:
    from bpmn import batch_record
    from engine import definitions
    from engine.ports import SignatureInput
    from masterdata import lots

    quinn, rita = Actor("quinn", "Quinn QA"), Actor("rita", "Rita Reviewer")
    creds = credentials("quinn")
    with UnitOfWork(db, quinn) as uow:
        lots.receive_lot(uow, lot=LACTOSE_LOT, material="MAT-LAC", supplier="SUP-EURO", quantity=400, unit="kg",
                         expiry=(clock.now().date() + timedelta(days=700)).isoformat(), note="demo goods receipt",
                         credentials=creds, settings=settings)
        uow.commit()
    creds = credentials("rita")
    with UnitOfWork(db, rita) as uow:
        lots.change_lot_status(uow, LACTOSE_LOT, "released", reason="COA reviewed, identity test passed",
                               credentials=creds, settings=settings)
        uow.commit()
    with UnitOfWork(db, quinn) as uow:
        version = definitions.upload(uow, batch_record.diagram_files(), reason="demo process batch_record",
                                     runtime=runtime)
        uow.commit()
        version_id = version.id
    creds = credentials("rita")
    with UnitOfWork(db, rita) as uow:
        definitions.approve(uow, version_id, SignatureInput.of("approved", creds), settings=settings,
                            reason="batch record reviewed against the master batch record", runtime=runtime)
        uow.commit()
