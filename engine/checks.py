"""Our own rules on a parsed definition, on top of the BPMN schema.

Each failure is a `Problem` naming the file, line and element id:
- the process that runs, and every process it calls, is executable (other processes in the
  files, e.g. other pools of a collaboration, are not run and not checked);
- every user or manual task sits in a lane, and the lane's name is a configured role;
- every form file a task names exists and is a valid JSON Schema (UI schema: valid JSON);
- every service task's operator is registered;
- every signature meaning a task requires is a known meaning;
- every gate a task names is registered; every property under our prefixes is known;
- every task, gateway and event is connected to the flow (SpiffWorkflow skips the others).
"""
from __future__ import annotations

import importlib
from typing import Any, Collection

import jsonschema
from SpiffWorkflow.spiff.specs.defaults import ServiceTask

from engine.errors import DefinitionCheckFailed
from engine.extensions import (
    FORM_SCHEMA,
    FORM_UI_SCHEMA,
    KNOWN_PROPERTIES,
    OWNED_PREFIXES,
    SIGNATURE_MEANING,
    SIGNATURE_VERIFIER,
    rules_of,
    split_list,
)
from engine.gates import registered_gates
from engine.parsing import BPMN_NS, ParsedBundle, Problem

FLOW_NODE_TAGS = {"task", "userTask", "manualTask", "serviceTask", "scriptTask", "sendTask", "receiveTask",
                  "businessRuleTask", "callActivity", "subProcess", "exclusiveGateway", "parallelGateway",
                  "inclusiveGateway", "eventBasedGateway", "intermediateCatchEvent", "intermediateThrowEvent",
                  "endEvent"}


def registered_operators() -> frozenset[str] | None:
    """Names in engine.operators' registry, or None while that module does not exist."""
    try:
        module = importlib.import_module("engine.operators")
    except ModuleNotFoundError as exc:
        if exc.name == "engine.operators":
            return None
        raise
    registry = getattr(module, "REGISTRY", None)
    return frozenset(registry.names()) if registry is not None else frozenset()


def operator_checker() -> Any:
    """engine.operators.check_operator_call (typed parameters), or None while it does not exist."""
    try:
        module = importlib.import_module("engine.operators")
    except ModuleNotFoundError as exc:
        if exc.name == "engine.operators":
            return None
        raise
    return getattr(module, "check_operator_call", None)


def check_bundle(bundle: ParsedBundle, *, roles: Collection[str], meanings: Collection[str],
                 operators: Collection[str] | None = None, gates: Collection[str] | None = None) -> list[Problem]:
    problems: list[Problem] = []
    roles = set(roles)
    use_registry = operators is None
    operators = set(operators) if operators is not None else set(registered_operators() or ())
    gates = set(gates) if gates is not None else set(registered_gates())
    meanings = set(meanings)

    run_ids = {bundle.process_id, *bundle.subprocess_specs}
    not_run: set[str] = set()  # elements of other processes in the files (e.g. other pools): never run
    for name, root in bundle.bpmn_trees.items():
        for proc in root.iter(f"{{{BPMN_NS}}}process"):
            if proc.get("id") not in run_ids:
                not_run.update(e.get("id") for e in proc.iter() if isinstance(e.tag, str) and e.get("id"))
            elif proc.get("isExecutable") != "true":
                problems.append(Problem("process is not executable (set isExecutable=\"true\")", file=name,
                                        line=proc.sourceline, element_id=proc.get("id")))

    specs = [bundle.spec, *bundle.subprocess_specs.values()]
    seen: set[str] = set()
    for spec in specs:
        for task_spec in spec.task_specs.values():
            bpmn_id = getattr(task_spec, "bpmn_id", None)
            if not bpmn_id or bpmn_id in seen:
                continue
            seen.add(bpmn_id)
            problems.extend(_check_task(bundle, task_spec, bpmn_id, roles, operators, gates, meanings,
                                        operator_checker() if use_registry else None))
    problems.extend(_check_sources(bundle))
    for info in bundle.elements.values():
        if info.tag in FLOW_NODE_TAGS and info.id not in seen and info.id not in not_run:
            problems.append(Problem("element is not connected to the process flow (unreachable from a start event)",
                                    file=info.file, line=info.line, element_id=info.id))
    return problems


