"""The sample process with real identities, roles and electronic signatures (signatures/)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from audit.verify import verify_trail
from engine import definitions, instances, tasks
from engine.errors import ApprovalRefused, FormDataInvalid, SignatureRefused
from engine.ports import SignatureInput, default_services
from signatures import kdf, testing
from signatures.models import Signature
from signatures.records import SimpleRecord
from signatures.verify import verify_signatures
from store.uow import UnitOfWork
from tests.engine.conftest import bundle_files


def signed(person, meaning, db, **extra):
    creds = testing.credentials(db, person)
    return SignatureInput(meaning, person.user_id, {"password": creds.password, "totp": creds.totp or "", **extra})


@pytest.mark.req("URS-ENG-003", "URS-ENG-005", "URS-ENG-006", "URS-ENG-007", "P11-70", "P11-10g", "A11-10")
def test_sample_process_with_real_signatures(db, settings, frozen_clock):
    services = default_services(settings)
    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(db, settings)
        anna = testing.enrolled_user(db, settings, admin, "anna", "Anna Author", ["qa"])
        quinn = testing.enrolled_user(db, settings, admin, "quinn", "Quinn QA", ["qa"])
        alice = testing.enrolled_user(db, settings, admin, "alice", "Alice Operator", ["operator"])
        vera = testing.enrolled_user(db, settings, admin, "vera", "Vera Verifier", ["operator"])
        sam = testing.enrolled_user(db, settings, admin, "sam", "Sam Supervisor", ["supervisor"])
        frozen_clock.advance(seconds=30)
        with UnitOfWork(db, anna.actor) as uow:
            version = definitions.upload(uow, bundle_files("line_clearance"), reason="initial version",
                                         services=services)
            uow.commit()
        with pytest.raises(ApprovalRefused, match="anna uploaded this version and may not approve it"):
            with UnitOfWork(db, anna.actor) as uow:
                definitions.approve(uow, version.id, signed(anna, "approved", db), services=services)
        with UnitOfWork(db, quinn.actor) as uow:
            definitions.approve(uow, version.id, signed(quinn, "approved", db), services=services)
            uow.commit()
        with UnitOfWork(db, alice.actor) as uow:
            iid = instances.start(uow, "line_clearance").id
            uow.commit()
        frozen_clock.advance(seconds=30)

        def ready():
            with db.session() as s:
                return {t["bpmn_id"]: t["id"] for t in instances.inspect(s, iid)["tasks"]
                        if t["state"] == "ready" and t["manual"]}

        data = {"room": "G-101", "previous_product_removed": True, "line_clear": True}
        first = ready()["record_clearance"]
        with pytest.raises(FormDataInvalid, match="form data does not match the form: form has .*line_clear"):
            with UnitOfWork(db, alice.actor) as uow:
                tasks.complete_task(uow, first, dict(data, line_clear="yes"), [], services=services)
        with pytest.raises(SignatureRefused, match="signature 'verified' by vera refused"):
            with UnitOfWork(db, alice.actor) as uow:
                bad = SignatureInput("verified", "vera", {"password": "not the password", "totp": "000000"})
                tasks.complete_task(uow, first, data, [signed(alice, "performed", db), bad], services=services)
        frozen_clock.advance(seconds=30)
        with UnitOfWork(db, alice.actor) as uow:
            result = tasks.complete_task(uow, first, data, [signed(alice, "performed", db), signed(vera, "verified", db)],
                                         services=services)
            uow.commit()
        assert [s.meaning for s in result.signatures] == ["performed", "verified"]
        frozen_clock.advance(seconds=30)
        with UnitOfWork(db, sam.actor) as uow:
            tasks.complete_task(uow, ready()["review_documents"], {"documents_complete": True},
                                [signed(sam, "reviewed", db)], services=services)
            uow.commit()
        with UnitOfWork(db, vera.actor) as uow:
            tasks.complete_task(uow, ready()["check_equipment"], {"equipment_id": "GRAN-01", "status": "clean"}, [],
                                services=services)
            uow.commit()
        frozen_clock.advance(seconds=30)
        with UnitOfWork(db, quinn.actor) as uow:
            done = tasks.complete_task(uow, ready()["qa_approval"], {"decision": "released"},
                                       [signed(quinn, "approved", db)], services=services)
            uow.commit()
    assert done.instance_status == "completed"
    record = SimpleRecord("task", first, 1, tasks.task_record(iid, first, "record_clearance", data))
    with db.session() as s:
        verify_signatures(s, record, settings, required=True)
        signers = [(g.signer_id, g.meaning) for g in s.execute(
            select(Signature).where(Signature.record_id == first).order_by(Signature.seq)).scalars()]
        forged = SimpleRecord("task", first, 1, tasks.task_record(iid, first, "record_clearance",
                                                                  dict(data, room="G-999")))
        with pytest.raises(Exception, match="(?i)content|changed|mismatch"):
            verify_signatures(s, forged, settings, required=True)
    assert signers == [("alice", "performed"), ("vera", "verified")]
    verify_trail(db, settings)
