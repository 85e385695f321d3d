"""Exports of the audit trail: JSONL (verifiable offline), CSV and PDF.

Every export first writes a signed checkpoint at the current head (audit.checkpoints)
and selects only entries up to it, so what it holds is anchored and consistent.

The JSONL format (version 2) is specified in docs/audit-export-format.md. In short, one
JSON object a line:

  header      format, version, created, filters, head_seq/head_hash (the head signed at
              export), start_seq/start_hash (genesis or a signed checkpoint), end_seq
  public_key  every server public key (key_id, PEM)
  checkpoint  every signed checkpoint (seq, entry_hash, ts, key_id, signature)
  entry       an included entry: seq, canonical (the canonical JSON text), entry_hash
  omitted     a run of left-out entries: first_seq, last_seq, digests (SHA-256 of each
              entry's canonical bytes), so the chain still recomputes
  statement   the server's signed statement of filters, head, range, the number of
              included entries and a digest over them (audit.statement)
  end         entries (included count), last_seq, last_hash

The range runs from the newest checkpoint before the first included entry (or the
genesis) to the oldest checkpoint at or after the last included entry (at the latest,
the checkpoint written for the export). Verification: audit.export_verify.
"""
from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Iterator

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select

from audit import checkpoints as cps
from audit.canonical import DOMAIN, GENESIS_HASH, dumps
from audit.entry_text import format_changes, site_time
from audit.errors import ChainBroken, EmptyTrail, ExportError
from audit.export_verify import ExportReport, verify_export
from audit.filters import ExportFilter
from audit.models import AuditEntry
from audit.server_key import public_keys as folder_public_keys
from audit.statement import sign_statement
from core import clock
from core.config import Settings
from store.db import Database

__all__ = ["ExportFilter", "ExportReport", "ExportResult", "export", "export_csv", "export_jsonl", "export_pdf",
           "verify_export", "FORMAT", "VERSION", "FORMATS"]

FORMAT = "gmp-audit-export"
VERSION = 2
PDF_MAX_ENTRIES = 20_000
DIGESTS_PER_LINE = 10_000
FORMATS = ("jsonl", "csv", "pdf")
Progress = Callable[[int, int], None]  # (done, total)


@dataclass
class ExportResult:
    path: Path
    format: str
    entries: int
    start_seq: int = 0
    end_seq: int = 0
    head_seq: int = 0


def export_checkpoint(db: Database, settings: Settings) -> cps.Checkpoint:
    """The signed checkpoint at the current head that every export writes first."""
    try:
        return cps.create_checkpoint(db, settings)
    except EmptyTrail:
        raise ExportError("no audit entries match the filters (the trail is empty)") from None


def _selected_seqs(db: Database, flt: ExportFilter, head_seq: int) -> list[int]:
    with db.read_session() as session:  # a snapshot: no write lock held while reading
        query = flt.where(select(AuditEntry.seq)).where(AuditEntry.seq <= head_seq).order_by(AuditEntry.seq)
        seqs = list(session.execute(query).scalars())
        session.rollback()
    if not seqs:
        raise ExportError("no audit entries match the filters")
    return seqs


def _known_checkpoints(db: Database, settings: Settings) -> tuple[list[cps.Checkpoint], dict[str, str]]:
    logged = cps.read_log(cps.log_path(settings))
    with db.read_session() as session:  # a snapshot: no write lock held while reading
        stored = cps.database_checkpoints(session)
        keys = cps.database_public_keys(session)
        session.rollback()
    keys.update(folder_public_keys(settings))
    pems = {key_id: _pem(public) for key_id, public in sorted(keys.items())}
    return cps.merge(stored, logged), pems


def _pem(public: Ed25519PublicKey) -> str:
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _write_line(handle: IO[bytes], obj: dict[str, Any]) -> None:
    handle.write(dumps(obj).encode("utf-8") + b"\n")


