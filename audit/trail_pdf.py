"""The audit trail as a PDF/A-3b printout for people."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from audit.checkpoints import Checkpoint
from audit.entry_text import format_changes, site_time
from audit.filters import ExportFilter
from audit.models import AuditEntry
from core import clock
from core.config import Settings


def write_trail_pdf(rows: Iterable[AuditEntry], total: int, out: Path, settings: Settings, flt: ExportFilter,
                    head: Checkpoint, *, title: str = "Audit trail",
                    progress: Callable[[int, int], None] | None = None) -> None:
    from audit.pdf import escape, html_document, render_pdf

    cells = []
    for entry in rows:
        cells.append(
            f"<tr><td>{entry.seq}</td><td>{escape(entry.ts)}<br><span class='small'>"
            f"{escape(site_time(entry.ts, settings))}</span></td><td>{escape(entry.actor_id)}<br>"
            f"{escape(entry.actor_name)}</td><td>{escape(entry.action)}</td><td>{escape(entry.object_type)}<br>"
            f"{escape(entry.object_id)}</td><td>{escape(format_changes(entry.changes)).replace(chr(10), '<br>')}</td>"
            f"<td>{escape(entry.reason)}</td></tr>")
    described = flt.describe()
    meta = (f"{total} entries; generated {clock.isoformat(clock.now())} (UTC), site time zone {settings.site_timezone}; "
            f"trail head {head.seq} signed at export" + (f"; filters: {described}" if described else ""))
    body = ("<table><colgroup><col style='width:5%'><col style='width:14%'><col style='width:12%'>"
            "<col style='width:13%'><col style='width:13%'><col style='width:28%'><col style='width:15%'></colgroup>"
            "<thead><tr><th>Seq</th><th>Time (UTC / site)</th><th>User / printed name</th><th>Action</th>"
            "<th>Object</th><th>Changes (old -&gt; new)</th><th>Reason</th></tr></thead><tbody>"
            + "".join(cells) + "</tbody></table>")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(render_pdf(html_document(title, body, meta=meta)))
