"""Plugs the process library's operators (and, as the library grows, its gates) into the
engine's registries. Imported by every process that runs or checks processes: the web
application (upload checks, task completion) and `gmp` commands (scheduler, process).

Importing registers; `install(db, settings)` also binds the equipment operators to this
process's database and settings.
"""
from __future__ import annotations

import connectors.operators as equipment_operators
from core.config import Settings
from store.db import Database


def install(db: Database, settings: Settings) -> None:
    equipment_operators.configure(db, settings)


def _register_pq_scenarios() -> None:
    from core.modules import optional_module

    if optional_module("validation_pack.pq") is not None:
        from bpmn import pq_demo

        pq_demo.install()


_register_pq_scenarios()  # importing the glue plugs the library in (as for the operators above)
