"""Upgrading an installed database keeps every record and the audit trail (Annex 11 §4.8).

A database is migrated to a released revision and filled with records by the code of that
release (tests/support/upgrade.py: users, signatures, tag registry revisions, process
definitions, instances with signed and verified tasks, links, messages, timers, audit
reviews, a signed checkpoint), then upgraded to the current head by the current code:
every row of every table that existed before is unchanged, `gmp audit verify` passes with
the checkpoint, every signature verifies, and the current services read and continue the
old records. On SQLite and PostgreSQL, from the previous head and every released revision.
"""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import select

from store.db import Database
from store.migrate import current, upgrade
from tests.support.upgrade import FILLED_COLUMNS, OLDEST_RELEASED, added_columns, head_revision, previous_head, snapshot, unchanged

START_REVISIONS = sorted({previous_head(), OLDEST_RELEASED})  # what sites run now; the longest upgrade path


def _people(populated):
    from signatures.testing import Person

    return {user: Person(user, info["printed_name"], info["password"], info["totp_secret"])
            for user, info in populated.manifest["people"].items()}


def _gmp(populated, *args):
    from cli import gmp
    from store import runtime

    runtime.cli_settings.cache_clear()
    try:
        return CliRunner().invoke(gmp, list(args), env={
            "GMP_INSTANCE_PATH": str(populated.instance_path), "GMP_DATABASE_URL": populated.url,
            "GMP_SECRET_KEY": populated.secret_key, "GMP_SERVER_KEY_PASSPHRASE": populated.passphrase})
    finally:
        runtime.cli_settings.cache_clear()


@pytest.mark.slow
@pytest.mark.req("URS-MIG-001", "A11-4.8", "P11-10a")
@pytest.mark.parametrize("start", START_REVISIONS)
def test_upgrade_keeps_every_record_and_the_audit_trail(populated_database, frozen_clock, start):
    populated = populated_database(start)
    assert current(populated.url) == start
    before = snapshot(populated.url)
    assert len(before["audit_entry"]["rows"]) == populated.manifest["audit_head"]

    upgrade(populated.url)

    assert current(populated.url) == head_revision()
    after = snapshot(populated.url)
    assert unchanged(before, after) == []
    for table, columns in added_columns(before, after).items():  # a new column leaves existing rows NULL
        for column in columns:
            i = after[table]["columns"].index(column)
            values = [row[i] for row in after[table]["rows"][:len(before[table]["rows"])]]
            if (table, column) in FILLED_COLUMNS:  # records carried over: each row points at its new record
                target = after[FILLED_COLUMNS[table, column][1]]
                ids = {row[target["columns"].index("id")] for row in target["rows"]}
                assert all(value in ids for value in values), (table, column, values)
            else:
                assert all(value is None for value in values), (table, column)
    db = Database(populated.url)
    try:
        from store.models import load_all

        with db.engine.connect() as conn:  # the upgraded schema is the schema of a fresh install
            assert compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                    load_all().metadata) == []
        _trail_and_signatures_verify(populated, db)
        _current_code_reads_the_old_records(populated, db)
        _running_work_continues(populated, db, frozen_clock)
        _trail_and_signatures_verify(populated, db)
    finally:
        db.dispose()


def _trail_and_signatures_verify(populated, db):
    from audit.verify import verify_trail
    from signatures.models import Signature
    from signatures.verify import verify_signature

    result = _gmp(populated, "audit", "verify")
    assert result.exit_code == 0, result.output
    report = verify_trail(db, populated.settings())
    assert report.checkpoints >= 1 and report.newest_checkpoint.seq == populated.manifest["checkpoint_seq"]
    assert report.head_seq >= populated.manifest["audit_head"]
    with db.session() as session:
        rows = session.execute(select(Signature).order_by(Signature.seq)).scalars().all()
        assert len(rows) >= 10
        for row in rows:
            verify_signature(session, row, settings=populated.settings())


