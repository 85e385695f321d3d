"""Fill a database through the services of a release from 0012_business_keys_links on: everything
populate_v1.py records, and the records of the tables added since 0008 (run by
tests/support/upgrade.py with that release's code first on sys.path, in its own process).

    python populate_v2.py URL INSTANCE_PATH SECRET_KEY PASSPHRASE   -> last line: JSON manifest

Added to v1's records: the demo plant's master data in force through signed change sets
(bpmn.demo_masterdata: documents, materials, suppliers, the approved supplier list,
instruments, equipment, recipes, the training matrix), its signed operational records (lots
received and released, equipment logbook, calibrations, qualifications) and a revoked
qualification; a signed periodic evaluation report; instances with business keys, a link
between them and a retracted link. Frozen with the API of that release, like v1.
"""
from __future__ import annotations

import json
import sys

import populate_v1


def extra(db, settings, admin, people, fresh, manifest) -> None:
    from datetime import timedelta

    from bpmn import demo_masterdata
    from core import clock
    from engine import instances, links
    from masterdata import qualifications
    from signatures import testing
    from store.uow import UnitOfWork
    from web import periodic_core

    for name, full, roles in (("rita", "Rita Reviewer", ["qa", "qc"]), ("victor", "Victor Verifier", ["operator"])):
        people[name] = testing.enrolled_user(db, settings, admin, name, full, roles)
    manifest["people"].update({name: {"printed_name": people[name].printed_name, "password": people[name].password,
                                      "totp_secret": people[name].totp_secret} for name in ("rita", "victor")})
    manifest["users"] = sorted({*manifest.get("users", []), "rita", "victor"})
    demo_masterdata.seed(db, settings, fresh)
    from sqlalchemy import select

    from masterdata.record_models import QualificationRow
    ceremony = fresh("quinn")  # before the unit of work: it reads the database
    with UnitOfWork(db, people["quinn"].actor) as uow:
        held = uow.session.execute(select(QualificationRow.id).where(QualificationRow.user_id == "lin",
                                                                     QualificationRow.sop == "SOP-DSP-001")).scalar_one()
        qualifications.revoke_qualification(uow, held, reason="left the dispensing team",
                                            credentials=ceremony, settings=settings)
        uow.commit()

    today = clock.now().date()
    periodic_core.generate(db, settings, (today - timedelta(days=30)).isoformat(), today.isoformat(),
                           people["quinn"].actor, credentials=fresh("quinn"),
                           conclusion="the system remains in a validated state")

    with UnitOfWork(db, people["sam"].actor) as uow:
        batch = instances.start(uow, "line_clearance", title="Batch B-2026-0100 line clearance",
                                business_key="B-2026-0100", settings=settings)
        other = instances.start(uow, "line_clearance", title="Batch B-2026-0101 line clearance",
                                business_key="B-2026-0101", settings=settings)
        uow.commit()
        batch_id, other_id = batch.id, other.id
    with UnitOfWork(db, people["quinn"].actor) as uow:
        kept = links.link(uow, manifest["instances"]["batch_with_deviation"], "affects", batch_id,
                          reason="same granulate lot")
        wrong = links.link(uow, manifest["instances"]["batch_with_deviation"], "affects", other_id,
                           reason="entered in error")
        uow.commit()
    with UnitOfWork(db, people["quinn"].actor) as uow:
        links.retract(uow, wrong.id, "wrong batch selected")
        uow.commit()
    manifest["instances"].update({"keyed_batch": batch_id, "keyed_other": other_id})
    manifest["links"] = {"kept": kept.id, "retracted": wrong.id}


if __name__ == "__main__":
    print(json.dumps(populate_v1.main(*sys.argv[1:5], extra=extra), sort_keys=True))
