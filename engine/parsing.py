"""Safe parsing of an uploaded process definition (BPMN, DMN, JSON-Schema forms).

Every XML file goes through one hardened lxml parser: no entity expansion, no network,
no DTD loading; a DOCTYPE or ENTITY declaration is refused before parsing (billion
laughs, external entities); size, element count and nesting depth are bounded. The BPMN
is then checked against the BPMN XSD that SpiffWorkflow ships (every schema error is
reported with file and line), and parsed into specs by the adapter's parser
(engine.spiff.parser). All of it runs in a deep-stack thread (engine.deep) because
SpiffWorkflow's parser recurses once per element of a chain.
"""
from __future__ import annotations

import hashlib
import json
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

from lxml import etree

from engine.deep import run_deep
from engine.errors import DefinitionCheckFailed, DefinitionError, UnsafeXmlError
from engine.scripting import MAX_SOURCE_CHARS, source_too_long
from engine.spiff.parser import SpecError, UnknownProcess, parse_specs
from engine.spiff.parser import schema_problems as spiff_schema_problems
from engine.spiff.specs import process_name

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
DI_NAMESPACES = ("http://www.omg.org/spec/BPMN/20100524/DI", "http://www.omg.org/spec/DD/20100524/DC",
                 "http://www.omg.org/spec/DD/20100524/DI")
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_BUNDLE_BYTES = 20 * 1024 * 1024
MAX_FILES = 200
MAX_ELEMENTS = 100_000
MAX_DEPTH = 64
_DECL = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-/ ]{0,199}$")
CONTAINER_TAGS = {"definitions", "process", "subProcess", "laneSet", "collaboration", "transaction"}
# Attributes SpiffArena's modeler writes that the BPMN 2.0 schema does not define. They carry
# nothing this engine uses, so the schema check drops them (docs/bpmn-extensions.md lists
# every difference from SpiffArena's dialect).
DIALECT_ATTRIBUTES = (("dataStoreReference", "type"), ("startEvent", "messageRef"))
FLOW_NODE_LOCAL_NAMES = {"task", "userTask", "manualTask", "serviceTask", "scriptTask", "sendTask", "receiveTask",
                         "businessRuleTask", "callActivity", "subProcess", "transaction", "adHocSubProcess",
                         "exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway",
                         "complexGateway", "startEvent", "intermediateCatchEvent", "intermediateThrowEvent",
                         "boundaryEvent", "endEvent"}


@dataclass(frozen=True)
class Problem:
    """One failed check: what is wrong, and where (file, line, element id)."""

    message: str
    file: str | None = None
    line: int | None = None
    element_id: str | None = None

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(self.file + (f":{self.line}" if self.line else ""))
        elif self.line:
            where.append(f"line {self.line}")
        if self.element_id:
            where.append(f"element '{self.element_id}'")
        return (", ".join(where) + ": " if where else "") + self.message


@dataclass(frozen=True)
class ElementInfo:
    """One BPMN element as seen by the comparison of versions and by the checks."""

    id: str
    tag: str
    name: str | None
    file: str
    line: int | None
    lane: str | None
    properties: dict[str, str]
    fingerprint: str

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "tag": self.tag, "name": self.name, "file": self.file, "line": self.line,
                "lane": self.lane, "properties": self.properties, "fingerprint": self.fingerprint}


@dataclass
class ParsedBundle:
    """A parsed definition: its files, trees, specs and element catalogue."""

    files: dict[str, bytes]
    process_id: str
    process_name: str
    spec: Any
    subprocess_specs: dict[str, Any]
    bpmn_trees: dict[str, Any] = field(default_factory=dict)
    dmn_trees: dict[str, Any] = field(default_factory=dict)
    json_files: dict[str, Any] = field(default_factory=dict)
    elements: dict[str, ElementInfo] = field(default_factory=dict)
    external_calls: dict[str, str] = field(default_factory=dict)  # call activity id -> separately approved process

    def locate(self, element_id: str) -> tuple[str | None, int | None]:
        info = self.elements.get(element_id)
        return (info.file, info.line) if info else (None, None)


