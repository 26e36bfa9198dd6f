"""safety alerts and state, charging credentials and sessions, parking facilities

Revision ID: 0007_safety
Revises: 0006_persisted_queries
Create Date: 2026-12-05 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_safety"
down_revision: str | None = "0006_persisted_queries"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, *, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "safety_alert",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("battery_id", sa.String(length=36), nullable=False),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("severity", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        _ts("opened_at"),
        _ts("last_seen_at"),
        _ts("cleared_at", nullable=True),
        sa.Column("cleared_by", sa.String(length=300), nullable=True),
        sa.Column("clear_reason", sa.String(length=500), nullable=True),
        sa.Column("event_id", sa.String(length=45), nullable=True),
        sa.Column("clear_event_id", sa.String(length=45), nullable=True),
        _ts("created_at"),
        sa.ForeignKeyConstraint(["battery_id"], ["battery.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_safety_alert_battery_status", "safety_alert", ["battery_id", "status"], unique=False
    )
    op.create_table(
        "safety_state",
        sa.Column("battery_id", sa.String(length=36), nullable=False),
        sa.Column("memory", sa.JSON(), nullable=False),
        sa.Column("open_alerts", sa.Integer(), nullable=False),
        sa.Column("worst_severity", sa.String(length=20), nullable=True),
        _ts("last_reading_at", nullable=True),
        sa.Column("grade", sa.String(length=2), nullable=True),
        sa.Column("grade_reasons", sa.JSON(), nullable=False),
        _ts("graded_at", nullable=True),
        _ts("updated_at"),
        sa.ForeignKeyConstraint(["battery_id"], ["battery.id"]),
        sa.PrimaryKeyConstraint("battery_id"),
    )
    op.create_table(
        "charging_credential",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("issued_credential_id", sa.String(), nullable=False),
        sa.Column("credential_id", sa.String(length=500), nullable=False),
        sa.Column("battery_id", sa.String(length=36), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("charger_id", sa.String(length=120), nullable=False),
        sa.Column("underground", sa.Boolean(), nullable=False),
        sa.Column("max_soc_pct", sa.Float(), nullable=False),
        sa.Column("grade", sa.String(length=2), nullable=False),
        _ts("issued_at"),
        _ts("expires_at"),
        sa.Column("suspended", sa.Boolean(), nullable=False),
        _ts("suspended_at", nullable=True),
        sa.ForeignKeyConstraint(["battery_id"], ["battery.id"]),
        sa.ForeignKeyConstraint(["issued_credential_id"], ["issued_credential.id"]),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisation.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("issued_credential_id"),
    )
    op.create_index(
        op.f("ix_charging_credential_battery_id"),
        "charging_credential",
        ["battery_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_charging_credential_credential_id"),
        "charging_credential",
        ["credential_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_charging_credential_organisation_id"),
        "charging_credential",
        ["organisation_id"],
        unique=False,
    )
    op.create_table(
        "charging_session",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("charger_id", sa.String(length=120), nullable=False),
        sa.Column("transaction_id", sa.String(length=64), nullable=False),
        sa.Column("battery_id", sa.String(length=36), nullable=False),
        sa.Column("credential_id", sa.String(length=500), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        _ts("started_at"),
        _ts("stopped_at", nullable=True),
        sa.Column("energy_kwh", sa.Float(), nullable=True),
        sa.Column("soc_start_pct", sa.Float(), nullable=True),
        sa.Column("soc_end_pct", sa.Float(), nullable=True),
        sa.Column("peak_temperature_c", sa.Float(), nullable=True),
        sa.Column("stop_reason", sa.String(length=60), nullable=True),
        sa.Column("meter_values", sa.JSON(), nullable=False),
        sa.Column("start_event_id", sa.String(length=45), nullable=True),
        sa.Column("stop_event_id", sa.String(length=45), nullable=True),
        _ts("updated_at"),
        sa.ForeignKeyConstraint(["battery_id"], ["battery.id"]),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisation.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("organisation_id", "charger_id", "transaction_id"),
    )
    op.create_index(
        op.f("ix_charging_session_battery_id"), "charging_session", ["battery_id"], unique=False
    )
    op.create_index(
        op.f("ix_charging_session_organisation_id"),
        "charging_session",
        ["organisation_id"],
        unique=False,
    )
    op.create_table(
        "parking_facility",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("underground", sa.Boolean(), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        _ts("created_at"),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisation.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_parking_facility_organisation_id"),
        "parking_facility",
        ["organisation_id"],
        unique=False,
    )


def downgrade() -> None:
    for table in (
        "parking_facility",
        "charging_session",
        "charging_credential",
        "safety_state",
        "safety_alert",
    ):
        op.drop_table(table)
