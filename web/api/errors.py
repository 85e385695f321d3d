"""Errors of the API for other systems. Each names the field (body pointer, parameter or
header) that was wrong, so a calling system can tell exactly what to fix.

No Flask here: the services (accounts, tokens, exchange checks) raise these; the API
blueprint turns every error into a JSON answer (`web.api.answers`).
"""
from __future__ import annotations

from typing import Any, Sequence

from core.errors import GmpError


class ApiError(GmpError):
    """Root of the API's own errors. `field` names what was wrong, `fields` lists every problem."""

    http_status = 400

    def __init__(self, message: str, field: str | None = None,
                 fields: Sequence[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.field = field if field is not None else (fields[0]["field"] if fields else None)
        self.fields = list(fields) if fields else ([{"field": field, "message": message}] if field else [])


class TokenRefused(ApiError):
    """No bearer token, a malformed, unknown, expired or revoked one, or an inactive account."""

    http_status = 401


class ScopeRefused(ApiError):
    """The token does not carry the scope the operation needs."""

    http_status = 403


class BodyMalformed(ApiError):
    """The body is not JSON, or its checksum header is missing or does not match (Annex 11 §5)."""

    http_status = 400


class UnsupportedMediaType(ApiError):
    http_status = 415


class BodyInvalid(ApiError):
    """The body or a parameter does not match the operation's schema."""

    http_status = 422


class ApiNotFound(ApiError):
    http_status = 404


class ApiConflict(ApiError):
    http_status = 409


class AccountError(ApiError):
    """A system account or token request that cannot be carried out (bad name, unknown scope, ...)."""

    http_status = 422


class UnknownAccount(AccountError):
    http_status = 404


class AccountStateError(AccountError):
    http_status = 409
