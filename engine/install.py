"""The engine's own parts of a runtime, assembled explicitly.

    runtime = build_runtime()          # a fresh EngineRuntime, not frozen
    # add the process library's gates, properties and operators, then:
    runtime.freeze()

What the engine itself brings: the gates `four_eyes` and `four_eyes_previous`, the core
task properties (forms, signatures, `gates`), the built-in operators
(`start_linked_process`, `raise_deviation`, `record_exception`), the save hooks that give
waiting timers their due rows and route thrown messages, and the operator context of a
step (`engine.messages.DbOperatorActions`), and the kind of controlled item its process
definitions are (`process_definition`, engine.definition_changes). This module sits above everything it
assembles; nothing below imports it.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import configure_mappers

from engine.definition_changes import PROCESS_DEFINITION
from engine.gates import CORE_GATES, GateRegistry
from engine.messages import MessageRouting, operator_actions
from engine.operators import OperatorRegistry, register_builtins
from engine.properties import CORE_PROPERTIES, PropertyRegistry
from engine.runtime import EngineRuntime
from engine.sandbox import SandboxConfig
from engine.scheduler import DueTimerRows
from engine.tasks import Assignments
from masterdata.changes import ChangeCatalogue


def build_runtime(name: str = "engine", settings: Any = None) -> EngineRuntime:
    """A new runtime with the engine's own gates, properties, operators and save hooks;
    the limits of diagram code from `settings` (`script_*`, defaults without).

    Also configures the ORM mappers of every model imported so far: a process builds its
    runtime once, at start, and the first query (a web worker's first request, the first
    cold load of an instance) would otherwise pay for configuring all of them (a no-op
    once done)."""
    configure_mappers()
    operators = OperatorRegistry()
    register_builtins(operators)
    return EngineRuntime(gates=GateRegistry(CORE_GATES), properties=PropertyRegistry(CORE_PROPERTIES),
                         operators=operators, save_hooks=[DueTimerRows(), MessageRouting(), Assignments()],
                         operator_actions=operator_actions, name=name,
                         sandbox=SandboxConfig.from_settings(settings),
                         changes=ChangeCatalogue([PROCESS_DEFINITION]))
