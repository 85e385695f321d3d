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
    """Reads the time the test process wrote (again whenever the file changes)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._stamp = -1
        self._value: datetime | None = None

    def __call__(self) -> datetime:
        stamp = os.stat(self.path).st_mtime_ns
        if stamp != self._stamp or self._value is None:
            self._value, self._stamp = parse_iso(self.path.read_text().strip()), stamp
        return self._value
