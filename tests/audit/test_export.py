"""Exports: JSONL verifiable offline, CSV, PDF/A-3b with CJK (URS-AUD-004)."""
from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from audit import export as export_module
from audit.checkpoints import create_checkpoint, load_public_keys_pem
from audit.errors import ChainBroken, CheckpointInvalid, ExportError, ExportInvalid, ExportUnanchored
from audit.export import ExportFilter, export, export_jsonl, export_pdf, verify_export
from tests.audit.conftest import ALICE, BOB, add_entries

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.req("URS-AUD-004", "P11-10b", "CN-6")


def _keys(cli, tmp_path):
    pem = tmp_path / "keys.pem"
    pem.write_text(cli("audit", "public-key").output)
    return pem, load_public_keys_pem(pem.read_bytes())


@pytest.fixture
def mixed(db, settings, frozen_clock):
    add_entries(db, 3, ALICE, object_id="B-1")          # 1..3
    create_checkpoint(db, settings)                        # anchors 3
    frozen_clock.advance(hours=1)
    add_entries(db, 2, BOB, object_id="B-2")             # 4..5
    add_entries(db, 2, ALICE, object_id="B-1")           # 6..7
    create_checkpoint(db, settings)                        # anchors 7
    add_entries(db, 1, BOB, object_id="B-2")             # 8
    return db


