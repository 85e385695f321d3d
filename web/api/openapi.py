"""The OpenAPI 3.1 document of the API, built from the declared operations
(web.api.operations), their schemas (web.api.schemas), the master-data resources
(web.api.resources) and the scopes in the access matrix; and a view of it for people
(the page /api/v1/docs, rendered on the server: no script, nothing from another site).
"""
from __future__ import annotations

import copy
import json
from typing import Any

from web.api import schemas as S
from web.api.accounts import SCOPES
from web.api.operations import Operation, operations

TITLE = "GMP workflow engine API"
VERSION = "1.0.0"
ERROR_TEXT = {400: "Malformed request: the body is not JSON, or its Content-Digest is missing or does not match.",
              401: "No valid API token (missing, malformed, unknown, expired or revoked).",
              403: "The token lacks the scope this call needs.", 404: "Not found.",
              409: "Conflict with the current state; nothing was changed.",
              415: "The body is not application/json.", 422: "A body field or parameter is invalid.",
              423: "The person's account is locked."}
DESCRIPTION = """\
The API through which other systems (MES, ERP, LIMS) work with the GMP workflow engine.

**Authentication.** Every call except this document sends `Authorization: Bearer gmp_<id>_<secret>`, a token of a
*system account* issued by an administrator (web: Administration > System accounts; CLI: `gmp api token issue`).
A token carries scopes, expires and can be revoked; each operation lists the scope it needs. A system account can
never sign in to the web and never signs: a person's task is completed through the API only with that person's
own credentials, verified and signed as in the web.

**Data exchange checks (EU GMP Annex 11 §5).** A request with a body must be `application/json` and carry
`Content-Digest: sha-256=:<base64 of the SHA-256 of the exact body bytes>:` (RFC 9530); the server refuses a body
whose digest does not match. Every body is validated against the schema below; every error names its `field`
(a body field as a JSON Pointer such as `/data/weight`, a parameter or a header). Every request with a body gets an
*acknowledgement* (accepted or refused, with the body's SHA-256), stored, returned in the answer and readable at
`/acknowledgements/{ack_id}`; send `X-Request-Id` to find it again by your own reference. Every answer carries
`Content-Digest` too. Every call is recorded in the audit trail as `system:<account>`.
"""


def _scopes_of(endpoint: str) -> list[str] | None:
    from web.access import load_matrix

    rule = load_matrix().get(endpoint)
    if rule is None or rule.public:
        return None
    return sorted(rule.scopes)


def _parameter(param: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": param.name, "in": param.where, "required": param.where == "path" or param.required,
                           "schema": dict(param.schema)}
    if param.description:
        out["description"] = param.description
    return out


def _errors(op: Operation) -> dict[str, Any]:
    codes = sorted(set(op.errors) | {401})
    return {str(code): {"description": ERROR_TEXT.get(code, "Refused."),
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            for code in codes}


def _operation(op: Operation, params: list[Any], item_schema: dict[str, Any] | None = None,
               summary: str | None = None, description: str | None = None, suffix: str = "") -> dict[str, Any]:
    scopes = _scopes_of(op.endpoint)
    text = description if description is not None else op.description
    if scopes:
        text = (text + "\n\n" if text else "") + "Scope: " + ", ".join(f"`{s}`" for s in scopes) + "."
    elif scopes == []:
        text = (text + "\n\n" if text else "") + "Any valid token."
    out: dict[str, Any] = {
        "operationId": op.endpoint.split(".", 1)[1] + suffix, "summary": summary or op.summary, "description": text, "tags": [op.tag],
        "parameters": [_parameter(p) for p in params], "responses": {}}
    if scopes is not None:
        out["security"] = [{"bearer": scopes}]
        out["x-scopes"] = scopes
    if op.body is not None:
        example = op.body.get("example")
        body_schema = {k: v for k, v in op.body.items() if k != "example"}
        out["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": body_schema, **({"example": example} if example is not None else {})}}}
        out["x-content-digest"] = "required"
    for status, reply in op.replies.items():
        schema = item_schema if item_schema is not None and reply.schema is not None else reply.schema
        content = {reply.media: {"schema": copy.deepcopy(schema)} if schema is not None else {}}
        out["responses"][str(status)] = {"description": reply.description, "content": content,
                                         "headers": {"Content-Digest": {"description": "SHA-256 of the body "
                                                                                       "(RFC 9530).",
                                                                        "schema": {"type": "string"}}}}
    out["responses"].update(_errors(op))
    return out


