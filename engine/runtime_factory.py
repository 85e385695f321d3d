"""The one place that builds SpiffWorkflow objects: workflows, the serializer, specs.

Every workflow, new or loaded, gets its script engine from `attach_script_engine`
(SpiffWorkflow's deserializer silently attaches a new, unrestricted engine: never let
a workflow run without passing through here). Extension points for the runtime issue:

- `make_script_engine` (engine.scripting): the restricted environment.
- `register_spec_converter(spec_class, converter_class)`: serializer support for custom
  task or event-definition classes (e.g. clock-driven timers), next to
  `engine.parsing.register_parser_class` for the parser.
- `set_service_caller(caller)`: how service tasks reach the operator registry.

Task data may hold `Decimal` (exact form numbers) and `date` values: `register_data_types`
gives the serializer a converter for each, so they come back from the database as they went in.
"""
from __future__ import annotations

import json
import threading
from collections import OrderedDict
from datetime import date
from decimal import Decimal
from typing import Any

from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

from engine.workflow import GmpWorkflow

try:  # the restricted environment (engine runtime issue); switching engines is this one import
    from engine.scripting import make_script_engine
except ModuleNotFoundError as exc:  # pragma: no cover - only while engine/scripting.py is absent
    if exc.name != "engine.scripting":
        raise

    def make_script_engine(settings: Any = None, **kwargs: Any) -> Any:  # type: ignore[misc]
        """Fail closed: without the restricted environment no diagram code runs."""
        from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
        from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

        class _NoScripts(BasePythonScriptEngineEnvironment):
            def evaluate(self, expression: str, context: Any, external_context: Any = None) -> Any:
                raise RuntimeError("no restricted script engine installed (engine/scripting.py)")

            def execute(self, script: str, context: Any, external_context: Any = None) -> Any:
                raise RuntimeError("no restricted script engine installed (engine/scripting.py)")
        return PythonScriptEngine(environment=_NoScripts())

SPEC_FORMAT = "gmp-spec-1"
_config: dict[Any, Any] = dict(SPIFF_CONFIG)
_serializer: BpmnWorkflowSerializer | None = None
_service_caller: Any = None
_lock = threading.Lock()
_spec_cache: "OrderedDict[tuple[int, str], tuple[Any, dict[str, Any]]]" = OrderedDict()
SPEC_CACHE_SIZE = 64


def register_spec_converter(spec_class: type, converter_class: type) -> None:
    """Serialize instances of `spec_class` with `converter_class` (a SpiffWorkflow BpmnConverter)."""
    global _serializer
    with _lock:
        _config[spec_class] = converter_class
        _serializer = None


RUNTIME_CONVERTER_TABLES = (("engine.timers", "TIMER_SPEC_CONVERTERS"),
                            ("engine.operators", "OPERATOR_SPEC_CONVERTERS"))


def _install_runtime_converters() -> None:
    """Serializer support for the runtime issue's timer and operator classes, if present."""
    import importlib

    for module_name, attribute in RUNTIME_CONVERTER_TABLES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        for spec_class, converter_class in getattr(module, attribute, {}).items():
            register_spec_converter(spec_class, converter_class)


def set_service_caller(caller: Any) -> None:
    """Service tasks of every workflow attached from now on call `caller` (engine.operators)."""
    global _service_caller
    _service_caller = caller


def register_data_types(registry: Any) -> None:
    """Task data keeps exact decimals (form numbers) and calendar dates through the workflow JSON,
    as ``{"typename": "Decimal", "value": "10.10"}`` and ``{"typename": "date", "value": "2026-01-31"}``."""
    registry.register(Decimal, lambda v: {"value": str(v)}, lambda v: Decimal(v["value"]), typename="Decimal")
    registry.register(date, lambda v: {"value": v.isoformat()}, lambda v: date.fromisoformat(v["value"]),
                      typename="date")


def serializer() -> BpmnWorkflowSerializer:
    global _serializer
    with _lock:
        if _serializer is None:
            registry = BpmnWorkflowSerializer.configure(_config)
            register_data_types(registry)
            _serializer = BpmnWorkflowSerializer(registry)
        return _serializer


def attach_script_engine(workflow: Any, settings: Any = None) -> Any:
    """Give the workflow (and so its subprocesses) the restricted script engine."""
    workflow.script_engine = make_script_engine(settings, service_caller=_service_caller)
    return workflow


def new_workflow(spec: Any, subprocess_specs: dict[str, Any], settings: Any = None) -> GmpWorkflow:
    workflow = GmpWorkflow(spec, subprocess_specs)
    return attach_script_engine(workflow, settings)


def empty_workflow(spec: Any, subprocess_specs: dict[str, Any]) -> GmpWorkflow:
    """A workflow shell for loading saved tasks into (no tasks yet)."""
    return GmpWorkflow(spec, subprocess_specs, deserializing=True)


# ---------------------------------------------------------------- specs, once per version
def spec_to_json(spec: Any, subprocess_specs: dict[str, Any]) -> str:
    reg = serializer().registry
    return json.dumps({"format": SPEC_FORMAT, "spec": reg.convert(spec),
                       "subprocess_specs": {k: reg.convert(v) for k, v in subprocess_specs.items()}},
                      sort_keys=True, separators=(",", ":"))


def spec_from_json(text: str) -> tuple[Any, dict[str, Any]]:
    document = json.loads(text)
    if document.get("format") != SPEC_FORMAT:
        raise ValueError(f"unknown spec format {document.get('format')!r}")
    reg = serializer().registry
    return reg.restore(document["spec"]), {k: reg.restore(v) for k, v in document["subprocess_specs"].items()}


def cached_spec(version_id: int, spec_sha: str, text_loader: Any) -> tuple[Any, dict[str, Any]]:
    """The deserialized spec of a definition version, built once per process (specs are immutable)."""
    key = (version_id, spec_sha)
    with _lock:
        hit = _spec_cache.get(key)
        if hit is not None:
            _spec_cache.move_to_end(key)
            return hit
    value = spec_from_json(text_loader())
    with _lock:
        _spec_cache[key] = value
        while len(_spec_cache) > SPEC_CACHE_SIZE:
            _spec_cache.popitem(last=False)
    return value


_install_runtime_converters()
