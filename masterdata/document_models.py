"""Tables of controlled documents: the stored content files and the controlled copies.

- `doc_content`: a content file of one version of a document (code, version), as uploaded
  while the version was drafted, with its SHA-256. The version's content is its newest row;
  earlier rows stay (a revised draft uploads again).
- `doc_copy`: a controlled copy issued: a unique copy number, the version and content it
  reproduces, to whom and where, the PDF as issued (with its SHA-256).
- `doc_copy_closure`: the copy came back (returned) or was destroyed; at most one per copy
  (unique), so every copy is issued and then either outstanding or closed exactly once:
  issued = returned + destroyed + outstanding holds by construction.
Every row is append-only in the database; times are `core.clock.isoformat` text.
"""
from __future__ import annotations

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.base import Base

APPEND_ONLY_TABLES = ("doc_content", "doc_copy", "doc_copy_closure")


class DocContentRow(Base):
    __tablename__ = "doc_content"
    __table_args__ = (Index("ix_doc_content_code_version", "document_code", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_code: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    instance_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    file_name: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[str] = mapped_column(String(27))


class DocCopyRow(Base):
    __tablename__ = "doc_copy"
    __table_args__ = (Index("ix_doc_copy_code_version", "document_code", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    copy_number: Mapped[str] = mapped_column(String(100), unique=True)
    document_code: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    content_sha256: Mapped[str] = mapped_column(String(64))
    recipient: Mapped[str] = mapped_column(String(200))
    location: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str | None] = mapped_column(Text, nullable=True)
    instance_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    issued_by: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[str] = mapped_column(String(27))
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    pdf_sha256: Mapped[str] = mapped_column(String(64))


class DocCopyClosureRow(Base):
    __tablename__ = "doc_copy_closure"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    copy_id: Mapped[int] = mapped_column(ForeignKey("doc_copy.id"), unique=True)
    outcome: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text)
    closed_by: Mapped[str] = mapped_column(String(64))
    closed_at: Mapped[str] = mapped_column(String(27))
    instance_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
