"""The process library's install step: the engine runtime of a web application or command.

    runtime = install(db, settings)    # engine parts + the library's, frozen

`install` builds the runtime explicitly (engine.install.build_runtime) and adds what the
GMP process library brings:
- task properties the library enforces: `qualification.sops` (gate `training`), `equipment`
  (gate `equipment`), `material.lots` (gate `supplier`), and the gate `qp`; the gates read
  the master data and its records (bpmn.gates, masterdata.checks);
- the kinds of data under change control in `runtime.changes`: equipment tags, and the master
  data kinds (masterdata.kinds);
- the equipment operators (connectors.operators), bound to this process's database and
  settings for calls whose operator context carries neither;
- the signed set-point (connectors.signed_setpoint): a user task whose signature
  authorises a set-point write built from its form (`setpoint.*` properties), carried
  out by the scheduler;
- each process package's own parts (`install(runtime, env)`): deviation_capa (the release
  gate `deviations`); calibration (the gate `calibration`, the operators `calibration.*`);
  supplier_evaluation (the gate `supplier_evaluation`, the operators `supplier.*`);
  training (its operators, the gates `not_trainee` and `current_document`, the role hook
  that starts the training a new role requires);
- its PQ scenarios, for the validation pack's PQ runner (`install_pq_scenarios`).

The web application keeps the result in `app.extensions["gmp.runtime"]`; the `gmp`
command builds one per process. Tests build their own (`extend` adds the library's parts
to a runtime a test already made).
"""
from __future__ import annotations

from bpmn import batch_record, calibration, deviation_capa, document_lifecycle, supplier_evaluation, training, work_permit
from bpmn import gates as library_gates
from connectors import operators as equipment_operators
from connectors import signed_setpoint
from connectors.registry import TAG_KIND
from core.config import Settings
from engine.install import build_runtime
from engine.properties import TaskProperty
from engine.runtime import EngineRuntime
from masterdata.kinds import register_kinds
from store.db import Database

TRAINING_GATE = "training"
EQUIPMENT_GATE = "equipment"

LIBRARY_PROPERTIES: tuple[TaskProperty, ...] = (
    TaskProperty("qualification.sops", "SOP ids the performer must be currently qualified on (training records)",
                 is_list=True, gates=(TRAINING_GATE,), label_en="Required SOP qualifications",
                 label_zh="所需 SOP 资质"),
    TaskProperty("equipment", "equipment ids or classes the task uses; each must be released for use and clean, "
                 "its instruments in calibration",
                 is_list=True, gates=(EQUIPMENT_GATE,), label_en="Equipment", label_zh="设备"),
)


def extend(runtime: EngineRuntime, db: Database | None = None, settings: Settings | None = None) -> EngineRuntime:
    """Add the library's task properties, gates, operators and kinds of controlled data (equipment tags,
    master data) to `runtime` (not frozen)."""
    for prop in LIBRARY_PROPERTIES:
        runtime.properties.register(prop)
    library_gates.install(runtime)
    if TAG_KIND.name not in runtime.changes:
        runtime.changes.register(TAG_KIND)
    register_kinds(runtime.changes)
    env = equipment_operators.environment(db, settings) if db is not None and settings is not None else None
    equipment_operators.register_operators(runtime.operators, env)
    signed_setpoint.register(runtime, env)
    deviation_capa.install(runtime, env)
    document_lifecycle.install(runtime, env)
    calibration.install(runtime, env)
    supplier_evaluation.install(runtime, env)
    batch_record.install(runtime, env)
    work_permit.install(runtime, env)
    training.install(runtime, env)
    return runtime


def install(db: Database | None = None, settings: Settings | None = None, *, freeze: bool = True) -> EngineRuntime:
    """The product's engine runtime: the engine's own parts and the process library's."""
    install_pq_scenarios()
    runtime = extend(build_runtime(name="gmp", settings=settings), db, settings)
    problems = runtime.check()
    if problems:
        raise RuntimeError("; ".join(problems))
    return runtime.freeze() if freeze else runtime


def install_pq_scenarios() -> None:
    """Give the PQ runner (validation_pack.pq) the library's scenarios (idempotent)."""
    from core.modules import optional_module

    if optional_module("validation_pack.pq") is not None:
        from bpmn import pq_batch, pq_demo

        pq_demo.install()
        pq_batch.install()