# ---------------------------------------------------------------- hardened XML
_XML_PARSER_OPTIONS = dict(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=False, remove_pis=True, collect_ids=False)


def parse_xml(content: bytes, filename: str) -> Any:
    """Parse XML bytes safely; raise UnsafeXmlError naming the file and line."""
    if len(content) > MAX_FILE_BYTES:
        raise UnsafeXmlError(f"{filename}: file is {len(content)} bytes, more than the limit of {MAX_FILE_BYTES}")
    match = _DECL.search(content)
    if match:
        line = content.count(b"\n", 0, match.start()) + 1
        raise UnsafeXmlError(f"{filename}:{line}: {match.group(1).decode().upper()} declarations are not allowed "
                             "(entity expansion and external entities are refused)")
    parser = etree.XMLParser(**_XML_PARSER_OPTIONS)
    try:
        root = etree.fromstring(content, parser)
    except etree.XMLSyntaxError as exc:
        line = exc.lineno or (exc.position[0] if getattr(exc, "position", None) else None)
        raise UnsafeXmlError(f"{filename}:{line}: not well-formed XML: {exc.msg}") from exc
    if root.getroottree().docinfo.doctype:
        raise UnsafeXmlError(f"{filename}:1: DOCTYPE declarations are not allowed")
    count = 0
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        count += 1
        if count > MAX_ELEMENTS:
            raise UnsafeXmlError(f"{filename}: more than {MAX_ELEMENTS} elements")
        if depth > MAX_DEPTH:
            raise UnsafeXmlError(f"{filename}:{element.sourceline}: elements nested deeper than {MAX_DEPTH} levels")
        if isinstance(element.tag, str) is False and element.tag is not etree.Comment:
            raise UnsafeXmlError(f"{filename}:{element.sourceline}: entity references are not allowed")
        stack.extend((child, depth + 1) for child in element)
    return root


def _kind(name: str, content: bytes) -> str:
    lower = name.lower()
    if lower.endswith(".json"):
        return "json"
    if lower.endswith(".bpmn") or lower.endswith(".bpmn20.xml"):
        return "bpmn"
    if lower.endswith(".dmn"):
        return "dmn"
    raise DefinitionError(f"{name}: unsupported file type (expected .bpmn, .dmn or .json)")


def check_file_names(files: Mapping[str, bytes]) -> None:
    if not files:
        raise DefinitionError("no files uploaded")
    if len(files) > MAX_FILES:
        raise DefinitionError(f"{len(files)} files uploaded, more than the limit of {MAX_FILES}")
    total = sum(len(c) for c in files.values())
    if total > MAX_BUNDLE_BYTES:
        raise DefinitionError(f"upload is {total} bytes, more than the limit of {MAX_BUNDLE_BYTES}")
    for name in files:
        if not _SAFE_NAME.match(name) or ".." in name.split("/") or name.startswith("/"):
            raise DefinitionError(f"{name!r}: file names may use letters, digits, '_', '-', '.', '/' and spaces only")


# ---------------------------------------------------------------- the bundle
def parse_bundle(files: Mapping[str, bytes], process_id: str | None = None, *,
                 max_source_chars: int = MAX_SOURCE_CHARS, schema_errors_fatal: bool = True) -> ParsedBundle:
    """Parse uploaded files into specs; raise DefinitionCheckFailed or UnsafeXmlError.

    Scripts and expressions longer than `max_source_chars` are refused right after the XML
    is read, before anything parses them as Python. `schema_errors_fatal=False`
    (engine.drafts, which reports them itself) goes on to build the specs when the BPMN
    schema finds problems, so that every other problem is found too."""
    return run_deep(_parse_bundle, dict(files), process_id, max_source_chars, schema_errors_fatal)


