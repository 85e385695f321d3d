"""Names of BPMN elements in the reader's language.

A diagram carries translations of an element's name as BPMN MIWG's non-normative i18n
extension (docs/bpmn-extensions.md, "Labels in other languages"):
`<i18n:translation xml:lang="zh">称量物料</i18n:translation>` in the element's
extensionElements. Pages show the translation for the user's language and the name
otherwise. Translations are read once per definition version (versions never change).
"""
from __future__ import annotations

from typing import Any, Mapping

I18N_NS = "http://www.omg.org/spec/BPMN/non-normative/extensions/i18n/1.0"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

_cache: dict[tuple[int, str], dict[str, dict[str, str]]] = {}


def translations_in(files: Mapping[str, bytes]) -> dict[str, dict[str, str]]:
    """element id -> {language: name} from the i18n translations of every .bpmn file."""
    from engine.errors import DefinitionError
    from engine.parsing import parse_xml

    out: dict[str, dict[str, str]] = {}
    for name, content in files.items():
        if not name.lower().endswith(".bpmn"):
            continue
        try:
            root = parse_xml(content, name)
        except DefinitionError:
            continue
        for translation in root.iter(f"{{{I18N_NS}}}translation"):
            holder = translation.getparent()
            if holder is not None and holder.tag.endswith("extensionElements"):
                holder = holder.getparent()
            language = (translation.get(XML_LANG) or "").split("-")[0].lower()
            text = (translation.text or "").strip()
            if holder is not None and holder.get("id") and language and text:
                out.setdefault(holder.get("id"), {})[language] = text
    return out


def version_translations(session: Any, version_id: int) -> dict[str, dict[str, str]]:
    from sqlalchemy import select

    from engine.definitions import version_files
    from engine.models import ProcessDefinitionVersion

    sha = session.execute(select(ProcessDefinitionVersion.files_sha256)
                          .where(ProcessDefinitionVersion.id == version_id)).scalar_one_or_none()
    if sha is None:
        return {}
    key = (version_id, sha)
    if key not in _cache:
        if len(_cache) > 512:
            _cache.clear()
        _cache[key] = translations_in(version_files(session.get(ProcessDefinitionVersion, version_id)))
    return _cache[key]


def current_language() -> str:
    from flask_babel import get_locale

    locale = get_locale()
    return locale.language if locale is not None else "en"


def element_label(session: Any, version_id: int | None, element_id: str | None, default: str,
                  language: str | None = None) -> str:
    """The element's name in `language` (default: the user's), else `default`."""
    if version_id is None or not element_id:
        return default
    language = language or current_language()
    if language == "en":
        return default
    return version_translations(session, version_id).get(element_id, {}).get(language) or default


def instance_labels(session: Any, instance_id: int, language: str | None = None) -> dict[str, str]:
    """element id -> translated name, for the version an instance runs on (empty in English)."""
    from engine.models import ProcessInstance

    language = language or current_language()
    instance = session.get(ProcessInstance, instance_id)
    if instance is None or language == "en":
        return {}
    return {element: names[language] for element, names in version_translations(session, instance.version_id).items()
            if language in names}


# lanes that are not roles of the catalogue (the task goes to the person the data names)
LANE_LABELS = {"trainee": ("Trainee", "受训人")}


def role_labels(session: Any, language: str | None = None) -> dict[str, str]:
    """role name -> its label in the reader's language, from the role catalogue (and the lanes
    that are no role, such as the trainee's)."""
    from signatures.roles import list_roles

    language = language or current_language()
    labels = {lane: (zh if language == "zh" else en) for lane, (en, zh) in LANE_LABELS.items()}
    labels.update({role.name: (role.label_zh if language == "zh" else role.label_en) or role.name
                   for role in list_roles(session)})
    return labels