def export_jsonl(db: Database, settings: Settings, out: Path, flt: ExportFilter = ExportFilter(),
                 progress: Progress | None = None) -> ExportResult:
    """Write a JSONL export that verifies offline and proves its completeness (docs/audit-export-format.md)."""
    head = export_checkpoint(db, settings)
    included = _selected_seqs(db, flt, head.seq)
    wanted = set(included)
    checkpoints, pems = _known_checkpoints(db, settings)
    first, last = included[0], included[-1]
    before = [c for c in checkpoints if c.seq < first]
    after = [c for c in checkpoints if last <= c.seq <= head.seq]
    start_seq, start_hash = (before[-1].seq, before[-1].entry_hash) if before else (0, GENESIS_HASH)
    end_seq = min(c.seq for c in after) if after else head.seq
    created = clock.isoformat(clock.now())
    header = {"type": "header", "format": FORMAT, "version": VERSION, "created": created,
              "site_timezone": settings.site_timezone, "filters": flt.to_json(), "head_seq": head.seq,
              "head_hash": head.entry_hash, "start_seq": start_seq, "start_hash": start_hash, "end_seq": end_seq}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    sha256 = hashlib.sha256
    included_digest = sha256()
    total = end_seq - start_seq
    try:
        with open(tmp, "wb") as handle:
            _write_line(handle, header)
            for key_id, pem in pems.items():
                _write_line(handle, {"type": "public_key", "key_id": key_id, "pem": pem})
            for checkpoint in checkpoints:
                _write_line(handle, {"type": "checkpoint", **checkpoint.to_json()})
            prev_hex, prev_raw, expected = start_hash, bytes.fromhex(start_hash), start_seq + 1
            run: list[str] = []
            run_first = 0

            def flush_run() -> None:
                if run:
                    _write_line(handle, {"type": "omitted", "first_seq": run_first,
                                         "last_seq": run_first + len(run) - 1, "digests": run})
                    run.clear()

            raw = db.engine.raw_connection()
            try:
                raw.rollback()
                cursor = raw.cursor()
                cursor.execute("SELECT seq, canonical, prev_hash, entry_hash FROM audit_entry WHERE seq > %d AND "
                               "seq <= %d ORDER BY seq" % (start_seq, end_seq))
                while True:
                    batch = cursor.fetchmany(5000)
                    if not batch:
                        break
                    for seq, canonical, prev_hash, entry_hash in batch:
                        canonical = bytes(canonical)
                        if seq != expected or prev_hash != prev_hex:
                            raise ChainBroken(expected, "the trail does not verify; run `gmp audit verify`", prev_hex,
                                              prev_hash)
                        digest = sha256(canonical).digest()
                        chained = sha256(DOMAIN + prev_raw + digest)
                        if chained.hexdigest() != entry_hash:
                            raise ChainBroken(seq, "the trail does not verify; run `gmp audit verify`",
                                              chained.hexdigest(), entry_hash)
                        if seq in wanted:
                            flush_run()
                            _write_line(handle, {"type": "entry", "seq": seq, "canonical": canonical.decode("utf-8"),
                                                 "entry_hash": entry_hash})
                            included_digest.update(chained.digest())
                        else:
                            if not run:
                                run_first = seq
                            run.append(digest.hex())
                            if len(run) >= DIGESTS_PER_LINE:
                                flush_run()
                        prev_hex, prev_raw, expected = entry_hash, chained.digest(), seq + 1
                    if progress is not None:
                        progress(expected - 1 - start_seq, total)
                cursor.close()
            finally:
                raw.rollback()
                raw.close()
            flush_run()
            if expected - 1 != end_seq:
                raise ChainBroken(expected, "entry missing; run `gmp audit verify`", end_seq, expected - 1)
            statement = {"format": FORMAT, "version": VERSION, "created": created, "filters": flt.to_json(),
                         "head_seq": head.seq, "head_hash": head.entry_hash, "start_seq": start_seq,
                         "start_hash": start_hash, "end_seq": end_seq, "end_hash": prev_hex, "entries": len(included),
                         "included_sha256": included_digest.hexdigest()}
            _write_line(handle, sign_statement(cps.current_key(settings), statement))
            _write_line(handle, {"type": "end", "entries": len(included), "last_seq": end_seq, "last_hash": prev_hex})
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return ExportResult(out, "jsonl", len(included), start_seq, end_seq, head.seq)


