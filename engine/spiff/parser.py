"""SpiffWorkflow's BPMN parser with our spec classes, and its BPMN schema check.

`GmpBpmnParser` is SpiffWorkflow's spiff-dialect parser whose timer events, service
tasks and call activities build our classes (engine.spiff.timers, service_task,
call_activity). The table is fixed here: the classes are part of the engine.

A call activity may name a process that is not in the uploaded files: that is a call of
a separately approved definition (engine.spiff.call_activity), listed in
`ParsedSpecs.external_calls` for the upload check.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

from SpiffWorkflow.bpmn.parser.BpmnParser import full_tag
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser

from engine.spiff.call_activity import CALL_PARSER_CLASSES, called_processes
from engine.spiff.service_task import OPERATOR_PARSER_CLASSES
from engine.spiff.timers import TIMER_PARSER_CLASSES


class GmpBpmnParser(SpiffBpmnParser):
    """The product's BPMN parser: SpiffWorkflow's spiff dialect with our spec classes."""

    OVERRIDE_PARSER_CLASSES = {
        **SpiffBpmnParser.OVERRIDE_PARSER_CLASSES,
        **{full_tag(tag): classes for tag, classes in {**TIMER_PARSER_CLASSES, **OPERATOR_PARSER_CLASSES,
                                                       **CALL_PARSER_CLASSES}.items()},
    }


class SpecError(Exception):
    """SpiffWorkflow refused the BPMN while building specs: message, element id, file, line."""

    def __init__(self, message: str, element_id: str | None = None, file: str | None = None,
                 line: int | None = None) -> None:
        super().__init__(message)
        self.message, self.element_id, self.file, self.line = message, element_id, file, line


class UnknownProcess(SpecError):
    """The process asked for is not defined in the files."""


class UnreadableFile(SpecError):
    """The parser failed on a file in a way SpiffWorkflow does not report (a bug or an odd input): `file` names it."""


@contextmanager
def _reading(name: str) -> Iterator[None]:
    """Whatever the parser raises while reading `name` that is not a validation error names the file."""
    try:
        yield
    except (SpecError, ValidationException, SpiffWorkflowException):
        raise
    except Exception as exc:  # untrusted input: the failure is the file's problem, never a traceback
        detail = str(exc).splitlines()[0] if str(exc) else ""
        raise UnreadableFile(f"cannot be read as BPMN/DMN ({type(exc).__name__}" + (f": {detail}" if detail else "")
                             + ")", file=name) from exc


@dataclass
class ParsedSpecs:
    process_id: str
    spec: Any
    subprocess_specs: dict[str, Any]
    external_calls: dict[str, str] = field(default_factory=dict)  # call activity id -> process id


def schema_problems(root: Any) -> list[tuple[str, int | None]]:
    """(message, line) for every BPMN schema error of a parsed BPMN tree (SpiffWorkflow's XSD)."""
    VALIDATOR.preprocess(root)
    schema = VALIDATOR.validator
    if schema.validate(root):
        return []
    return [(err.message, err.line) for err in schema.error_log]


def parse_specs(bpmn_trees: Mapping[str, Any], dmn_trees: Mapping[str, Any], process_id: str | None,
                choose: Callable[[list[str]], str], *, validate: bool = True) -> ParsedSpecs:
    """Build the specs of `process_id` (or of the one `choose(ids)` picks) and of what it calls.

    `choose` gets the ids of every process in the files, executable or not. With
    `validate=False` the trees are not checked against the BPMN schema again (the caller
    did, see `schema_problems`). Raises SpecError naming the element where SpiffWorkflow
    names one.
    """
    parser = GmpBpmnParser(validator=VALIDATOR if validate else None)
    try:
        for name, root in dmn_trees.items():
            with _reading(name):
                parser.add_dmn_xml(root, filename=name)
        for name, root in bpmn_trees.items():
            with _reading(name):
                parser.add_bpmn_xml(root, filename=name)
        every_file = ", ".join(sorted(bpmn_trees))
        with _reading(every_file):
            ids = list(parser.process_parsers)  # get_process_ids() leaves out processes that are not executable
        if process_id is None:
            process_id = choose(ids)
        elif process_id not in ids:
            raise UnknownProcess(f"process '{process_id}' is not defined in the files (found: {', '.join(sorted(ids))})")
        with _reading(every_file):
            spec = parser.get_spec(process_id)
            found = parser.get_subprocess_specs(process_id, require_call_activity_specs=False)
    except SpecError:
        raise
    except ValidationException as exc:
        raise SpecError(str(exc).split("\n")[0], getattr(exc, "id", None) or None,
                        getattr(exc, "file_name", None) or None, getattr(exc, "line_number", None) or None) from exc
    except SpiffWorkflowException as exc:
        raise SpecError(str(exc).split("\n")[0]) from exc
    subprocess_specs = {k: v for k, v in found.items() if v is not None}
    missing = {k for k, v in found.items() if v is None}
    calls = called_processes([spec, *subprocess_specs.values()])
    return ParsedSpecs(process_id, spec, subprocess_specs,
                       {element: called for element, called in calls.items() if called in missing})
