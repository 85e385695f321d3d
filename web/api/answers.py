"""Errors of the API as JSON: `{error, status, title, message, field, fields[, acknowledgement]}`.

Called by the application's one error handler (web.errors) for every path under /api/.
`field` names what was wrong: a body field as a JSON Pointer (`/data/weight`), a path or
query parameter (`task_id`, `limit`) or a header (`Authorization`, `Content-Digest`). A
refused write also returns its acknowledgement (outcome `refused`).
"""
from __future__ import annotations

import logging
import secrets
from typing import Any

from flask import Response, jsonify, request
from werkzeug.exceptions import HTTPException

from core.errors import GmpError
from web.api.calls import refuse

log = logging.getLogger("gmp.api")

# The field an error of another package is about, when the error itself does not say.
FIELD_OF = {
    "TaskNotFound": "task_id", "TaskStateError": "task_id", "LaneRoleRefused": "task_id", "GateRefused": "task_id",
    "GateNotRegistered": "task_id", "InstanceNotFound": "instance_id", "InstanceStateError": "instance_id",
    "DefinitionNotFound": "/process", "DefinitionStateError": "/process", "FormDataInvalid": "/data",
    "SignatureRequired": "/signer", "SignatureRefused": "/signer", "MessageNotDeliverable": "/correlation",
    "MessageAmbiguous": "/correlation", "ExportError": "since", "WorkflowRuntimeError": "/data",
    "BusinessKeyError": "/business_key", "DuplicateBusinessKey": "/business_key",
}
HTTP_FIELD = {404: "path", 405: "method", 413: "body"}
TITLES = {400: "Malformed request", 401: "Authentication required", 403: "Not permitted", 404: "Not found",
          405: "Method not allowed", 409: "Conflict", 413: "Too large", 415: "Unsupported media type",
          422: "Invalid field", 423: "Locked", 500: "Server error"}


def _describe(exc: Exception) -> tuple[int, str, str, str | None, list[dict[str, Any]]]:
    if isinstance(exc, GmpError):
        field = getattr(exc, "field", None) or FIELD_OF.get(type(exc).__name__)
        fields = list(getattr(exc, "fields", None) or [])
        if not fields and field:
            fields = [{"field": field, "message": str(exc)}]
        return exc.http_status, type(exc).__name__, str(exc), field, fields
    if isinstance(exc, HTTPException):
        status = exc.code or 500
        message = {404: "there is no API operation at this address",
                   405: f"this address does not accept {request.method}"}.get(status, exc.description or exc.name)
        field = HTTP_FIELD.get(status)
        return status, type(exc).__name__, message, field, ([{"field": field, "message": message}] if field else [])
    reference = secrets.token_hex(4)
    log.exception("unexpected API error %s on %s %s", reference, request.method, request.path)
    return 500, "InternalError", f"an unexpected error occurred (reference {reference}); nothing was saved", None, []


def api_answer(exc: Exception) -> tuple[Response, int]:
    status, error, message, field, fields = _describe(exc)
    body: dict[str, Any] = {"error": error, "status": status,
                            "title": TITLES.get(status, TITLES[400 if status < 500 else 500]),
                            "message": message, "field": field, "fields": fields}
    if error == "InternalError":
        body["reference"] = message.split("reference ")[1].split(")")[0]
    ack = refuse(status, body)
    if ack is not None:
        body["acknowledgement"] = ack
    response = jsonify(body)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="gmp-api"'
    if ack is not None:
        response.headers["X-Acknowledgement-Id"] = ack["ack_id"]
    return response, status
