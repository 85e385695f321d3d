"""Full and differential backups and restore, audited (CN-7, A11-7.2, A11-4.8).

A backup is a ZIP file holding `manifest.json` and one JSON-lines file per table
(`tables/<name>.jsonl`: one JSON array of column values a line, columns as listed in
the manifest). Every table of every package is included: the list comes from
`store.models.load_all().metadata` at run time. Values are encoded portably (bytes as
base64, times as ISO 8601 in UTC, decimals as text), so a backup taken on SQLite
restores on PostgreSQL and back.

The manifest carries, per table, the SHA-256 of its file, its row count and a state
digest (SHA-256 over the sorted SHA-256 of every row line), plus the schema revision and
the audit head. A differential backup (`since` = a full backup) holds only the rows
added or changed since that full backup and the keys of rows gone since; its state
digests describe the whole database at its own time, so a restore of full +
differential is checked row for row.

The backup's own audit entry (`backup.created`) is committed before the snapshot, so the
backup contains it. A restore goes into an empty, migrated database in one transaction
(append-only triggers lifted only inside it), checks every table against the manifest,
then appends exactly one `backup.restored` entry.
"""
from __future__ import annotations

import base64
import enum
import hashlib
import io
import json
import os
import uuid
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator, Sequence

from sqlalchemy import Connection, Table, TypeDecorator, create_engine, func, select, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from audit import chain
from audit import checkpoints as cps
from audit.canonical import SYSTEM, Actor, AuditEvent, dumps
from audit.errors import BackupError, RestoreError
from core import clock
from core.config import Settings
from store.db import Database
from store.sqlguards import suspended_triggers
from store.uow import UnitOfWork

FORMAT = "gmp-backup"
VERSION = 1
BATCH = 1000


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    id: str
    kind: str
    audit_head_seq: int
    tables: int
    rows: int


def tables() -> list[Table]:
    """Every table of every package, parents before children."""
    from store.models import load_all

    return list(load_all().metadata.sorted_tables)


# ---------------------------------------------------------------- value encoding
def _base_type(column: Any) -> Any:
    kind = column.type
    while isinstance(kind, TypeDecorator):
        kind = kind.impl_instance
    return kind


def _python_type(column: Any) -> type | None:
    try:
        return _base_type(column).python_type  # type: ignore[no-any-return]
    except NotImplementedError:
        return None


