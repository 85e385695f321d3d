"""Our own rules on a parsed definition, on top of the BPMN schema.

Each failure is a `Problem` naming the file, line and element id:
- the process that runs, and every process it calls, is executable (other processes in the
  files, e.g. other pools of a collaboration, are not run and not checked);
- every user or manual task sits in a lane, and the lane's name is a configured role;
- every task property is declared in the runtime (under a claimed namespace) and its
  value passes the property's own check (form files exist and are valid JSON Schema,
  signature meanings are known, named gates are registered...);
- every gate a task's properties need is registered (`qualification.sops` needs
  `training`: without it the definition is refused, naming the element);
- business key properties (businessKey.*) sit on the process element and are well formed;
- every service task's operator is registered and its call is well typed;
- a signed action (e.g. `setpoint.*`) sits on a user task that asks for a signature, one
  per task, and its operator is registered;
- every expression and script compiles in the sandbox;
- every task, gateway and event is connected to the flow (SpiffWorkflow skips the others);
- every call activity that names a process outside the files names a definition that
  exists and has an approved version (when the caller passes `called`).
"""
from __future__ import annotations

from typing import Any, Callable, Collection

from engine.business_keys import check_properties as check_business_key_properties
from engine.errors import DefinitionCheckFailed
from engine.parsing import BPMN_NS, ParsedBundle, Problem
from engine.properties import PropertyCheck
from engine.runtime import EngineRuntime
from engine.spiff.script_engine import check_spec_sources
from engine.spiff.service_task import is_service_task, operation_name
from engine.spiff.specs import element_specs, is_user_task, lane_of, properties_of

FLOW_NODE_TAGS = {"task", "userTask", "manualTask", "serviceTask", "scriptTask", "sendTask", "receiveTask",
                  "businessRuleTask", "callActivity", "subProcess", "exclusiveGateway", "parallelGateway",
                  "inclusiveGateway", "eventBasedGateway", "intermediateCatchEvent", "intermediateThrowEvent",
                  "endEvent"}

# process id -> None if it can be called (exists, approved), else why not
CalledCheck = Callable[[str], str | None]


def check_bundle(bundle: ParsedBundle, *, roles: Collection[str], meanings: Collection[str],
                 runtime: EngineRuntime, called: CalledCheck | None = None) -> list[Problem]:
    problems: list[Problem] = []
    roles = set(roles)

    run_ids = {bundle.process_id, *bundle.subprocess_specs}
    not_run: set[str] = set()  # elements of other processes in the files (e.g. other pools): never run
    for name, root in bundle.bpmn_trees.items():
        for proc in root.iter(f"{{{BPMN_NS}}}process"):
            if proc.get("id") not in run_ids:
                not_run.update(e.get("id") for e in proc.iter() if isinstance(e.tag, str) and e.get("id"))
            elif proc.get("isExecutable") != "true":
                problems.append(Problem("process is not executable (set isExecutable=\"true\")", file=name,
                                        line=proc.sourceline, element_id=proc.get("id")))

    seen: set[str] = set()
    for bpmn_id, task_spec in element_specs(bundle.spec, bundle.subprocess_specs):
        seen.add(bpmn_id)
        problems.extend(_check_task(bundle, task_spec, bpmn_id, roles, frozenset(meanings), runtime))
    problems.extend(_check_sources(bundle, runtime))
    problems.extend(Problem(message, file=info.file, line=info.line, element_id=info.id)
                    for message, info in check_business_key_properties(bundle.elements.values(), bundle.process_id))
    for element_id, process_id in sorted(bundle.external_calls.items()):
        why = called(process_id) if called is not None else None
        if why is not None:
            file, line = bundle.locate(element_id)
            problems.append(Problem(f"call activity calls process '{process_id}', which is not in the uploaded "
                                    f"files and {why}", file=file, line=line, element_id=element_id))
    for info in bundle.elements.values():
        if info.tag in FLOW_NODE_TAGS and info.id not in seen and info.id not in not_run:
            problems.append(Problem("element is not connected to the process flow (unreachable from a start event)",
                                    file=info.file, line=info.line, element_id=info.id))
    return problems


def _check_sources(bundle: ParsedBundle, runtime: EngineRuntime) -> list[Problem]:
    """Every script and expression compiles in the sandbox: hostile code is refused at upload."""
    out = []
    for element_id, message in check_spec_sources(bundle.spec, bundle.subprocess_specs, runtime.sandbox):
        file, line = bundle.locate(element_id)
        out.append(Problem(f"expression or script refused by the sandbox: {message}", file=file, line=line,
                           element_id=element_id))
    return out


