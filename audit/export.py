"""Exports of the audit trail: JSONL (verifiable offline), CSV and PDF.

The JSONL format is specified in docs/audit-export-format.md. In short, one JSON
object a line:

  header      format, version, filters, start_seq/start_hash (the chain's starting
              point: genesis or a signed checkpoint), end_seq
  public_key  every server public key (key_id, PEM)
  checkpoint  every signed checkpoint (seq, entry_hash, ts, key_id, signature)
  entry       an included entry: seq, canonical (the canonical JSON text), entry_hash
  omitted     a run of left-out entries: first_seq, last_seq, digests (SHA-256 of each
              entry's canonical bytes), so the chain still recomputes
  end         entries (included count), last_seq, last_hash

The range runs from the newest checkpoint before the first included entry (or the
genesis) to the oldest checkpoint at or after the last included entry (or the head),
so the included entries are anchored by signatures whenever a checkpoint covers them.
"""
from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Iterator

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Select, and_, func, select

from audit import checkpoints as cps
from audit.canonical import DOMAIN, GENESIS_HASH, dumps
from audit.errors import ChainBroken, ExportError, ExportInvalid
from audit.models import AuditEntry, AuditHead
from audit.server_key import public_keys as folder_public_keys
from core import clock
from core.config import Settings
from store.db import Database

FORMAT = "gmp-audit-export"
VERSION = 1
PDF_MAX_ENTRIES = 20_000
DIGESTS_PER_LINE = 10_000
FORMATS = ("jsonl", "csv", "pdf")


@dataclass(frozen=True)
class ExportFilter:
    """Which entries to include; every field set narrows the selection."""

    object_type: str | None = None
    object_ids: tuple[str, ...] = ()
    actor_id: str | None = None
    action: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ExportError(f"--{name} must carry a time zone (e.g. 2026-01-05T08:00:00Z)")
        if self.since and self.until and self.since >= self.until:
            raise ExportError(f"--since {self.since.isoformat()} is not before --until {self.until.isoformat()}")
        if self.object_ids and not self.object_type:
            raise ExportError("an object ID filter needs the object type (--object-type)")

    def where(self, query: Select[Any]) -> Select[Any]:
        conditions = []
        if self.object_type:
            conditions.append(AuditEntry.object_type == self.object_type)
        if self.object_ids:
            conditions.append(AuditEntry.object_id.in_(list(self.object_ids)))
        if self.actor_id:
            conditions.append(AuditEntry.actor_id == self.actor_id)
        if self.action:
            conditions.append(AuditEntry.action == self.action)
        if self.since:
            conditions.append(AuditEntry.ts >= clock.isoformat(self.since))
        if self.until:
            conditions.append(AuditEntry.ts < clock.isoformat(self.until))
        return query.where(and_(*conditions)) if conditions else query

    def to_json(self) -> dict[str, Any]:
        return {"object_type": self.object_type, "object_ids": list(self.object_ids), "actor_id": self.actor_id,
                "action": self.action, "since": clock.isoformat(self.since) if self.since else None,
                "until": clock.isoformat(self.until) if self.until else None}


@dataclass
class ExportResult:
    path: Path
    format: str
    entries: int
    start_seq: int = 0
    end_seq: int = 0


def _selected_seqs(db: Database, flt: ExportFilter) -> list[int]:
    with db.session() as session:
        seqs = list(session.execute(flt.where(select(AuditEntry.seq)).order_by(AuditEntry.seq)).scalars())
        session.rollback()
    if not seqs:
        raise ExportError("no audit entries match the filters")
    return seqs


def _known_checkpoints(db: Database, settings: Settings) -> tuple[list[cps.Checkpoint], dict[str, str]]:
    logged = cps.read_log(cps.log_path(settings))
    with db.session() as session:
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


