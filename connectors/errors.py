"""Errors of the equipment connectors. `ConnectorError` is the package root."""
from __future__ import annotations

from core.errors import GmpError


class ConnectorError(GmpError):
    """Root of every error raised by connectors/."""


class DeviceUnavailable(ConnectorError):
    """The device did not answer in time or the connection is lost. Names tag and endpoint."""

    http_status = 503


class DeviceError(ConnectorError):
    """The device answered with an error (Modbus exception, bad OPC UA status)."""

    http_status = 502


class UnregisteredTag(ConnectorError):
    """The tag name is not in the effective registry (P11-10h)."""

    http_status = 403


class TagAccessDenied(ConnectorError):
    """The tag is read-only, or the action is not allowed on it."""

    http_status = 403


class SetpointOutOfRange(ConnectorError):
    """A set-point lies outside the tag's allowed range."""

    http_status = 422


class SetpointNotAuthorised(ConnectorError):
    """No valid electronic signature over exactly {tag, value, instance, task}."""

    http_status = 403


class ReadbackMismatch(ConnectorError):
    """The value read back after a write differs from the value written."""

    http_status = 502


class ReadbackFailed(ReadbackMismatch):
    """The value was sent but could not be read back (timeout, connection lost): the write is
    unconfirmed."""


class SetpointUnconfirmed(ConnectorError):
    """A write was requested (and maybe sent) but its outcome was never recorded, e.g. the
    scheduler stopped between sending and read-back."""

    http_status = 409


class RegistryError(ConnectorError):
    """A tag definition file or a registry revision is invalid."""

    http_status = 422


class RevisionStateError(ConnectorError):
    """A registry revision cannot make this transition (already decided, self-approval...)."""

    http_status = 409


class SimulatorError(ConnectorError):
    """The plant simulator or its control channel refused a command."""


class ApprovalNotPermitted(ConnectorError):
    """The user may not approve this registry revision (the importer, or not QA)."""

    http_status = 403
