"""Revision 0009 carries the registry revisions of an installed database over to the change-control
primitive without changing a record: the tags in force stay in force, history stays readable."""
from __future__ import annotations

import itertools
import os

import pytest
from sqlalchemy import text

from connectors import registry
from masterdata import changes
from store.db import Database
from store.migrate import upgrade
from store.verified_upgrade import verified_upgrade

_names = itertools.count()


@pytest.fixture
def empty_url(backend, request, tmp_path):  # type: ignore[no-untyped-def]
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'old.sqlite3'}"
    server = request.getfixturevalue("pg_server")
    name = f"m{os.getpid()}_{next(_names)}"
    server.admin_execute(f"CREATE DATABASE {name}")
    request.addfinalizer(lambda: server.admin_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    return server.url(name)


def _tag(name: str, high: float = 80.0, unit: str = "degC") -> dict:
    return {"name": name, "equipment_id": name.split(".")[0], "protocol": "modbus",
            "endpoint": "modbus://127.0.0.1:5020", "data_type": "float32", "unit": unit, "access": "read",
            "modbus_unit": 1, "register_type": "input", "address": 0, "word_order": "big", "node_id": None,
            "scale": 1.0, "offset": 0.0, "low": 0.0, "high": high, "description": ""}


# number, status, imported_at, decided_at, tags (the old registry: every revision was a whole file)
OLD = [
    (1, "superseded", "2026-01-01T08:00:00.000000Z", "2026-01-01T09:00:00.000000Z",
     [_tag("A.t"), _tag("B.t"), _tag("C.t")]),
    (2, "approved", "2026-02-01T08:00:00.000000Z", "2026-02-01T09:00:00.000000Z", [_tag("A.t", 90.0), _tag("B.t")]),
    (3, "pending", "2026-03-01T08:00:00.000000Z", None, [_tag("B.t", unit="K"), _tag("D.t")]),
    (4, "rejected", "2026-02-15T08:00:00.000000Z", "2026-02-16T08:00:00.000000Z", [_tag("A.t", 99.0)]),
]


def _populate(url: str) -> None:
    db = Database(url)
    try:
        with db.session() as session:
            for number, status, imported_at, decided_at, tags in OLD:
                session.execute(text(
                    "INSERT INTO tag_registry_revision (id, number, status, source_name, source_sha256, content_sha256,"
                    " tag_count, change_reason, imported_by, imported_at, decided_by, decided_at, decision_reason,"
                    " approval_signature) VALUES (:id, :n, :s, 'tags.yaml', :sha, :sha, :count, :reason, 'eng.li', :ia,"
                    " :by, :da, :dr, :sig)"),
                    {"id": number, "n": number, "s": status, "sha": f"{number:064d}", "count": len(tags),
                     "reason": f"revision {number}", "ia": imported_at, "by": "qa.wang" if decided_at else None,
                     "da": decided_at, "dr": "checked" if decided_at else None,
                     "sig": str(number) if status in ("approved", "superseded") else None})
                for tag in tags:
                    session.execute(text(
                        "INSERT INTO equipment_tag (revision_id, name, equipment_id, protocol, endpoint, data_type,"
                        " unit, access, modbus_unit, register_type, address, word_order, node_id, scale, \"offset\","
                        " low, high, description) VALUES (:rid, :name, :equipment_id, :protocol, :endpoint,"
                        " :data_type, :unit, :access, :modbus_unit, :register_type, :address, :word_order, :node_id,"
                        " :scale, :offset, :low, :high, :description)"), {"rid": number, **tag})
            session.commit()
    finally:
        db.dispose()


@pytest.mark.req("URS-CON-001", "URS-MD-020", "A11-4.8", "A11-10")
def test_existing_registry_revisions_are_carried_over_and_every_record_is_kept(empty_url):
    upgrade(empty_url, "0009_periodic_report")
    _populate(empty_url)
    report = verified_upgrade(empty_url, "0010_tag_registry_changes")
    assert report.verified and report.to_revision == "0010_tag_registry_changes"
    db = Database(empty_url)
    try:
        with db.session() as session:
            tags = registry.effective_tags(session)
            assert sorted(tags) == ["A.t", "B.t"]  # C was removed by revision 2's whole file, as it was then
            assert (tags["A.t"].revision, tags["A.t"].definition.high) == (2, 90.0)
            assert tags["B.t"].revision == 1  # unchanged by revision 2: still the row it was approved with
            a = changes.history(session, "tag", "A.t")
            assert [(c.revision, c.action, c.status, c.approved_by, c.signature_id) for c in a] == \
                [(1, "create", "superseded", "qa.wang", "1"), (2, "change", "effective", "qa.wang", "2"),
                 (3, "change", "withdrawn", None, None)]  # revision 4 (rejected) came after revision 2
            c = changes.history(session, "tag", "C.t")
            assert [(x.action, x.status) for x in c] == [("create", "superseded"), ("retire", "effective")]
            assert changes.effective(session, "tag", "C.t") is None
            drafts = registry.revision_changes(session, 3)
            assert [(d.key, d.action, d.status) for d in drafts] == [("B.t", "change", "draft"),
                                                                     ("D.t", "create", "draft")]
            assert {d.status for d in registry.revision_changes(session, 4)} == {"withdrawn"}
            statuses = dict(session.execute(text("SELECT number, status FROM tag_registry_revision")).all())
            assert statuses == {1: "superseded", 2: "approved", 3: "pending", 4: "rejected"}  # unchanged
            assert registry.effective_revision(session).number == 2
    finally:
        db.dispose()
