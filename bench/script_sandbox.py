"""Cost of running diagram code in the sandbox's worker processes (engine.sandbox).

In one warm process, per evaluation, taking turns round by round so that every figure is
measured under the same machine load:
- in_process: `engine.scripting.run_evaluation` in this thread (the baseline: what an
  evaluation cost before worker processes);
- worker_script: a small script task body through the pool (a warm worker: pickling of the
  task data, two pipe writes, the evaluation, the answer read back);
- worker_expression: an expression that calls a function (`len(result) == 4`), through the pool;
- trivial_expression: a comparison of names and literals (`result == 'pass'`), which the
  pool runs in this process (engine.scripting.is_trivial);
- worker_start_ms: starting one worker (paid once per worker, and after a worker is killed).
Task data: 20 fields, one a list of 50 rows (a batch record's size). Prints ratios to
in_process; the last line is one JSON object. `--quick`: fewer rounds (seconds).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from engine import sandbox  # noqa: E402
from engine.scripting import DEFAULT_HELPERS, Evaluation, ScriptLimits, run_evaluation  # noqa: E402

DATA: dict[str, Any] = {f"field_{i}": f"value {i}" for i in range(18)}
DATA.update({"result": "pass", "rows": [{"lot": f"L{i}", "net": Decimal("12.50"), "ok": True} for i in range(50)]})
SCRIPT = "total = sum([row['net'] for row in rows])\nlabel = 'batch ' + field_1\nok = total > 100"


def evaluation(mode: str, source: str) -> Evaluation:
    return Evaluation(mode, source, dict(DATA), {}, dict(DEFAULT_HELPERS), ScriptLimits(timeout_seconds=2),
                      datetime.now(timezone.utc))


def timed(fn: Callable[[], Any], repeat: int) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - started) * 1000 / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rounds, repeat = (5, 40) if args.quick else (15, 100)
    started = time.perf_counter()
    pool = sandbox.SandboxPool(sandbox.SandboxConfig(workers=1))
    pool.run(evaluation("exec", "x = 1"))
    start_ms = (time.perf_counter() - started) * 1000
    kinds: dict[str, Callable[[], Any]] = {
        "in_process": lambda: run_evaluation(evaluation("exec", SCRIPT)),
        "worker_script": lambda: pool.run(evaluation("exec", SCRIPT)),
        "worker_expression": lambda: pool.run(evaluation("eval", "len(result) == 4")),
        "trivial_expression": lambda: pool.run(evaluation("eval", "result == 'pass'")),
    }
    samples: dict[str, list[float]] = {kind: [] for kind in kinds}
    try:
        for _ in range(rounds):
            for kind, fn in kinds.items():
                samples[kind].append(timed(fn, repeat))
    finally:
        pool.close()
    ms = {kind: round(statistics.median(values), 4) for kind, values in samples.items()}
    for kind, value in ms.items():
        print(f"{kind:20s} {value:8.3f} ms per evaluation")
    print(json.dumps({
        "benchmark": "script_sandbox", "quick": args.quick, "ms_per_evaluation": ms,
        "worker_start_ms": round(start_ms, 1),
        "ratio_to_in_process": {kind: round(value / ms["in_process"], 2) for kind, value in ms.items()},
    }, sort_keys=True))


if __name__ == "__main__":
    main()
