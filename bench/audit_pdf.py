"""Benchmark: the audit-trail PDF (`gmp audit export --format pdf`) vs WeasyPrint rendering a plain table.

Both print the same audit entries of the same SQLite trail in the same run. Our side is
the product's export path, audit.export.export_pdf: the signed checkpoint written first,
the filtered select, the layout with repeating headers, the embedded CJK font subset and
the PDF/A-3b file. The baseline is WeasyPrint rendering a plain HTML <table> of the same
rows (one cell per column, no styles), `HTML(string=...).write_pdf()`.

    python bench/audit_pdf.py [--quick] [--rows N]

Figures: entries per second of each, `audit_pdf_ratio` = ours / baseline (goal >= 0.5),
the time our export needs for 20,000 entries (the most a PDF holds), and the demo case of
the issue: 131 entries, one holding a 20,008-character value. The last line is one JSON
object.
"""
from __future__ import annotations

import argparse
import html
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from audit.canonical import Actor  # noqa: E402
from audit.entry_text import format_changes  # noqa: E402
from audit.export import ExportFilter, count_entries, export_pdf  # noqa: E402
from core.config import load_settings  # noqa: E402
from store.db import Database  # noqa: E402
from store.migrate import upgrade  # noqa: E402
from store.uow import UnitOfWork  # noqa: E402

ACTORS = [Actor("alice", "Alice Example"), Actor("bob", "Bob 王"), Actor("lin", "林晓 Lin Xiao")]
ACTIONS = ["task.completed", "task.state_changed", "signature.created", "tag.sampled", "instance.started"]


def fill(db: Database, count: int, long_value_at: int | None = None, batch: int = 1000) -> None:
    """`count` entries through the product's unit of work (chain, canonical bytes), `batch` per commit."""
    done = 0
    while done < count:
        with UnitOfWork(db, ACTORS[done % 3]) as uow:
            for _ in range(min(batch, count - done)):
                done += 1
                value = "X" * 20_008 if done == long_value_at else f"L-{done % 97}"
                uow.audit(ACTIONS[done % len(ACTIONS)], "task", f"3f2a9c1e-{done // 7:04d}-4a5b-9c8d-0123456789ab",
                          actor=ACTORS[done % 3],
                          changes=[["weight_kg", f"{done * 0.5:.3f}", f"{done * 0.5 + 1:.3f}"], ["lot", None, value],
                                   ["备注", None, "称量完成"] if done % 11 == 0 else ["state", "READY", "COMPLETED"]],
                          reason="correction of a typo" if done % 5 == 0 else None,
                          details={"batch": f"B-{done // 100}", "step": done % 13})
            uow.commit()


def weasyprint_plain(db: Database, head_seq: int, out: Path) -> float:
    """The baseline: the same rows, as a plain HTML table through WeasyPrint."""
    from weasyprint import HTML

    from audit.export import entries

    start = time.perf_counter()
    cells = []
    for e in entries(db, ExportFilter(), head_seq):
        values = (e.seq, e.ts, f"{e.actor_id} {e.actor_name}", e.action, f"{e.object_type}/{e.object_id}",
                  format_changes(e.changes), e.reason or "")
        cells.append("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in values) + "</tr>")
    out.write_bytes(HTML(string="<html><body><table>" + "".join(cells) + "</table></body></html>").write_pdf())
    return time.perf_counter() - start


def ours(db: Database, settings, out: Path) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = export_pdf(db, settings, out)
    elapsed = time.perf_counter() - start
    return elapsed, result.entries


def trail(folder: Path, name: str, count: int, long_value_at: int | None = None):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{folder / name}.sqlite3"
    upgrade(url)
    settings = load_settings({"instance_path": str(folder / f"{name}-instance"), "database_url": url,
                              "secret_key": "bench-secret-key-0123456789abcdef0123456789",
                              "server_key_passphrase": "bench server key passphrase",
                              "checkpoint_interval_entries": 0}, environ={})
    db = Database(url)
    fill(db, count, long_value_at)
    return db, settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="within a minute: 200 rows for the comparison")
    parser.add_argument("--rows", type=int, default=None, help="rows of the same-run comparison (default 200/1000)")
    args = parser.parse_args()
    rows = args.rows or (200 if args.quick else 1000)
    with tempfile.TemporaryDirectory(prefix="gmp-bench-pdf-") as tmp:
        folder = Path(tmp)
        db, settings = trail(folder, "compare", rows)
        # ours first writes its checkpoint: the head it prints is `rows`; the baseline prints the same rows
        ours_s, printed = ours(db, settings, folder / "ours.pdf")
        base_s = weasyprint_plain(db, printed, folder / "plain.pdf")
        db.dispose()
        db, settings = trail(folder, "demo", 131, long_value_at=60)
        demo_s, _ = ours(db, settings, folder / "demo.pdf")
        db.dispose()
        db, settings = trail(folder, "big", 20_000)
        big_s, big_entries = ours(db, settings, folder / "big.pdf")
        from pyhanko.pdf_utils.reader import PdfFileReader

        with (folder / "big.pdf").open("rb") as handle:
            pages = int(PdfFileReader(handle).root["/Pages"]["/Count"])
        assert count_entries(db, ExportFilter(), 10**9) >= 20_000
        db.dispose()
    ours_eps, base_eps = printed / ours_s, printed / base_s
    result = {"benchmark": "audit_pdf", "quick": args.quick, "rows": printed,
              "ours_seconds": round(ours_s, 2), "weasyprint_plain_seconds": round(base_s, 2),
              "ours_entries_per_s": round(ours_eps, 1), "weasyprint_plain_entries_per_s": round(base_eps, 1),
              "audit_pdf_ratio": round(ours_eps / base_eps, 2), "goals": {"audit_pdf_ratio_min": 0.5},
              "entries_20000_seconds": round(big_s, 1), "entries_20000_pages": pages,
              "entries_20000_per_s": round(big_entries / big_s, 1),
              "demo_131_entries_with_20008_char_value_seconds": round(demo_s, 2)}
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
