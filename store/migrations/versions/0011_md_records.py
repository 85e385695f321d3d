"""Operational master data records: lots and their QC status, equipment logbook,
calibrations, qualifications and their revocation (signed, append-only).

Revision ID: 0011_md_records
Revises: 0010_tag_registry_changes
"""
import sqlalchemy as sa
from alembic import op

from store.sqlguards import append_only

revision = "0011_md_records"
down_revision = "0010_tag_registry_changes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "md_calibration",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instrument", sa.String(length=200), nullable=False),
        sa.Column("instrument_revision", sa.Integer(), nullable=False),
        sa.Column("calibrated_on", sa.String(length=10), nullable=False),
        sa.Column("result", sa.String(length=20), nullable=False),
        sa.Column("due_on", sa.String(length=10), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("certificate", sa.String(length=200), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.String(length=27), nullable=False),
        sa.Column("signature_id", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_md_calibration"))
    )
    with op.batch_alter_table("md_calibration", schema=None) as batch_op:
        batch_op.create_index("ix_md_calibration_instrument_id", ["instrument", "id"], unique=False)

    op.create_table(
        "md_equipment_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("equipment", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("previous_status", sa.String(length=20), nullable=True),
        sa.Column("instance_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("entered_by", sa.String(length=64), nullable=False),
        sa.Column("entered_at", sa.String(length=27), nullable=False),
        sa.Column("signature_id", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_md_equipment_log"))
    )
    with op.batch_alter_table("md_equipment_log", schema=None) as batch_op:
        batch_op.create_index("ix_md_equipment_log_equipment_id", ["equipment", "id"], unique=False)

    op.create_table(
        "md_lot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lot", sa.String(length=64), nullable=False),
        sa.Column("material", sa.String(length=200), nullable=False),
        sa.Column("material_revision", sa.Integer(), nullable=False),
        sa.Column("supplier", sa.String(length=200), nullable=False),
        sa.Column("supplier_revision", sa.Integer(), nullable=False),
        sa.Column("supplier_lot", sa.String(length=100), nullable=True),
        sa.Column("quantity", sa.String(length=40), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("expiry", sa.String(length=10), nullable=False),
        sa.Column("received_by", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.String(length=27), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("signature_id", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_md_lot")),
        sa.UniqueConstraint("lot", name=op.f("uq_md_lot_lot"))
    )
    with op.batch_alter_table("md_lot", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_md_lot_material"), ["material"], unique=False)
        batch_op.create_index(batch_op.f("ix_md_lot_supplier"), ["supplier"], unique=False)

    op.create_table(
        "md_lot_status",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lot", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("previous_status", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("changed_by", sa.String(length=64), nullable=False),
        sa.Column("changed_at", sa.String(length=27), nullable=False),
        sa.Column("signature_id", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_md_lot_status"))
    )
    with op.batch_alter_table("md_lot_status", schema=None) as batch_op:
        batch_op.create_index("ix_md_lot_status_lot_id", ["lot", "id"], unique=False)

    op.create_table(
        "md_qualification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("sop", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("granted_on", sa.String(length=10), nullable=False),
        sa.Column("valid_until", sa.String(length=10), nullable=True),
        sa.Column("basis", sa.Text(), nullable=False),
        sa.Column("granted_by", sa.String(length=64), nullable=False),
        sa.Column("granted_at", sa.String(length=27), nullable=False),
        sa.Column("signature_id", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_md_qualification"))
    )
    with op.batch_alter_table("md_qualification", schema=None) as batch_op:
        batch_op.create_index("ix_md_qualification_user_sop", ["user_id", "sop"], unique=False)

    op.create_table(
        "md_qualification_revocation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("qualification_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("revoked_by", sa.String(length=64), nullable=False),
        sa.Column("revoked_at", sa.String(length=27), nullable=False),
        sa.Column("signature_id", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["qualification_id"], ["md_qualification.id"],
                                name=op.f("fk_md_qualification_revocation_qualification_id_md_qualification")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_md_qualification_revocation")),
        sa.UniqueConstraint("qualification_id", name=op.f("uq_md_qualification_revocation_qualification_id"))
    )
    for table in ("md_lot", "md_lot_status", "md_equipment_log", "md_calibration", "md_qualification",
                  "md_qualification_revocation"):
        append_only(table)


def downgrade() -> None:
    raise RuntimeError("GMP data is never dropped: restore a backup instead")
