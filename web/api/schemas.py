"""JSON Schemas of what the API receives and sends: one source for the server's checks and
for the OpenAPI document (JSON Schema 2020-12, the dialect of OpenAPI 3.1).

Request schemas are strict (unknown fields are refused); response schemas describe what
the server sends and allow fields added later.
"""
from __future__ import annotations

from typing import Any

IDENTIFIER = "^[A-Za-z_][A-Za-z0-9_]{0,63}$"
TEXT_LINE = "^[^\\x00-\\x1f\\x7f]*$"  # printable: no control characters
PROCESS_KEY = "^[A-Za-z_][A-Za-z0-9_.-]{0,199}$"
USER_ID = "^[a-z][a-z0-9._-]{1,63}$"
TIMESTAMP = {"type": "string", "description": "UTC time, ISO 8601 with microseconds and Z"}
NULLABLE_TIMESTAMP = {"type": ["string", "null"], "description": "UTC time, ISO 8601 with microseconds and Z"}
BUSINESS_KEY = {"type": "string", "minLength": 1, "maxLength": 100, "pattern": TEXT_LINE,
                "description": "The business key of the instance (batch number, deviation number, ...): "
                               "how people and other systems name it."}
DATA = {"type": "object", "maxProperties": 200, "propertyNames": {"pattern": IDENTIFIER},
        "description": "Process data: names are identifiers usable in the process's expressions."}
SCALAR = {"type": ["string", "integer", "number", "boolean"]}

CREDENTIALS = {
    "type": "object", "additionalProperties": False, "required": ["user_id", "password", "totp"],
    "description": "A person's own credentials, typed by that person (never stored by the calling system). "
                   "Verified like a signature in the web: user ID, password and a current TOTP code.",
    "properties": {
        "user_id": {"type": "string", "pattern": USER_ID},
        "password": {"type": "string", "minLength": 1, "maxLength": 1024, "format": "password"},
        "totp": {"type": "string", "pattern": "^[0-9]{6,8}$"},
    },
}

START_INSTANCE = {
    "type": "object", "additionalProperties": False, "required": ["process"],
    "properties": {
        "process": {"type": "string", "pattern": PROCESS_KEY, "description": "Key of an approved process definition."},
        "title": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": TEXT_LINE},
        "business_key": BUSINESS_KEY,
        "data": DATA,
    },
    "example": {"process": "batch_record", "title": "Batch B-2026-0142", "business_key": "B-2026-0142",
                "data": {"product": "Paracetamol 500 mg", "batch_size_kg": 120}},
}

COMPLETE_TASK = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "data": {"type": "object", "maxProperties": 200,
                 "description": "The task's form data, checked against the task's form (GET /tasks/{task_id})."},
        "exceptions": {"type": "object", "maxProperties": 50,
                       "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 2000},
                       "description": "field -> comment: a value outside its limits is accepted only with one."},
        "signer": CREDENTIALS | {"description": "For a person's task: the credentials of the person who completes "
                                                "and signs it. Refused for a system task."},
        "verifier": CREDENTIALS | {"description": "For a task that asks for a second person's verification."},
    },
    "example": {"data": {"weight_kg": 12.4, "balance": "BAL-07"}},
}

SEND_MESSAGE = {
    "type": "object", "additionalProperties": False, "required": ["name", "correlation"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[A-Za-z_][A-Za-z0-9_.:-]*$",
                 "description": "The BPMN message name."},
        "correlation": {"type": "object", "minProperties": 1, "maxProperties": 10,
                        "propertyNames": {"pattern": IDENTIFIER}, "additionalProperties": SCALAR,
                        "description": "Which instance the message is for: every key must equal the instance's "
                                       "value ('instance_id', 'business_key' or a process data name)."},
        "payload": DATA | {"description": "Data the message carries into the instance."},
    },
    "example": {"name": "lab_result", "correlation": {"business_key": "B-2026-0142"},
                "payload": {"assay_percent": 99.2, "sample_id": "S-881"}},
}

ACKNOWLEDGEMENT = {
    "type": "object", "required": ["ack_id", "received_at", "outcome", "status"],
    "description": "The server's record of a data exchange (Annex 11 §5): stored, returned and retrievable.",
    "properties": {
        "ack_id": {"type": "string"}, "operation": {"type": "string"}, "method": {"type": "string"},
        "path": {"type": "string"}, "account_id": {"type": "string"}, "token_id": {"type": "string"},
        "client_reference": {"type": ["string", "null"]}, "received_at": TIMESTAMP,
        "request_sha256": {"type": ["string", "null"]}, "request_bytes": {"type": "integer"},
        "status": {"type": "integer"}, "outcome": {"type": "string", "enum": ["accepted", "refused"]},
        "result": {"type": "object"},
    },
}

ERROR = {
    "type": "object", "required": ["error", "status", "message"],
    "properties": {
        "error": {"type": "string", "description": "Kind of error (e.g. BodyInvalid, TokenRefused)."},
        "status": {"type": "integer"}, "title": {"type": "string"}, "message": {"type": "string"},
        "field": {"type": ["string", "null"],
                  "description": "What was wrong: a body field as JSON Pointer (/data/weight), a parameter "
                                 "or a header name."},
        "fields": {"type": "array", "items": {"type": "object", "properties": {
            "field": {"type": ["string", "null"]}, "message": {"type": "string"}}}},
        "acknowledgement": ACKNOWLEDGEMENT,
        "reference": {"type": "string"},
    },
}

