"""Demo data of the document lifecycle for `make run` (bpmn/demo.py calls `seed`).

- Both diagrams approved (uploaded by Quinn QA, approved by Rita Reviewer).
- SOP-DSP-001 (v2 in force from the master data seed) gets its content file, and a controlled
  copy of it is out: requested by Dora (document control), approved by Quinn, distributed to
  the dispensary, not yet returned: the Documents page shows it outstanding.
- SOP-QA-010 "Controlled copies" v1 is in review: Dora drafted it with its content file;
  Rita's review waits in her inbox, then Quinn approves.
"""
from __future__ import annotations

from typing import Any, Callable

from store.db import Database
from store.uow import UnitOfWork

DSP_CONTENT = ("SOP-DSP-001 v2 — Dispensing of starting materials / 物料称量发放\n\n"
               "1. Purpose 目的: weigh starting materials against the batch record.\n"
               "2. Check the balance (BAL-01) daily with the reference weight 每日用标准砝码校验天平。\n"
               "3. Record each lot, net weight and tare; a second person verifies 双人复核。\n").encode()
QA_CONTENT = ("SOP-QA-010 v1 — Controlled copies / 受控副本管理\n\n"
              "1. A controlled copy is printed only from the document system, numbered and marked 受控副本.\n"
              "2. Copies are returned or destroyed when a new version becomes effective.\n"
              "3. Document control reconciles: issued = returned + destroyed + outstanding.\n").encode()


def seed(db: Database, settings: Any, credentials: Callable[[str], Any], runtime: Any) -> None:
    from audit.canonical import Actor
    from bpmn.document_lifecycle import COPIES, LIFECYCLE, PROCESS_ID, files_of
    from engine import definitions, instances, tasks
    from engine.ports import SignatureInput, default_services
    from masterdata import changes, documents

    services = default_services(settings)
    quinn, rita, dora = Actor("quinn", "Quinn QA"), Actor("rita", "Rita Reviewer"), Actor("dora", "Dora Document-Control")

    def sign(user: str, meaning: str) -> list[Any]:
        return [SignatureInput.of(meaning, credentials(user))]

    from signatures.accountability import get_statement, sign_statement

    with db.read_session() as session:
        signed = get_statement(session, "dora") is not None
    if not signed:  # Dora signs the accountability statement before her first signature
        creds = credentials("dora")
        with UnitOfWork(db, dora) as uow:
            sign_statement(uow, creds, settings)
            uow.commit()
    for folder in (LIFECYCLE, COPIES):
        with UnitOfWork(db, quinn) as uow:
            version = definitions.upload(uow, files_of(folder), reason=f"document processes: {folder.name}",
                                         runtime=runtime)
            uow.commit()
        approval = sign("rita", "approved")[0]
        with UnitOfWork(db, rita) as uow:
            definitions.approve(uow, version.id, approval, settings=settings,
                                reason="document processes reviewed", runtime=runtime)
            uow.commit()

    def ready(instance_id: int, bpmn_id: str) -> str:
        from sqlalchemy import select

        from engine.models import InstanceTask

        with db.session() as session:
            found = session.scalars(select(InstanceTask.id).where(
                InstanceTask.instance_id == instance_id, InstanceTask.bpmn_id == bpmn_id,
                InstanceTask.id.in_(tasks.ready_task_ids(session, instance_id)))).first()
        assert found is not None, bpmn_id
        return found

    def complete(actor: Actor, instance_id: int, bpmn_id: str, data: dict[str, Any], meaning: str) -> None:
        signatures = sign(actor.user_id, meaning)
        with UnitOfWork(db, actor) as uow:
            tasks.complete_task(uow, ready(instance_id, bpmn_id), data, signatures, services=services,
                                settings=settings, runtime=runtime)
            uow.commit()

    # SOP-DSP-001 v2 (in force from the master data) gets its content; a controlled copy goes out
    with UnitOfWork(db, dora) as uow:
        current = changes.effective(uow.session, "document", "SOP-DSP-001")
        documents.store_content(uow, "SOP-DSP-001", int(current.data["version"]) if current else 2, "SOP-DSP-001.txt",
                                DSP_CONTENT, "text/plain")
        copy = instances.start(uow, "controlled_copy", title="Controlled copy of SOP-DSP-001", settings=settings,
                               runtime=runtime)
        uow.commit()
    complete(dora, copy.id, "request", {"code": "SOP-DSP-001", "recipient": "Alice Operator",
                                        "location": "Dispensary 配料间", "purpose": "shop-floor copy"}, "performed")
    complete(quinn, copy.id, "approve_request", {"decision": "approve", "comment": "one copy for the dispensary"},
             "approved")
    complete(dora, copy.id, "distribute", {"handed_to": "Alice Operator", "note": "handed over at the line"},
             "performed")

    # SOP-QA-010 v1 drafted and waiting for Rita's review
    with UnitOfWork(db, dora) as uow:
        revision = instances.start(uow, PROCESS_ID, title="SOP-QA-010 revision", settings=settings, runtime=runtime,
                                   data={"document": {"code": "SOP-QA-010", "reason": "new SOP for controlled copies"}})
        documents.store_content(uow, "SOP-QA-010", 1, "SOP-QA-010.txt", QA_CONTENT, "text/plain",
                                instance_id=revision.id)
        uow.commit()
    from datetime import timedelta

    from core import clock

    complete(dora, revision.id, "draft_document", {
        "code": "SOP-QA-010", "title": "Controlled copies", "title_zh": "受控副本管理", "type": "sop",
        "department": "Quality assurance", "change_reason": "new SOP for controlled copies",
        "effective_date": (clock.now().date() + timedelta(days=14)).isoformat(), "review_months": 24, "reviewers": "rita"},
        "performed")
