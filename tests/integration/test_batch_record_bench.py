"""The batch-record benchmark's quick variant, for correctness only (no timings): whole batches of the
shipped batch record, one batch and two at once in separate processes, on the selected backends;
every batch released, nothing refused, the trail verifies, the record PDF measured; the JSON line
carries what issue 12 asks for."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BACKENDS

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "batch_record.py"

pytestmark = [pytest.mark.req("URS-OPS-003", "URS-VAL-005")]


def run_bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)


@pytest.mark.slow
def test_quick_bench_runs_real_batches_and_loses_nothing() -> None:
    if "postgresql" in BACKENDS:
        from tests.support.pgserver import find_bindir

        if find_bindir() is None:
            from tests.conftest import missing

            missing("PostgreSQL server binaries")
    done = run_bench("--quick", "--batches", "2", "--values", "100", "--backends", ",".join(BACKENDS))
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["process"] == "batch_record" and out["quick"] is True and out["batches"] == 2
    assert out["kdf"] == "fast" and out["sampling"]["interval_s"] > 0
    for backend in BACKENDS:
        figures = out[backend]
        assert set(out["steps_per_s"][backend]) == {"1", "2"}
        assert out["steps_per_s"][backend]["1"] > 0 and out["steps_per_s"][backend]["2"] > 0
        # a batch is at least its order, 13 signed task completions and the scheduler's set-point and sampling work
        assert figures["steps_1"] >= 18 and figures["steps_2"] >= 2 * 18, figures
        assert figures["concurrency_ratio"] > 0
        assert figures["lost"] == 0 and figures["refused"] == 0 and figures["errors"] == [], figures
        assert figures["audit_verify_ok"] is True
        assert figures["retried"] >= 0
    if "postgresql" in BACKENDS:
        assert out["concurrency_ratio"] == out["postgresql"]["concurrency_ratio"]
    assert out["lost"] == 0 and out["refused"] == 0 and out["nothing_lost"] is True
    record = out["record"]
    assert record["backend"] == BACKENDS[0]
    assert out["recorded_values"] == record["recorded_values"] >= 100
    assert record["form_values"] > 0 and record["recorded_values"] > record["form_values"]  # sampled values too
    assert out["record_pdf_s"] > 0 and out["record_pdf_ratio"] > 0
    assert record["record_pdf_pages"] >= 1 and record["plain_table_pages"] >= 1


def test_one_batch_at_once_is_refused_with_a_reason() -> None:
    done = run_bench("--quick", "--batches", "1")
    assert done.returncode == 2
    assert "--batches: at least 2" in done.stderr
    assert done.stdout == ""