def export_jsonl(db: Database, settings: Settings, out: Path, flt: ExportFilter = ExportFilter()) -> ExportResult:
    """Write a JSONL export that verifies offline (docs/audit-export-format.md)."""
    included = _selected_seqs(db, flt)
    wanted = set(included)
    checkpoints, pems = _known_checkpoints(db, settings)
    with db.session() as session:
        head_seq = session.execute(select(AuditHead.seq).where(AuditHead.id == 1)).scalar_one()
        session.rollback()
    first, last = included[0], included[-1]
    before = [c for c in checkpoints if c.seq < first]
    after = [c for c in checkpoints if last <= c.seq <= head_seq]
    start_seq, start_hash = (before[-1].seq, before[-1].entry_hash) if before else (0, GENESIS_HASH)
    end_seq = min(c.seq for c in after) if after else head_seq
    header = {"type": "header", "format": FORMAT, "version": VERSION, "created": clock.isoformat(clock.now()),
              "site_timezone": settings.site_timezone, "filters": flt.to_json(),
              "start_seq": start_seq, "start_hash": start_hash, "end_seq": end_seq}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    sha256 = hashlib.sha256
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
                _write_line(handle, {"type": "omitted", "first_seq": run_first, "last_seq": run_first + len(run) - 1,
                                     "digests": run})
                run.clear()

        raw = db.engine.raw_connection()
        try:
            raw.rollback()
            cursor = raw.cursor()
            cursor.execute("SELECT seq, canonical, prev_hash, entry_hash FROM audit_entry WHERE seq > %d AND seq <= %d "
                           "ORDER BY seq" % (start_seq, end_seq))
            while True:
                batch = cursor.fetchmany(5000)
                if not batch:
                    break
                for seq, canonical, prev_hash, entry_hash in batch:
                    canonical = bytes(canonical)
                    if seq != expected or prev_hash != prev_hex:
                        raise ChainBroken(expected, "the trail does not verify; run `gmp audit verify`", prev_hex, prev_hash)
                    digest = sha256(canonical).digest()
                    chained = sha256(DOMAIN + prev_raw + digest)
                    if chained.hexdigest() != entry_hash:
                        raise ChainBroken(seq, "the trail does not verify; run `gmp audit verify`",
                                          chained.hexdigest(), entry_hash)
                    if seq in wanted:
                        flush_run()
                        _write_line(handle, {"type": "entry", "seq": seq, "canonical": canonical.decode("utf-8"),
                                             "entry_hash": entry_hash})
                    else:
                        if not run:
                            run_first = seq
                        run.append(digest.hex())
                        if len(run) >= DIGESTS_PER_LINE:
                            flush_run()
                    prev_hex, prev_raw, expected = entry_hash, chained.digest(), seq + 1
            cursor.close()
        finally:
            raw.rollback()
            raw.close()
        flush_run()
        if expected - 1 != end_seq:
            raise ChainBroken(expected, "entry missing; run `gmp audit verify`", end_seq, expected - 1)
        _write_line(handle, {"type": "end", "entries": len(included), "last_seq": end_seq, "last_hash": prev_hex})
    tmp.replace(out)
    return ExportResult(out, "jsonl", len(included), start_seq, end_seq)


# ---------------------------------------------------------------- readable formats
def _entries(db: Database, flt: ExportFilter) -> Iterator[AuditEntry]:
    with db.session() as session:
        query = flt.where(select(AuditEntry)).order_by(AuditEntry.seq).execution_options(yield_per=2000)
        yield from session.execute(query).scalars()
        session.rollback()


def _count(db: Database, flt: ExportFilter) -> int:
    with db.session() as session:
        count = session.execute(flt.where(select(func.count()).select_from(AuditEntry))).scalar_one()
        session.rollback()
    return int(count)


def _site_time(ts: str, settings: Settings) -> str:
    return clock.parse_iso(ts).astimezone(settings.tz()).strftime("%Y-%m-%d %H:%M:%S %Z")


def format_changes(changes_json: str) -> str:
    """`field: old -> new` lines of an entry's changes column."""
    lines = []
    for change in json.loads(changes_json):
        if isinstance(change, list) and len(change) == 3:
            name, old, new = change
            lines.append(f"{name}: {_show(old)} -> {_show(new)}")
        else:
            lines.append(_show(change))
    return "\n".join(lines)


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    return value if isinstance(value, str) else dumps(value)


CSV_COLUMNS = ["seq", "time_utc", "time_site", "user_id", "printed_name", "action", "object_type", "object_id",
               "changes", "reason", "details", "entry_hash"]