# Elements whose text is diagram Python (BPMN, SpiffWorkflow extensions, DMN cells).
CODE_TAGS = {"script", "conditionExpression", "completionCondition", "loopCardinality", "timeDate",
             "timeDuration", "timeCycle", "preScript", "postScript", "messagePayload", "formalExpression",
             "condition", "loopDataInputRef", "inputDataItem", "outputDataItem"}
CODE_ATTRIBUTES = ("value", "expression")  # of spiffworkflow:parameter and the like


def source_size_problems(root: Any, filename: str, max_chars: int, *, dmn: bool = False) -> list[Problem]:
    """Every script or expression in one XML tree longer than `max_chars`, naming its element."""
    problems = []
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        local = _local(element.tag)
        texts = []
        if local in CODE_TAGS or (dmn and local == "text"):
            texts.append(("", element.text or ""))
        if etree.QName(element.tag).namespace == SPIFF_NS:
            texts.extend((f" attribute {name!r}", element.get(name) or "") for name in CODE_ATTRIBUTES)
        for where, text in texts:
            if len(text) > max_chars:
                owner = next((e for e in element.iterancestors() if e.get("id")), None) \
                    if not element.get("id") else element
                problems.append(Problem(f"{local}{where}: {source_too_long(len(text), max_chars)}", file=filename,
                                        line=element.sourceline,
                                        element_id=owner.get("id") if owner is not None else None))
    return problems


@dataclass
class ReadFiles:
    """The uploaded files, read: XML trees of the .bpmn and .dmn files, the parsed .json
    files, the JSON files that are not valid (`problems`) and the scripts or expressions
    longer than the limit (`too_long`)."""

    bpmn: dict[str, Any]
    dmn: dict[str, Any]
    json_files: dict[str, Any]
    problems: list[Problem]
    too_long: list[Problem]