def _records(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_full_jsonl_export_verifies_offline(mixed, settings, cli, tmp_path):
    out = tmp_path / "all.jsonl"
    result = cli("audit", "export", "--format", "jsonl", "--out", str(out))
    assert result.exit_code == 0 and "exported 8 entries" in result.output
    assert "signed checkpoint at entry 8 written first" in result.output
    pem, keys = _keys(cli, tmp_path)
    report = verify_export(out, keys)
    assert (report.entries, report.start_seq, report.end_seq, report.unanchored_entries) == (8, 0, 8, 0)
    assert report.complete and report.head_seq == 8
    result = cli("audit", "verify-export", str(out), "--public-key", str(pem))
    assert result.exit_code == 0 and "export intact: 8 entries" in result.output
    assert "states that these are all entries up to 8 matching the filters (none (every entry))" in result.output


def test_export_writes_a_signed_checkpoint_at_the_head_first(mixed, settings, tmp_path):
    from audit.checkpoints import log_path, read_log

    add_entries(mixed, 2, BOB, object_id="B-3")  # 9..10, after the newest checkpoint
    result = export_jsonl(mixed, settings, tmp_path / "e.jsonl")
    assert (result.head_seq, result.end_seq, result.entries) == (10, 10, 10)
    assert [c.seq for c in read_log(log_path(settings))][-1] == 10
    records = _records(tmp_path / "e.jsonl")
    assert records[0]["head_seq"] == 10 and any(r["type"] == "checkpoint" and r["seq"] == 10 for r in records)
    for fmt in ("csv", "pdf"):
        add_entries(mixed, 1, BOB, object_id="B-4")
        result = export(mixed, settings, fmt, tmp_path / f"e.{fmt}", ExportFilter(actor_id="bob"))
        assert result.head_seq == read_log(log_path(settings))[-1].seq == result.head_seq


@pytest.mark.req("URS-OPS-003", "A11-9")
def test_an_export_streams_the_entries_without_holding_the_write_lock(mixed, settings, tmp_path, monkeypatch):
    """A CSV or PDF export reads the entries in a read-only snapshot: the plant's writers are not held
    up while an auditor exports (on SQLite a write transaction locks the whole database)."""
    from tests.web.test_ceremony import write_transaction_open

    streamed = export_module.entries
    seen: list[bool] = []

    def watched(db, flt, head_seq):  # type: ignore[no-untyped-def]
        for row in streamed(db, flt, head_seq):
            seen.append(write_transaction_open(db))
            yield row

    monkeypatch.setattr(export_module, "entries", watched)
    for fmt in ("csv", "pdf"):
        seen.clear()
        result = export(mixed, settings, fmt, tmp_path / f"e.{fmt}", ExportFilter(actor_id="bob"))
        assert result.entries == 3 and seen == [False, False, False], fmt


def test_filtered_export_carries_digests_and_starts_at_a_checkpoint(mixed, settings, cli, tmp_path):
    out = tmp_path / "bob.jsonl"
    result = export_jsonl(mixed, settings, out, ExportFilter(actor_id="bob", since=datetime(2026, 1, 5, 8, 30, tzinfo=timezone.utc)))
    assert (result.entries, result.start_seq, result.end_seq) == (3, 3, 8)
    records = _records(out)
    assert [r["seq"] for r in records if r["type"] == "entry"] == [4, 5, 8]
    assert [(r["first_seq"], r["last_seq"]) for r in records if r["type"] == "omitted"] == [(6, 7)]
    assert "Bob 王" in out.read_text(encoding="utf-8")
    _, keys = _keys(cli, tmp_path)
    report = verify_export(out, keys)
    assert (report.entries, report.anchored_through, report.unanchored_entries) == (3, 8, 0)
    assert report.complete and report.filters["actor_id"] == "bob"


def test_action_filter_matches_by_prefix(mixed, settings, cli, tmp_path):
    add_entries(mixed, 1, BOB, action="signature.created")
    add_entries(mixed, 1, BOB, action="signature.refused")
    add_entries(mixed, 1, BOB, action="Signature.other")  # prefix matching is case-sensitive on every database
    out = tmp_path / "sig.jsonl"
    result = cli("audit", "export", "--out", str(out), "--action", "signature")
    assert result.exit_code == 0 and "exported 2 entries" in result.output, result.output
    assert [json.loads(r["canonical"])["action"] for r in _records(out) if r["type"] == "entry"] == \
        ["signature.created", "signature.refused"]
    verify_export(out, _keys(cli, tmp_path)[1])


# ---------------------------------------------------------------- forgeries
def _write(path, records):
    path.write_text("".join(json.dumps(r, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"
                            for r in records), encoding="utf-8")


def _rechain(records):
    """Recompute every entry hash and the end record after an edit, as a forger would."""
    import hashlib

    from audit.canonical import DOMAIN

    header = records[0]
    prev = bytes.fromhex(header["start_hash"])
    for record in records:
        if record["type"] == "entry":
            prev = hashlib.sha256(DOMAIN + prev + hashlib.sha256(record["canonical"].encode()).digest()).digest()
            record["entry_hash"] = prev.hex()
        elif record["type"] == "omitted":
            for digest in record["digests"]:
                prev = hashlib.sha256(DOMAIN + prev + bytes.fromhex(digest)).digest()
        elif record["type"] == "end":
            record["last_hash"] = prev.hex()
            record["entries"] = sum(1 for r in records if r["type"] == "entry")
    return records


def _hide(records, seq):
    """Replace the entry `seq` by an omitted record carrying its true digest."""
    import hashlib

    out = []
    for record in records:
        if record["type"] == "entry" and record["seq"] == seq:
            digest = hashlib.sha256(record["canonical"].encode()).hexdigest()
            out.append({"type": "omitted", "first_seq": seq, "last_seq": seq, "digests": [digest]})
        else:
            out.append(record)
    for record in out:
        if record["type"] == "end":
            record["entries"] -= 1
    return out


def _edit_entry(records, seq):
    for record in records:
        if record["type"] == "entry" and record["seq"] == seq:
            document = json.loads(record["canonical"])
            document["changes"] = [["weight_kg", 0, 99]]
            record["canonical"] = json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return records


def _without(records, *kinds):
    return [r for r in records if r["type"] not in kinds]


def _cut_tail(records, seq):
    """Cut the chain back to `seq` (a checkpoint) and rewrite end (and header) to match."""
    kept = [r for r in records if not (r["type"] == "entry" and r["seq"] > seq)]
    for record in kept:
        if record["type"] == "end":
            record["last_seq"] = seq
            record["entries"] = sum(1 for r in kept if r["type"] == "entry")
        if record["type"] == "header":
            record["end_seq"] = seq
    return _rechain(kept)


def _as_version_1(records):
    records = _without(records, "statement")
    records[0]["version"] = 1
    return records


def _refilter(records):
    records[0]["filters"]["actor_id"] = "alice"
    return records


def _second_entry(records):
    return [r["seq"] for r in records if r["type"] == "entry"][1]


def _newest_checkpoint_before_end(records):
    end = records[-1]["last_seq"]
    return max(r["seq"] for r in records if r["type"] == "checkpoint" and r["seq"] < end)


# name -> (forge(records), expected message); the three first: checkpoint lines removed and the chain
# recomputed after an edit; an included entry hidden as an omitted digest; the tail cut back to a checkpoint
FORGERIES = {
    "edited, recomputed, checkpoints removed": (
        lambda r: _rechain(_edit_entry(_without(r, "checkpoint"), r[-1]["last_seq"])),
        "differs from the server's signed statement|start of the export is not a signed checkpoint"),
    "edited, recomputed, checkpoints and statement removed": (
        lambda r: _rechain(_edit_entry(_without(r, "checkpoint", "statement"), r[-1]["last_seq"])),
        "no signed statement|start of the export is not a signed checkpoint"),
    "edited, recomputed, relabelled version 1": (
        lambda r: _as_version_1(_rechain(_edit_entry(_without(r, "checkpoint"), r[-1]["last_seq"]))),
        "version 1 export without a signed statement|start of the export is not a signed checkpoint"),
    "entry hidden as an omitted digest": (lambda r: _hide(r, _second_entry(r)), "in entries, included_sha256"),
    "tail cut back to a checkpoint": (lambda r: _cut_tail(r, _newest_checkpoint_before_end(r)),
                                      "in end_seq, end_hash, entries, included_sha256"),
    "filters changed": (_refilter, "in filters|does not match the export's filters"),
    "statement changed": (lambda r: [dict(x, statement=dict(x["statement"], entries=1)) if x["type"] == "statement"
                                     else x for x in r], "statement's signature by key .* does not verify"),
    "statement key_id not text": (lambda r: [dict(x, key_id=["k"]) if x["type"] == "statement" else x for x in r],
                                  "key_id or signature is missing"),
    "data after the end": (lambda r: r + [r[-1]], "data after the end record"),
    "omitted range inconsistent with its digests": (
        lambda r: [dict(x, last_seq=x["last_seq"] + 1) if x["type"] == "omitted" else x for x in r],
        "does not hold exactly one digest per entry"),
}


@pytest.mark.parametrize("filtered", [False, True], ids=["full", "filtered"])
@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_forged_exports_are_refused(mixed, settings, cli, tmp_path, forgery, filtered):
    """Each forgery fails `verify_export`, `gmp audit verify-export` (exit 1) and the documented standalone
    verifier (non-zero exit), for a full export and for a filtered one."""
    if forgery == "omitted range inconsistent with its digests" and not filtered:
        add_entries(mixed, 1, BOB, object_type="other")  # a full export without omitted runs: make one
        flt = ExportFilter(object_type="batch_record")
    else:
        flt = ExportFilter(actor_id="bob") if filtered else ExportFilter()
    out = tmp_path / "e.jsonl"
    export_jsonl(mixed, settings, out, flt)
    pem, keys = _keys(cli, tmp_path)
    forge, message = FORGERIES[forgery]
    _write(out, forge(_records(out)))
    with pytest.raises((ExportInvalid, ChainBroken), match=message):
        verify_export(out, keys)
    result = cli("audit", "verify-export", str(out), "--public-key", str(pem))
    assert result.exit_code == 1, result.output
    done = subprocess.run([sys.executable, str(_standalone(tmp_path)), str(out), str(pem)], capture_output=True,
                          text=True)
    assert done.returncode != 0 and "OK" not in done.stdout


def test_version_1_export_needs_explicit_acceptance(mixed, settings, cli, tmp_path):
    out = tmp_path / "v1.jsonl"
    export_jsonl(mixed, settings, out)
    records = _as_version_1(_records(out))
    records[0]["filters"] = {"object_type": None, "object_ids": [], "actor_id": None, "action": None,
                             "since": None, "until": None}
    _write(out, records)
    pem, keys = _keys(cli, tmp_path)
    with pytest.raises(ExportUnanchored, match="version 1 export without a signed statement: nothing proves"):
        verify_export(out, keys)
    result = cli("audit", "verify-export", str(out), "--public-key", str(pem))
    assert result.exit_code == 1 and "--accept-unanchored" in result.output
    result = cli("audit", "verify-export", str(out), "--public-key", str(pem), "--accept-unanchored")
    assert result.exit_code == 0 and "cannot prove that it holds every entry" in result.output
    report = verify_export(out, keys, accept_unanchored=True)
    assert not report.complete and report.unanchored_entries == 0


def _standalone(tmp_path):
    doc = (ROOT / "docs" / "audit-export-format.md").read_text(encoding="utf-8")
    code = re.search(r"<!-- verifier:start -->\n```python\n(.*?)```\n<!-- verifier:end -->", doc, re.S).group(1)
    script = tmp_path / "verify_audit_export.py"
    script.write_text(code)
    return script


def test_documented_standalone_verifier_accepts_a_real_export(mixed, settings, cli, tmp_path):
    script = _standalone(tmp_path)
    out = tmp_path / "b1.jsonl"
    export_jsonl(mixed, settings, out, ExportFilter(object_type="batch_record", object_ids=("B-1",)))
    pem, _ = _keys(cli, tmp_path)
    done = subprocess.run([sys.executable, str(script), str(out), str(pem)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "OK: 5 entries, chain 1..7, all anchored; the signed statement says they are every entry up to 8" \
        in done.stdout
    lines = out.read_text(encoding="utf-8").splitlines()
    forged = [line.replace("weight_kg", "weight_lb") if '"type":"entry"' in line and '"seq":2' in line else line
              for line in lines]
    out.write_text("\n".join(forged) + "\n", encoding="utf-8")
    done = subprocess.run([sys.executable, str(script), str(out), str(pem)], capture_output=True, text=True)
    assert done.returncode != 0 and "entry 2: hash mismatch" in done.stderr


def test_altered_entry_in_export_is_caught(mixed, settings, cli, tmp_path):
    out = tmp_path / "e.jsonl"
    export_jsonl(mixed, settings, out)
    text = out.read_text(encoding="utf-8").replace("Bob 王", "Eve 王", 1)
    out.write_text(text, encoding="utf-8")
    with pytest.raises(ChainBroken, match="audit entry 4: entry_hash does not match the chain"):
        verify_export(out, _keys(cli, tmp_path)[1])


def test_removed_entry_in_export_is_caught(mixed, settings, cli, tmp_path):
    out = tmp_path / "e.jsonl"
    export_jsonl(mixed, settings, out)
    lines = [line for line in out.read_text(encoding="utf-8").splitlines() if '"seq":5,' not in line or '"entry"' not in line]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ChainBroken, match="audit entry 5: entry missing or out of order: expected 5, found 6"):
        verify_export(out, _keys(cli, tmp_path)[1])


def test_cut_short_export_is_refused(mixed, settings, cli, tmp_path):
    out = tmp_path / "e.jsonl"
    export_jsonl(mixed, settings, out)
    out.write_text("\n".join(out.read_text(encoding="utf-8").splitlines()[:-2]) + "\n", encoding="utf-8")
    with pytest.raises(ExportInvalid, match="no end record"):
        verify_export(out, _keys(cli, tmp_path)[1])


def test_export_with_untrusted_key_is_refused(mixed, settings, tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    out = tmp_path / "e.jsonl"
    export_jsonl(mixed, settings, out)
    stranger = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(CheckpointInvalid, match="signed by unknown or untrusted key"):
        verify_export(out, {"0000000000000000": stranger})


def test_verify_export_cli_fails_on_a_non_export(db, cli, tmp_path):
    bogus = tmp_path / "x.jsonl"
    bogus.write_text('{"type":"header","format":"other"}\n')
    pem = tmp_path / "k.pem"
    pem.write_text(cli("audit", "public-key").output)
    result = cli("audit", "verify-export", str(bogus), "--public-key", str(pem))
    assert result.exit_code == 1 and "not a gmp-audit-export file of version 1 or 2" in result.output


@pytest.mark.parametrize("kwargs, message", [
    ({"since": datetime(2026, 1, 1)}, "--since must carry a time zone"),
    ({"object_ids": ("B-1",)}, "an object ID filter needs the object type"),
    ({"since": datetime(2026, 2, 1, tzinfo=timezone.utc), "until": datetime(2026, 1, 1, tzinfo=timezone.utc)},
     "is not before --until"),
])
def test_bad_filters_are_refused(kwargs, message):
    with pytest.raises(ExportError, match=message):
        ExportFilter(**kwargs)


def test_export_without_matching_entries_is_refused(mixed, settings, tmp_path):
    for fmt in ("jsonl", "csv", "pdf"):
        with pytest.raises(ExportError, match="no audit entries match the filters"):
            export(mixed, settings, fmt, tmp_path / f"none.{fmt}", ExportFilter(actor_id="nobody"))
        assert not (tmp_path / f"none.{fmt}.part").exists()
        assert not (tmp_path / f"none.{fmt}").exists()


def test_unknown_format_is_refused(mixed, settings, tmp_path):
    with pytest.raises(ExportError, match="unknown export format 'xml'"):
        export(mixed, settings, "xml", tmp_path / "x.xml")


def test_csv_export_is_readable(mixed, cli, tmp_path):
    out = tmp_path / "t.csv"
    result = cli("audit", "export", "--format", "csv", "--out", str(out), "--user", "bob")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8-sig")))
    assert [r["seq"] for r in rows] == ["4", "5", "8"]
    assert rows[0]["printed_name"] == "Bob 王" and rows[0]["changes"] == "weight_kg: 0 -> 1"
    assert rows[0]["time_utc"] == "2026-01-05T09:00:00.000000Z" and rows[0]["time_site"] == "2026-01-05 17:00:00 CST"


@pytest.mark.req("URS-AUD-008", "CN-6")
def test_pdf_export_is_pdf_a_with_cjk(mixed, settings, tmp_path):
    from dataclasses import replace

    out = tmp_path / "t.pdf"
    export_pdf(mixed, replace(settings, site_timezone="Asia/Shanghai"), out, ExportFilter(actor_id="bob"))
    fonts = subprocess.run(["pdffonts", str(out)], capture_output=True, text=True, check=True).stdout
    assert "Noto-Sans-CJK-SC" in fonts
    text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True, check=True).stdout
    assert "Bob 王" in text and "weight_kg: 0 -> 1" in text and "2026-01-05 17:00:00 CST" in text
    xmp = subprocess.run(["pdfinfo", "-meta", str(out)], capture_output=True, text=True, check=True).stdout
    assert 'pdfaid:part="3"' in xmp and 'pdfaid:conformance="B"' in xmp
    from pyhanko.pdf_utils.reader import PdfFileReader

    with out.open("rb") as handle:
        intents = PdfFileReader(handle).root["/OutputIntents"]
        assert [str(intent["/S"]) for intent in intents] == ["/GTS_PDFA1"]


@pytest.mark.req("URS-AUD-008", "CN-6")
def test_pdf_prints_the_time_once_when_the_site_zone_is_utc(mixed, settings, tmp_path):
    """A site in UTC printed every entry's time twice ("09:00:00.000000Z" over "09:00:00 UTC")."""
    out = tmp_path / "utc.pdf"
    export_pdf(mixed, settings, out, ExportFilter(actor_id="bob"))  # the fixture's site zone is UTC
    text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True, check=True).stdout
    assert "2026-01-05T09:00:00.000000Z" in text and "Time (UTC)" in text
    assert "2026-01-05 09:00:00 UTC" not in text and "Time (UTC / site)" not in text


@pytest.mark.req("URS-AUD-008")
def test_pdf_export_refuses_too_many_entries(mixed, settings, tmp_path, monkeypatch):
    monkeypatch.setattr(export_module, "PDF_MAX_ENTRIES", 7)
    with pytest.raises(ExportError, match="8 entries match: a PDF holds at most 7; narrow the export with a filter"):
        export_pdf(mixed, settings, tmp_path / "big.pdf")
    assert not (tmp_path / "big.pdf").exists()


def test_export_cli_rejects_a_bad_time(mixed, cli, tmp_path):
    result = cli("audit", "export", "--out", str(tmp_path / "x.jsonl"), "--since", "yesterday")
    assert result.exit_code == 2 and "is not an ISO 8601 time" in result.output
