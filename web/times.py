"""Times as people read them on pages and printouts: `{{ value|when }}`.

The product stores times as ISO 8601 UTC text ("2026-01-05T08:01:33.000000Z"). A page shows
"2026-01-05 08:01:33 UTC", with the site time after it when the site zone is not UTC all
year ("2026-01-05 08:01:33 UTC (16:01:33 CST)", the date too when it differs). Anything that
is not such a time is shown as it is.
"""
from __future__ import annotations

from typing import Any

from core import clock
from web.uow import settings


def when(value: Any) -> str:
    if not isinstance(value, str):
        return "" if value is None else str(value)
    try:
        at = clock.parse_iso(value)
    except ValueError:
        return value
    text = at.strftime("%Y-%m-%d %H:%M:%S UTC")
    tz = settings().tz()
    if clock.is_utc(tz):
        return text
    local = at.astimezone(tz)
    shown = local.strftime("%H:%M:%S %Z" if local.date() == at.date() else "%Y-%m-%d %H:%M:%S %Z")
    return f"{text} ({shown})"