def encode_value(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return encode_value(value.value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value.isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (dict, list)):
        return value
    return str(value)


def decode_value(column: Any, value: Any) -> Any:
    if value is None:
        return None
    base = _base_type(column)
    enum_class = getattr(base, "enum_class", None)
    if enum_class is not None:
        try:
            return enum_class(value)
        except ValueError:
            return enum_class[value]
    kind = _python_type(column)
    if kind is bytes:
        return base64.b64decode(value)
    if kind is datetime:
        parsed = datetime.fromisoformat(value)
        return parsed.replace(tzinfo=timezone.utc) if getattr(base, "timezone", False) else parsed
    if kind is date:
        return date.fromisoformat(value)
    if kind is time:
        return time.fromisoformat(value)
    if kind is Decimal:
        return Decimal(value)
    if kind is uuid.UUID:
        return uuid.UUID(value)
    return value


def _line(row: Sequence[Any]) -> bytes:
    return json.dumps([encode_value(v) for v in row], ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _key_of(table: Table, encoded: list[Any], names: list[str]) -> str:
    keys = [c.name for c in table.primary_key.columns] or names
    return dumps([encoded[names.index(k)] for k in keys])


def _state_digest(row_digests: list[bytes]) -> str:
    row_digests.sort()
    return hashlib.sha256(b"".join(row_digests)).hexdigest()


# ---------------------------------------------------------------- reading backups
class BackupFile:
    """An opened, checked backup file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.zip = zipfile.ZipFile(path)
            self.manifest: dict[str, Any] = json.loads(self.zip.read("manifest.json"))
        except (OSError, zipfile.BadZipFile, KeyError, ValueError) as exc:
            raise BackupError(f"{path}: not a readable backup file ({exc})") from exc
        if self.manifest.get("format") != FORMAT or self.manifest.get("version") != VERSION:
            raise BackupError(f"{path}: not a {FORMAT} version {VERSION} file")
        self.id: str = self.manifest["id"]
        self.kind: str = self.manifest["kind"]

    def table(self, name: str) -> dict[str, Any] | None:
        for entry in self.manifest["tables"]:
            if entry["name"] == name:
                return entry  # type: ignore[no-any-return]
        return None

    def check(self) -> None:
        """Every table file matches its SHA-256 and row count in the manifest."""
        for entry in self.manifest["tables"]:
            for member, digest_key, count_key in (("tables", "sha256", "rows"), ("deleted", "deleted_sha256", "deleted_rows")):
                name = f"{member}/{entry['name']}.jsonl"
                if digest_key not in entry:
                    continue
                try:
                    data = self.zip.read(name)
                except KeyError:
                    raise BackupError(f"{self.path}: {name} is missing") from None
                if hashlib.sha256(data).hexdigest() != entry[digest_key]:
                    raise BackupError(f"{self.path}: {name} is damaged (SHA-256 differs from the manifest)")
                lines = data.count(b"\n")
                if lines != entry[count_key]:
                    raise BackupError(f"{self.path}: {name} holds {lines} rows, the manifest says {entry[count_key]}")

    def rows(self, name: str, member: str = "tables") -> Iterator[list[Any]]:
        try:
            data = self.zip.read(f"{member}/{name}.jsonl")
        except KeyError:
            return
        for line in io.BytesIO(data):
            yield json.loads(line)

    def close(self) -> None:
        self.zip.close()


# ---------------------------------------------------------------- taking backups
def _revision(connection: Connection) -> str | None:
    try:
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()
    except Exception as exc:  # no alembic_version table: not migrated
        raise BackupError("the database is not migrated (no alembic_version): run `gmp db upgrade`") from exc


class _Snapshot:
    """A read-only connection with one consistent view of every table."""

    def __init__(self, db: Database) -> None:
        self.engine = create_engine(db.url, poolclass=NullPool) if db.is_sqlite else None
        if self.engine is not None:
            self.connection = self.engine.connect()
            self.connection.exec_driver_sql("BEGIN")  # deferred: a read snapshot without blocking writers
        else:
            self.connection = db.engine.connect().execution_options(isolation_level="REPEATABLE READ")
            self.connection.exec_driver_sql("SET TRANSACTION READ ONLY")

    def close(self) -> None:
        self.connection.rollback()
        self.connection.close()
        if self.engine is not None:
            self.engine.dispose()


def take_backup(db: Database, settings: Settings, out: Path, since: Path | None = None,
                actor: Actor = SYSTEM, details: dict[str, Any] | None = None) -> BackupInfo:
    """Write a full backup, or a differential one since the full backup `since`."""
    base = BackupFile(since) if since is not None else None
    if base is not None:
        if base.kind != "full":
            raise BackupError(f"{since}: a differential backup is taken since a full backup, not a {base.kind} one")
        base.check()
    if out.exists():
        raise BackupError(f"{out} exists already: a backup never overwrites a file")
    backup_id = uuid.uuid4().hex
    kind = "differential" if base else "full"
    with UnitOfWork(db, actor) as uow:
        uow.audit("backup.created", "backup", backup_id,
                  details={"kind": kind, "file": out.name, "since": base.id if base else None, **(details or {})})
        uow.commit()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    snapshot = _Snapshot(db)
    total = 0
    try:
        connection = snapshot.connection
        revision = _revision(connection)
        head = connection.execute(text("SELECT seq, entry_hash FROM audit_head WHERE id = 1")).one()
        manifest: dict[str, Any] = {"format": FORMAT, "version": VERSION, "id": backup_id, "kind": kind,
                                    "base_id": base.id if base else None, "created": clock.isoformat(clock.now()),
                                    "source_dialect": db.dialect, "alembic_revision": revision,
                                    "audit_head": {"seq": head[0], "entry_hash": head[1]}, "tables": []}
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for table in tables():
                names = [c.name for c in table.columns]
                base_rows: dict[str, bytes] = {}
                if base is not None:
                    base_entry = base.table(table.name)
                    if base_entry is not None and base_entry["columns"] != names:
                        raise BackupError(f"table {table.name} changed its columns since the base backup: take a full backup")
                    for encoded in base.rows(table.name):
                        base_rows[_key_of(table, encoded, names)] = hashlib.sha256(_line(encoded)).digest()
                order = list(table.primary_key.columns) or list(table.columns)
                digests: list[bytes] = []
                rows = 0
                data = hashlib.sha256()
                with archive.open(f"tables/{table.name}.jsonl", "w") as handle:
                    result = connection.execute(select(table).order_by(*order).execution_options(yield_per=BATCH))
                    for row in result:
                        line = _line(row)
                        digest = hashlib.sha256(line).digest()
                        digests.append(digest)
                        if base is not None:
                            key = _key_of(table, json.loads(line), names)
                            if base_rows.pop(key, None) == digest:
                                continue
                        handle.write(line)
                        data.update(line)
                        rows += 1
                entry = {"name": table.name, "columns": names, "primary_key": [c.name for c in table.primary_key.columns],
                         "rows": rows, "sha256": data.hexdigest(), "state_rows": len(digests),
                         "state_sha256": _state_digest(digests)}
                if base is not None:
                    gone = b"".join(key.encode() + b"\n" for key in sorted(base_rows))
                    archive.writestr(f"deleted/{table.name}.jsonl", gone)
                    entry.update(deleted_rows=len(base_rows), deleted_sha256=hashlib.sha256(gone).hexdigest())
                manifest["tables"].append(entry)
                total += rows
            archive.writestr("manifest.json", json.dumps(manifest, indent=1, ensure_ascii=False))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        snapshot.close()
        if base is not None:
            base.close()
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    tmp.replace(out)
    return BackupInfo(out, backup_id, kind, manifest["audit_head"]["seq"], len(manifest["tables"]), total)


# ---------------------------------------------------------------- restore
@dataclass(frozen=True)
class RestoreInfo:
    files: list[str]
    audit_head_seq: int
    restored_seq: int
    rows: int


def _open_chain(files: Sequence[Path]) -> list[BackupFile]:
    if not files:
        raise RestoreError("name at least one backup file")
    opened = [BackupFile(path) for path in files]
    full, rest = opened[0], opened[1:]
    if full.kind != "full":
        raise RestoreError(f"{full.path}: a restore starts with a full backup, not a {full.kind} one")
    previous = full.manifest["audit_head"]["seq"]
    for backup in rest:
        if backup.kind != "differential" or backup.manifest["base_id"] != full.id:
            raise RestoreError(f"{backup.path}: not a differential backup of {full.path}")
        if backup.manifest["audit_head"]["seq"] < previous:
            raise RestoreError(f"{backup.path}: differential backups must be given oldest first")
        previous = backup.manifest["audit_head"]["seq"]
    for backup in opened:
        backup.check()
        if backup.manifest["alembic_revision"] != full.manifest["alembic_revision"]:
            raise RestoreError(f"{backup.path}: taken at schema revision {backup.manifest['alembic_revision']}, "
                               f"the full backup at {full.manifest['alembic_revision']}")
    return opened


def _decode_row(table: Table, names: list[str], encoded: list[Any]) -> dict[str, Any]:
    columns = table.columns
    return {name: decode_value(columns[name], value) for name, value in zip(names, encoded)}


def _insert(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    if rows:
        connection.execute(table.insert(), rows)


def restore(db: Database, settings: Settings, files: Sequence[Path], actor: Actor = SYSTEM,
            details: dict[str, Any] | None = None) -> RestoreInfo:
    """Restore a full backup (and differentials of it, oldest first) into an empty database."""
    backups = _open_chain(files)
    last = backups[-1]
    known = tables()
    try:
        with db.engine.begin() as connection:
            revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none() \
                if _has_alembic(connection) else None
            if revision != last.manifest["alembic_revision"]:
                raise RestoreError(f"the target database is at schema revision {revision}, the backup at "
                                   f"{last.manifest['alembic_revision']}: migrate the target first (`gmp db upgrade`)")
            entries = connection.execute(text("SELECT count(*) FROM audit_entry")).scalar_one()
            if entries:
                raise RestoreError(f"the target database is not empty: its audit trail holds {entries} entries; "
                                   "restore into a freshly migrated database")
            missing = [t["name"] for t in last.manifest["tables"] if t["name"] not in {k.name for k in known}]
            if missing:
                raise RestoreError(f"the backup holds tables this installation does not know: {', '.join(missing)}")
            rows = 0
            with suspended_triggers(connection, [t.name for t in known]):
                for table in reversed(known):  # rows seeded by migrations come back from the backup
                    connection.execute(table.delete())
                keys: dict[str, set[str]] = {}
                for backup in backups:
                    for table in known:
                        entry = backup.table(table.name)
                        if entry is None:
                            continue
                        names = entry["columns"]
                        unknown = set(names) - {c.name for c in table.columns}
                        if unknown:
                            raise RestoreError(f"table {table.name}: the backup has columns {sorted(unknown)} "
                                               "this installation does not know")
                        pk = [c.name for c in table.primary_key.columns] or names
                        present = keys.setdefault(table.name, set())
                        for encoded_key in backup.rows(table.name, "deleted"):
                            key_values = dict(zip(pk, encoded_key))
                            connection.execute(table.delete().where(*[
                                table.c[k] == decode_value(table.c[k], v) for k, v in key_values.items()]))
                            present.discard(dumps(encoded_key))
                        batch: list[dict[str, Any]] = []
                        for encoded in backup.rows(table.name):
                            key = _key_of(table, encoded, names)
                            row = _decode_row(table, names, encoded)
                            if key in present:
                                connection.execute(table.update().where(*[table.c[k] == row[k] for k in pk]).values(row))
                            else:
                                batch.append(row)
                                present.add(key)
                                if len(batch) >= BATCH:
                                    _insert(connection, table, batch)
                                    batch = []
                            rows += 1
                        _insert(connection, table, batch)
                if not db.is_sqlite:
                    _reset_sequences(connection, known)
            _check_state(connection, known, last)
            session = Session(bind=connection)
            superseded = _superseded_log_name(settings, last.manifest["audit_head"]["seq"])
            event = AuditEvent(
                action="backup.restored", object_type="backup", object_id=last.id, actor=actor,
                details={"files": [b.path.name for b in backups], "backup_ids": [b.id for b in backups],
                         "restored_head": last.manifest["audit_head"], "source_dialect": last.manifest["source_dialect"],
                         "checkpoint_log_superseded": superseded, **(details or {})})
            restored_seq = chain.append(session, [event])[0]
            session.flush()
        if superseded:
            cps.log_path(settings).rename(cps.log_path(settings).with_name(superseded))
    finally:
        for backup in backups:
            backup.close()
    return RestoreInfo([str(b.path) for b in backups], last.manifest["audit_head"]["seq"], restored_seq, rows)


def _has_alembic(connection: Connection) -> bool:
    from sqlalchemy import inspect

    return inspect(connection).has_table("alembic_version")


def _reset_sequences(connection: Connection, known: list[Table]) -> None:
    """PostgreSQL: move each serial/identity sequence past the restored IDs."""
    for table in known:
        for column in table.primary_key.columns:
            sequence = connection.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                          {"t": table.name, "c": column.name}).scalar_one_or_none()
            if sequence:
                connection.execute(text(f'SELECT setval(:s, COALESCE((SELECT MAX("{column.name}") FROM "{table.name}"), 0) + 1, false)'),
                                   {"s": sequence})


def _check_state(connection: Connection, known: list[Table], last: BackupFile) -> None:
    """Every restored table equals, row for row, the state the last backup describes."""
    for table in known:
        entry = last.table(table.name)
        if entry is None:
            count = connection.execute(select(func.count()).select_from(table)).scalar_one()
            if count:
                raise RestoreError(f"table {table.name} is not in the backup but holds {count} rows after the restore")
            continue
        digests = [hashlib.sha256(_line(row)).digest() for row in connection.execute(select(*[table.c[n] for n in entry["columns"]]))]
        if len(digests) != entry["state_rows"] or _state_digest(digests) != entry["state_sha256"]:
            raise RestoreError(f"table {table.name} differs from the backup after the restore "
                               f"({len(digests)} rows, the backup describes {entry['state_rows']})")
    head = connection.execute(text("SELECT seq, entry_hash FROM audit_head WHERE id = 1")).one()
    if [head[0], head[1]] != [last.manifest["audit_head"]["seq"], last.manifest["audit_head"]["entry_hash"]]:
        raise RestoreError(f"audit head after the restore is {head[0]}, the backup names {last.manifest['audit_head']['seq']}")


def _superseded_log_name(settings: Settings, restored_seq: int) -> str | None:
    """A checkpoint log that names entries beyond the restored head belongs to the lost timeline:
    it is moved aside under this name (recorded in the restore's audit entry) so verification
    follows the restored trail."""
    logged = cps.read_log(cps.log_path(settings))
    if not any(c.seq > restored_seq for c in logged):
        return None
    return f"audit-checkpoints.before-restore-{clock.now().strftime('%Y%m%dT%H%M%S%fZ')}.jsonl"
