"""Offline verification of a JSONL audit export (docs/audit-export-format.md), without the database.

`verify_export(path, trusted_keys)` returns an ExportReport or raises ExportInvalid,
ExportUnanchored, ChainBroken or CheckpointInvalid. For a version 2 export it proves:

- the file is well formed: one header first, one end last, nothing after it; checkpoints
  before the entries; entry and omitted records covering start_seq+1..end_seq once each,
  in order, every omitted run holding exactly one digest per sequence number;
- every checkpoint and the export statement are signed by a trusted server key; the
  chain starts at the genesis or at a signed checkpoint and agrees with every signed
  checkpoint in its range; a signed checkpoint at the head of export time is present;
- the statement names the header's filters, head and range, the chain's last hash, the
  number of included entries and the digest over their hashes: an entry hidden as an
  omitted digest, a changed filter, a cut or a recomputed chain fails;
- every included entry is in canonical form and matches the filters.

A version 1 export (no statement) cannot prove completeness, and its entries after the
newest checkpoint are not covered by any signature: it is refused with ExportUnanchored
unless `accept_unanchored=True`, and then reported as such.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit import checkpoints as cps
from audit.canonical import DOMAIN, GENESIS_HASH, dumps
from audit.errors import ChainBroken, ExportInvalid, ExportUnanchored
from audit.filters import FILTER_KEYS, matches
from audit.statement import verify_statement

FORMAT = "gmp-audit-export"
VERSIONS = (1, 2)


@dataclass
class ExportReport:
    entries: int
    start_seq: int
    end_seq: int
    checkpoints_in_range: int
    anchored_through: int  # newest seq covered by a verified signature (0: none)
    unanchored_entries: int  # included entries no signature covers
    version: int = 2
    head_seq: int = 0
    filters: dict[str, Any] = field(default_factory=dict)
    complete: bool = False  # a signed statement proves the file holds every matching entry
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (f"export intact: {self.entries} entries, chain {self.start_seq + 1}..{self.end_seq}, "
                f"{self.checkpoints_in_range} signed checkpoints in range")
        if self.complete:
            selected = ", ".join(f"{k}={v}" for k, v in self.filters.items() if v) or "none (every entry)"
            text += (f"; the server's signed statement covers every included entry and states that these are all "
                     f"entries up to {self.head_seq} matching the filters ({selected})")
        if self.unanchored_entries:
            text += f"; {self.unanchored_entries} included entries are not anchored by any signature (accepted)"
        for note in self.notes:
            text += f"; {note}"
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


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def verify_export(path: Path, trusted_keys: Mapping[str, Ed25519PublicKey], *,
                  accept_unanchored: bool = False) -> ExportReport:
    """Verify a JSONL export without the database; see the module text for what it proves."""
    if not path.is_file():
        raise ExportInvalid(f"{path}: no such file")
    lines = _lines(path)
    try:
        _, header = next(lines)
    except StopIteration:
        raise ExportInvalid(f"{path}: empty file") from None
    version = header.get("version")
    if header.get("type") != "header" or header.get("format") != FORMAT or version not in VERSIONS:
        raise ExportInvalid(f"{path}: not a {FORMAT} file of version {' or '.join(map(str, VERSIONS))}")
    start_seq, start_hash, end_seq = header.get("start_seq"), header.get("start_hash"), header.get("end_seq")
    if not _int(start_seq) or not _int(end_seq) or not isinstance(start_hash, str) or start_seq < 0 \
            or end_seq <= start_seq:
        raise ExportInvalid(f"{path}: header lacks a valid start_seq, start_hash or end_seq")
    filters = header.get("filters")
    if version == 2 and (not isinstance(filters, dict) or set(filters) != set(FILTER_KEYS)):
        raise ExportInvalid(f"{path}: header filters do not have the fields {', '.join(FILTER_KEYS)}")
    signed: dict[int, str] = {}
    sha256 = hashlib.sha256
    prev_hex, expected, included, included_seqs = start_hash, start_seq + 1, 0, []
    included_digest = sha256()
    try:
        prev_raw = bytes.fromhex(start_hash)
    except ValueError:
        raise ExportInvalid(f"{path}: start_hash is not hex") from None
    if len(prev_raw) != 32:
        raise ExportInvalid(f"{path}: start_hash is not 32 bytes")
    ended: dict[str, Any] | None = None
    statement: dict[str, Any] | None = None
    started = False

    def link(seq: int, digest: bytes, claimed: str | None) -> bytes:
        nonlocal prev_hex, prev_raw, expected
        chained = sha256(DOMAIN + prev_raw + digest)
        computed = chained.hexdigest()
        if claimed is not None and claimed != computed:
            raise ChainBroken(seq, "entry_hash does not match the chain", computed, claimed)
        if seq in signed and signed[seq] != computed:
            raise ChainBroken(seq, "entry hash differs from the signed checkpoint", signed[seq], computed)
        prev_hex, prev_raw, expected = computed, chained.digest(), seq + 1
        return prev_raw

    def start() -> None:
        nonlocal started
        started = True
        if start_seq == 0:
            if start_hash != GENESIS_HASH:
                raise ChainBroken(0, "start_hash of a trail from the beginning", GENESIS_HASH, start_hash)
        elif signed.get(start_seq) != start_hash:
            raise ChainBroken(start_seq, "start of the export is not a signed checkpoint", signed.get(start_seq),
                              start_hash)

    for number, obj in lines:
        kind = obj["type"]
        where = f"{path} line {number}"
        if ended is not None:
            raise ExportInvalid(f"{where}: data after the end record")
        if kind == "header":
            raise ExportInvalid(f"{where}: a second header")
        if kind == "public_key":
            continue  # informational: only the keys the verifier trusts count
        if kind == "checkpoint":
            if started:
                raise ExportInvalid(f"{where}: checkpoint after the entries began")
            try:
                checkpoint = cps.Checkpoint.from_json({k: v for k, v in obj.items() if k != "type"})
            except ValueError as exc:
                raise ExportInvalid(f"{where}: bad checkpoint: {exc}") from exc
            checkpoint.verify(dict(trusted_keys))
            if signed.setdefault(checkpoint.seq, checkpoint.entry_hash) != checkpoint.entry_hash:
                raise ChainBroken(checkpoint.seq, "two signed checkpoints disagree", signed[checkpoint.seq],
                                  checkpoint.entry_hash)
            continue
        if statement is not None and kind != "end":
            raise ExportInvalid(f"{where}: {kind} record after the statement (only the end record may follow it)")
        if not started:
            start()
        if kind == "entry":
            seq = obj.get("seq")
            if seq != expected:
                raise ChainBroken(expected, "entry missing or out of order", expected, seq)
            canonical_text = obj.get("canonical")
            if not isinstance(canonical_text, str):
                raise ExportInvalid(f"{where}: entry without canonical text")
            canonical = canonical_text.encode("utf-8")
            try:
                document = json.loads(canonical)
            except ValueError as exc:
                raise ExportInvalid(f"{where}: canonical text is not JSON: {exc}") from exc
            if not isinstance(document, dict) or document.get("seq") != seq:
                raise ChainBroken(seq, "canonical entry names another sequence number", seq,
                                  document.get("seq") if isinstance(document, dict) else None)
            if dumps(document).encode("utf-8") != canonical:
                raise ChainBroken(seq, "canonical text is not in canonical form", dumps(document), canonical_text)
            if version == 2 and not matches(filters, document):  # type: ignore[arg-type]
                raise ExportInvalid(f"{where}: entry {seq} does not match the export's filters")
            included_digest.update(link(seq, sha256(canonical).digest(), obj.get("entry_hash")))
            included += 1
            included_seqs.append(seq)
        elif kind == "omitted":
            first, last, digests = obj.get("first_seq"), obj.get("last_seq"), obj.get("digests")
            if first != expected:
                raise ChainBroken(expected, "entry missing or out of order", expected, first)
            if not _int(last) or not isinstance(digests, list) or not digests or len(digests) != last - first + 1:
                raise ExportInvalid(f"{where}: omitted run {first}..{last} does not hold exactly one digest per "
                                    f"entry ({len(digests) if isinstance(digests, list) else 'no'} digests)")
            for offset, digest_hex in enumerate(digests):
                try:
                    digest = bytes.fromhex(digest_hex)
                except (TypeError, ValueError):
                    raise ExportInvalid(f"{where}: digest {offset + 1} is not hex") from None
                if len(digest) != 32:
                    raise ExportInvalid(f"{where}: digest {offset + 1} is not 32 bytes")
                link(first + offset, digest, None)
        elif kind == "statement":
            if version != 2:
                raise ExportInvalid(f"{where}: a statement in a version {version} export")
            statement = verify_statement(obj, trusted_keys, where)
        elif kind == "end":
            ended = obj
        else:
            raise ExportInvalid(f"{where}: unknown record type {kind!r}")
    if ended is None:
        raise ExportInvalid(f"{path}: no end record (file cut short?)")
    if not started:
        start()
    if expected - 1 != end_seq or ended.get("last_seq") != end_seq:
        raise ChainBroken(expected, "entries missing before the end of the export", end_seq, expected - 1)
    if ended.get("last_hash") != prev_hex:
        raise ChainBroken(end_seq, "last_hash of the end record", prev_hex, ended.get("last_hash"))
    if ended.get("entries") != included:
        raise ExportInvalid(f"{path}: end record counts {ended.get('entries')} entries, the file holds {included}")
    in_range = sorted(seq for seq in signed if start_seq < seq <= end_seq)
    report = ExportReport(included, start_seq, end_seq, len(in_range), 0, 0, version=version,
                          filters=filters if isinstance(filters, dict) else {})
    if version == 2:
        if statement is None:
            raise ExportInvalid(f"{path}: no signed statement: the export cannot prove what it holds")
        _check_statement(path, statement, header, end_seq, prev_hex, included, included_digest.hexdigest(), signed)
        report.head_seq, report.complete, report.anchored_through = statement["head_seq"], True, end_seq
        return report
    anchored = in_range[-1] if in_range else start_seq
    report.anchored_through = anchored
    report.unanchored_entries = sum(1 for seq in included_seqs if seq > anchored)
    report.notes.append("version 1 export: no signed statement, so it cannot prove that it holds every entry its "
                        "filters match")
    if not accept_unanchored:
        raise ExportUnanchored(
            f"{path}: version 1 export without a signed statement"
            + (f"; {report.unanchored_entries} included entries are after the newest checkpoint, so no signature "
               "covers them" if report.unanchored_entries else "")
            + ": nothing proves that entries were not hidden or the tail recomputed. Ask for a new export, or "
              "accept this explicitly (--accept-unanchored)")
    return report


def _check_statement(path: Path, statement: Mapping[str, Any], header: Mapping[str, Any], end_seq: int,
                     end_hash: str, included: int, included_sha256: str, signed: Mapping[int, str]) -> None:
    expected = {"format": FORMAT, "version": 2, "created": header.get("created"), "filters": header.get("filters"),
                "head_seq": header.get("head_seq"), "head_hash": header.get("head_hash"),
                "start_seq": header.get("start_seq"), "start_hash": header.get("start_hash"), "end_seq": end_seq,
                "end_hash": end_hash, "entries": included, "included_sha256": included_sha256}
    differ = [name for name, value in expected.items() if statement.get(name) != value]
    if differ:
        raise ExportInvalid(f"{path}: the file differs from the server's signed statement in "
                            f"{', '.join(differ)} (entries hidden, filters changed, or the chain cut or recomputed)")
    head_seq, head_hash = statement["head_seq"], statement["head_hash"]
    if not _int(head_seq) or head_seq < end_seq or signed.get(head_seq) != head_hash:
        raise ExportInvalid(f"{path}: no signed checkpoint at the head of export time ({head_seq})")
