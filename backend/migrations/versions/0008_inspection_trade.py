"""inspections, credential shares and ownership transfer offers

Revision ID: 0008_inspection_trade
Revises: 0007_safety
Create Date: 2026-12-05 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_inspection_trade"
down_revision: str | None = "0007_safety"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, *, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "inspection",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("battery_id", sa.String(length=36), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("inspector_did", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("site", sa.String(length=200), nullable=True),
        sa.Column("read", sa.JSON(), nullable=True),
        sa.Column("capacity_test", sa.JSON(), nullable=True),
        sa.Column("pulse_test", sa.JSON(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("grade", sa.String(length=20), nullable=True),
        sa.Column("credential_id", sa.String(length=500), nullable=True),
        sa.Column("sd_jwt_credential_id", sa.String(length=500), nullable=True),
        sa.Column("event_id", sa.String(length=45), nullable=True),
        _ts("opened_at"),
        _ts("read_at", nullable=True),
        _ts("completed_at", nullable=True),
        sa.ForeignKeyConstraint(["battery_id"], ["battery.id"]),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisation.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_inspection_battery_id", "inspection", ["battery_id"])
    op.create_index("ix_inspection_organisation_id", "inspection", ["organisation_id"])
    op.create_index("ix_inspection_status", "inspection", ["status"])
    op.create_table(
        "credential_share",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("battery_id", sa.String(length=36), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("disclose", sa.JSON(), nullable=False),
        sa.Column("inspection_id", sa.String(length=36), nullable=True),
        _ts("expires_at"),
        _ts("revoked_at", nullable=True),
        sa.Column("views", sa.Integer(), nullable=False),
        _ts("created_at"),
        sa.ForeignKeyConstraint(["battery_id"], ["battery.id"]),
        sa.ForeignKeyConstraint(["inspection_id"], ["inspection.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_credential_share_token_hash", "credential_share", ["token_hash"], unique=True
    )
    op.create_index("ix_credential_share_battery_id", "credential_share", ["battery_id"])
    op.create_table(
        "transfer_offer",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("battery_id", sa.String(length=36), nullable=False),
        sa.Column("seller", sa.String(length=120), nullable=False),
        sa.Column("seller_owner_id", sa.String(length=300), nullable=True),
        sa.Column("buyer", sa.String(length=120), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("event_id", sa.String(length=45), nullable=True),
        _ts("expires_at"),
        _ts("offered_at"),
        _ts("accepted_at", nullable=True),
        sa.ForeignKeyConstraint(["battery_id"], ["battery.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_transfer_offer_code_hash", "transfer_offer", ["code_hash"], unique=True)
    op.create_index("ix_transfer_offer_battery_id", "transfer_offer", ["battery_id"])
    op.create_index("ix_transfer_offer_status", "transfer_offer", ["status"])


def downgrade() -> None:
    op.drop_index("ix_transfer_offer_status", table_name="transfer_offer")
    op.drop_index("ix_transfer_offer_battery_id", table_name="transfer_offer")
    op.drop_index("ix_transfer_offer_code_hash", table_name="transfer_offer")
    op.drop_table("transfer_offer")
    op.drop_index("ix_credential_share_battery_id", table_name="credential_share")
    op.drop_index("ix_credential_share_token_hash", table_name="credential_share")
    op.drop_table("credential_share")
    op.drop_index("ix_inspection_status", table_name="inspection")
    op.drop_index("ix_inspection_organisation_id", table_name="inspection")
    op.drop_index("ix_inspection_battery_id", table_name="inspection")
    op.drop_table("inspection")
