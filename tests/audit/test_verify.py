"""Verification catches every kind of tampering, one test per case (URS-AUD-003)."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from audit.canonical import GENESIS_HASH, canonical_bytes, chain_hash, content_digest
from audit.checkpoints import create_checkpoint, log_path
from audit.errors import ChainBroken, CheckpointInvalid, CheckpointLogCorrupt
from audit.verify import verify_trail
from tests.audit.conftest import add_entries, tamper

pytestmark = pytest.mark.req("URS-AUD-003", "P11-10a", "P11-10e")


def _row(db, seq):
    with db.engine.connect() as c:
        return c.execute(text("SELECT * FROM audit_entry WHERE seq = :s"), {"s": seq}).mappings().one()


def test_intact_trail_verifies(trail, settings):
    report = verify_trail(trail, settings)
    assert (report.entries, report.head_seq, report.unanchored, report.checkpoints) == (6, 6, 6, 0)
    assert "6 entries after the newest checkpoint are not yet anchored" in report.summary()


def test_empty_trail_verifies(db, settings):
    report = verify_trail(db, settings)
    assert (report.entries, report.head_seq, report.head_hash) == (0, 0, GENESIS_HASH)


def test_changed_display_column_is_caught(trail, settings):
    tamper(trail, "UPDATE audit_entry SET actor_name = 'Mallory' WHERE seq = 3")
    with pytest.raises(ChainBroken, match="audit entry 3: column actor_name differs") as caught:
        verify_trail(trail, settings)
    assert (caught.value.seq, caught.value.expected, caught.value.found) == (3, "Alice Example", "Mallory")


def test_changed_changes_column_is_caught(trail, settings):
    tamper(trail, """UPDATE audit_entry SET changes = '[["weight_kg",9,10]]' WHERE seq = 4""")
    with pytest.raises(ChainBroken, match="audit entry 4: column changes differs"):
        verify_trail(trail, settings)


def test_changed_canonical_bytes_are_caught(trail, settings):
    row = _row(trail, 2)
    forged = bytes(row["canonical"]).replace(b'"Alice Example"', b'"Mallory Example"')
    tamper(trail, "UPDATE audit_entry SET canonical = :c WHERE seq = 2", params={"c": forged})
    with pytest.raises(ChainBroken, match="audit entry 2: entry_hash does not match the canonical bytes"):
        verify_trail(trail, settings)


def test_deleted_row_is_caught(trail, settings):
    tamper(trail, "DELETE FROM audit_entry WHERE seq = 3")
    with pytest.raises(ChainBroken, match=r"audit entry 3: entry missing \(sequence gap\): expected 3, found 4"):
        verify_trail(trail, settings)


def test_inserted_row_is_caught(trail, settings):
    previous = _row(trail, 2)
    statements = [f"UPDATE audit_entry SET seq = {seq + 1} WHERE seq = {seq}" for seq in (6, 5, 4, 3)]
    document = {"v": 1, "seq": 3, "ts": previous["ts"], "actor_id": "alice", "actor_name": "Alice Example",
                "action": "batch_record.changed", "object_type": "batch_record", "object_id": "B-1",
                "changes": [], "reason": None, "details": {}}
    canonical = canonical_bytes(document)
    forged_hash = chain_hash(previous["entry_hash"], content_digest(canonical))
    statements.append("INSERT INTO audit_entry (seq, ts, actor_id, actor_name, action, object_type, object_id, "
                      "changes, reason, details, canonical, prev_hash, entry_hash) VALUES (3, :ts, 'alice', "
                      "'Alice Example', 'batch_record.changed', 'batch_record', 'B-1', '[]', NULL, '{}', :c, :p, :h)")
    tamper(trail, *statements, params={"ts": previous["ts"], "c": canonical, "p": previous["entry_hash"],
                                       "h": forged_hash})
    with pytest.raises(ChainBroken, match="audit entry 4: prev_hash does not link to the previous entry"):
        verify_trail(trail, settings)


def test_swapped_rows_are_caught(trail, settings):
    tamper(trail, "UPDATE audit_entry SET seq = -1 WHERE seq = 3", "UPDATE audit_entry SET seq = 3 WHERE seq = 4",
           "UPDATE audit_entry SET seq = 4 WHERE seq = -1")
    with pytest.raises(ChainBroken, match="audit entry 3: prev_hash does not link"):
        verify_trail(trail, settings)


def test_rows_cut_before_newest_checkpoint_are_caught(db, settings):
    add_entries(db, 5)
    create_checkpoint(db, settings)
    add_entries(db, 2)
    kept = _row(db, 3)
    tamper(db, "DELETE FROM audit_entry WHERE seq > 3", "DELETE FROM audit_checkpoint",
           "UPDATE audit_head SET seq = 3, entry_hash = :h", params={"h": kept["entry_hash"]})
    with pytest.raises(ChainBroken, match=r"audit entry 4: entry missing: trail truncated \(a checkpoint signed entry 5\)"):
        verify_trail(db, settings)


def test_rows_cut_after_newest_checkpoint_are_reported_unanchored(db, settings):
    add_entries(db, 5)
    create_checkpoint(db, settings)
    add_entries(db, 4)
    kept = _row(db, 7)
    tamper(db, "DELETE FROM audit_entry WHERE seq > 7", "UPDATE audit_head SET seq = 7, entry_hash = :h",
           params={"h": kept["entry_hash"]})
    report = verify_trail(db, settings)
    assert (report.head_seq, report.newest_checkpoint.seq, report.unanchored) == (7, 5, 2)


def test_rows_cut_without_moving_the_head_are_caught(trail, settings):
    tamper(trail, "DELETE FROM audit_entry WHERE seq > 4")
    with pytest.raises(ChainBroken, match=r"audit entry 5: entry missing \(audit_head names entry 6\)"):
        verify_trail(trail, settings)


def test_rewritten_chain_disagrees_with_checkpoint(db, settings):
    add_entries(db, 3)
    create_checkpoint(db, settings)
    row = _row(db, 2)
    document = {"v": 1, "seq": 2, "ts": row["ts"], "actor_id": "alice", "actor_name": "Alice Example",
                "action": "batch_record.changed", "object_type": "batch_record", "object_id": "B-1",
                "changes": [], "reason": None, "details": {}}
    canonical = canonical_bytes(document)
    h2 = chain_hash(row["prev_hash"], content_digest(canonical))
    third = _row(db, 3)
    h3 = chain_hash(h2, content_digest(bytes(third["canonical"])))
    tamper(db, "UPDATE audit_entry SET canonical = :c, changes = '[]', details = '{}', reason = NULL, "
               "entry_hash = :h2 WHERE seq = 2",
           "UPDATE audit_entry SET prev_hash = :h2, entry_hash = :h3 WHERE seq = 3",
           "UPDATE audit_head SET entry_hash = :h3", params={"c": canonical, "h2": h2, "h3": h3})
    with pytest.raises(ChainBroken, match="audit entry 3: entry hash differs from the signed checkpoint"):
        verify_trail(db, settings)


def test_forged_checkpoint_signature_is_refused(trail, settings):
    create_checkpoint(trail, settings)
    tamper(trail, "UPDATE audit_checkpoint SET signature = :s", params={"s": "A" * 88})
    with pytest.raises(CheckpointInvalid, match="checkpoint at seq 6: signature by key .* does not verify"):
        verify_trail(trail, settings)


def test_corrupt_checkpoint_log_is_refused(trail, settings):
    log_path(settings).write_text('{"seq": "x"}\n')
    with pytest.raises(CheckpointLogCorrupt, match="line 1: not a checkpoint: seq must be a positive integer"):
        verify_trail(trail, settings)


@pytest.mark.req("URS-AUD-003", "URS-FRM-010", "ALCOA-ACCURATE")
def test_exact_decimals_are_written_as_their_digits_and_the_trail_verifies(trail, settings):
    """A form number is a Decimal: the entry keeps its exact digits (10.10 stays 10.10, no 10.099999...,
    no exponent), while floats, integers and strings are encoded exactly as before."""
    from decimal import Decimal

    from store.uow import UnitOfWork
    from tests.audit.conftest import ALICE

    with UnitOfWork(trail, ALICE) as uow:
        uow.audit("task.completed", "task", "t-1",
                  changes=[["net", None, Decimal("10.10")], ["tiny", None, Decimal("1E-7")], ["big", None, Decimal("1.5E+3")],
                           ["old", 10.1, 3], ["rows", None, [{"w": Decimal("0.1")}]]])
        uow.commit()
        seq = uow.audit_seqs[0]
    canonical = bytes(_row(trail, seq)["canonical"]).decode()
    assert ('"changes":[["net",null,"10.10"],["tiny",null,"0.0000001"],["big",null,"1500"],["old",10.1,3],'
            '["rows",null,[{"w":"0.1"}]]]') in canonical
    assert verify_trail(trail, settings).entries == 7