def _check_task(bundle: ParsedBundle, task_spec: Any, bpmn_id: str, roles: set[str], meanings: frozenset[str],
                runtime: EngineRuntime) -> list[Problem]:
    file, line = bundle.locate(bpmn_id)
    out: list[Problem] = []

    def problem(message: str) -> None:
        out.append(Problem(message, file=file, line=line, element_id=bpmn_id))

    properties = properties_of(task_spec)
    registry = runtime.properties
    for key in registry.unknown(properties):
        problem(f"unknown extension property '{key}' (known: {', '.join(registry.names())})")
    context = PropertyCheck(bpmn_id, properties, bundle.files, bundle.json_files, meanings, runtime.gates.names())
    for key, value in properties.items():
        prop = registry.get(key)
        if prop is not None and prop.check is not None and value.strip():
            for message in prop.check(value.strip(), context):
                problem(message if message.startswith(("form file", "gate ")) else f"{key} {message}")
    for prop_name, gate in registry.needed_gates(properties):
        if gate not in runtime.gates:
            problem(f"property '{prop_name}' needs gate '{gate}', which is not registered "
                    f"(registered: {', '.join(sorted(runtime.gates.names())) or 'none'})")

    actions = runtime.signed_actions.declared(properties)
    if actions:
        names = ", ".join(a.name for a in actions)
        if not is_user_task(task_spec):
            problem(f"only a user task's signature can authorise {names} (properties "
                    f"{', '.join(p for a in actions for p in a.properties if properties.get(p))})")
        elif len(actions) > 1:
            problem(f"a task's signature authorises one action, this task declares {names}")
        elif not (properties.get("signature.meaning") or "").strip():
            problem(f"{names}: the task must ask for its completer's signature (signature.meaning): that "
                    "signature authorises it")
        for action in actions:
            if action.operator not in runtime.operators:
                problem(f"{action.name}: operator '{action.operator}' that carries it out is not registered")
            elif not catches_errors(bundle.bpmn_trees, bpmn_id):
                codes = ", ".join(runtime.operators.get(action.operator).error_codes) or "any error"
                problem(f"the signed action '{action.name}' can be refused, fail or stay unconfirmed ({codes}): "
                        "attach a boundary error event to the task (or to a subprocess around it) for the path the "
                        "process takes then")

    if is_user_task(task_spec):
        lane = lane_of(task_spec)
        if not lane:
            problem("user task is not in a lane: put it in the lane of the role that performs it")
        elif lane not in roles and not (properties.get("assignee") or "").strip():
            problem(f"lane '{lane}' is not a configured role (roles: {', '.join(sorted(roles)) or 'none'})")

    if is_service_task(task_spec):
        name = operation_name(task_spec)
        if not name:
            problem("service task names no operator (spiffworkflow:serviceTaskOperator)")
        elif name not in runtime.operators:
            problem(f"service operator '{name}' is not registered")
        else:  # typed parameters, checked by the operator registry
            for message in runtime.operators.check_call(name, getattr(task_spec, "operation_params", {}) or {}):
                problem(message)
    return out


def ensure_valid(bundle: ParsedBundle, **kwargs: Any) -> None:
    problems = check_bundle(bundle, **kwargs)
    if problems:
        raise DefinitionCheckFailed(problems)


def catches_errors(trees: Any, element_id: str) -> bool:
    """Whether a BPMN error thrown at `element_id` is caught: an error boundary event on the
    element or on a subprocess around it, or an event subprocess with an error start event
    in a (sub)process around it."""
    for root in trees.values():
        found = next((e for e in root.iter() if isinstance(e.tag, str) and e.get("id") == element_id), None)
        if found is None:
            continue
        boundaries = {e.get("attachedToRef") for e in root.iter(f"{{{BPMN_NS}}}boundaryEvent")
                      if e.find(f"{{{BPMN_NS}}}errorEventDefinition") is not None}
        node = found
        while node is not None:
            if node.get("id") in boundaries:
                return True
            for child in node.findall(f"{{{BPMN_NS}}}subProcess"):
                if child.get("triggeredByEvent") == "true" and child.find(
                        f"{{{BPMN_NS}}}startEvent/{{{BPMN_NS}}}errorEventDefinition") is not None:
                    return True
            node = node.getparent()
        return False
    return False
