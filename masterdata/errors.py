"""Errors of master data and its change control. `ChangeError` is the package root."""
from __future__ import annotations

from core.errors import GmpError


class ChangeError(GmpError):
    """Root of every master data / change-control error."""


class UnknownKind(ChangeError):
    """No kind of that name is in the catalogue."""

    http_status = 404


class ChangeNotFound(ChangeError):
    http_status = 404


class ChangeInvalid(ChangeError):
    """The data of a draft does not satisfy its kind; `errors` lists (field, message) pairs."""

    http_status = 422

    def __init__(self, message: str, errors: list[tuple[str, str]] | None = None, *, row: int | None = None) -> None:
        super().__init__(message)
        self.errors = list(errors or [])
        self.row = row


class ChangeStateError(ChangeError):
    """The change or the item is not in a state that allows the step (approve a non-draft, ...)."""

    http_status = 409


class ChangeNotPermitted(ChangeError):
    """The person may not take this step (self-approval, a missing role)."""

    http_status = 403


class RulesInvalid(ChangeError):
    """The change-control role rules file is wrong."""

    http_status = 500


# ---------------------------------------------------------------- operational records (lots, logbook, ...)
class RecordInvalid(ChangeError):
    """An operational record (lot, logbook entry, calibration, qualification) is not valid;
    `errors` lists (field, message) pairs."""

    http_status = 422

    def __init__(self, message: str, errors: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.errors = list(errors or [])


class RecordNotFound(ChangeError):
    http_status = 404


class RecordStateError(ChangeError):
    """The record does not fit the current state (release a rejected lot, release dirty equipment)."""

    http_status = 409


class RecordNotPermitted(ChangeError):
    """The person may not make this record (a missing role, signing for someone else)."""

    http_status = 403