TASK = {
    "type": "object", "required": ["task_id", "instance_id", "lane", "kind"],
    "properties": {
        "task_id": {"type": "string"}, "instance_id": {"type": "integer"}, "instance_title": {"type": "string"},
        "business_key": {"type": ["string", "null"]}, "process": {"type": "string"},
        "bpmn_id": {"type": ["string", "null"]}, "name": {"type": ["string", "null"]},
        "lane": {"type": ["string", "null"]},
        "kind": {"type": "string", "enum": ["system", "human"],
                 "description": "system: a lane of a system role, completed by a system account with the "
                                "tokens:complete scope; human: a person completes and signs it."},
        "claimed_by": {"type": ["string", "null"]}, "updated_at": {"type": ["string", "null"]},
    },
}

TASK_DETAIL = {
    "type": "object", "allOf": [TASK],
    "properties": {
        "form": {"type": ["object", "null"], "description": "The JSON Schema the task's data must match."},
        "signature_meanings": {"type": "array", "items": {"type": "string"}},
        "verifier_meaning": {"type": ["string", "null"]},
    },
}

PAGE_NEXT = {"type": ["string", "null"], "description": "Pass as `after` to get the next page; null on the last."}


def page_of(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": ["items", "next"],
            "properties": {"items": {"type": "array", "items": item}, "next": PAGE_NEXT}}


INSTANCE = {
    "type": "object", "required": ["instance_id", "process", "status"],
    "properties": {
        "instance_id": {"type": "integer"}, "title": {"type": "string"}, "process": {"type": "string"},
        "version": {"type": "integer"}, "business_key": {"type": ["string", "null"]},
        "status": {"type": "string", "enum": ["running", "completed", "cancelled", "error"]},
        "started_at": TIMESTAMP, "started_by": {"type": "string"}, "ended_at": NULLABLE_TIMESTAMP,
    },
}

INSTANCE_DETAIL = {
    "type": "object", "allOf": [INSTANCE],
    "properties": {"data": {"type": "object"}, "tasks": {"type": "array", "items": {"type": "object"}},
                   "ready_tasks": {"type": "array", "items": TASK}},
}

STARTED = {
    "type": "object", "required": ["instance", "acknowledgement"],
    "properties": {"instance": INSTANCE_DETAIL, "acknowledgement": ACKNOWLEDGEMENT},
}

COMPLETED = {
    "type": "object", "required": ["task_id", "instance_id", "instance_status", "acknowledgement"],
    "properties": {
        "task_id": {"type": "string"}, "instance_id": {"type": "integer"}, "instance_status": {"type": "string"},
        "completed_by": {"type": "string"},
        "signatures": {"type": "array", "items": {"type": "object", "properties": {
            "signature_id": {"type": "string"}, "signer_id": {"type": "string"}, "signer_name": {"type": "string"},
            "meaning": {"type": "string"}}}},
        "ready_tasks": {"type": "array", "items": TASK},
        "acknowledgement": ACKNOWLEDGEMENT,
    },
}

DELIVERED = {
    "type": "object", "required": ["outcome", "instance_id", "acknowledgement"],
    "properties": {
        "outcome": {"type": "string", "enum": ["delivered", "started"],
                    "description": "delivered: to the waiting instance; started: a new instance of the process "
                                   "whose message start event catches it."},
        "instance_id": {"type": "integer"}, "name": {"type": "string"},
        "acknowledgement": ACKNOWLEDGEMENT,
    },
}

ME = {
    "type": "object", "required": ["account_id", "token_id", "scopes"],
    "properties": {
        "account_id": {"type": "string"}, "actor_id": {"type": "string"}, "printed_name": {"type": "string"},
        "token_id": {"type": "string"}, "scopes": {"type": "array", "items": {"type": "string"}},
        "expires_at": TIMESTAMP, "roles": {"type": "array", "items": {"type": "string"}},
    },
}

AUDIT_ENTRY = {
    "type": "object", "required": ["seq", "ts", "actor_id", "action", "entry_hash"],
    "properties": {
        "seq": {"type": "integer"}, "ts": TIMESTAMP, "actor_id": {"type": "string"}, "actor_name": {"type": "string"},
        "action": {"type": "string"}, "object_type": {"type": "string"}, "object_id": {"type": "string"},
        "changes": {"type": "array"}, "reason": {"type": ["string", "null"]}, "details": {"type": "object"},
        "prev_hash": {"type": "string"}, "entry_hash": {"type": "string"},
    },
}

RECORD = {
    "type": "object", "required": ["instance", "tasks", "timeline"],
    "description": "The complete record of an instance (P11-10b): every task's data with its source and who/when, "
                   "signature manifestations, exceptions, corrections and the instance's audit timeline.",
    "properties": {"instance": {"type": "object"}, "data": {"type": "object"},
                   "tasks": {"type": "array", "items": {"type": "object"}},
                   "exceptions": {"type": "array"}, "timeline": {"type": "array"}, "exported_at": TIMESTAMP},
}

RESOURCE_LIST = {
    "type": "object", "required": ["resources"],
    "properties": {"resources": {"type": "array", "items": {"type": "object", "properties": {
        "name": {"type": "string"}, "title": {"type": "string"}, "description": {"type": "string"},
        "href": {"type": "string"}}}}},
}