def read_files(files: Mapping[str, bytes], max_source_chars: int = MAX_SOURCE_CHARS) -> ReadFiles:
    """Read every file of an upload safely, the one reader of uploads (parse_bundle, engine.drafts).

    Refuses (raises) unsupported names, hostile or malformed XML, a .bpmn file whose root is
    not BPMN 2.0 `definitions`, an oversized file and an upload without a .bpmn file; a JSON
    file that is not valid JSON and a script longer than `max_source_chars` are problems."""
    check_file_names(files)
    read = ReadFiles({}, {}, {}, [], [])
    for name in sorted(files):
        content = files[name]
        kind = _kind(name, content)
        if kind == "json":
            if len(content) > MAX_FILE_BYTES:
                raise DefinitionError(f"{name}: file is larger than {MAX_FILE_BYTES} bytes")
            try:
                read.json_files[name] = json.loads(content.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                read.problems.append(Problem(f"not valid JSON: {exc}", file=name, line=getattr(exc, "lineno", None)))
            continue
        with _reading(name):
            root = parse_xml(content, name)
        read.too_long.extend(source_size_problems(root, name, max_source_chars, dmn=kind == "dmn"))
        if kind == "bpmn":
            if root.tag != f"{{{BPMN_NS}}}definitions":
                raise DefinitionError(f"{name}:{root.sourceline}: not a BPMN 2.0 file (root element {root.tag})")
            read.bpmn[name] = root
        else:
            read.dmn[name] = root
    if not read.bpmn:
        raise DefinitionError("the upload contains no .bpmn file")
    return read


def _parse_bundle(files: dict[str, bytes], process_id: str | None, max_source_chars: int,
                  schema_errors_fatal: bool = True) -> ParsedBundle:
    read = read_files(files, max_source_chars)
    bpmn_trees, dmn_trees, json_files, problems = read.bpmn, read.dmn, read.json_files, list(read.problems)
    if read.too_long:  # refused before the schema check and SpiffWorkflow's parser read them
        raise DefinitionCheckFailed(problems + read.too_long)

    for name, root in bpmn_trees.items():
        with _reading(name):
            found = schema_problems(name, root)
        if schema_errors_fatal:
            problems.extend(found)
    if problems:
        raise DefinitionCheckFailed(problems)

    elements = _catalogue(bpmn_trees, dmn_trees, files)

    def choose(ids: list[str]) -> str:
        executable = [pid for pid in ids if _is_executable(bpmn_trees, pid)]
        candidates = executable or ids
        if len(candidates) != 1:
            raise DefinitionError(f"the files define several processes ({', '.join(sorted(ids))}): name the one to run")
        return candidates[0]

    try:
        # validated above, with the dialect attributes dropped
        parsed = parse_specs(bpmn_trees, dmn_trees, process_id, choose, validate=False)
    except UnknownProcess as exc:
        raise DefinitionError(exc.message) from exc
    except SpecError as exc:
        element_id = exc.element_id
        if element_id and _process_element(bpmn_trees, element_id) is not None \
                and not _is_executable(bpmn_trees, element_id):  # the process run, or one it calls
            raise DefinitionCheckFailed([_not_executable(bpmn_trees, element_id)]) from exc
        file, line = (elements[element_id].file, elements[element_id].line) if element_id in elements else (
            exc.file, exc.line)
        raise DefinitionCheckFailed([Problem(exc.message, file=file, line=line or None,
                                             element_id=element_id)]) from exc
    return ParsedBundle(files=files, process_id=parsed.process_id, process_name=process_name(parsed.spec),
                        spec=parsed.spec, subprocess_specs=parsed.subprocess_specs, bpmn_trees=bpmn_trees,
                        dmn_trees=dmn_trees, json_files=json_files, elements=elements,
                        external_calls=parsed.external_calls)


def drop_dialect_attributes(root: Any) -> None:
    """Drop SpiffArena's `DIALECT_ATTRIBUTES` from a BPMN tree (SpiffWorkflow reads neither)."""
    for tag, attribute in DIALECT_ATTRIBUTES:
        for element in root.iter(f"{{{BPMN_NS}}}{tag}"):
            element.attrib.pop(attribute, None)


def schema_problems(name: str, root: Any) -> list[Problem]:
    """The BPMN 2.0 schema's findings for one file, each placed on the element at its line.

    Drops SpiffArena's `DIALECT_ATTRIBUTES` from the tree first."""
    drop_dialect_attributes(root)
    found = spiff_schema_problems(root)
    if not found:
        return []
    ids = element_ids_by_line(root)
    return [Problem("BPMN schema: " + message.replace(f"{{{BPMN_NS}}}", "bpmn:"), file=name, line=line,
                    element_id=ids.get(line) if line is not None else None) for message, line in found]


def element_ids_by_line(root: Any) -> dict[int, str]:
    """Line -> id of the element starting there (or of its nearest ancestor with an id)."""
    out: dict[int, str] = {}
    for element in root.iter():
        if not isinstance(element.tag, str) or element.sourceline is None or element.sourceline in out:
            continue
        holder = element
        while holder is not None and not holder.get("id"):
            holder = holder.getparent()
        if holder is not None:
            out[element.sourceline] = holder.get("id")
    return out


def _process_element(trees: Mapping[str, Any], process_id: str) -> tuple[str, Any] | None:
    for name, root in trees.items():
        for proc in root.iter(f"{{{BPMN_NS}}}process"):
            if proc.get("id") == process_id:
                return name, proc
    return None


def _not_executable(trees: Mapping[str, Any], process_id: str) -> Problem:
    found = _process_element(trees, process_id)
    if found is None:
        return Problem("process is not executable (set isExecutable=\"true\")", element_id=process_id)
    return Problem("process is not executable (set isExecutable=\"true\")", file=found[0],
                   line=found[1].sourceline, element_id=process_id)


@dataclass(frozen=True)
class ProcessChoice:
    """One process of a file, as offered when a file holds several."""

    id: str
    name: str
    file: str
    executable: bool
    flow_nodes: int


def process_choices(bpmn_trees: Mapping[str, Any]) -> list[ProcessChoice]:
    out = []
    for name, root in sorted(bpmn_trees.items()):
        for proc in root.iter(f"{{{BPMN_NS}}}process"):
            nodes = sum(1 for e in proc.iter() if isinstance(e.tag, str) and e.tag.startswith(f"{{{BPMN_NS}}}")
                        and etree.QName(e.tag).localname in FLOW_NODE_LOCAL_NAMES)
            out.append(ProcessChoice(id=proc.get("id") or "", name=proc.get("name") or proc.get("id") or "",
                                     file=name, executable=proc.get("isExecutable") == "true", flow_nodes=nodes))
    return out


def _is_executable(trees: Mapping[str, Any], process_id: str) -> bool:
    for root in trees.values():
        for proc in root.iter(f"{{{BPMN_NS}}}process"):
            if proc.get("id") == process_id:
                return proc.get("isExecutable") == "true"
    return False


def _canonical(element: Any) -> bytes:
    """Canonical XML of an element for its fingerprint. C14N 1.0 refuses relative namespace URIs
    (`xmlns:x="relative/uri"`, found in diagrams of some modellers): those elements use C14N 2.0."""
    try:
        return etree.tostring(element, method="c14n")
    except etree.C14NError:
        return etree.canonicalize(etree.tostring(element, encoding="unicode")).encode("utf-8")


def canonical(element: Any) -> bytes:
    """Canonical XML of an element (for comparing elements: web.review)."""
    return _canonical(element)


@contextmanager
def _reading(name: str) -> Iterator[None]:
    """Any failure while reading one file becomes a clear error naming the file (never a traceback)."""
    try:
        yield
    except DefinitionError:
        raise
    except Exception as exc:  # untrusted input: whatever the parser raises is the file's problem
        detail = str(exc).splitlines()[0] if str(exc) else ""
        raise DefinitionCheckFailed([Problem(f"cannot be read as BPMN/DMN ({type(exc).__name__}"
                                             + (f": {detail}" if detail else "") + ")", file=name)]) from exc


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _catalogue(bpmn_trees: Mapping[str, Any], dmn_trees: Mapping[str, Any],
               files: Mapping[str, bytes]) -> dict[str, ElementInfo]:
    """Every BPMN element with an id (diagram layout left out), plus one entry per file."""
    elements: dict[str, ElementInfo] = {}
    for name, root in bpmn_trees.items():
        with _reading(name):
            lanes: dict[str, str] = {}
            for lane in root.iter(f"{{{BPMN_NS}}}lane"):
                for ref in lane.iter(f"{{{BPMN_NS}}}flowNodeRef"):
                    if ref.text:
                        lanes[ref.text.strip()] = lane.get("name") or lane.get("id")
            for element in root.iter():
                if not isinstance(element.tag, str):
                    continue
                ns = etree.QName(element.tag).namespace
                element_id = element.get("id")
                if not element_id or ns in DI_NAMESPACES or ns != BPMN_NS:
                    continue
                tag = _local(element.tag)
                props = {p.get("name"): p.get("value") for p in element.findall(
                    f"{{{BPMN_NS}}}extensionElements/{{{SPIFF_NS}}}properties/{{{SPIFF_NS}}}property")}
                if tag in CONTAINER_TAGS:  # its own attributes (and properties, e.g. a process's businessKey.*)
                    own = sorted(element.attrib.items())
                    basis = json.dumps([own, sorted((k, v) for k, v in props.items() if k)] if props else own).encode()
                else:
                    basis = _canonical(element)
                elements[element_id] = ElementInfo(
                    id=element_id, tag=tag, name=element.get("name"), file=name, line=element.sourceline,
                    lane=lanes.get(element_id), properties={k: v for k, v in props.items() if k},
                    fingerprint=hashlib.sha256(basis).hexdigest())
    for name in list(dmn_trees) + [n for n in files if n.lower().endswith(".json")]:
        key = f"file:{name}"
        elements[key] = ElementInfo(id=key, tag="file", name=name, file=name, line=None, lane=None, properties={},
                                    fingerprint=hashlib.sha256(files[name]).hexdigest())
    return elements
