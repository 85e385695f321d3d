"""The product's one clock (CN-5). Every timestamp comes from `now()`.

Tests and the scheduler move time through `set_clock`/`FrozenClock`; nothing else
reads the wall clock. Times are UTC and timezone-aware.
"""
from __future__ import annotations

import os
import threading
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Callable

_lock = threading.Lock()


def _system_now() -> datetime:
    now = datetime.now(timezone.utc)
    offset = os.environ.get("GMP_CLOCK_OFFSET_SECONDS")
    if offset:  # test hook for separate processes (scheduler tests); never set in production
        now += timedelta(seconds=float(offset))
    return now


_source: Callable[[], datetime] = _system_now


def now() -> datetime:
    """Current time, UTC, timezone-aware."""
    value = _source()
    if value.tzinfo is None:
        raise RuntimeError("clock source returned a naive datetime")
    return value.astimezone(timezone.utc)


def get_clock() -> Callable[[], datetime]:
    """The current clock source (to restore it after a temporary `set_clock`)."""
    return _source


def set_clock(source: Callable[[], datetime] | None) -> None:
    """Replace the clock source (None restores the system clock)."""
    global _source
    with _lock:
        _source = source or _system_now


class FrozenClock:
    """A controllable clock for tests: `clock.advance(minutes=5)`."""

    def __init__(self, start: datetime | None = None) -> None:
        self.value = (start or datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)).astimezone(timezone.utc)

    def __call__(self) -> datetime:
        return self.value

    def advance(self, **delta: float) -> datetime:
        self.value += timedelta(**delta)
        return self.value


def isoformat(value: datetime) -> str:
    """Canonical text form of a time: UTC, microseconds, 'Z' suffix."""
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def is_utc(tz: tzinfo) -> bool:
    """True for a zone that is UTC all year (a site time in it would only repeat the UTC time)."""
    return all(datetime(2001, month, 1, tzinfo=timezone.utc).astimezone(tz).utcoffset() == timedelta(0)
               for month in (1, 4, 7, 10))
