"""Archive export of closed records (P11-10c, A11-17).

Any package's records are identified in the trail by object type and ID. An archive is
a JSONL audit export (docs/audit-export-format.md) of those records' entries, with the
digests of the entries in between, the checkpoints and the public keys, so it verifies
like any export: `gmp audit verify-export ARCHIVE --public-key KEYS.pem`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from audit.errors import ExportError
from audit.export import ExportFilter, ExportResult, export_jsonl
from core.config import Settings
from store.db import Database


def archive_export(db: Database, settings: Settings, object_type: str, object_ids: Iterable[object],
                   out: Path) -> ExportResult:
    """Write the audit entries of the given records as a verifiable archive export."""
    ids = tuple(sorted({str(i) for i in object_ids}))
    if not object_type or not ids:
        raise ExportError("an archive names an object type and at least one object ID")
    return export_jsonl(db, settings, out, ExportFilter(object_type=object_type, object_ids=ids))
