"""Benchmark: durable single-entry audit appends through our code vs bare sqlite3.

Ours: one UnitOfWork per entry (SQLAlchemy session, audit_head lock, chained insert,
head update, periodic checkpoint hook enabled, commit) on an SQLite file with the
product's pragmas (WAL, synchronous=FULL). Baseline: stdlib sqlite3 inserting a row of
the same size per transaction into a file with the same pragmas, in the same run.

    python bench/audit_append.py [--quick] [--entries N]

Last line: one JSON object with `append_ratio` (our rate / baseline rate; goal >= 0.5).
"""
from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from audit.canonical import Actor  # noqa: E402
from audit.checkpoints import current_key, enable_periodic  # noqa: E402
from core.config import load_settings  # noqa: E402
from store.db import Database  # noqa: E402
from store.migrate import upgrade  # noqa: E402
from store.uow import UnitOfWork  # noqa: E402

ACTOR = Actor("alice", "Alice Example")
CHANGES = [["status", "ready", "completed"], ["weight_kg", 12.5, 13.0]]
DETAILS = {"batch": "B-2026-001", "step": 7}


def ours(db: Database, count: int) -> float:
    start = time.perf_counter()
    for number in range(count):
        with UnitOfWork(db, ACTOR) as uow:
            uow.audit("task.completed", "task", f"T-{number}", changes=CHANGES, reason=None, details=DETAILS)
            uow.commit()
    return time.perf_counter() - start


def baseline(path: Path, count: int, row: tuple[object, ...]) -> float:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("CREATE TABLE IF NOT EXISTS t (seq INTEGER PRIMARY KEY, ts TEXT, actor_id TEXT, actor_name TEXT, "
                       "action TEXT, object_type TEXT, object_id TEXT, changes TEXT, reason TEXT, details TEXT, "
                       "canonical BLOB, prev_hash TEXT, entry_hash TEXT)")
    first = (connection.execute("SELECT COALESCE(MAX(seq), 0) FROM t").fetchone()[0]) + 1
    start = time.perf_counter()
    for seq in range(first, first + count):
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (seq,) + row[1:])
        connection.execute("COMMIT")
    elapsed = time.perf_counter() - start
    connection.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer appends")
    parser.add_argument("--entries", type=int, default=None, help="appends per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    count = args.entries or (300 if args.quick else 2000)
    with tempfile.TemporaryDirectory(prefix="gmp-bench-") as folder:
        path = Path(folder) / "append.sqlite3"
        upgrade(f"sqlite:///{path}")
        settings = load_settings({"instance_path": str(Path(folder) / "instance"), "database_url": f"sqlite:///{path}",
                                  "secret_key": "bench-secret-key-0123456789abcdef0123456789",
                                  "server_key_passphrase": "bench passphrase"}, environ={})
        current_key(settings)
        db = Database(settings.database_url)
        enable_periodic(db, settings)
        ours(db, 20)  # warm-up: connection, compiled statements
        with db.engine.connect() as connection:
            sample = tuple(connection.exec_driver_sql("SELECT * FROM audit_entry WHERE seq = 1").one())
        base_path = Path(folder) / "baseline.sqlite3"
        baseline(base_path, 20, sample)
        our_times, base_times = [], []
        for _ in range(args.rounds):  # interleaved, best of each
            our_times.append(ours(db, count))
            base_times.append(baseline(base_path, count, sample))
        db.dispose()
        row_bytes = sum(len(v) if isinstance(v, (str, bytes)) else 8 for v in sample)
    our_rate, base_rate = count / min(our_times), count / min(base_times)
    print(json.dumps({"bench": "audit_append", "appends_per_round": count, "row_bytes": row_bytes,
                      "ours_per_s": round(our_rate, 1), "baseline_per_s": round(base_rate, 1),
                      "append_ratio": round(our_rate / base_rate, 3), "goal": 0.5}))


if __name__ == "__main__":
    main()
