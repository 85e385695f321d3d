"""The notification queue's table.

Not GMP data. Times are canonical UTC text from `core.clock.isoformat`. Notifications are never
deleted; reading one sets `read_at`, e-mailing it sets `emailed_at`. The table keeps the name it
was released with (`web_notification`, revision 0006_web), when only the web application wrote it.
"""
from __future__ import annotations

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.base import Base


class Notification(Base):
    __tablename__ = "web_notification"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[str] = mapped_column(String(27), index=True)
    read_at: Mapped[str | None] = mapped_column(String(27), nullable=True)
    emailed_at: Mapped[str | None] = mapped_column(String(27), nullable=True)