def export_csv(db: Database, settings: Settings, out: Path, flt: ExportFilter = ExportFilter()) -> ExportResult:
    """One row per entry, readable in a spreadsheet (UTF-8 with BOM)."""
    if _count(db, flt) == 0:
        raise ExportError("no audit entries match the filters")
    out.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(out, "w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for entry in _entries(db, flt):
            writer.writerow([entry.seq, entry.ts, _site_time(entry.ts, settings), entry.actor_id, entry.actor_name,
                             entry.action, entry.object_type, entry.object_id, format_changes(entry.changes),
                             entry.reason or "", entry.details, entry.entry_hash])
            count += 1
    return ExportResult(out, "csv", count)


def export_pdf(db: Database, settings: Settings, out: Path, flt: ExportFilter = ExportFilter(),
               title: str = "Audit trail") -> ExportResult:
    """A PDF/A-3b printout for people; refuses more than PDF_MAX_ENTRIES entries."""
    from audit.pdf import escape, html_document, render_pdf

    count = _count(db, flt)
    if count == 0:
        raise ExportError("no audit entries match the filters")
    if count > PDF_MAX_ENTRIES:
        raise ExportError(f"{count} entries match: a PDF holds at most {PDF_MAX_ENTRIES}; narrow the export with a "
                          "filter (--object-type/--object-id, --user, --action, --since/--until) or use --format jsonl")
    rows = []
    for entry in _entries(db, flt):
        rows.append(
            f"<tr><td>{entry.seq}</td><td>{escape(entry.ts)}<br><span class='small'>"
            f"{escape(_site_time(entry.ts, settings))}</span></td><td>{escape(entry.actor_id)}<br>"
            f"{escape(entry.actor_name)}</td><td>{escape(entry.action)}</td><td>{escape(entry.object_type)}<br>"
            f"{escape(entry.object_id)}</td><td>{escape(format_changes(entry.changes)).replace(chr(10), '<br>')}</td>"
            f"<td>{escape(entry.reason)}</td></tr>")
    filters = {k: v for k, v in flt.to_json().items() if v}
    meta = (f"{count} entries; generated {clock.isoformat(clock.now())} (UTC), site time zone {settings.site_timezone}"
            + (f"; filters {dumps(filters)}" if filters else ""))
    body = ("<table><colgroup><col style='width:5%'><col style='width:14%'><col style='width:12%'>"
            "<col style='width:13%'><col style='width:13%'><col style='width:28%'><col style='width:15%'></colgroup>"
            "<thead><tr><th>Seq</th><th>Time (UTC / site)</th><th>User / printed name</th><th>Action</th>"
            "<th>Object</th><th>Changes (old -&gt; new)</th><th>Reason</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(render_pdf(html_document(title, body, meta=meta)))
    return ExportResult(out, "pdf", count)


def export(db: Database, settings: Settings, fmt: str, out: Path, flt: ExportFilter = ExportFilter()) -> ExportResult:
    if fmt == "jsonl":
        return export_jsonl(db, settings, out, flt)
    if fmt == "csv":
        return export_csv(db, settings, out, flt)
    if fmt == "pdf":
        return export_pdf(db, settings, out, flt)
    raise ExportError(f"unknown export format {fmt!r}: expected one of {', '.join(FORMATS)}")


# ---------------------------------------------------------------- offline verification
@dataclass
class ExportReport:
    entries: int
    start_seq: int
    end_seq: int
    checkpoints_in_range: int
    anchored_through: int  # newest seq covered by a verified checkpoint (0: none)
    unanchored_entries: int  # included entries after the newest checkpoint in range
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (f"export intact: {self.entries} entries, chain {self.start_seq + 1}..{self.end_seq}, "
                f"{self.checkpoints_in_range} signed checkpoints in range")
        if self.unanchored_entries:
            text += f"; {self.unanchored_entries} included entries are after the newest checkpoint (not anchored)"
        else:
            text += "; every included entry is anchored by a signed checkpoint"
        return text


def _lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                obj = json.loads(line)
            except ValueError as exc:
                raise ExportInvalid(f"{path} line {number}: not JSON: {exc}") from exc
            if not isinstance(obj, dict) or "type" not in obj:
                raise ExportInvalid(f"{path} line {number}: not an export record")
            yield number, obj


def verify_export(path: Path, trusted_keys: dict[str, Ed25519PublicKey]) -> ExportReport:
    """Verify a JSONL export without the database; raise ExportInvalid, ChainBroken or CheckpointInvalid."""
    if not path.is_file():
        raise ExportInvalid(f"{path}: no such file")
    lines = _lines(path)
    try:
        _, header = next(lines)
    except StopIteration:
        raise ExportInvalid(f"{path}: empty file") from None
    if header.get("type") != "header" or header.get("format") != FORMAT or header.get("version") != VERSION:
        raise ExportInvalid(f"{path}: not a {FORMAT} version {VERSION} file")
    start_seq, start_hash, end_seq = header.get("start_seq"), header.get("start_hash"), header.get("end_seq")
    if not isinstance(start_seq, int) or not isinstance(end_seq, int) or not isinstance(start_hash, str):
        raise ExportInvalid(f"{path}: header lacks start_seq, start_hash or end_seq")
    signed: dict[int, str] = {}
    sha256 = hashlib.sha256
    prev_hex, expected, included, included_seqs = start_hash, start_seq + 1, 0, []
    try:
        prev_raw = bytes.fromhex(start_hash)
    except ValueError:
        raise ExportInvalid(f"{path}: start_hash is not hex") from None
    ended: dict[str, Any] | None = None
    started = False

    def link(seq: int, digest: bytes, claimed: str | None) -> None:
        nonlocal prev_hex, prev_raw, expected
        chained = sha256(DOMAIN + prev_raw + digest)
        computed = chained.hexdigest()
        if claimed is not None and claimed != computed:
            raise ChainBroken(seq, "entry_hash does not match the chain", computed, claimed)
        if seq in signed and signed[seq] != computed:
            raise ChainBroken(seq, "entry hash differs from the signed checkpoint", signed[seq], computed)
        prev_hex, prev_raw, expected = computed, chained.digest(), seq + 1

    for number, obj in lines:
        kind = obj["type"]
        if ended is not None:
            raise ExportInvalid(f"{path} line {number}: data after the end record")
        if kind == "public_key":
            continue  # informational: only the keys the verifier trusts count
        if kind == "checkpoint":
            if started:
                raise ExportInvalid(f"{path} line {number}: checkpoint after the entries began")
            try:
                checkpoint = cps.Checkpoint.from_json({k: v for k, v in obj.items() if k != "type"})
            except ValueError as exc:
                raise ExportInvalid(f"{path} line {number}: bad checkpoint: {exc}") from exc
            checkpoint.verify(trusted_keys)
            if signed.setdefault(checkpoint.seq, checkpoint.entry_hash) != checkpoint.entry_hash:
                raise ChainBroken(checkpoint.seq, "two signed checkpoints disagree", signed[checkpoint.seq],
                                  checkpoint.entry_hash)
            continue
        if not started:
            started = True
            if start_seq == 0:
                if start_hash != GENESIS_HASH:
                    raise ChainBroken(0, "start_hash of a trail from the beginning", GENESIS_HASH, start_hash)
            elif signed.get(start_seq) != start_hash:
                raise ChainBroken(start_seq, "start of the export is not a signed checkpoint", signed.get(start_seq),
                                  start_hash)
        if kind == "entry":
            seq = obj.get("seq")
            if seq != expected:
                raise ChainBroken(expected, "entry missing or out of order", expected, seq)
            canonical_text = obj.get("canonical")
            if not isinstance(canonical_text, str):
                raise ExportInvalid(f"{path} line {number}: entry without canonical text")
            canonical = canonical_text.encode("utf-8")
            try:
                document = json.loads(canonical)
            except ValueError as exc:
                raise ExportInvalid(f"{path} line {number}: canonical text is not JSON: {exc}") from exc
            if not isinstance(document, dict) or document.get("seq") != seq:
                raise ChainBroken(seq, "canonical entry names another sequence number", seq,
                                  document.get("seq") if isinstance(document, dict) else None)
            if dumps(document).encode("utf-8") != canonical:
                raise ChainBroken(seq, "canonical text is not in canonical form", dumps(document), canonical_text)
            link(seq, sha256(canonical).digest(), obj.get("entry_hash"))
            included += 1
            included_seqs.append(seq)
        elif kind == "omitted":
            first, last, digests = obj.get("first_seq"), obj.get("last_seq"), obj.get("digests")
            if first != expected:
                raise ChainBroken(expected, "entry missing or out of order", expected, first)
            if not isinstance(digests, list) or not isinstance(last, int) or len(digests) != last - first + 1:
                raise ExportInvalid(f"{path} line {number}: omitted run {first}..{last} does not hold one digest per entry")
            for offset, digest_hex in enumerate(digests):
                try:
                    digest = bytes.fromhex(digest_hex)
                except (TypeError, ValueError):
                    raise ExportInvalid(f"{path} line {number}: digest {offset + 1} is not hex") from None
                if len(digest) != 32:
                    raise ExportInvalid(f"{path} line {number}: digest {offset + 1} is not 32 bytes")
                link(first + offset, digest, None)
        elif kind == "end":
            ended = obj
        else:
            raise ExportInvalid(f"{path} line {number}: unknown record type {kind!r}")
    if ended is None:
        raise ExportInvalid(f"{path}: no end record (file cut short?)")
    if expected - 1 != end_seq or ended.get("last_seq") != end_seq:
        raise ChainBroken(expected, "entries missing before the end of the export", end_seq, expected - 1)
    if ended.get("last_hash") != prev_hex:
        raise ChainBroken(end_seq, "last_hash of the end record", prev_hex, ended.get("last_hash"))
    if ended.get("entries") != included:
        raise ExportInvalid(f"{path}: end record counts {ended.get('entries')} entries, the file holds {included}")
    in_range = sorted(seq for seq in signed if start_seq < seq <= end_seq)
    anchored = in_range[-1] if in_range else (start_seq if start_seq else 0)
    unanchored = sum(1 for seq in included_seqs if seq > anchored)
    return ExportReport(included, start_seq, end_seq, len(in_range), anchored, unanchored)
