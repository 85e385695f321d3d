"""Optional parts of the product: import a module that may not be installed.

A module that is absent gives None; an error raised *inside* a module that exists (a
missing dependency of it, a bug) is never hidden.
"""
from __future__ import annotations

import importlib
from types import ModuleType


def optional_module(name: str) -> ModuleType | None:
    """The module `name`, or None when it (or a package above it) does not exist."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            return None
        raise