def document() -> dict[str, Any]:
    from web.api.resources import resources

    paths: dict[str, Any] = {}
    tags: list[str] = []
    for op in operations():
        if op.tag not in tags:
            tags.append(op.tag)
        if op.path.startswith("/masterdata/{resource}"):
            for resource in resources():
                params = [p for p in op.params if p.name != "resource"]
                path = op.path.replace("{resource}", resource.name)
                if op.path.endswith("{key}"):
                    params = [p if p.name != "key" else type(p)("key", "path", dict(resource.key_schema),
                                                               f"The item's {resource.key_name}.", True)
                              for p in params]
                    item = dict(resource.item_schema)
                    summary = f"Read one item: {resource.title.lower()}"
                else:
                    item = S.page_of(dict(resource.item_schema))
                    summary = f"List master data: {resource.title.lower()}"
                paths.setdefault(path, {})[op.method.lower()] = _operation(
                    op, params, item, summary, resource.description, "_" + resource.name.replace("-", "_"))
            continue
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, list(op.params))
    scope_text = "\n".join(f"- `{name}`: {text}" for name, text in SCOPES.items())
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {"title": TITLE, "version": VERSION, "description": DESCRIPTION + "\n**Scopes.**\n\n" + scope_text,
                 "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"}},
        "servers": [{"url": "/api/v1"}],
        "tags": [{"name": t} for t in tags],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "gmp_<id>_<secret>",
                                           "description": "A system account's API token."}},
            "schemas": {"Error": S.ERROR, "Acknowledgement": S.ACKNOWLEDGEMENT},
        },
    }


# ---------------------------------------------------------------- the page for people
def _fields(schema: Any, prefix: str = "", depth: int = 0) -> list[dict[str, Any]]:
    """Rows (name, type, required, description) of an object schema, nested objects indented."""
    if not isinstance(schema, dict) or depth > 3:
        return []
    rows = []
    required = set(schema.get("required", []))
    for name, sub in (schema.get("properties") or {}).items():
        kind = sub.get("type", "object" if "properties" in sub else "any")
        kind = " | ".join(kind) if isinstance(kind, list) else kind
        limits = [f"{k} {sub[k]}" for k in ("enum", "pattern", "minLength", "maxLength", "minimum", "maximum")
                  if k in sub]
        rows.append({"name": prefix + name, "type": kind, "required": name in required,
                     "description": sub.get("description", ""), "limits": "; ".join(map(str, limits))})
        rows.extend(_fields(sub, prefix + name + ".", depth + 1))
    return rows


def reference_view(doc: dict[str, Any]) -> dict[str, Any]:
    """The document arranged for the template: per tag, each operation with its tables and example."""
    groups: dict[str, list[dict[str, Any]]] = {t["name"]: [] for t in doc["tags"]}
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            groups.setdefault(op["tags"][0], []).append({
                "id": op["operationId"], "method": method.upper(), "path": doc["servers"][0]["url"] + path,
                "summary": op["summary"], "description": op.get("description", ""),
                "scopes": op.get("x-scopes"), "parameters": op.get("parameters", []),
                "body_fields": _fields(body.get("schema")),
                "example": json.dumps(body["example"], indent=2, ensure_ascii=False) if "example" in body else None,
                "responses": [(code, r["description"]) for code, r in op["responses"].items()]})
    return {"title": doc["info"]["title"], "version": doc["info"]["version"], "description": doc["info"]["description"],
            "groups": groups, "scopes": SCOPES}


def prose(text: str) -> Any:
    """The document's descriptions as HTML: paragraphs, list items, `code` and **bold**; everything escaped."""
    import re

    from markupsafe import Markup, escape

    def inline(line: str) -> str:
        html = str(escape(line))
        html = re.sub(r"`([^`]+)`", r"<code>\1</code>", html)
        html = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", html)
        return re.sub(r"\*([^*]+)\*", r"<em>\1</em>", html)

    blocks = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = block.splitlines()
        if all(line.startswith("- ") for line in lines):
            blocks.append("<ul>" + "".join(f"<li>{inline(line[2:])}</li>" for line in lines) + "</ul>")
        else:
            blocks.append(f"<p>{inline(' '.join(lines))}</p>")
    return Markup("".join(blocks))
