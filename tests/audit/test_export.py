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
from audit.errors import ChainBroken, CheckpointInvalid, ExportError, ExportInvalid
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
    pem, keys = _keys(cli, tmp_path)
    report = verify_export(out, keys)
    assert (report.entries, report.start_seq, report.end_seq, report.unanchored_entries) == (8, 0, 8, 1)
    result = cli("audit", "verify-export", str(out), "--public-key", str(pem))
    assert result.exit_code == 0 and "export intact: 8 entries" in result.output


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
    assert (report.entries, report.anchored_through, report.unanchored_entries) == (3, 7, 1)


def test_documented_standalone_verifier_accepts_a_real_export(mixed, settings, cli, tmp_path):
    doc = (ROOT / "docs" / "audit-export-format.md").read_text(encoding="utf-8")
    code = re.search(r"<!-- verifier:start -->\n```python\n(.*?)```\n<!-- verifier:end -->", doc, re.S).group(1)
    script = tmp_path / "verify_audit_export.py"
    script.write_text(code)
    out = tmp_path / "b1.jsonl"
    export_jsonl(mixed, settings, out, ExportFilter(object_type="batch_record", object_ids=("B-1",)))
    pem, _ = _keys(cli, tmp_path)
    done = subprocess.run([sys.executable, str(script), str(out), str(pem)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "OK: 5 entries, chain to 7, 0 not anchored" in done.stdout
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
    assert result.exit_code == 1 and "not a gmp-audit-export version 1 file" in result.output


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


@pytest.mark.req("URS-AUD-008")
def test_pdf_export_refuses_too_many_entries(mixed, settings, tmp_path, monkeypatch):
    monkeypatch.setattr(export_module, "PDF_MAX_ENTRIES", 7)
    with pytest.raises(ExportError, match="8 entries match: a PDF holds at most 7; narrow the export with a filter"):
        export_pdf(mixed, settings, tmp_path / "big.pdf")
    assert not (tmp_path / "big.pdf").exists()


def test_export_cli_rejects_a_bad_time(mixed, cli, tmp_path):
    result = cli("audit", "export", "--out", str(tmp_path / "x.jsonl"), "--since", "yesterday")
    assert result.exit_code == 2 and "is not an ISO 8601 time" in result.output
