"""What a QA reviewer reads before signing a process change: the two versions side by side
with the added, removed and changed elements coloured, and the changes as sentences
(element names, property names and form fields, not ids and JSON).

`review_for_approval(session, version)` compares a draft with the version it would replace
(the approved one, else the one before it); `review_versions(session, old, new)` compares
any two. The element comparison is the engine's (`engine.definitions.compare`); this module
reads the two versions' files for what changed inside an element (a condition, a script,
a translation) and inside a form.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from flask import url_for
from flask_babel import gettext as _
from lxml import etree

from forms.errors import N_

TAG_NAMES = {
    "userTask": N_("user task"), "manualTask": N_("manual task"), "serviceTask": N_("service task"),
    "scriptTask": N_("script task"), "businessRuleTask": N_("business rule task"), "task": N_("task"),
    "sendTask": N_("send task"), "receiveTask": N_("receive task"), "callActivity": N_("call activity"),
    "subProcess": N_("sub-process"), "exclusiveGateway": N_("exclusive gateway"),
    "parallelGateway": N_("parallel gateway"), "inclusiveGateway": N_("inclusive gateway"),
    "eventBasedGateway": N_("event-based gateway"), "startEvent": N_("start event"), "endEvent": N_("end event"),
    "intermediateCatchEvent": N_("intermediate event"), "intermediateThrowEvent": N_("intermediate event"),
    "boundaryEvent": N_("boundary event"), "sequenceFlow": N_("sequence flow"), "lane": N_("lane"),
    "process": N_("process"), "participant": N_("pool"), "file": N_("file"), "messageFlow": N_("message flow"),
    "dataObjectReference": N_("data object"), "dataStoreReference": N_("data store"),
    "textAnnotation": N_("annotation"),
}
PROPERTY_NAMES = {
    "formJsonSchemaFilename": N_("Form (JSON Schema file)"), "formUiSchemaFilename": N_("UI schema file"),
    "signature.meaning": N_("Signature meaning(s)"), "signature.verifier": N_("Verifier signature meaning"),
    "gates": N_("Gates"), "qualification.sops": N_("Required SOP qualifications"), "equipment": N_("Equipment"),
    "starter.roles": N_("Roles that start the process"),
}
FIELD_KEYS = {
    "title": N_("label"), "type": N_("type"), "description": N_("help text"), "minimum": N_("minimum"),
    "maximum": N_("maximum"), "minLength": N_("minimum length"), "maxLength": N_("maximum length"),
    "enum": N_("choices"), "default": N_("default"), "pattern": N_("pattern"), "x-gmp-unit": N_("unit"),
    "x-gmp-limits": N_("limits"), "x-gmp-equipment-tag": N_("equipment tag"), "x-gmp-critical": N_("critical"),
    "x-gmp-calculated": N_("calculated as"), "required": N_("required"),
}
SKIP_CHILDREN = {"incoming", "outgoing", "extensionElements", "flowNodeRef"}
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"


@dataclass
class Change:
    kind: str  # added, removed, changed
    element_id: str
    label: str  # "user task “Weigh the material”"
    lines: list[str] = field(default_factory=list)


@dataclass
class Review:
    key: str
    old: int | None
    new: int
    old_status: str | None
    diagram: str  # the .bpmn file shown
    old_url: str | None
    new_url: str
    added: list[str] = field(default_factory=list)  # element ids, for the viewer's colours
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    form_changes: list[Change] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.changes or self.form_changes)

    def markers(self) -> str:
        return json.dumps({"added": self.added, "removed": self.removed, "changed": self.changed})


def _q(value: Any) -> str:
    if value in (None, ""):
        return _("(none)")
    return f"“{value}”"


def _label(info: Mapping[str, Any], translations: Mapping[str, Mapping[str, str]], language: str) -> str:
    kind = _(TAG_NAMES.get(info.get("tag") or "", N_("element")))
    name = translations.get(info.get("id") or "", {}).get(language) or info.get("name")
    if info.get("tag") == "file":
        return f"{kind} {info.get('name')}"
    return f"{kind} “{name}”" if name else f"{kind} ({info.get('id')})"


def review_for_approval(session: Any, version: Any) -> Review:
    """The draft against the version it would replace: the approved one, else its predecessor."""
    from sqlalchemy import select

    from engine.models import ProcessDefinitionVersion

    rows = list(session.execute(select(ProcessDefinitionVersion).where(
        ProcessDefinitionVersion.definition_id == version.definition_id,
        ProcessDefinitionVersion.version != version.version)
        .order_by(ProcessDefinitionVersion.version.desc())).scalars())
    base = next((r for r in rows if r.status == "approved"), None)
    if base is None:
        base = next((r for r in rows if r.version < version.version), None)
    return review_versions(session, base, version)


def review_versions(session: Any, old: Any | None, new: Any) -> Review:
    from engine.definitions import compare, version_files
    from engine.models import ProcessDefinition
    from web.labels import current_language, translations_in

    key = session.get(ProcessDefinition, new.definition_id).key
    language = current_language()
    new_files = version_files(new)
    old_files = version_files(old) if old is not None else {}
    diagram = sorted(n for n in new_files if n.endswith(".bpmn"))[0] if any(
        n.endswith(".bpmn") for n in new_files) else ""
    review = Review(key=key, old=old.version if old is not None else None, new=new.version,
                    old_status=old.status if old is not None else None, diagram=diagram,
                    old_url=url_for("library.download", key=key, number=old.version, name=diagram)
                    if old is not None and diagram in old_files else None,
                    new_url=url_for("library.download", key=key, number=new.version, name=diagram))
    if old is None:
        return review
    translations = {**translations_in(old_files), **translations_in(new_files)}
    diff = compare(old, new)
    old_elements, new_elements = json.loads(old.elements_json), json.loads(new.elements_json)
    old_trees, new_trees = _trees(old_files), _trees(new_files)
    for item in diff.added:
        info = new_elements.get(item["id"], item)
        if item["tag"] == "file":
            review.form_changes.append(Change("added", item["id"], _label(info, translations, language),
                                              [_("new file")]))
            continue
        review.added.append(item["id"])
        lines = [_("in lane %(lane)s", lane=_q(info.get("lane")))] if info.get("lane") else []
        for prop, value in sorted((info.get("properties") or {}).items()):
            lines.append(f"{_(PROPERTY_NAMES.get(prop, prop))}: {_q(value)}")
        review.changes.append(Change("added", item["id"], _label(info, translations, language), lines))
    for item in diff.removed:
        info = old_elements.get(item["id"], item)
        if item["tag"] == "file":
            review.form_changes.append(Change("removed", item["id"], _label(info, translations, language),
                                              [_("file removed")]))
            continue
        review.removed.append(item["id"])
        review.changes.append(Change("removed", item["id"], _label(info, translations, language)))
    for item in diff.changed:
        info = new_elements.get(item["id"], item)
        if item["tag"] == "file":
            name = item["id"][len("file:"):]
            review.form_changes.append(Change("changed", item["id"], _label(info, translations, language),
                                              form_changes(old_files.get(name), new_files.get(name))))
            continue
        review.changed.append(item["id"])
        lines = []
        for name, before, after in item["fields"]:
            if name.startswith("property:"):
                prop = name[len("property:"):]
                lines.append(f"{_(PROPERTY_NAMES.get(prop, prop))}: {_q(before)} → {_q(after)}")
            elif name == "name":
                lines.append(f"{_('name')}: {_q(before)} → {_q(after)}")
            elif name == "lane":
                lines.append(f"{_('lane')}: {_q(before)} → {_q(after)}")
            elif name == "tag":
                lines.append(f"{_('type')}: {_(TAG_NAMES.get(before, before))} → {_(TAG_NAMES.get(after, after))}")
        lines.extend(_inner_changes(old_trees, new_trees, item["id"]))
        if not lines:
            lines.append(_("details of the element changed (e.g. its flows or documentation)"))
        review.changes.append(Change("changed", item["id"], _label(info, translations, language), lines))
    return review


def _trees(files: Mapping[str, bytes]) -> dict[str, Any]:
    from engine.errors import DefinitionError
    from engine.parsing import parse_xml

    out = {}
    for name, content in files.items():
        if name.endswith(".bpmn"):
            try:
                out[name] = parse_xml(content, name)
            except DefinitionError:
                continue
    return out


def _element(trees: Mapping[str, Any], element_id: str) -> Any:
    for root in trees.values():
        for element in root.iter():
            if isinstance(element.tag, str) and element.get("id") == element_id:
                return element
    return None


def _inner_changes(old_trees: Mapping[str, Any], new_trees: Mapping[str, Any], element_id: str) -> list[str]:
    """Attributes (other than id and name), child texts (conditions, scripts, documentation) and
    translations that differ."""
    from web.labels import I18N_NS, XML_LANG

    before, after = _element(old_trees, element_id), _element(new_trees, element_id)
    if before is None or after is None:
        return []
    lines = []
    for attribute in sorted((set(before.attrib) | set(after.attrib)) - {"id", "name"}):
        if before.get(attribute) != after.get(attribute):
            label = etree.QName(attribute).localname
            lines.append(f"{label}: {_q(before.get(attribute))} → {_q(after.get(attribute))}")

    def texts(element: Any) -> dict[str, str]:
        """Texts of the element's own children (conditions, scripts, documentation); children that
        are elements themselves (with an id) are compared on their own."""
        out = {}
        for child in element:
            if not isinstance(child.tag, str) or (child.get("id") and etree.QName(child.tag).namespace == BPMN_NS):
                continue
            local = etree.QName(child.tag).localname
            if local in SKIP_CHILDREN:
                continue
            out[local] = " ".join("".join(child.itertext()).split())
        return out

    def spiff_settings(element: Any) -> dict[str, str]:
        """SpiffWorkflow's own extension elements other than the properties: the service operator and
        its parameters, pre- and post-scripts, instructions, called decisions."""
        from engine.parsing import SPIFF_NS

        out: dict[str, str] = {}
        for holder in element.findall(f"{{{BPMN_NS}}}extensionElements"):
            for child in holder:
                if not isinstance(child.tag, str) or etree.QName(child.tag).namespace != SPIFF_NS:
                    continue
                local = etree.QName(child.tag).localname
                if local == "properties":
                    continue
                if local == "serviceTaskOperator":
                    out[_("service operator")] = child.get("id") or ""
                    for parameter in child.iter(f"{{{SPIFF_NS}}}parameter"):
                        out[_("parameter %(name)s", name=parameter.get("id"))] = parameter.get("value") or ""
                else:
                    out[local] = " ".join("".join(child.itertext()).split())
        return out

    def extensions(element: Any) -> list[bytes]:
        """Extension data other than our properties and the translations (compared above)."""
        from engine.parsing import SPIFF_NS, canonical

        out = []
        for holder in element.findall(f"{{{BPMN_NS}}}extensionElements"):
            for child in holder:
                if isinstance(child.tag, str) and etree.QName(child.tag).namespace not in (SPIFF_NS, I18N_NS):
                    out.append(canonical(child))
        return out

    def translations(element: Any) -> dict[str, str]:
        return {t.get(XML_LANG) or "": (t.text or "").strip() for t in element.iter(f"{{{I18N_NS}}}translation")
                if t.getparent() is not None and t.getparent().getparent() is element}

    a, b = texts(before), texts(after)
    for name in sorted(set(a) | set(b)):
        if a.get(name) != b.get(name):
            lines.append(f"{name}: {_q(a.get(name))} → {_q(b.get(name))}")
    sa, sb = spiff_settings(before), spiff_settings(after)
    for name in sorted(set(sa) | set(sb)):
        if sa.get(name) != sb.get(name):
            lines.append(f"{name}: {_q(sa.get(name))} → {_q(sb.get(name))}")
    if extensions(before) != extensions(after):
        lines.append(_("other extension data (of another modeler) changed"))
    ta, tb = translations(before), translations(after)
    for language in sorted(set(ta) | set(tb)):
        if ta.get(language) != tb.get(language):
            lines.append(_("name (%(language)s)", language=language) + f": {_q(ta.get(language))} → {_q(tb.get(language))}")
    return lines


# ---------------------------------------------------------------- forms
def _fields(schema: Any, prefix: str = "") -> dict[str, dict[str, Any]]:
    """path -> field schema (with `required` folded in), through nested objects and arrays of objects."""
    out: dict[str, dict[str, Any]] = {}
    if not isinstance(schema, dict):
        return out
    required = set(schema.get("required") or [])
    for name, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, dict):
            continue
        path = f"{prefix}{name}"
        entry = {k: v for k, v in prop.items() if k not in ("properties", "items")}
        entry["required"] = name in required
        out[path] = entry
        if prop.get("type") == "object":
            out.update(_fields(prop, f"{path}."))
        items = prop.get("items")
        if prop.get("type") == "array" and isinstance(items, dict):
            out.update(_fields(items, f"{path}[]."))
    return out


def _field_label(path: str, entry: Mapping[str, Any]) -> str:
    title = entry.get("title")
    return f"“{title}” ({path})" if title else path


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return _q(value)


def form_changes(old: bytes | None, new: bytes | None) -> list[str]:
    """Field by field: added, removed, and each changed keyword (label, limits, unit, ...)."""
    try:
        old_json = json.loads(old) if old else {}
        new_json = json.loads(new) if new else {}
    except ValueError:
        return [_("the file changed (it is not valid JSON)")]
    if isinstance(old_json, dict) and isinstance(new_json, dict) and "properties" not in old_json \
            and "properties" not in new_json:  # a UI schema: field -> {"ui:...": ...}
        a = {k: v for k, v in old_json.items() if isinstance(v, dict)}
        b = {k: v for k, v in new_json.items() if isinstance(v, dict)}
    else:
        a, b = _fields(old_json), _fields(new_json)
    lines = []
    for path in sorted(b.keys() - a.keys()):
        lines.append(_("field %(field)s added", field=_field_label(path, b[path])))
    for path in sorted(a.keys() - b.keys()):
        lines.append(_("field %(field)s removed", field=_field_label(path, a[path])))
    for path in sorted(a.keys() & b.keys()):
        for keyword in sorted(set(a[path]) | set(b[path])):
            if a[path].get(keyword) != b[path].get(keyword):
                lines.append(_("field %(field)s", field=_field_label(path, b[path])) + ", "
                             + f"{_(FIELD_KEYS.get(keyword, keyword))}: {_show(a[path].get(keyword))} → "
                             + _show(b[path].get(keyword)))
    if not lines and old != new:
        lines.append(_("the layout of the file changed, not its fields"))
    return lines

