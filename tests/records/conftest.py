"""Fixtures of the record suite: the plant simulator and its registered tags (from the connectors suite)."""
from __future__ import annotations

from tests.connectors.conftest import People, import_and_approve, people, pki, plant, registered  # noqa: F401
