"""Checks on the data other systems send (Annex 11 §5), without Flask.

- `verify_digest(body, header)`: the body's SHA-256 must equal the `Content-Digest`
  header the sender computed (RFC 9530: `Content-Digest: sha-256=:<base64>:`); a
  missing, malformed or different digest refuses the request before anything is read.
- `parse_json(body)`: the body must be one JSON object (UTF-8).
- `body_problems(schema, value)` / `check_body`: JSON Schema (draft 2020-12, the dialect of
  OpenAPI 3.1) validation; every problem names its field as a JSON Pointer (`/data/weight`).
- `check_params(params, given)`: query and path parameters against their schemas; unknown
  query parameters are refused too (a misspelt filter must not silently return everything).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import jsonschema

from web.api.errors import BodyInvalid, BodyMalformed, UnsupportedMediaType

DIGEST_HEADER = "Content-Digest"
_DIGEST_ITEM = re.compile(r"^\s*([A-Za-z0-9-]+)\s*=\s*:([A-Za-z0-9+/=]*):\s*$")
_VALIDATORS: dict[str, Any] = {}
_FORMATS = jsonschema.FormatChecker()


def sha256_hex(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def content_digest(body: bytes) -> str:
    """The `Content-Digest` header value for `body` (RFC 9530, sha-256)."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii") + ":"


def verify_digest(body: bytes, header: str | None) -> str:
    """Check the sender's SHA-256 of the body; return it as hex."""
    if not header:
        raise BodyMalformed(f"a request with a body needs the {DIGEST_HEADER} header with its SHA-256 "
                            "(e.g. 'Content-Digest: sha-256=:<base64 of the SHA-256 of the body>:')", DIGEST_HEADER)
    digests: dict[str, str] = {}
    for item in header.split(","):
        match = _DIGEST_ITEM.match(item)
        if match is None:
            raise BodyMalformed(f"the {DIGEST_HEADER} header is malformed: expected sha-256=:<base64>:", DIGEST_HEADER)
        digests[match.group(1).lower()] = match.group(2)
    if "sha-256" not in digests:
        raise BodyMalformed(f"the {DIGEST_HEADER} header must include sha-256", DIGEST_HEADER)
    try:
        sent = base64.b64decode(digests["sha-256"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BodyMalformed(f"the sha-256 value of {DIGEST_HEADER} is not base64", DIGEST_HEADER) from exc
    actual = hashlib.sha256(body).digest()
    if len(sent) != len(actual) or sent != actual:
        raise BodyMalformed(f"the body's SHA-256 is {actual.hex()} but {DIGEST_HEADER} says "
                            f"{sent.hex() or '(empty)'}: the body was changed or cut in transit, or the digest was "
                            "computed over other bytes; nothing was done", DIGEST_HEADER)
    return actual.hex()


def check_media_type(content_type: str | None) -> None:
    mime = (content_type or "").split(";")[0].strip().lower()
    if mime != "application/json":
        raise UnsupportedMediaType(f"the body must be application/json, not {mime or '(none)'}", "Content-Type")


def parse_json(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyMalformed(f"the body is not UTF-8 (byte {exc.start})", "body") from exc
    try:
        return json.loads(text, parse_constant=_no_constant)
    except ValueError as exc:
        raise BodyMalformed(f"the body is not JSON: {exc}", "body") from exc


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _validator(schema: Mapping[str, Any]) -> Any:
    key = json.dumps(schema, sort_keys=True)
    found = _VALIDATORS.get(key)
    if found is None:
        found = _VALIDATORS[key] = jsonschema.Draft202012Validator(schema, format_checker=_FORMATS)
    return found


def pointer(path: Sequence[Any]) -> str:
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _problem(error: Any) -> dict[str, Any]:
    path = list(error.absolute_path)
    if error.validator == "required":
        missing = [name for name in error.validator_value if name not in (error.instance or {})]
        if missing:
            return {"field": pointer(path + [missing[0]]), "message": f"{missing[0]!r} is required"}
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set((error.schema or {}).get("properties", {}))
        extra = sorted(k for k in error.instance if k not in allowed)
        if extra:
            return {"field": pointer(path + [extra[0]]), "message": f"{extra[0]!r} is not a known field here"}
    return {"field": pointer(path), "message": error.message[:500]}


def body_problems(schema: Mapping[str, Any], value: Any) -> list[dict[str, Any]]:
    errors = sorted(_validator(schema).iter_errors(value), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    return [_problem(e) for e in errors][:50]


def check_body(schema: Mapping[str, Any], value: Any) -> None:
    problems = body_problems(schema, value)
    if problems:
        raise BodyInvalid("the body does not match the schema: " + "; ".join(
            f"{p['field']}: {p['message']}" for p in problems[:5]), fields=problems)


@dataclass(frozen=True)
class Param:
    """A path or query parameter of an operation, with its JSON Schema."""

    name: str
    where: str  # "path" or "query"
    schema: Mapping[str, Any]
    description: str = ""
    required: bool = False
    example: Any = None
    extra: Mapping[str, Any] = field(default_factory=dict)


def _coerce(param: Param, raw: str) -> Any:
    kind = param.schema.get("type")
    if kind == "integer":
        if not re.fullmatch(r"[+-]?[0-9]{1,18}", raw.strip()):
            raise BodyInvalid(f"{param.name} must be an integer, not {raw[:40]!r}", param.name)
        return int(raw)
    if kind == "boolean":
        if raw not in ("true", "false"):
            raise BodyInvalid(f"{param.name} must be true or false", param.name)
        return raw == "true"
    return raw


def check_params(params: Sequence[Param], path_values: Mapping[str, str], query: Mapping[str, Sequence[str]]
                 ) -> dict[str, Any]:
    """Checked values of the operation's parameters (absent optional ones left out)."""
    known = {p.name for p in params if p.where == "query"}
    unknown = sorted(set(query) - known)
    if unknown:
        raise BodyInvalid(f"unknown query parameter {unknown[0]!r}" + (f": expected {', '.join(sorted(known))}"
                                                                        if known else ": this call takes none"),
                          unknown[0] or "query")
    values: dict[str, Any] = {}
    for param in params:
        if param.where == "path":
            raw: str | None = path_values.get(param.name)
        else:
            given = query.get(param.name) or []
            if len(given) > 1:
                raise BodyInvalid(f"{param.name} may be given once", param.name)
            raw = given[0] if given else None
        if raw is None:
            if param.required:
                raise BodyInvalid(f"{param.name} is required", param.name)
            continue
        value = _coerce(param, raw)
        problems = body_problems(param.schema, value)
        if problems:
            raise BodyInvalid(f"{param.name}: {problems[0]['message']}", param.name)
        values[param.name] = value
    return values
