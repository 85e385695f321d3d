"""Diagrams made elsewhere: any well-formed BPMN becomes a draft, problems and all.

QA brings in a diagram from another modeler (SpiffArena, Camunda, a BPMN MIWG reference
file) and finishes it in the library's modeler. Import stores what is safe and well-formed;
the problems the full checks find are shown on the elements, and the same full checks run
again when the draft is submitted for approval and when it is approved
(`engine.definitions.submit` / `approve`), so a draft with problems never takes effect.

- `inspect(files, process_id=None, *, roles, meanings, runtime=None, session=None)` ->
  `Inspection`. Refuses what is not safe, well-formed BPMN (`UnsafeXmlError`,
  `DefinitionError`: nothing stored); raises `ProcessChoiceNeeded` (with `.choices`) when the
  files hold several processes and none is named; otherwise lists every problem found, each
  placed on its element where it has one.
- `import_draft(uow, files, reason=..., process_id=None, services=None, roles=None, runtime=None)` ->
  `(version, problems)`: the next draft version of the chosen process.
- `version_problems(session, version, services)`: the problems of a stored version, found
  again now (the roles, gates and operators in effect may have changed since it was saved).
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any, Collection, Mapping

from lxml import etree
from sqlalchemy.orm import Session

from engine.checks import check_bundle
from engine.definitions import callable_process, check_reason, configured_roles, store_draft, version_files
from engine.errors import DefinitionCheckFailed, DefinitionError
from engine.models import ProcessDefinition, ProcessDefinitionVersion
from engine.parsing import (
    BPMN_NS,
    ElementInfo,
    ParsedBundle,
    Problem,
    ProcessChoice,
    _catalogue,
    parse_bundle,
    process_choices,
    read_files,
    schema_problems,
)
from engine.ports import EngineServices, default_services
from engine.runtime import EngineRuntime, resolve
from engine.spiff.serializer import spec_to_json

log = logging.getLogger("gmp.engine.drafts")


class ProcessChoiceNeeded(DefinitionError):
    """The files hold several processes: the person importing picks the one to run."""

    http_status = 409

    def __init__(self, choices: list[ProcessChoice]) -> None:
        self.choices = choices
        names = ", ".join(f"{c.id} ({c.name})" if c.name != c.id else c.id for c in choices)
        super().__init__(f"the files hold several processes: choose the one to import ({names})")


@dataclass
class Inspection:
    """What an import found: the process, its elements and every problem (empty: ready for approval)."""

    process_id: str
    process_name: str
    choices: list[ProcessChoice]
    elements: dict[str, ElementInfo]
    problems: list[Problem] = field(default_factory=list)
    bundle: ParsedBundle | None = None

    @property
    def spec_json(self) -> str:
        """The serialized spec, or "" while SpiffWorkflow cannot read the diagram."""
        if self.bundle is None:
            return ""
        return spec_to_json(self.bundle.spec, self.bundle.subprocess_specs)


def choose_process(choices: list[ProcessChoice], process_id: str | None) -> ProcessChoice:
    if process_id is not None:
        for choice in choices:
            if choice.id == process_id:
                return choice
        raise DefinitionError(f"process '{process_id}' is not defined in the files "
                              f"(found: {', '.join(sorted(c.id for c in choices)) or 'none'})")
    candidates = [c for c in choices if c.flow_nodes] or choices
    if not candidates:
        raise DefinitionError("the files define no process")
    if len(candidates) > 1:
        raise ProcessChoiceNeeded(candidates)
    return candidates[0]


def inspect(files: Mapping[str, bytes], process_id: str | None = None, *, roles: Collection[str],
            meanings: Collection[str], runtime: EngineRuntime | None = None,
            session: Session | None = None) -> Inspection:
    """Every problem of `files` as the draft of `process_id` (see the module's docstring).

    The gates, task properties and operators are the runtime's (`runtime=`, else the current
    one); with `session`, called processes are looked up among the stored definitions."""
    files = dict(files)
    read = read_files(files)
    bpmn_trees, dmn_trees, problems = read.bpmn, read.dmn, list(read.problems)
    choices = process_choices(bpmn_trees)
    chosen = choose_process(choices, process_id)
    for name, root in bpmn_trees.items():
        problems.extend(schema_problems(name, root))
    inspection = Inspection(process_id=chosen.id, process_name=chosen.name, choices=choices,
                            elements=_catalogue(bpmn_trees, dmn_trees, files))
    try:
        bundle = parse_bundle(files, chosen.id, schema_errors_fatal=False)
        problems.extend(check_bundle(bundle, roles=roles, meanings=meanings, runtime=resolve(runtime),
                                     called=callable_process(session) if session is not None else None))
    except DefinitionCheckFailed as exc:
        problems.extend(exc.problems)
    except DefinitionError as exc:
        problems.append(Problem(str(exc)))
    except Exception as exc:  # noqa: BLE001 - a diagram from elsewhere may trip SpiffWorkflow in any way
        log.warning("SpiffWorkflow could not read an imported diagram: %r", exc)
        problems.append(Problem(f"the engine cannot read this diagram: {exc}"))
    else:
        inspection.bundle = bundle
    inspection.problems = _placed(_unique(problems), bpmn_trees)
    return inspection


def _unique(problems: list[Problem]) -> list[Problem]:
    seen: set[Problem] = set()
    return [p for p in problems if not (p in seen or seen.add(p))]  # type: ignore[func-returns-value]


_QUOTED = re.compile(r"""'([^']+)'|"([^"]+)"|with name (.+?) has""")