def _check_sources(bundle: ParsedBundle) -> list[Problem]:
    """Every script and expression compiles in the sandbox: hostile code is refused at upload."""
    from engine.scripting import check_spec_sources

    out = []
    for element_id, message in check_spec_sources(bundle.spec, bundle.subprocess_specs):
        file, line = bundle.locate(element_id)
        out.append(Problem(f"expression or script refused by the sandbox: {message}", file=file, line=line,
                           element_id=element_id))
    return out


def _check_task(bundle: ParsedBundle, task_spec: Any, bpmn_id: str, roles: set[str], operators: set[str],
                gates: set[str], meanings: set[str], checker: Any = None) -> list[Problem]:
    file, line = bundle.locate(bpmn_id)
    out: list[Problem] = []

    def problem(message: str) -> None:
        out.append(Problem(message, file=file, line=line, element_id=bpmn_id))

    properties = (getattr(task_spec, "extensions", None) or {}).get("properties", {}) or {}
    for key in properties:
        if key.startswith(OWNED_PREFIXES) and key not in KNOWN_PROPERTIES:
            problem(f"unknown extension property '{key}' (known: {', '.join(sorted(KNOWN_PROPERTIES))})")
    rules = rules_of(task_spec)

    if getattr(task_spec, "manual", False):  # user and manual tasks
        lane = getattr(task_spec, "lane", None)
        if not lane:
            problem("user task is not in a lane: put it in the lane of the role that performs it")
        elif lane not in roles:
            problem(f"lane '{lane}' is not a configured role (roles: {', '.join(sorted(roles)) or 'none'})")

    for prop, required in ((FORM_SCHEMA, True), (FORM_UI_SCHEMA, False)):
        filename = properties.get(prop)
        if not filename:
            continue
        if filename not in bundle.files:
            problem(f"form file '{filename}' ({prop}) is not among the uploaded files")
            continue
        if filename not in bundle.json_files:
            problem(f"form file '{filename}' is not valid JSON")
            continue
        if required:
            schema = bundle.json_files[filename]
            try:
                if not isinstance(schema, dict):
                    raise jsonschema.SchemaError("a JSON Schema must be an object")
                cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
                cls.check_schema(schema)
            except jsonschema.SchemaError as exc:
                problem(f"form file '{filename}' is not a valid JSON Schema: {exc.message}")

    for prop in (SIGNATURE_MEANING, SIGNATURE_VERIFIER):
        for meaning in split_list(properties.get(prop)):
            if meaning not in meanings:
                problem(f"{prop} '{meaning}' is not a known signature meaning "
                        f"(known: {', '.join(sorted(meanings))})")
    if rules.verifier_meaning and not rules.signature_meanings:
        problem(f"{SIGNATURE_VERIFIER} needs a {SIGNATURE_MEANING} for the first signature it verifies")

    for gate in rules.gates:
        if gate not in gates:
            problem(f"gate '{gate}' is not registered (registered: {', '.join(sorted(gates)) or 'none'})")

    if isinstance(task_spec, ServiceTask):
        operator = (task_spec.extensions or {}).get("serviceTaskOperator") or {}
        name = operator.get("name") if isinstance(operator, dict) else None
        if not name:
            problem("service task names no operator (spiffworkflow:serviceTaskOperator)")
        elif name not in operators:
            problem(f"service operator '{name}' is not registered")
        elif checker is not None:  # typed parameters, checked by the operator registry
            for message in checker(name, getattr(task_spec, "operation_params", {}) or {}):
                problem(message)
    return out


def ensure_valid(bundle: ParsedBundle, **kwargs: Any) -> None:
    problems = check_bundle(bundle, **kwargs)
    if problems:
        raise DefinitionCheckFailed(problems)
