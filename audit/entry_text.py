"""An audit entry as people read it: its changes as `field: old -> new` lines, its time in the site's zone.

Shared by the CSV and PDF exports and the auditor's pages.
"""
from __future__ import annotations

import json
from typing import Any

from audit.canonical import dumps
from core import clock
from core.config import Settings


def site_time(ts: str, settings: Settings) -> str:
    return clock.parse_iso(ts).astimezone(settings.tz()).strftime("%Y-%m-%d %H:%M:%S %Z")


def shows_site_time(settings: Settings) -> bool:
    """Whether a page or printout adds the site time under the UTC time: not when the site zone is UTC all
    year (the second line would only repeat the first)."""
    return not clock.is_utc(settings.tz())


def format_changes(changes_json: str) -> str:
    """`field: old -> new` lines of an entry's changes column."""
    lines = []
    for change in json.loads(changes_json):
        if isinstance(change, list) and len(change) == 3:
            name, old, new = change
            lines.append(f"{name}: {_show(old)} -> {_show(new)}")
        else:
            lines.append(_show(change))
    return "\n".join(lines)


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    return value if isinstance(value, str) else dumps(value)
