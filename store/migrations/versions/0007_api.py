"""API for other systems: system accounts, their system roles, bearer tokens, acknowledgements.

Revision ID: 0007_api
Revises: 0006_web
"""
import sqlalchemy as sa
from alembic import op

from store.sqlguards import append_only

revision = "0007_api"
down_revision = "0006_web"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_system_account",
        sa.Column("account_id", sa.String(length=48), nullable=False),
        sa.Column("printed_name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.String(length=27), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("deactivated_at", sa.String(length=27), nullable=True),
        sa.Column("deactivated_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_api_system_account")),
    )
    op.create_table(
        "api_system_account_role",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=48), nullable=False),
        sa.Column("role", sa.String(length=64), nullable=False),
        sa.Column("granted_at", sa.String(length=27), nullable=False),
        sa.Column("granted_by", sa.String(length=64), nullable=False),
        sa.Column("revoked_at", sa.String(length=27), nullable=True),
        sa.Column("revoked_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["api_system_account.account_id"],
                                name=op.f("fk_api_system_account_role_account_id_api_system_account")),
        sa.ForeignKeyConstraint(["role"], ["role.name"], name=op.f("fk_api_system_account_role_role_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_system_account_role")),
    )
    op.create_index(op.f("ix_api_system_account_role_account_id"), "api_system_account_role", ["account_id"])
    op.create_table(
        "api_token",
        sa.Column("token_id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=48), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.String(length=27), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.String(length=27), nullable=False),
        sa.Column("revoked_at", sa.String(length=27), nullable=True),
        sa.Column("revoked_by", sa.String(length=64), nullable=True),
        sa.Column("revoke_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["api_system_account.account_id"],
                                name=op.f("fk_api_token_account_id_api_system_account")),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_api_token")),
    )
    op.create_index(op.f("ix_api_token_account_id"), "api_token", ["account_id"])
    op.create_table(
        "api_acknowledgement",
        sa.Column("ack_id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=48), nullable=False),
        sa.Column("token_id", sa.String(length=32), nullable=False),
        sa.Column("operation", sa.String(length=100), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("client_reference", sa.String(length=200), nullable=True),
        sa.Column("received_at", sa.String(length=27), nullable=False),
        sa.Column("request_sha256", sa.String(length=64), nullable=True),
        sa.Column("request_bytes", sa.Integer(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("result_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("ack_id", name=op.f("pk_api_acknowledgement")),
    )
    op.create_index(op.f("ix_api_acknowledgement_account_id"), "api_acknowledgement", ["account_id"])
    op.create_index(op.f("ix_api_acknowledgement_client_reference"), "api_acknowledgement", ["client_reference"])
    append_only("api_acknowledgement")


def downgrade() -> None:
    raise RuntimeError("GMP data is never dropped: restore a backup instead")