def _current_code_reads_the_old_records(populated, db):
    from engine import instances, links

    ids = populated.manifest["instances"]
    with db.session() as session:
        listed = {item["id"]: item for item in instances.list_instances(session)}
        assert {listed[ids[k]]["status"] for k in ("released", "running", "cancelled")} == {
            "completed", "running", "cancelled"}
        keyed = {ids[k]: listed[ids[k]]["business_key"] for k in ("keyed_batch", "keyed_other") if k in ids}
        assert keyed in ({}, {ids.get("keyed_batch"): "B-2026-0100", ids.get("keyed_other"): "B-2026-0101"})
        assert all(item["business_key"] is None for item in listed.values() if item["id"] not in keyed)
        from engine import definitions  # the version in force of every process is the one approved before
        from engine.models import ProcessDefinition, ProcessDefinitionVersion

        for key, number in session.execute(select(ProcessDefinition.key, ProcessDefinitionVersion.version).join(
                ProcessDefinitionVersion, ProcessDefinitionVersion.definition_id == ProcessDefinition.id)
                .where(ProcessDefinitionVersion.status == "approved")):
            assert definitions.approved_version(session, key).version == number, key
        released = instances.inspect(session, ids["released"])
        assert released["data"]["decision"] == "released" and released["data"]["room"] == "G-101"
        # links written before the link kinds existed read as the standard ones
        (deviation,) = links.related(session, ids["batch_with_deviation"], relation="raised", process="deviation",
                                     status="running")
        (started,) = links.related(session, ids["halted_line"], relation="started")
        assert started.process == "halt_report"
        assert deviation.title == "Deviation: Weight out of tolerance"
    if "links" in populated.manifest:  # releases from 0012 on (populate_v2): later records read too
        _later_records_read(populated, db)


def _later_records_read(populated, db):
    """Links and their retraction, signed master data and its records, as the current code reads them."""
    from engine import links
    from masterdata.lots import lot_state

    ids, made = populated.manifest["instances"], populated.manifest["links"]
    with db.session() as session:
        affected = links.related(session, ids["batch_with_deviation"], relation="affects", include_retracted=True)
        by_id = {r.link_id: r for r in affected}
        assert by_id[made["kept"]].retracted is None and by_id[made["kept"]].business_key == "B-2026-0100"
        assert by_id[made["retracted"]].retracted["reason"] == "wrong batch selected"
        assert [r.link_id for r in links.related(session, ids["batch_with_deviation"], relation="affects")] == \
            [made["kept"]]
        assert lot_state(session, "L-PARA-2601").status == "released"


def _running_work_continues(populated, db, frozen_clock):
    """The instance left running by the old code goes on with the new one; new features work on old data."""
    from engine import instances, links, tasks
    from engine.ports import SignatureInput, default_services
    from signatures import testing
    from store.uow import UnitOfWork

    people, settings = _people(populated), populated.settings()
    running = populated.manifest["instances"]["running"]
    with db.session() as session:
        ready = {t["bpmn_id"]: t["id"] for t in instances.inspect(session, running)["tasks"]
                 if t["state"] == "ready" and t["manual"]}
    assert sorted(ready) == ["check_equipment", "review_documents"]
    frozen_clock.advance(seconds=31)
    signature = SignatureInput("reviewed", "sam", {"password": people["sam"].password,
                                                   "totp": testing.next_totp(db, people["sam"])})
    with UnitOfWork(db, people["sam"].actor) as uow:
        tasks.complete_task(uow, ready["review_documents"], {"documents_complete": True}, [signature],
                            services=default_services(settings), settings=settings)
        uow.commit()
    with UnitOfWork(db, people["sam"].actor) as uow:
        batch = instances.start(uow, "line_clearance", title="Batch B-004", business_key="B-004", settings=settings)
        links.link(uow, batch.id, "caused_by", running, reason="re-clearance after B-002")
        uow.commit()
    with db.session() as session:
        assert instances.inspect(session, batch.id)["business_key"] == "B-004"
        assert [r.business_key for r in links.related(session, running, relation="caused")] == ["B-004"]
