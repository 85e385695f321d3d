"""The error root of the product. Every package derives its own root from GmpError.

The web layer turns a GmpError into a clear message in one place; `http_status`
says how it is answered there.
"""
from __future__ import annotations


class GmpError(Exception):
    """Root of every expected, user-facing error."""

    http_status = 400

    def __init__(self, message: str, **context: object) -> None:
        super().__init__(message)
        self.message = message
        self.context = context

    def __str__(self) -> str:
        return self.message


class NotFound(GmpError):
    http_status = 404


class PermissionDenied(GmpError):
    http_status = 403


class Conflict(GmpError):
    http_status = 409


class ValidationError(GmpError):
    http_status = 422
