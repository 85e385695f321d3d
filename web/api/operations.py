"""The operations of the API, declared once: route, parameters, body schema, responses.

`operation(bp, method, path, ...)` registers a view on the blueprint and records its
`Operation`, from which the OpenAPI document is built (web.api.openapi); scopes come from
the access matrix (web/access_matrix.yaml). Before the view runs, the request is checked
(Annex 11 §5): path and query parameters against their schemas; a body must be
application/json, carry a `Content-Digest` (SHA-256) that matches, parse as JSON and
match the operation's schema. The view receives `(params, body)` and returns
`(status, document)` for JSON, or a Flask response.
"""
from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from flask import Blueprint, Response, g, request

from web.api.exchange import Param, check_body, check_media_type, check_params, parse_json, verify_digest

JSON = "application/json"


@dataclass(frozen=True)
class Reply:
    """One documented response: description, schema (None: no JSON body) and media type."""

    description: str
    schema: Mapping[str, Any] | None = None
    media: str = JSON


@dataclass(frozen=True)
class Operation:
    endpoint: str
    method: str
    path: str
    summary: str
    tag: str
    description: str = ""
    params: tuple[Param, ...] = ()
    body: Mapping[str, Any] | None = None
    replies: Mapping[int, Reply] = field(default_factory=dict)
    errors: tuple[int, ...] = ()


OPERATIONS: list[Operation] = []


def json_response(status: int, document: Any) -> Response:
    body = json.dumps(document, ensure_ascii=False, sort_keys=True, default=str)
    return Response(body, status=status, mimetype=JSON)


def operation(bp: Blueprint, method: str, path: str, *, summary: str, tag: str, description: str = "",
              params: Sequence[Param] = (), body: Mapping[str, Any] | None = None,
              replies: Mapping[int, Reply] | None = None, errors: Sequence[int] = ()) -> Callable[..., Any]:
    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        op = Operation(f"{bp.name}.{view.__name__}", method, path, summary, tag, description, tuple(params), body,
                       dict(replies or {}), tuple(errors))
        OPERATIONS.append(op)

        @functools.wraps(view)
        def run(**path_values: str) -> Response:
            values = check_params(op.params, path_values, request.args.to_dict(flat=False))
            document = None
            if op.body is not None:
                raw = request.get_data(cache=True)
                check_media_type(request.content_type)
                digest = verify_digest(raw, request.headers.get("Content-Digest"))
                call = g.get("api")
                if call is not None:
                    call.request_sha256, call.request_bytes = digest, len(raw)
                document = parse_json(raw)
                check_body(op.body, document)
            result = view(values, document)
            if isinstance(result, Response):
                return result
            status, payload = result
            return json_response(status, payload)

        rule = re.sub(r"\{(\w+)\}", r"<\1>", path)
        bp.add_url_rule(rule, endpoint=view.__name__, view_func=run, methods=[method])
        return view
    return decorator


def operations() -> list[Operation]:
    return list(OPERATIONS)