def _placed(problems: list[Problem], trees: Mapping[str, Any]) -> list[Problem]:
    """Put a problem SpiffWorkflow reported without an element on the element it names
    (a called process, a data store, a DMN decision: by calledElement, id or name)."""
    out = []
    for problem in problems:
        if problem.element_id is None:
            for match in _QUOTED.finditer(problem.message):
                found = _find(trees, next(g for g in match.groups() if g))
                if found is not None:
                    problem = Problem(problem.message, file=found[0], line=found[1], element_id=found[2])
                    break
        out.append(problem)
    return out


def _find(trees: Mapping[str, Any], text: str) -> tuple[str, int | None, str] | None:
    for attribute in ("calledElement", "id", "name"):
        for name, root in trees.items():
            for element in root.iter():
                if isinstance(element.tag, str) and element.get("id") and element.get(attribute) == text \
                        and etree.QName(element.tag).namespace == BPMN_NS:
                    return name, element.sourceline, element.get("id")
    return None


def import_draft(uow: Any, files: Mapping[str, bytes], *, reason: str, process_id: str | None = None,
                 services: EngineServices | None = None, roles: Collection[str] | None = None,
                 runtime: EngineRuntime | None = None) -> tuple[ProcessDefinitionVersion, list[Problem]]:
    """Store well-formed BPMN as the next draft of its process, whatever the checks find."""
    services = services or default_services()
    reason = check_reason(reason)
    roles = configured_roles(uow.session) if roles is None else roles
    found = inspect(files, process_id, roles=roles, meanings=services.meanings, runtime=runtime,
                    session=uow.session)
    version = store_draft(uow, files, process_id=found.process_id, process_name=found.process_name,
                          spec_json=found.spec_json, elements=found.elements, reason=reason,
                          details={"problems": [str(p) for p in found.problems[:50]],
                                   "problem_count": len(found.problems)})
    return version, found.problems


def version_problems(session: Session, version: ProcessDefinitionVersion, *,
                     services: EngineServices | None = None, roles: Collection[str] | None = None,
                     runtime: EngineRuntime | None = None) -> list[Problem]:
    """Every problem of a stored version under the roles, gates and operators in effect now."""
    services = services or default_services()
    definition = session.get(ProcessDefinition, version.definition_id)
    try:
        found = inspect(version_files(version), definition.key,
                        roles=configured_roles(session) if roles is None else roles, meanings=services.meanings,
                        runtime=runtime, session=session)
    except DefinitionError as exc:
        return [Problem(str(exc))]
    return found.problems
