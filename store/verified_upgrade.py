"""Verified data migration (Annex 11 §4.8, §17): `gmp db upgrade`.

    report = verified_upgrade(url)        # raises MigrationNotVerified and changes nothing if a record changed

One transaction: digest every record of every table and the audit trail, apply the
Alembic migrations on the same connection, digest again, compare, write the outcome to the
audit trail, commit. A migration may add tables, columns and rows; every record that
existed before must still be there with the same values in the columns it had (compared
row by row by primary key), and the audit trail must be the same chain. If anything
differs, the transaction (schema change included: DDL is transactional on PostgreSQL and,
through the product's explicit BEGIN, on SQLite) is rolled back and the refusal, with the
first differences, is written to the trail in a transaction of its own.

Digest of a table: SHA-256 over its rows in primary-key order, each row the canonical JSON of
[primary key, {column: value}] for the columns that existed before (bytes as hex, times as
ISO text, decimals as text). Digest of the audit trail: SHA-256 over the entry hashes in
sequence order, with the head (seq, entry hash).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Iterator

from sqlalchemy import Connection, MetaData, Table, inspect, select, text

from core.errors import GmpError
from store import chain
from store.canonical import SYSTEM, AuditEvent
from store.db import Database

SKIPPED = {"alembic_version"}
MAX_DIFFERENCES = 20


class MigrationNotVerified(GmpError):
    """Records or the audit trail differ after the migration: nothing was changed."""

    http_status = 409

    def __init__(self, message: str, report: "UpgradeReport") -> None:
        super().__init__(message)
        self.report = report


@dataclass
class TableDigest:
    rows: int
    sha256: str
    columns: list[str]
    rows_after: int | None = None
    sha256_after: str | None = None


@dataclass
class UpgradeReport:
    from_revision: str | None
    to_revision: str | None = None
    tables: dict[str, TableDigest] = field(default_factory=dict)
    trail_before: dict[str, Any] = field(default_factory=dict)
    trail_after: dict[str, Any] = field(default_factory=dict)
    differences: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return not self.differences

    def as_details(self) -> dict[str, Any]:
        return {"from_revision": self.from_revision, "to_revision": self.to_revision, "verified": self.verified,
                "records": sum(t.rows for t in self.tables.values()),
                "tables": {name: {"rows": t.rows, "sha256_before": t.sha256, "sha256_after": t.sha256_after,
                                  "rows_after": t.rows_after} for name, t in sorted(self.tables.items())},
                "audit_trail_before": self.trail_before, "audit_trail_after": self.trail_after,
                "differences": self.differences[:MAX_DIFFERENCES]}


def _value(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _row_json(key: list[Any], values: dict[str, Any]) -> bytes:
    return json.dumps([key, values], sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def _rows(connection: Connection, table: Table, columns: list[str], key: list[str]) -> Iterator[tuple[str, bytes]]:
    stmt = select(*(table.c[c] for c in columns)).order_by(*(table.c[k] for k in key))
    for row in connection.execute(stmt).mappings():
        values = {c: _value(row[c]) for c in columns}
        pk = [values[k] for k in key]
        yield json.dumps(pk, default=str), _row_json(pk, values)


def _table(connection: Connection, name: str) -> tuple[Table, list[str]]:
    table = Table(name, MetaData(), autoload_with=connection)
    key = [c.name for c in table.primary_key.columns] or [c.name for c in table.columns]
    return table, key


def snapshot(connection: Connection) -> tuple[dict[str, TableDigest], dict[str, dict[str, bytes]]]:
    """Digest of every table (and each row's canonical form, by primary key, for the comparison)."""
    digests: dict[str, TableDigest] = {}
    rows: dict[str, dict[str, bytes]] = {}
    for name in sorted(set(inspect(connection).get_table_names()) - SKIPPED):
        table, key = _table(connection, name)
        columns = [c.name for c in table.columns]
        digest = hashlib.sha256()
        kept: dict[str, bytes] = {}
        for pk, canonical in _rows(connection, table, columns, key):
            digest.update(canonical + b"\n")
            kept[pk] = canonical
        digests[name] = TableDigest(len(kept), digest.hexdigest(), columns)
        rows[name] = kept
    return digests, rows


def trail_digest(connection: Connection) -> dict[str, Any]:
    names = set(inspect(connection).get_table_names())
    if "audit_entry" not in names:
        return {}
    digest = hashlib.sha256()
    count = 0
    for (entry_hash,) in connection.execute(text("SELECT entry_hash FROM audit_entry ORDER BY seq")):
        digest.update(entry_hash.encode() + b"\n")
        count += 1
    head = connection.execute(text("SELECT seq, entry_hash FROM audit_head WHERE id = 1")).first()
    return {"entries": count, "head_seq": head[0] if head else None, "head_hash": head[1] if head else None,
            "sha256": digest.hexdigest()}


def compare(connection: Connection, report: UpgradeReport, before_rows: dict[str, dict[str, bytes]]) -> None:
    """Recompute each table's digest over the rows and columns it had before; note every difference."""
    present = set(inspect(connection).get_table_names())
    for name, before in report.tables.items():
        if name not in present:
            report.differences.append(f"table {name} ({before.rows} rows) is gone")
            continue
        table, key = _table(connection, name)
        missing_columns = [c for c in before.columns if c not in table.c]
        if missing_columns:
            report.differences.append(f"table {name}: column(s) {', '.join(missing_columns)} are gone")
            continue
        old = before_rows[name]
        digest = hashlib.sha256()
        seen = 0
        total = 0
        for pk, canonical in _rows(connection, table, before.columns, key):
            total += 1
            if pk not in old:
                continue  # a row the migration added
            seen += 1
            digest.update(canonical + b"\n")
            if canonical != old[pk] and len(report.differences) < MAX_DIFFERENCES:
                report.differences.append(f"table {name}: record {pk} changed")
        if seen != len(old):
            report.differences.append(f"table {name}: {len(old) - seen} record(s) are gone")
        before.rows_after, before.sha256_after = total, digest.hexdigest()
        if before.sha256_after != before.sha256 and not any(d.startswith(f"table {name}:") for d in report.differences):
            report.differences.append(f"table {name}: digest differs")
    after = trail_digest(connection)
    report.trail_after = after
    if report.trail_before and {k: after.get(k) for k in report.trail_before} != report.trail_before:
        report.differences.append("the audit trail differs")


def verified_upgrade(url: str, revision: str = "head") -> UpgradeReport:
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    from store.migrate import alembic_config

    db = Database(url)
    try:
        with db.engine.connect() as connection:
            with connection.begin() as transaction:
                report = UpgradeReport(MigrationContext.configure(connection).get_current_revision())
                report.tables, before_rows = snapshot(connection)
                report.trail_before = trail_digest(connection)
                config = alembic_config(url)
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
                report.to_revision = MigrationContext.configure(connection).get_current_revision()
                if report.from_revision == report.to_revision or report.from_revision is None:
                    return report  # nothing migrated, or a new database (no records to compare)
                compare(connection, report, before_rows)
                if report.verified:
                    _audit(connection, "database.upgraded", report)
                    transaction.commit()
                    return report
                transaction.rollback()
        with db.engine.connect() as connection:
            with connection.begin():
                _audit(connection, "database.upgrade_refused", report)
        raise MigrationNotVerified(
            f"the upgrade from {report.from_revision} to {report.to_revision} was rolled back: records differ after "
            f"the migration ({'; '.join(report.differences[:5])})", report)
    finally:
        db.dispose()


def _audit(connection: Connection, action: str, report: UpgradeReport) -> None:
    from sqlalchemy.orm import Session

    session = Session(bind=connection)
    reason = None if report.verified else "records differ after the migration: " + "; ".join(report.differences[:5])
    chain.append(session, [AuditEvent(action=action, object_type="database", object_id=report.to_revision or "",
                                      actor=SYSTEM, changes=[["revision", report.from_revision, report.to_revision]],
                                      reason=reason, details=report.as_details())])
    session.flush()
