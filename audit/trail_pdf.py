"""The audit trail as a PDF/A-3b printout for people (audit.pdf_table lays it out).

Columns: sequence number, time (UTC, and the site time zone below), user ID and printed
name, action, object (type and ID, with its name where one is known: audit.names),
changes (old -> new), reason. The first page names the filters, the number of entries and
the trail head that was signed for the export; every page repeats the column headers and
says "Page n / N".
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from audit.checkpoints import Checkpoint
from audit.entry_text import format_changes, shows_site_time, site_time
from audit.filters import ExportFilter
from audit.models import AuditEntry
from audit.pdf_table import Column, TableDocument, Text
from core import clock
from core.config import Settings

COLUMNS = [Column("Seq", 0.045), Column("Time (UTC / site)", 0.16), Column("User / printed name", 0.11),
           Column("Action", 0.11), Column("Object", 0.17), Column("Changes (old -> new)", 0.27),
           Column("Reason", 0.135)]
Namer = Callable[[list[tuple[str, str]]], dict[tuple[str, str], str]]


def write_trail_pdf(rows: Iterable[AuditEntry], total: int, out: Path, settings: Settings, flt: ExportFilter,
                    head: Checkpoint, *, title: str = "Audit trail",
                    progress: Callable[[int, int], None] | None = None, namer: Namer | None = None) -> int:
    """Write the entries as a PDF; `progress(done, total)` is called as entries are laid out (then once more
    when the file is written). Returns the number of pages."""
    described = flt.describe()
    meta = (f"{total} entries; generated {clock.isoformat(clock.now())} (UTC), site time zone "
            f"{settings.site_timezone}; trail head at export: entry {head.seq}, {head.entry_hash[:16]}..., signed "
            f"checkpoint by key {head.key_id}" + (f"; filters: {described}" if described else "; no filters"))
    with_site_time = shows_site_time(settings)
    columns = COLUMNS if with_site_time else [COLUMNS[0], Column("Time (UTC)", COLUMNS[1].width), *COLUMNS[2:]]
    table = TableDocument(title, meta, columns, lang="zh-CN")
    batch: list[AuditEntry] = []

    def flush() -> None:
        names = namer(sorted({(e.object_type, e.object_id) for e in batch})) if namer else {}
        for entry in batch:
            name = names.get((entry.object_type, entry.object_id))
            obj = [Text(f"{entry.object_type}/{entry.object_id}")] + ([Text(name, small=True)] if name else [])
            when = [Text(entry.ts)] + ([Text(site_time(entry.ts, settings), small=True)] if with_site_time else [])
            table.add_row([[Text(str(entry.seq))], when,
                           [Text(entry.actor_id), Text(entry.actor_name, small=True)], [Text(entry.action)], obj,
                           [Text(format_changes(entry.changes))], [Text(entry.reason or "")]])
        batch.clear()
        if progress is not None:
            progress(len(table.rows) // 2, total)  # reading and wrapping: the first half of the work

    for entry in rows:
        batch.append(entry)
        if len(batch) >= 500:
            flush()
    flush()
    pages = table.write(out, (lambda done, _n: progress(total // 2 + done // 2, total)) if progress else None)
    if progress is not None:
        progress(total, total)
    return pages
