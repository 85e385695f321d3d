"""Process-wide access to settings and the database for commands and workers."""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Mapping

from core.config import Settings, load_settings
from store.db import Database


def open_database(settings: Settings) -> Database:
    return Database(settings.database_url)


@lru_cache(maxsize=1)
def cli_settings() -> Settings:
    return load_settings()


def settings_from(overrides: Mapping[str, Any] | None = None) -> Settings:
    return load_settings(overrides)
