"""persisted GraphQL queries (the mobile apps' allow-list)

Revision ID: 0006_persisted_queries
Revises: 0005_telemetry
Create Date: 2026-11-26 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_persisted_queries"
down_revision: str | None = "0005_telemetry"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "persisted_query",
        sa.Column("sha256", sa.String(length=64), primary_key=True),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("persisted_query")
