"""Operational master data records: lots and QC status, equipment logbook, calibrations,
qualifications. Each is signed by the person who makes it, audited with old and new
values, refused (changing nothing) when the state or the role does not allow it, and its
status is computed from dates on the product clock."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select, text

from audit.models import AuditEntry
from masterdata import calibration, equipment_log, lots, qualifications
from masterdata.errors import RecordInvalid, RecordNotFound, RecordNotPermitted, RecordStateError
from masterdata.record_models import APPEND_ONLY_TABLES, EquipmentLogRow, LotStatusRow
from signatures.models import Signature
from store.uow import UnitOfWork


def _receive(plant, lot, material="MAT-API", supplier="SUP-A", expiry="2027-06-30", who="cora", **kw):
    return plant.act(who, lots.receive_lot, lot=lot, material=material, supplier=supplier, quantity="25.5",
                     unit=kw.pop("unit", "kg"), expiry=expiry, **kw)


def _status(plant, lot, status, who="cora", reason="COA and identity test passed"):
    return plant.act(who, lots.change_lot_status, lot, status, reason=reason)


def _audit(db, action):
    with db.session() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)))


def _count(db, table):
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(table))


@pytest.mark.req("URS-MD-001", "P11-10e", "P11-10g", "P11-70")
def test_a_lot_arrives_in_quarantine_and_qc_releases_it_with_a_signature(stocked):
    received = _receive(stocked, "L-001", supplier_lot="A-7781")
    assert (received.status, received.quantity, received.unit, received.expiry) == ("quarantine", "25.5", "kg",
                                                                                     "2027-06-30")
    released = _status(stocked, "L-001", "released")
    assert (released.status, released.status_by) == ("released", "cora")
    with stocked.db.session() as session:
        history = lots.status_history(session, "L-001")
        assert [(h.previous_status, h.status) for h in history] == [(None, "quarantine"), ("quarantine", "released")]
        sig = session.get(Signature, int(history[-1].signature_id))
        assert (sig.record_type, sig.record_id, sig.meaning, sig.signer_id) == \
            ("md_lot_status", "L-001/2", "released", "cora")
        receipt = session.get(Signature, int(history[0].signature_id))
        assert (receipt.record_type, receipt.meaning) == ("md_lot", "created")
        assert [s.lot for s in lots.lots(session, status="released")] == ["L-001"]
        assert lots.lots(session, material="MAT-LAC") == []
    entry = _audit(stocked.db, "md_lot.released")[-1]
    assert entry.actor_id == "cora" and ["status", "quarantine", "released"] in json.loads(entry.changes)


@pytest.mark.req("URS-MD-001", "P11-10g", "P11-10f")
def test_lot_status_changes_the_state_does_not_allow_are_refused_and_change_nothing(stocked):
    _receive(stocked, "L-001")
    with pytest.raises(RecordNotPermitted, match="alice may not change the QC status of lot L-001: that needs one "
                                                 "of the roles qc, qa; alice holds operator"):
        _status(stocked, "L-001", "released", who="alice")
    with pytest.raises(RecordStateError, match="lot L-001 is quarantine already"):
        _status(stocked, "L-001", "quarantine")
    with pytest.raises(RecordInvalid, match="unknown QC status 'approved'"):
        _status(stocked, "L-001", "approved")
    with pytest.raises(RecordInvalid, match="reason is required"):
        _status(stocked, "L-001", "released", reason="  ")
    _status(stocked, "L-001", "rejected", reason="identity test failed")
    with pytest.raises(RecordStateError, match="lot L-001 is rejected: it cannot become released "
                                               r"\(a rejected lot stays rejected\)"):
        _status(stocked, "L-001", "released")
    with pytest.raises(RecordNotFound, match="no lot 'L-404'"):
        _status(stocked, "L-404", "released")
    assert _count(stocked.db, LotStatusRow) == 2  # receipt + rejection; the refusals stored nothing
    refused = _audit(stocked.db, "md_lot.refused")
    assert len(refused) == 6 and "alice may not" in refused[0].reason


@pytest.mark.req("URS-MD-001", "P11-10f")
def test_a_lot_is_never_released_expired_or_from_a_supplier_not_approved_for_its_material(stocked):
    _receive(stocked, "L-OLD", expiry="2026-01-04")  # the clock stands at 2026-01-05
    with pytest.raises(RecordStateError, match="lot L-OLD expired on 2026-01-04: it cannot be released"):
        _status(stocked, "L-OLD", "released")
    _receive(stocked, "L-B", material="MAT-LAC", supplier="SUP-B")
    with pytest.raises(RecordStateError, match="supplier SUP-B is rejected for material MAT-LAC on the approved "
                                               "supplier list"):
        _status(stocked, "L-B", "released")
    _receive(stocked, "L-C", material="MAT-API", supplier="SUP-B")
    with pytest.raises(RecordStateError, match="supplier SUP-B is not listed for material MAT-API"):
        _status(stocked, "L-C", "released")
    received = _audit(stocked.db, "md_lot.received")
    assert json.loads(received[0].details)["expired_on_receipt"] is True


@pytest.mark.req("URS-MD-001", "A11-5")
def test_a_receipt_with_bad_data_is_refused_naming_the_field(stocked):
    with pytest.raises(RecordInvalid, match="material 'MAT-XYZ' is not in the master data in force"):
        _receive(stocked, "L-1", material="MAT-XYZ")
    with pytest.raises(RecordInvalid, match="supplier 'SUP-Z' is not in the master data in force"):
        _receive(stocked, "L-1", supplier="SUP-Z")
    with pytest.raises(RecordInvalid, match="unit 'g': material MAT-API is kept in kg"):
        _receive(stocked, "L-1", unit="g")
    with pytest.raises(RecordInvalid, match="expiry '31/12/2027': expected a date"):
        _receive(stocked, "L-1", expiry="31/12/2027")
    with pytest.raises(RecordInvalid, match="lot code 'bad lot'"):
        _receive(stocked, "bad lot")
    with pytest.raises(RecordNotPermitted, match="alice may not receive lot L-1"):
        _receive(stocked, "L-1", who="alice")
    _receive(stocked, "L-1")
    with pytest.raises(RecordStateError, match="lot L-1 was received already"):
        _receive(stocked, "L-1")
    with stocked.db.session() as session:
        assert [s.lot for s in lots.lots(session)] == ["L-1"]


def _log(plant, equipment, status, who="alice", note="per SOP-CLN-004", **kw):
    return plant.act(who, equipment_log.log_equipment, equipment, status, note=note, **kw)


@pytest.mark.req("URS-MD-002", "P11-10e", "A11-12", "ALCOA-ATTRIBUTABLE")
def test_the_equipment_logbook_gives_the_status_and_each_entry_is_signed(stocked):
    with stocked.db.session() as session:
        assert equipment_log.equipment_state(session, "GR-01").status is None
    with pytest.raises(RecordStateError, match="GR-01 is without a logbook entry: it cannot be recorded as released "
                                               r"for use \(only clean equipment is released for use\)"):
        _log(stocked, "GR-01", "released", who="sam")
    _log(stocked, "GR-01", "clean")
    with pytest.raises(RecordNotPermitted, match="alice may not record 'released' in the logbook of GR-01"):
        _log(stocked, "GR-01", "released")
    state = _log(stocked, "GR-01", "released", who="sam", note="visual inspection passed")
    assert state.released_for_use and state.clean and state.clean_until is not None
    state = _log(stocked, "GR-01", "in_use", instance_id=7, note="batch B-001")
    assert (state.status, state.instance_id) == ("in_use", 7)
    with pytest.raises(RecordStateError, match="GR-01 is in use: it cannot be recorded as clean"):
        _log(stocked, "GR-01", "clean")
    with pytest.raises(RecordInvalid, match="only an 'in use' entry names a process instance"):
        _log(stocked, "GR-01", "dirty", instance_id=7)
    _log(stocked, "GR-01", "dirty", note="batch B-001 finished")
    _log(stocked, "GR-01", "out_of_service", who="sam", note="impeller seal leaking")
    with pytest.raises(RecordNotFound, match="equipment 'GR-99' is not in the master data in force"):
        _log(stocked, "GR-99", "clean")
    with stocked.db.session() as session:
        book = equipment_log.logbook(session, "GR-01")
        assert [(e.previous_status, e.status, e.entered_by) for e in book] == [
            (None, "clean", "alice"), ("clean", "released", "sam"), ("released", "in_use", "alice"),
            ("in_use", "dirty", "alice"), ("dirty", "out_of_service", "sam")]
        meanings = [session.get(Signature, int(e.signature_id)).meaning for e in book]
        assert meanings == ["performed", "released", "performed", "performed", "performed"]
    entry = _audit(stocked.db, "md_equipment.logged")[-1]
    assert ["status", "dirty", "out_of_service"] in json.loads(entry.changes) and entry.reason == "impeller seal leaking"


@pytest.mark.req("URS-MD-002", "P11-10f")
def test_a_release_for_use_lapses_when_the_clean_hold_time_passes(stocked):
    _log(stocked, "GR-01", "clean")
    _log(stocked, "GR-01", "released", who="sam")
    stocked.clock.advance(hours=72)
    with stocked.db.session() as session:
        state = equipment_log.equipment_state(session, "GR-01")
        assert state.status == "released" and not state.released_for_use and state.hold_lapsed()
    _log(stocked, "GR-01", "clean", note="re-cleaned after the hold time")
    stocked.clock.advance(hours=73)
    with pytest.raises(RecordStateError, match="GR-01: the clean hold time ended at"):
        _log(stocked, "GR-01", "released", who="sam")
    assert _count(stocked.db, EquipmentLogRow) == 3


def _calibrate(plant, instrument, on, result="pass", who="mike", **kw):
    return plant.act(who, calibration.record_calibration, instrument, calibrated_on=on, result=result, **kw)


@pytest.mark.req("URS-MD-004", "P11-10h", "P11-10e")
def test_calibration_status_follows_the_dates_on_the_product_clock(stocked):
    with stocked.db.session() as session:
        assert calibration.instrument_state(session, "WT-01").status == "not_calibrated"
    state = _calibrate(stocked, "WT-01", "2025-12-01", certificate="CAL-117")
    assert (state.status, state.last_good, state.due_on) == ("in_calibration", "2025-12-01", "2026-03-01")
    stocked.clock.advance(days=46)  # 2026-02-20: within the 10 warning days
    with stocked.db.session() as session:
        assert calibration.instrument_state(session, "WT-01").status == "due"
    stocked.clock.advance(days=9)  # 2026-03-01: the due date itself
    with stocked.db.session() as session:
        assert calibration.instrument_state(session, "WT-01").status == "due"
    stocked.clock.advance(days=1)  # 2026-03-02
    with stocked.db.session() as session:
        assert calibration.instrument_state(session, "WT-01").status == "overdue"
    failed = _calibrate(stocked, "WT-01", "2026-03-02", result="out_of_tolerance", note="as found +0.08 kg")
    assert (failed.status, failed.last_good, failed.due_on) == ("out_of_tolerance", "2025-12-01", None)
    passed = _calibrate(stocked, "WT-01", "2026-03-02", note="adjusted; as left +0.01 kg")
    assert (passed.status, passed.due_on) == ("in_calibration", "2026-05-31")
    with stocked.db.session() as session:
        records = calibration.calibrations(session, "WT-01")
        sig = session.get(Signature, int(records[-1].signature_id))
        assert (sig.record_type, sig.record_id, sig.meaning, sig.signer_id) == \
            ("md_calibration", "WT-01/3", "approved", "mike")
    entry = _audit(stocked.db, "md_instrument.calibrated")[1]
    assert ["status", "overdue", "out_of_tolerance"] in json.loads(entry.changes)


@pytest.mark.req("URS-MD-004", "P11-10h")
def test_a_calibration_is_refused_with_a_reference_out_of_calibration_or_bad_data(stocked):
    with pytest.raises(RecordStateError, match="reference standard REF-01 is not calibrated: a calibration needs a "
                                               "reference that is itself in calibration"):
        _calibrate(stocked, "TT-01", "2026-01-05", reference="REF-01")
    with pytest.raises(RecordInvalid, match="calibration date 2026-01-06 is in the future"):
        _calibrate(stocked, "TT-01", "2026-01-06")
    with pytest.raises(RecordInvalid, match="note is required"):
        _calibrate(stocked, "TT-01", "2026-01-05", result="out_of_tolerance")
    with pytest.raises(RecordInvalid, match="unknown calibration result 'ok'"):
        _calibrate(stocked, "TT-01", "2026-01-05", result="ok")
    with pytest.raises(RecordNotFound, match="instrument 'XX-1' is not in the master data in force"):
        _calibrate(stocked, "XX-1", "2026-01-05")
    with pytest.raises(RecordNotPermitted, match="alice may not record a calibration of TT-01"):
        _calibrate(stocked, "TT-01", "2026-01-05", who="alice")
    _calibrate(stocked, "REF-01", "2026-01-02", certificate="NIM-2026-0042")
    state = _calibrate(stocked, "TT-01", "2026-01-05", reference="REF-01")
    assert state.status == "in_calibration"
    with pytest.raises(RecordStateError, match="TT-01 was calibrated on 2026-01-05 already"):
        _calibrate(stocked, "TT-01", "2026-01-04")


def _grant(plant, user, sop, version, who="tess", **kw):
    kw.setdefault("basis", "read and understood; practical assessment passed")
    return plant.act(who, qualifications.grant_qualification, user, sop, version, **kw)


@pytest.mark.req("URS-MD-005", "P11-10i", "P11-10e")
def test_a_qualification_is_granted_on_a_register_version_and_expires_and_is_revoked_by_dates(stocked):
    granted = _grant(stocked, "alice", "SOP-PRD-012", 4, valid_until="2026-01-31")
    assert granted.state() == "current" and granted.granted_on == "2026-01-05"
    with stocked.db.session() as session:
        sig = session.get(Signature, int(granted.signature_id))
        assert (sig.record_type, sig.meaning, sig.signer_id) == ("md_qualification", "approved", "tess")
    stocked.clock.advance(days=26)  # 2026-01-31: the last valid day
    with stocked.db.session() as session:
        assert qualifications.get_qualification(session, granted.id).state() == "current"
    stocked.clock.advance(days=1)
    with stocked.db.session() as session:
        assert qualifications.get_qualification(session, granted.id).state() == "expired"
    second = _grant(stocked, "bob", "SOP-PRD-012", 4)
    revoked = stocked.act("quinn", qualifications.revoke_qualification, second.id, reason="moved to packaging")
    assert (revoked.state(), revoked.revoked_by, revoked.revocation_reason) == ("revoked", "quinn",
                                                                                "moved to packaging")
    with pytest.raises(RecordStateError, match=f"qualification {second.id} was revoked on"):
        stocked.act("quinn", qualifications.revoke_qualification, second.id, reason="again")
    assert json.loads(_audit(stocked.db, "md_qualification.revoked")[0].changes) == [["state", "current", "revoked"]]


@pytest.mark.req("URS-MD-005", "P11-10i", "P11-10g")
def test_a_qualification_grant_is_refused_for_versions_outside_the_register_and_for_oneself(stocked):
    with pytest.raises(RecordInvalid, match=r"SOP-PRD-012 v5 is not in the document register \(approved versions: "
                                            r"v4\)"):
        _grant(stocked, "alice", "SOP-PRD-012", 5)
    with pytest.raises(RecordInvalid, match=r"SOP-XXX v1 is not in the document register \(approved versions: none"):
        _grant(stocked, "alice", "SOP-XXX", 1)
    with pytest.raises(RecordInvalid, match="valid until 2025-12-31 is before the grant date 2026-01-05"):
        _grant(stocked, "alice", "SOP-PRD-012", 4, valid_until="2025-12-31")
    with pytest.raises(RecordNotFound, match="no user 'zed'"):
        _grant(stocked, "zed", "SOP-PRD-012", 4)
    with pytest.raises(RecordNotPermitted, match="alice may not grant a qualification on SOP-PRD-012"):
        _grant(stocked, "bob", "SOP-PRD-012", 4, who="alice")
    with pytest.raises(RecordStateError, match="nobody grants themself a qualification"):
        _grant(stocked, "quinn", "SOP-PRD-012", 4, who="quinn")
    with pytest.raises(RecordNotPermitted, match="tess cannot sign for quinn"):
        creds = stocked.creds("tess")
        with UnitOfWork(stocked.db, stocked["quinn"].actor) as uow:
            qualifications.grant_qualification(uow, "alice", "SOP-PRD-012", 4, basis="x", credentials=creds,
                                               settings=stocked.settings)
    with stocked.db.session() as session:
        assert qualifications.qualifications_of(session) == []


@pytest.mark.req("URS-MD-001", "URS-MD-002", "A11-9", "ALCOA-ENDURING")
def test_record_tables_refuse_updates_and_deletes_in_the_database(stocked):
    _receive(stocked, "L-1")
    _log(stocked, "GR-01", "clean")
    from store.sqlguards import trigger_names

    for table in ("md_lot", "md_lot_status", "md_equipment_log"):  # tables holding rows now
        for statement in (f"UPDATE {table} SET id = id", f"DELETE FROM {table}"):
            with stocked.db.engine.connect() as connection:
                with pytest.raises(Exception, match="append-only"):
                    connection.execute(text(statement))
    with stocked.db.engine.connect() as connection:
        assert all(trigger_names(connection, table) for table in APPEND_ONLY_TABLES)


@pytest.mark.req("URS-OPS-003", "P11-200a1")
def test_a_signed_record_made_outside_the_web_derives_the_key_before_the_write_transaction(stocked, monkeypatch):
    """A service-level caller (here the logbook, as the demo seed, the PQ drivers and `gmp` commands
    call it) builds prechecked credentials before its unit of work: the write transaction derives
    nothing. Without the precheck the same record's derivation happens inside it (the hook sees it)."""
    import dataclasses

    from signatures.accountability import sign_statement
    from signatures.testing import enrolled_user
    from tests.signatures.helpers import counted_derivations

    with counted_derivations(monkeypatch, stocked.db) as count:
        _log(stocked, "GR-01", "clean")
    assert (count["inside"], count["outside"]) == (0, 1)

    unchecked = dataclasses.replace(stocked.creds("sam"), prechecked=None)
    with counted_derivations(monkeypatch, stocked.db) as count:
        with UnitOfWork(stocked.db, stocked["sam"].actor) as uow:
            equipment_log.log_equipment(uow, "GR-01", "released", note="visual inspection passed",
                                        credentials=unchecked, settings=stocked.settings)
            uow.commit()
    assert (count["inside"], count["outside"]) == (1, 0)

    # the accountability statement: the key unwrap that checks the password is the precheck's (was two inside)
    olga = enrolled_user(stocked.db, stocked.settings, stocked.admin, "olga", "Olga Operator", ["operator"],
                         accountability=False)
    stocked.people["olga"] = olga
    with counted_derivations(monkeypatch, stocked.db) as count:
        creds = stocked.creds("olga")
        with UnitOfWork(stocked.db, olga.actor) as uow:
            sign_statement(uow, creds, stocked.settings)
            uow.commit()
    assert (count["inside"], count["outside"]) == (0, 1)