# ---------------------------------------------------------------- readable formats
ENTRY_COLUMNS = (AuditEntry.seq, AuditEntry.ts, AuditEntry.actor_id, AuditEntry.actor_name, AuditEntry.action,
                 AuditEntry.object_type, AuditEntry.object_id, AuditEntry.changes, AuditEntry.reason, AuditEntry.details,
                 AuditEntry.entry_hash)


def entries(db: Database, flt: ExportFilter, head_seq: int) -> Iterator[Any]:
    """The entries up to `head_seq` that match, in sequence order (streamed rows with the entry's column names)."""
    with db.read_session() as session:  # a snapshot: no write lock held while reading
        query = flt.where(select(*ENTRY_COLUMNS)).where(AuditEntry.seq <= head_seq).order_by(AuditEntry.seq) \
            .execution_options(yield_per=2000)
        yield from session.execute(query)
        session.rollback()


def count_entries(db: Database, flt: ExportFilter, head_seq: int) -> int:
    with db.read_session() as session:  # a snapshot: no write lock held while reading
        count = session.execute(flt.where(select(func.count()).select_from(AuditEntry))
                                .where(AuditEntry.seq <= head_seq)).scalar_one()
        session.rollback()
    return int(count)


CSV_COLUMNS = ["seq", "time_utc", "time_site", "user_id", "printed_name", "action", "object_type", "object_id",
               "changes", "reason", "details", "entry_hash"]


def export_csv(db: Database, settings: Settings, out: Path, flt: ExportFilter = ExportFilter(),
               progress: Progress | None = None) -> ExportResult:
    """One row per entry, readable in a spreadsheet (UTF-8 with BOM)."""
    head = export_checkpoint(db, settings)
    total = count_entries(db, flt, head.seq)
    if total == 0:
        raise ExportError("no audit entries match the filters")
    out.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(out, "w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for entry in entries(db, flt, head.seq):
            writer.writerow([entry.seq, entry.ts, site_time(entry.ts, settings), entry.actor_id, entry.actor_name,
                             entry.action, entry.object_type, entry.object_id, format_changes(entry.changes),
                             entry.reason or "", entry.details, entry.entry_hash])
            count += 1
            if progress is not None and count % 1000 == 0:
                progress(count, total)
    return ExportResult(out, "csv", count, head_seq=head.seq)


def export_pdf(db: Database, settings: Settings, out: Path, flt: ExportFilter = ExportFilter(),
               progress: Progress | None = None, title: str = "Audit trail", namer: Any = None) -> ExportResult:
    """A PDF/A-3b printout for people (audit.trail_pdf); refuses more than PDF_MAX_ENTRIES entries."""
    from audit.trail_pdf import write_trail_pdf

    head = export_checkpoint(db, settings)
    total = count_entries(db, flt, head.seq)
    if total == 0:
        raise ExportError("no audit entries match the filters")
    if total > PDF_MAX_ENTRIES:
        raise ExportError(f"{total} entries match: a PDF holds at most {PDF_MAX_ENTRIES}; narrow the export with a "
                          "filter (--object-type/--object-id, --user, --action, --since/--until) or use --format jsonl")
    write_trail_pdf(entries(db, flt, head.seq), total, out, settings, flt, head, title=title, progress=progress,
                    namer=namer)
    return ExportResult(out, "pdf", total, head_seq=head.seq)


def export(db: Database, settings: Settings, fmt: str, out: Path, flt: ExportFilter = ExportFilter(),
           progress: Progress | None = None) -> ExportResult:
    if fmt == "jsonl":
        return export_jsonl(db, settings, out, flt, progress)
    if fmt == "csv":
        return export_csv(db, settings, out, flt, progress)
    if fmt == "pdf":
        return export_pdf(db, settings, out, flt, progress)
    raise ExportError(f"unknown export format {fmt!r}: expected one of {', '.join(FORMATS)}")
