"""Identities, credentials and electronic signatures.

Revision ID: 0002_identities_signatures
Revises: 0001_foundation
"""
import sqlalchemy as sa
from alembic import op

from core import clock
from signatures.catalogue import SEED_ROLES
from store.sqlguards import append_only

revision = "0002_identities_signatures"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    role = op.create_table(
        "role",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("label_en", sa.String(200), nullable=False),
        sa.Column("label_zh", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_role")),
    )
    op.create_table(
        "user_account",
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("printed_name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(256), nullable=True),
        sa.Column("password_changed_at", TS, nullable=True),
        sa.Column("totp_secret", sa.String(64), nullable=True),
        sa.Column("totp_last_step", sa.BigInteger(), nullable=False),
        sa.Column("totp_checked_at", TS, nullable=True),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_at", TS, nullable=True),
        sa.Column("identity_verified_at", TS, nullable=True),
        sa.Column("identity_verified_by", sa.String(64), nullable=True),
        sa.Column("identity_verification_method", sa.Text(), nullable=True),
        sa.Column("deactivated_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_account")),
    )
    op.create_table(
        "user_role",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("granted_at", TS, nullable=False),
        sa.Column("granted_by", sa.String(64), nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.Column("revoked_by", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(["role"], ["role.name"], name=op.f("fk_user_role_role_role")),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.user_id"], name=op.f("fk_user_role_user_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_role")),
    )
    op.create_index(op.f("ix_user_role_user_id"), "user_role", ["user_id"])
    op.create_table(
        "password_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.user_id"],
                                name=op.f("fk_password_history_user_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_history")),
    )
    op.create_index(op.f("ix_password_history_user_id"), "password_history", ["user_id"])
    op.create_table(
        "enrolment",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("totp_secret", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("used_at", TS, nullable=True),
        sa.Column("revoked_at", TS, nullable=True),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.user_id"], name=op.f("fk_enrolment_user_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrolment")),
        sa.UniqueConstraint("secret_sha256", name=op.f("uq_enrolment_secret_sha256")),
    )
    op.create_index(op.f("ix_enrolment_user_id"), "enrolment", ["user_id"])
    op.create_table(
        "security_alert",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("acknowledged_at", TS, nullable=True),
        sa.Column("acknowledged_by", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_alert")),
    )
    op.create_index(op.f("ix_security_alert_created_at"), "security_alert", ["created_at"])
    op.create_table(
        "auth_session",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_activity_at", TS, nullable=False),
        sa.Column("signed_in_session", sa.Boolean(), nullable=False),
        sa.Column("client", sa.String(200), nullable=True),
        sa.Column("ended_at", TS, nullable=True),
        sa.Column("end_reason", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.user_id"],
                                name=op.f("fk_auth_session_user_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_session")),
    )
    op.create_index(op.f("ix_auth_session_user_id"), "auth_session", ["user_id"])
    op.create_table(
        "access_review",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("reviewed_at", TS, nullable=False),
        sa.Column("reviewer_id", sa.String(64), nullable=False),
        sa.Column("reviewer_name", sa.String(200), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("snapshot", sa.Text(), nullable=False),
        sa.Column("snapshot_sha256", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_review")),
    )
    op.create_table(
        "signing_key",
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("wrapped_private_key", sa.LargeBinary(), nullable=True),
        sa.Column("kdf", sa.Text(), nullable=False),
        sa.Column("salt", sa.LargeBinary(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("retired_at", TS, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.user_id"],
                                name=op.f("fk_signing_key_user_id_user_account")),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_signing_key")),
    )
    op.create_index(op.f("ix_signing_key_user_id"), "signing_key", ["user_id"])
    op.create_table(
        "accountability_statement",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("statement_en", sa.Text(), nullable=False),
        sa.Column("statement_zh", sa.Text(), nullable=False),
        sa.Column("signed_at", sa.String(27), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("message", sa.LargeBinary(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["key_id"], ["signing_key.key_id"],
                                name=op.f("fk_accountability_statement_key_id_signing_key")),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.user_id"],
                                name=op.f("fk_accountability_statement_user_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accountability_statement")),
    )
    op.create_index(op.f("ix_accountability_statement_user_id"), "accountability_statement", ["user_id"])
    head = op.create_table(
        "signature_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signature_head")),
    )
    op.create_table(
        "signature",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("record_type", sa.String(80), nullable=False),
        sa.Column("record_id", sa.String(200), nullable=False),
        sa.Column("record_version", sa.Integer(), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("signer_id", sa.String(64), nullable=False),
        sa.Column("printed_name", sa.String(200), nullable=False),
        sa.Column("meaning", sa.String(64), nullable=False),
        sa.Column("signed_at", sa.String(27), nullable=False),
        sa.Column("components", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("message", sa.LargeBinary(), nullable=False),
        sa.Column("signer_signature", sa.LargeBinary(), nullable=False),
        sa.Column("server_key_id", sa.String(32), nullable=False),
        sa.Column("server_public_key", sa.LargeBinary(), nullable=False),
        sa.Column("countersignature_message", sa.LargeBinary(), nullable=False),
        sa.Column("countersignature", sa.LargeBinary(), nullable=False),
        sa.Column("auth_session_id", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(["key_id"], ["signing_key.key_id"], name=op.f("fk_signature_key_id_signing_key")),
        sa.ForeignKeyConstraint(["signer_id"], ["user_account.user_id"],
                                name=op.f("fk_signature_signer_id_user_account")),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_signature")),
        sa.UniqueConstraint("record_type", "record_id", "record_version", "signer_id",
                            name="uq_signature_signer_per_record_version"),
    )
    op.create_index(op.f("ix_signature_signer_id"), "signature", ["signer_id"])

    now = clock.now()
    op.bulk_insert(role, [
        {"name": name, "kind": kind, "label_en": en, "label_zh": zh, "description": description,
         "created_at": now, "created_by": "system"}
        for name, (kind, en, zh, description) in SEED_ROLES.items()
    ])
    op.bulk_insert(head, [{"id": 1, "seq": 0}])
    for table in ("signature", "accountability_statement", "access_review", "password_history"):
        append_only(table)


def downgrade() -> None:
    raise RuntimeError("GMP data is never dropped: restore a backup instead")
