"""Build small workflows from the template diagrams in processes/ and run them with SpiffWorkflow
directly through the runtime's script engine, timers and operators (no database)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping
from xml.sax.saxutils import escape

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import VALIDATOR

from engine.spiff.parser import GmpBpmnParser as RuntimeParser
from engine.spiff.script_engine import RestrictedScriptEngine, attach_script_engine, make_script_engine
from engine.spiff.serializer import serializer

PROCESSES = Path(__file__).resolve().parent / "processes"
__all__ = ["RuntimeParser", "serializer", "render", "parse", "workflow", "InMemoryOperatorContext", "PROCESSES"]


def render(template: str, values: Mapping[str, str]) -> str:
    text = (PROCESSES / template).read_text(encoding="utf-8")
    for key, value in values.items():  # XML_* values are diagram fragments, the rest are expressions
        text = text.replace("$" + key, value if key.startswith("XML_") else escape(value, {'"': "&quot;"}))
    return text


def parse(files: Mapping[str, Mapping[str, str]], process_id: str) -> tuple[Any, dict[str, Any]]:
    parser = RuntimeParser(validator=VALIDATOR)
    for name, values in files.items():
        text = render(name, values)
        if name.endswith(".dmn"):
            parser.add_dmn_str(text.encode("utf-8"), filename=name)
        else:
            parser.add_bpmn_str(text.encode("utf-8"), filename=name)
    return parser.get_spec(process_id), parser.get_subprocess_specs(process_id)


def workflow(files: Mapping[str, Mapping[str, str]], process_id: str, *,
             engine: RestrictedScriptEngine | None = None, data: Mapping[str, Any] | None = None,
             timeout_seconds: float = 2.0) -> BpmnWorkflow:
    spec, subprocesses = parse(files, process_id)
    wf = BpmnWorkflow(spec, subprocesses)  # SpiffWorkflow's own workflow class, with our script engine
    attach_script_engine(wf, engine=engine or make_script_engine(timeout_seconds=timeout_seconds))
    if data:
        start = wf.get_next_task(spec_name="Start")
        (start or wf.task_tree).set_data(**data)
    return wf


class InMemoryOperatorContext:
    """The instance API an operator sees, kept in memory (the engine's context writes the database).

    Records what the built-in operators asked for, so SpiffWorkflow-level tests can check it.
    """

    def __init__(self, instance_id: str = "inst-1", element_id: str = "", task_data: Mapping[str, Any] | None = None) -> None:
        self.instance_id = instance_id
        self.element_id = element_id
        self.task_data = dict(task_data or {})
        self.started: list[tuple[str, dict[str, Any], str]] = []
        self.deviations: list[tuple[str, dict[str, Any], str]] = []
        self.exceptions: list[tuple[str, str, dict[str, Any]]] = []
        self.progress: list[dict[str, Any]] = []

    def start_linked_process(self, process_key: str, data: Mapping[str, Any], link: str) -> str:
        self.started.append((process_key, dict(data), link))
        return f"linked-{len(self.started)}"

    def raise_deviation(self, title: str, context: Mapping[str, Any], severity: str) -> str:
        self.deviations.append((title, dict(context), severity))
        return f"DEV-{len(self.deviations)}"

    def record_exception(self, kind: str, message: str, details: Mapping[str, Any]) -> str:
        self.exceptions.append((kind, message, dict(details)))
        return f"EXC-{len(self.exceptions)}"

    def save_progress(self, progress: Mapping[str, Any]) -> None:
        self.progress.append(dict(progress))
