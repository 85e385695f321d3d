"""What sign_many hands back and writes: the rows are written with prepared DBAPI
statements and the returned Signature objects are built without reading them back, so
check that they are exactly the stored rows, persistent and clean in the session."""
from __future__ import annotations

import pytest
from sqlalchemy import inspect, select

from signatures import testing
from signatures.meanings import Meaning
from signatures.models import Signature, SignatureHead
from signatures.records import SimpleRecord
from signatures.service import sign_many, signatures_for, verify_signatures
from store.uow import UnitOfWork

COLUMNS = [column.key for column in Signature.__table__.columns]


@pytest.mark.req("URS-SIG-002", "P11-70")
def test_returned_signatures_are_the_stored_rows(db, settings, make_user, frozen_clock):
    quinn = make_user("quinn", roles=["qa"])
    records = [SimpleRecord("deviation", f"D-{n}", 1, {"n": n, "title": f"deviation {n}"}) for n in range(3)]
    creds = testing.credentials(db, quinn)
    with UnitOfWork(db, quinn.actor) as uow:
        head_before = uow.session.execute(select(SignatureHead.seq)).scalar_one()
        rows = sign_many(uow, records, Meaning.ASSESSED, creds, None, settings)
        for row in rows:
            state = inspect(row)
            assert state.persistent and not state.modified and row in uow.session
            # the identity map hands back the same object: no second copy of the row
            assert uow.session.get(Signature, row.seq) is row
        assert not uow.session.dirty
        returned = [{name: getattr(row, name) for name in COLUMNS} for row in rows]
        uow.commit()
    assert [r["seq"] for r in returned] == [head_before + 1, head_before + 2, head_before + 3]
    with db.session() as s:
        assert s.execute(select(SignatureHead.seq)).scalar_one() == head_before + 3
        stored = [{name: getattr(row, name) for name in COLUMNS} for row in signatures_for(s, "deviation", "D-0")
                  + signatures_for(s, "deviation", "D-1") + signatures_for(s, "deviation", "D-2")]
        assert stored == returned
        for record in records:
            verify_signatures(s, record, settings, required=True)


@pytest.mark.req("URS-SIG-002", "P11-70")
def test_single_signature_continues_the_sequence(db, settings, make_user, frozen_clock):
    quinn = make_user("quinn", roles=["qa"])
    with UnitOfWork(db, quinn.actor) as uow:
        first = sign_many(uow, [SimpleRecord("deviation", "D-1", 1, {})], Meaning.ASSESSED,
                          testing.credentials(db, quinn), None, settings)[0]
        uow.commit()
    frozen_clock.advance(seconds=60)
    with UnitOfWork(db, quinn.actor) as uow:
        second = sign_many(uow, [SimpleRecord("deviation", "D-2", 1, {})], Meaning.ASSESSED,
                           testing.credentials(db, quinn), None, settings)[0]
        uow.commit()
    assert second.seq == first.seq + 1


@pytest.mark.req("URS-SIG-004", "P11-10a")
@pytest.mark.parametrize("message,match", [
    (b"GMP-SIGNATURE-v1\x00[1, 2]", "signed message is not a canonical JSON object"),
    (b"GMP-SIGNATURE-v1\x00{not json", "signed message is not canonical JSON"),
    (b"GMP-OTHER-v1\x00{}", "lacks the signature domain tag"),
])
def test_malformed_signed_message_is_refused(db, settings, make_user, frozen_clock, message, match):
    from signatures.errors import SignatureInvalid
    from signatures.verify import verify_signature

    quinn = make_user("quinn", roles=["qa"])
    record = SimpleRecord("deviation", "D-1", 1, {})
    with UnitOfWork(db, quinn.actor) as uow:
        row = sign_many(uow, [record], Meaning.ASSESSED, testing.credentials(db, quinn), None, settings)[0]
        uow.commit()
    with db.session() as s:
        stored = s.get(Signature, row.seq)
        s.expunge(stored)
        stored.message = message
        with pytest.raises(SignatureInvalid, match=match):
            verify_signature(s, stored, record, settings)
