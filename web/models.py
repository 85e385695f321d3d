"""Tables of the web application: interface language per user, signed corrections of task values.

The notification queue (`web_notification`) is `notifications.models.Notification`.
Times are canonical UTC text from `core.clock.isoformat`.
"""
from __future__ import annotations

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.base import Base


class UserPreference(Base):
    __tablename__ = "web_user_preference"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    language: Mapped[str] = mapped_column(String(8))
    updated_at: Mapped[str] = mapped_column(String(27))


class FormCorrection(Base):
    """A signed correction of a submitted task value (CN-4): the original stays, this row adds the
    corrected value, the reason and the signature (meaning "corrected") of version `record_version`
    of the task record. Append-only in the database."""

    __tablename__ = "web_form_correction"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance_id: Mapped[int] = mapped_column(Integer, index=True)
    task_id: Mapped[str] = mapped_column(String(64), index=True)
    record_version: Mapped[int] = mapped_column(Integer)
    document: Mapped[str] = mapped_column(Text)
    correction: Mapped[str] = mapped_column(Text)
    signature_seq: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[str] = mapped_column(String(27))
