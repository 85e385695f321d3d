"""A packaged YAML rules file that an instance may replace with its own copy.

`load_rules_file(settings, file_name, packaged, parse, error)` reads `<instance>/<file_name>`
if it exists, else `packaged`, parses it with `parse(data, source)` and caches the result by
path and modification time (an edited file is read again). A file that is not YAML raises
`error` naming the file; `parse` raises for content it refuses.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, TypeVar

import yaml

from core.config import Settings

T = TypeVar("T")
_cache: dict[tuple[str, str, float], Any] = {}


def rules_file_path(settings: Settings | None, file_name: str, packaged: Path) -> Path:
    """The instance's copy of the file if there is one, else the packaged file."""
    if settings is not None and (settings.instance / file_name).is_file():
        return settings.instance / file_name
    return packaged


def load_rules_file(settings: Settings | None, file_name: str, packaged: Path, parse: Callable[[Any, str], T],
                    error: Callable[[str], Exception]) -> T:
    """The parsed rules (cached by the file's path and modification time)."""
    path = rules_file_path(settings, file_name, packaged)
    key = (f"{parse.__module__}.{parse.__qualname__}", str(path), path.stat().st_mtime)
    if key not in _cache:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise error(f"{path}: not valid YAML: {exc}") from exc
        _cache[key] = parse(data, str(path))
    return _cache[key]  # type: ignore[no-any-return]
