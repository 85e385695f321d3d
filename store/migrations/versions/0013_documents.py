"""Controlled documents: content files of document versions and controlled copies
(issued, and their return or destruction). New append-only tables; no existing row changes.

Revision ID: 0013_documents
Revises: 0012_business_keys_links
"""
import sqlalchemy as sa
from alembic import op

from store.sqlguards import append_only

revision = "0013_documents"
down_revision = "0012_business_keys_links"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "doc_content",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_code", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=True),
        sa.Column("file_name", sa.String(length=200), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=64), nullable=False),
        sa.Column("uploaded_at", sa.String(length=27), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_doc_content")),
    )
    op.create_index("ix_doc_content_code_version", "doc_content", ["document_code", "version"])
    append_only("doc_content")
    op.create_table(
        "doc_copy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("copy_number", sa.String(length=100), nullable=False),
        sa.Column("document_code", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("recipient", sa.String(length=200), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=True),
        sa.Column("instance_id", sa.Integer(), nullable=True),
        sa.Column("issued_by", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.String(length=27), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.Column("pdf_sha256", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_doc_copy")),
        sa.UniqueConstraint("copy_number", name=op.f("uq_doc_copy_copy_number")),
    )
    op.create_index("ix_doc_copy_code_version", "doc_copy", ["document_code", "version"])
    append_only("doc_copy")
    op.create_table(
        "doc_copy_closure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("copy_id", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("closed_by", sa.String(length=64), nullable=False),
        sa.Column("closed_at", sa.String(length=27), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["copy_id"], ["doc_copy.id"], name=op.f("fk_doc_copy_closure_copy_id_doc_copy")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_doc_copy_closure")),
        sa.UniqueConstraint("copy_id", name=op.f("uq_doc_copy_closure_copy_id")),
    )
    append_only("doc_copy_closure")


def downgrade() -> None:
    raise NotImplementedError("controlled document records are never dropped: restore a backup instead")
