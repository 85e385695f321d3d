"""Every API call is audited with the system account that made it, and every data exchange
sent to the server is acknowledged (Annex 11 §5).

`g.api` is the `ApiCall` of the request (set when its token is accepted). A write that
succeeds calls `acknowledge(uow, status, result)` inside its own unit of work, so the
change, its `api.call` audit entry and its acknowledgement (outcome `accepted`) commit
together. A refused call is recorded by `refuse()` in a fresh transaction (the request's
work rolled back): an `api.refused` audit entry and, for a write, an acknowledgement with
outcome `refused` and the error. Reads are recorded after the response (`record_read`).
"""
from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from flask import Response, g, request

from core import clock
from web.api.accounts import TokenHolder
from web.api.errors import BodyInvalid
from web.uow import database

READ_METHODS = {"GET", "HEAD", "OPTIONS"}
CLIENT_REFERENCE = "X-Request-Id"
_REFERENCE = re.compile(r"^[\x21-\x7e]{1,200}$")


@dataclass
class ApiCall:
    holder: TokenHolder
    operation: str
    method: str
    path: str
    received_at: str
    client_reference: str | None = None
    request_sha256: str | None = None
    request_bytes: int = 0
    recorded: bool = False
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def write(self) -> bool:
        return self.method not in READ_METHODS


def begin(holder: TokenHolder) -> ApiCall:
    reference = request.headers.get(CLIENT_REFERENCE)
    call = ApiCall(holder, request.endpoint or "", request.method, request.path[:500], clock.isoformat(clock.now()),
                   request_bytes=request.content_length or 0)
    g.api = call
    if reference is not None:
        if not _REFERENCE.match(reference):
            raise BodyInvalid(f"{CLIENT_REFERENCE} must be 1-200 visible ASCII characters", CLIENT_REFERENCE)
        call.client_reference = reference
    return call


def current() -> ApiCall | None:
    return g.get("api")


def _details(call: ApiCall, status: int) -> dict[str, Any]:
    details = {"method": call.method, "path": call.path, "operation": call.operation, "status": status,
               "token_id": call.holder.token_id}
    if request.query_string:
        details["query"] = request.query_string.decode("latin-1")[:500]
    if call.request_sha256:
        details["request_sha256"] = call.request_sha256
    if call.client_reference:
        details["client_reference"] = call.client_reference
    return details | call.details


def _ack_row(call: ApiCall, status: int, outcome: str, result: dict[str, Any]) -> Any:
    from web.api.models import Acknowledgement

    return Acknowledgement(ack_id=str(uuid.uuid4()), account_id=call.holder.account_id, token_id=call.holder.token_id,
                           operation=call.operation, method=call.method, path=call.path,
                           client_reference=call.client_reference, received_at=call.received_at,
                           request_sha256=call.request_sha256, request_bytes=call.request_bytes, status=status,
                           outcome=outcome, result_json=json.dumps(result, sort_keys=True, ensure_ascii=False, default=str))


def ack_document(row: Any) -> dict[str, Any]:
    return {"ack_id": row.ack_id, "operation": row.operation, "method": row.method, "path": row.path,
            "account_id": row.account_id, "token_id": row.token_id, "client_reference": row.client_reference,
            "received_at": row.received_at, "request_sha256": row.request_sha256, "request_bytes": row.request_bytes,
            "status": row.status, "outcome": row.outcome, "result": json.loads(row.result_json)}


def acknowledge(uow: Any, status: int, result: dict[str, Any]) -> dict[str, Any]:
    """Record an accepted write in the caller's unit of work; return its acknowledgement."""
    call = g.api
    row = _ack_row(call, status, "accepted", result)
    uow.session.add(row)
    uow.audit("api.call", "api_call", row.ack_id, actor=call.holder.actor, details=_details(call, status))
    call.recorded = True
    return ack_document(row)


def refuse(status: int, error: dict[str, Any]) -> dict[str, Any] | None:
    """Record a refused call (own transaction); return the acknowledgement of a refused write."""
    from store.uow import UnitOfWork

    call = current()
    if call is None or call.recorded:
        return None
    call.recorded = True
    ack = None
    with UnitOfWork(database(), call.holder.actor) as uow:
        object_id = call.path
        if call.write:
            row = _ack_row(call, status, "refused", {k: error.get(k) for k in ("error", "message", "field")})
            uow.session.add(row)
            uow.session.flush()
            ack, object_id = ack_document(row), row.ack_id
        uow.audit("api.refused", "api_call", object_id, reason=str(error.get("message", ""))[:2000],
                  details=_details(call, status) | {"error": error.get("error"), "field": error.get("field")})
        uow.commit()
    return ack


def record_read(response: Response) -> Response:
    """After the response: audit a read call that nothing recorded yet."""
    from store.uow import UnitOfWork

    call = current()
    if call is not None and not call.recorded:
        call.recorded = True
        with UnitOfWork(database(), call.holder.actor) as uow:
            uow.audit("api.call", "api_call", call.path, details=_details(call, response.status_code))
            uow.commit()
    return response
