"""Benchmark: `gmp audit verify`'s code path vs a bare select-and-SHA-256 loop.

Both read the same audit_entry rows of the same SQLite file in the same run. Our side
runs audit.verify.verify_trail (chain links, hashes, every column against the
canonical bytes, checkpoints); the baseline is stdlib sqlite3 selecting the same
columns and hashing each row's canonical bytes once with hashlib.sha256.

    python bench/audit_verify.py [--quick] [--entries N]

Last line: one JSON object with `verify_ratio` (baseline time / our time; goal >= 0.5).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from audit.canonical import DOMAIN, Actor, AuditEvent, canonical_bytes, dumps, entry_document  # noqa: E402
from audit.verify import _TEMPLATE, COLUMNS, verify_trail  # noqa: E402
from audit.verify import _enc as enc
from store.db import Database  # noqa: E402
from store.migrate import upgrade  # noqa: E402

ACTORS = [Actor("alice", "Alice Example"), Actor("bob", "Bob 王"), Actor("carol", "Carol Operator")]


def generate(path: Path, count: int) -> str:
    """Bulk-insert `count` correctly chained entries; return the head hash."""
    upgrade(f"sqlite:///{path}")
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")  # generation only; the measured reads are unaffected
    prev = "00" * 32
    base = 1_767_600_000
    batch = []
    insert = "INSERT INTO audit_entry (" + ", ".join(COLUMNS) + ") VALUES (" + ", ".join("?" * len(COLUMNS)) + ")"
    sha256 = hashlib.sha256
    prev_raw = bytes(32)
    for seq in range(1, count + 1):
        # The first entries go through the product's own encoder; the rest reuse the same
        # template (checked equal below) so that a million rows are generated quickly.
        actor = ACTORS[seq % 3]
        changes = dumps([["status", "ready", "completed"], ["weight_kg", seq * 0.5, seq * 0.5 + 1]])
        details = dumps({"batch": f"B-{seq // 100}", "step": seq % 13})
        reason = "correction of a typo" if seq % 5 == 0 else None
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(base + seq)) + ".000000Z"
        object_id = f"T-{seq // 7}"
        row = (seq, ts, actor.user_id, actor.printed_name, "task.completed", "task", object_id, changes, reason, details)
        canonical = _TEMPLATE % (enc("task.completed"), enc(actor.user_id), enc(actor.printed_name), changes, details,
                                 enc(object_id), enc("task"), "null" if reason is None else enc(reason), seq, enc(ts))
        canonical = canonical.encode()
        if seq <= 100:
            event = AuditEvent(action="task.completed", object_type="task", object_id=object_id, actor=actor,
                               changes=json.loads(changes), reason=reason, details=json.loads(details))
            assert canonical_bytes(entry_document(seq, ts, event)) == canonical
        digest = sha256(DOMAIN + prev_raw + sha256(canonical).digest())
        entry_hash = digest.hexdigest()
        batch.append(row + (canonical, prev, entry_hash))
        prev, prev_raw = entry_hash, digest.digest()
        if len(batch) >= 20000:
            connection.executemany(insert, batch)
            batch.clear()
    connection.executemany(insert, batch)
    connection.execute("UPDATE audit_head SET seq = ?, entry_hash = ? WHERE id = 1", (count, prev))
    connection.commit()
    connection.close()
    return prev


def baseline(path: Path) -> tuple[float, int]:
    start = time.perf_counter()
    connection = sqlite3.connect(path)
    cursor = connection.execute("SELECT " + ", ".join(COLUMNS) + " FROM audit_entry ORDER BY seq")
    sha256 = hashlib.sha256
    count = 0
    for row in cursor:
        sha256(row[10]).digest()
        count += 1
    connection.close()
    return time.perf_counter() - start, count


def ours(path: Path) -> tuple[float, int]:
    db = Database(f"sqlite:///{path}")
    start = time.perf_counter()
    report = verify_trail(db)
    elapsed = time.perf_counter() - start
    db.dispose()
    return elapsed, report.entries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 entries instead of 1,000,000")
    parser.add_argument("--entries", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    count = args.entries or (100_000 if args.quick else 1_000_000)
    with tempfile.TemporaryDirectory(prefix="gmp-bench-") as folder:
        path = Path(folder) / "verify.sqlite3"
        t0 = time.perf_counter()
        generate(path, count)
        generated = time.perf_counter() - t0
        base_times, our_times = [], []
        for _ in range(args.rounds):  # interleaved, best of each: both see the same page cache
            elapsed, n = baseline(path)
            assert n == count
            base_times.append(elapsed)
            elapsed, n = ours(path)
            assert n == count
            our_times.append(elapsed)
    base_best, our_best = min(base_times), min(our_times)
    print(json.dumps({"bench": "audit_verify", "entries": count, "generate_s": round(generated, 2),
                      "baseline_s": round(base_best, 3), "ours_s": round(our_best, 3),
                      "baseline_entries_per_s": round(count / base_best), "ours_entries_per_s": round(count / our_best),
                      "verify_ratio": round(base_best / our_best, 3), "goal": 0.5}))


if __name__ == "__main__":
    main()
