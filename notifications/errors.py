"""Errors of the notification package."""
from __future__ import annotations

from core.errors import GmpError


class NotificationError(GmpError):
    """Root of the notification errors."""


class EmailDeliveryFailed(NotificationError):
    """The SMTP server could not be reached or refused a message; undelivered rows stay queued."""


class AddressBookInvalid(NotificationError):
    """The address book file is not a JSON object of user id -> e-mail address."""
