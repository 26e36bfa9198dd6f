"""chain: outbox fee bumps, receipts, reorgs; issuers' chain accounts; 64-bit chain ids

Revision ID: 0002_chain
Revises: 0001
Create Date: 2026-11-26 00:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_chain"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "chain_issuer_account",
        sa.Column("did", sa.String(length=300), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("key_name", sa.String(length=80), nullable=False),
        sa.Column("delegate", sa.String(length=42), nullable=False),
        sa.Column("delegate_expires_at", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("did"),
    )
    with op.batch_alter_table("chain_issuer_account", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_chain_issuer_account_address"), ["address"], unique=True
        )

    with op.batch_alter_table("chain_deployment", schema=None) as batch_op:
        # Chain ids exceed 32 bits (eth-tester's is 131277322940537).
        batch_op.alter_column(
            "chain_id", existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=False
        )

    with op.batch_alter_table("chain_transaction", schema=None) as batch_op:
        # Existing rows get an empty hash list and no reorgs.
        batch_op.add_column(
            sa.Column("tried_hashes", sa.JSON(), nullable=False, server_default="[]")
        )
        batch_op.add_column(sa.Column("gas_limit", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("max_fee_per_gas", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("max_priority_fee_per_gas", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("reorgs", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("block_hash", sa.String(length=66), nullable=True))
        batch_op.add_column(sa.Column("gas_used", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("effective_gas_price", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("error_code", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("mined_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("chain_transaction", schema=None) as batch_op:
        for column in (
            "mined_at",
            "error_code",
            "effective_gas_price",
            "gas_used",
            "block_hash",
            "reorgs",
            "max_priority_fee_per_gas",
            "max_fee_per_gas",
            "gas_limit",
            "tried_hashes",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("chain_deployment", schema=None) as batch_op:
        batch_op.alter_column(
            "chain_id", existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=False
        )
    with op.batch_alter_table("chain_issuer_account", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chain_issuer_account_address"))
    op.drop_table("chain_issuer_account")
