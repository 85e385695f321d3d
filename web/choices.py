"""Known choices for the GMP properties the modeler edits, fed by providers.

`GET /library/choices?key=K&number=N` answers `{"kind": [{"value": ..., "label": ...}, ...]}`
for every kind in `PROVIDERS`. A provider is a function `fn(ctx: ChoiceContext) ->
list[Choice]`; a kind lists providers by "module:function" and their choices are merged
(first label wins). A new source of choices is one function and one line here: e.g. the
document register adds `"qualification.sops": [..., "masterdata.documents:sop_choices"]`.
A provider whose module is not installed is skipped.

The modeler offers these choices and still accepts other values: the engine's checks decide
when the draft is submitted for approval (docs/bpmn-extensions.md).
"""
from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from flask import Blueprint, jsonify, request
from flask_babel import get_locale

from web.uow import settings, unit_of_work

bp = Blueprint("choices", __name__, url_prefix="/library")


@dataclass(frozen=True)
class Choice:
    value: str
    label: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"value": self.value, "label": self.label or self.value}


@dataclass
class ChoiceContext:
    """What a provider may use: the database session, settings, the user's language and the
    files of the process version being edited (empty for a new process)."""

    session: Any
    settings: Any
    language: str = "en"
    files: Mapping[str, bytes] = field(default_factory=dict)


Provider = Callable[[ChoiceContext], list[Choice]]

PROVIDERS: dict[str, list[str]] = {
    "signature.meaning": ["web.choices:signature_meanings"],
    "signature.verifier": ["web.choices:signature_meanings"],
    "lane": ["web.choices:business_roles"],
    "starter.roles": ["web.choices:business_roles"],
    "gates": ["web.choices:registered_gates"],
    "qualification.sops": ["web.choices:sops_in_library"],
    "equipment": ["web.choices:registered_equipment"],
    "tags": ["web.choices:registered_tags"],
    "formJsonSchemaFilename": ["web.choices:bundle_forms"],
    "formUiSchemaFilename": ["web.choices:bundle_ui_schemas"],
}


def _load(target: str) -> Provider | None:
    module, _, attribute = target.partition(":")
    try:
        return getattr(importlib.import_module(module), attribute)  # type: ignore[no-any-return]
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            return None
        raise


def choices(ctx: ChoiceContext, providers: Mapping[str, list[str]] | None = None) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for kind, targets in (PROVIDERS if providers is None else providers).items():
        merged: dict[str, Choice] = {}
        for target in targets:
            provider = _load(target)
            if provider is None:
                continue
            for choice in provider(ctx):
                merged.setdefault(choice.value, choice)
        out[kind] = [c.as_dict() for c in merged.values()]
    return out


# ---------------------------------------------------------------- providers
def signature_meanings(ctx: ChoiceContext) -> list[Choice]:
    from signatures.meanings import LABELS
    from signatures.signing_rules import load_rules

    table = {**LABELS, **load_rules(ctx.settings).extra_meanings}
    if ctx.language == "zh":
        return [Choice(value, f"{labels[1]} ({value})") for value, labels in table.items()]
    return [Choice(value, labels[0] if labels[0].lower() == value.replace("_", " ") else f"{labels[0]} ({value})")
            for value, labels in table.items()]


def business_roles(ctx: ChoiceContext) -> list[Choice]:
    from signatures.roles import list_roles

    return [Choice(role.name, f"{role.label_zh if ctx.language == 'zh' else role.label_en} ({role.name})")
            for role in list_roles(ctx.session) if role.kind == "business"]


def registered_gates(ctx: ChoiceContext) -> list[Choice]:
    from engine.runtime import current_runtime

    return [Choice(name) for name in sorted(current_runtime().gates.names())]


def sops_in_library(ctx: ChoiceContext) -> list[Choice]:
    """SOP ids already named by tasks of the library (until a document register provides them)."""
    from sqlalchemy import select

    from engine.models import ProcessDefinitionVersion
    from engine.properties import split_list

    found: set[str] = set()
    for text in ctx.session.execute(select(ProcessDefinitionVersion.elements_json)).scalars():
        for element in json.loads(text).values():
            found.update(split_list((element.get("properties") or {}).get("qualification.sops")))
    return [Choice(sop) for sop in sorted(found)]


def registered_equipment(ctx: ChoiceContext) -> list[Choice]:
    from connectors.registry import effective_tags

    equipment = sorted({tag.definition.equipment_id for tag in effective_tags(ctx.session).values()})
    return [Choice(item) for item in equipment]


def registered_tags(ctx: ChoiceContext) -> list[Choice]:
    from connectors.registry import effective_tags

    return [Choice(name, f"{name} ({tag.definition.unit})" if tag.definition.unit else name)
            for name, tag in sorted(effective_tags(ctx.session).items())]


def bundle_forms(ctx: ChoiceContext) -> list[Choice]:
    out = []
    for name in sorted(ctx.files):
        if name.endswith(".json") and not name.endswith(".ui.json"):
            title = _title(ctx.files[name])
            out.append(Choice(name, f"{title} ({name})" if title else name))
    return out


def bundle_ui_schemas(ctx: ChoiceContext) -> list[Choice]:
    return [Choice(name) for name in sorted(ctx.files) if name.endswith(".ui.json")]


def _title(content: bytes) -> str:
    try:
        schema = json.loads(content)
    except ValueError:
        return ""
    title = schema.get("title") if isinstance(schema, dict) else None
    return str(title) if title else ""


# ---------------------------------------------------------------- endpoint
def choice_context(session: Any, files: Mapping[str, bytes] | None = None) -> ChoiceContext:
    locale = get_locale()
    return ChoiceContext(session=session, settings=settings(), language=locale.language if locale else "en",
                         files=files or {})


@bp.get("/choices")
def known_choices():  # type: ignore[no-untyped-def]
    from engine.definitions import find_version, version_files

    key, number = request.args.get("key"), request.args.get("number", type=int)
    with unit_of_work() as uow:
        files = version_files(find_version(uow.session, key, number)) if key and number else {}
        return jsonify(choices(choice_context(uow.session, files)))
