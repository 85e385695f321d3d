"""Master data other systems may read, one `Resource` each (no Flask).

Adding a resource is one entry in `resources()`: its name (the URL segment), a title,
the JSON Schema of one item, and two functions over a database session: `page(session,
after, limit)` -> (items, next key or None) and `get(session, key)` -> item or None.
The API serves `/masterdata/<name>` and `/masterdata/<name>/{key}` for each, the OpenAPI
document lists them with their item schema, and one access-matrix entry (scope
`masterdata:read`) covers them all.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from sqlalchemy.orm import Session

Item = dict[str, Any]


@dataclass(frozen=True)
class Resource:
    name: str
    title: str
    description: str
    key_name: str
    key_schema: Mapping[str, Any]
    item_schema: Mapping[str, Any]
    page: Callable[[Session, str | None, int], tuple[list[Item], str | None]]
    get: Callable[[Session, str], Item | None]


def _paged(items: list[Item], key: str, after: str | None, limit: int) -> tuple[list[Item], str | None]:
    """A page of `items` sorted by `key`, starting after the key value `after`."""
    ordered = sorted(items, key=lambda item: str(item[key]))
    if after is not None:
        ordered = [item for item in ordered if str(item[key]) > after]
    page = ordered[:limit]
    return page, (str(page[-1][key]) if len(ordered) > limit else None)


# ---------------------------------------------------------------- equipment tags (the effective registry)
def _tag_item(registered: Any) -> Item:
    return {"name": registered.name, "revision": registered.revision, **registered.definition.document()}


def _tags_page(session: Session, after: str | None, limit: int) -> tuple[list[Item], str | None]:
    from connectors.registry import effective_tags

    return _paged([_tag_item(t) for t in effective_tags(session).values()], "name", after, limit)


def _tag(session: Session, key: str) -> Item | None:
    from connectors.registry import effective_tags

    found = effective_tags(session).get(key)
    return _tag_item(found) if found is not None else None


TAG_SCHEMA = {
    "type": "object", "required": ["name", "equipment_id", "protocol", "data_type", "unit", "revision"],
    "properties": {
        "name": {"type": "string"}, "revision": {"type": "integer",
                                                 "description": "Number of the approved registry revision."},
        "equipment_id": {"type": "string"}, "protocol": {"type": "string"}, "endpoint": {"type": "string"},
        "data_type": {"type": "string"}, "unit": {"type": "string"}, "access": {"type": "string"},
        "low": {"type": ["number", "null"]}, "high": {"type": ["number", "null"]},
        "description": {"type": "string"},
    },
}


# ---------------------------------------------------------------- process definitions
def _definition_item(row: Mapping[str, Any]) -> Item:
    versions = row["versions"]
    approved = [v for v in versions if v["status"] == "approved"]
    return {"key": row["key"], "name": row["name"],
            "approved_version": approved[-1]["version"] if approved else None,
            "versions": [{k: v[k] for k in ("version", "status", "reason", "created_by", "created_at", "approved_by",
                                            "approved_at", "files_sha256")} for v in versions]}


def _definitions_page(session: Session, after: str | None, limit: int) -> tuple[list[Item], str | None]:
    from engine.definitions import list_definitions

    return _paged([_definition_item(row) for row in list_definitions(session)], "key", after, limit)


def _definition(session: Session, key: str) -> Item | None:
    from engine.definitions import get_definition, history
    from engine.errors import DefinitionNotFound

    try:
        definition = get_definition(session, key)
    except DefinitionNotFound:
        return None
    return _definition_item({"key": definition.key, "name": definition.name, "versions": history(session, key)})


DEFINITION_SCHEMA = {
    "type": "object", "required": ["key", "name", "versions"],
    "properties": {
        "key": {"type": "string"}, "name": {"type": "string"}, "approved_version": {"type": ["integer", "null"]},
        "versions": {"type": "array", "items": {"type": "object", "properties": {
            "version": {"type": "integer"}, "status": {"type": "string"}, "reason": {"type": ["string", "null"]},
            "created_by": {"type": "string"}, "created_at": {"type": "string"},
            "approved_by": {"type": ["string", "null"]}, "approved_at": {"type": ["string", "null"]},
            "files_sha256": {"type": "string"}}}},
    },
}


# ---------------------------------------------------------------- kinds under change control (masterdata.changes)
# Tags and process definitions have their own resources above (the registry's and the library's views).
OWN_RESOURCES = ("tag", "process_definition")
KEY_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 200}


def _revision_item(revision: Any) -> Item:
    return {"key": revision.key, "revision": revision.revision, "effective_from": revision.effective_from,
            "approved_by": revision.approved_by, "approved_at": revision.approved_at,
            "data": dict(revision.data)}


def revision_schema(kind: Any) -> dict[str, Any]:
    """The item of a kind's resource: the revision in force and its data (the kind's own schema)."""
    return {"type": "object", "required": ["key", "revision", "data"], "properties": {
        "key": {"type": "string", "description": f"The item's key ({kind.key_field})."},
        "revision": {"type": "integer", "description": "Number of the revision in force (change control)."},
        "effective_from": {"type": ["string", "null"], "description": "In force since (null: since its approval)."},
        "approved_by": {"type": ["string", "null"]}, "approved_at": {"type": ["string", "null"]},
        "data": dict(kind.schema)}}


def kind_resource(kind: Any) -> Resource:
    """The items of one kind of controlled data in force now (drafts and superseded revisions are
    not served: other systems act on what is in force, as the gates do)."""
    from masterdata import changes

    def page(session: Session, after: str | None, limit: int) -> tuple[list[Item], str | None]:
        return _paged([_revision_item(r) for r in changes.effective_items(session, kind.name)], "key", after, limit)

    def get(session: Session, key: str) -> Item | None:
        found = changes.effective(session, kind.name, key)
        return _revision_item(found) if found is not None else None

    description = (kind.description[:1].upper() + kind.description[1:]) if kind.description else kind.label
    return Resource(kind.name.replace("_", "-"), kind.label, f"{description}: the revisions in force.",
                    kind.key_field, KEY_SCHEMA, revision_schema(kind), page, get)


def _catalogue_kinds() -> list[Any]:
    """The kinds of the running application's change catalogue (none outside an application)."""
    from engine.errors import RuntimeNotInstalled
    from engine.runtime import current_runtime

    try:
        runtime = current_runtime()
    except RuntimeNotInstalled:
        return []
    return [k for k in runtime.changes.kinds() if k.name not in OWN_RESOURCES]


def resources() -> list[Resource]:
    """Every master-data resource the API serves, in the order the OpenAPI document lists them:
    the tag registry, the process definitions, then each kind of the change catalogue."""
    return [
        Resource("equipment-tags", "Equipment tags",
                 "The effective (approved) tag registry: every tag other systems may expect values from.",
                 "name", {"type": "string", "minLength": 1, "maxLength": 200}, TAG_SCHEMA, _tags_page, _tag),
        Resource("process-definitions", "Process definitions",
                 "Every process definition with its versions under change control and the approved one.",
                 "key", {"type": "string", "minLength": 1, "maxLength": 200}, DEFINITION_SCHEMA,
                 _definitions_page, _definition),
        *(kind_resource(kind) for kind in _catalogue_kinds()),
    ]


def resource_named(name: str) -> Resource | None:
    return next((r for r in resources() if r.name == name), None)
