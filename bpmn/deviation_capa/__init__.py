"""Deviation and CAPA (process id `deviation`, business key DEV-YYYY-NNNN).

`install(runtime, env)` adds what the process brings to an engine runtime (bpmn.glue calls
it): the release gate `deviations` (bpmn.deviation_capa.gate). Nothing registers at import.
"""
from __future__ import annotations

from typing import Any

from bpmn.deviation_capa.gate import DEVIATIONS_GATE, GATE

PROCESS_KEY = "deviation"


def install(runtime: Any, env: Any = None) -> Any:
    """Add the deviation process's gate to `runtime` (not frozen); idempotent."""
    if DEVIATIONS_GATE not in runtime.gates:
        runtime.gates.register(GATE)
    return runtime


def messages() -> dict[str, str]:
    """The gate's refusal templates (code -> English), for the catalogue test."""
    return {f"{GATE.name}.{code}": template for code, template in GATE.codes.items()}
