"""A frozen test clock that a server in another process follows: the time is kept in a file.

The test process uses `SharedClock` (a `FrozenClock` whose `advance` also writes the file);
the server process installs `FileClock(path)` with `core.clock.set_clock` before it starts.
"""
from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from core.clock import FrozenClock, isoformat, parse_iso


class SharedClock(FrozenClock):
    def __init__(self, path: Path, start: datetime | None = None) -> None:
        super().__init__(start)
        self.path = Path(path)
        self._write()

    def advance(self, **delta: float) -> datetime:
        value = super().advance(**delta)
        self._write()
        return value

    def _write(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(isoformat(self.value))
        os.replace(tmp, self.path)


class FileClock:
    """Reads the time the test process wrote, at every call: two writes within one tick of the
    file system's timestamps carry the same mtime, so a cache keyed on it could keep a stale time."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def __call__(self) -> datetime:
        return parse_iso(self.path.read_text().strip())
