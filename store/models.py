"""Imports every package's models so that Base.metadata knows all tables.

Each package keeps its tables in its own `models` module; list it here.
"""
from __future__ import annotations

from core.modules import optional_module
from store.base import Base

MODEL_MODULES = [
    "audit.models",
    "signatures.models",
    "masterdata.models",
    "masterdata.record_models",
    "masterdata.document_models",
    "engine.models",
    "engine.runtime_models",
    "connectors.models",
    "forms.models",
    "notifications.models",
    "web.models",
    "web.api.models",
    "validation_pack.models",
]


def load_all() -> type[Base]:
    for name in MODEL_MODULES:
        optional_module(name)
    return Base
