"""telemetry: gateway devices, source bindings, samples (monthly partitions on PostgreSQL),
de-duplication keys, hourly aggregates, derived state and events

Revision ID: 0005_telemetry
Revises: 0004_domain
Create Date: 2026-11-26 03:50:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0005_telemetry"
down_revision: str | None = "0004_domain"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Partitions created with the table: last month to two months ahead; the compaction job
# (backend.telemetry.compaction.ensure_partitions) keeps creating the months ahead.
MONTHS_AROUND = (-1, 0, 1, 2)

_PG_SAMPLE = """
CREATE TABLE telemetry_sample (
    device_id VARCHAR(120) NOT NULL,
    sequence BIGINT NOT NULL,
    measured_at TIMESTAMP WITH TIME ZONE NOT NULL,
    received_at TIMESTAMP WITH TIME ZONE NOT NULL,
    battery_id VARCHAR(36),
    source_id VARCHAR(120) NOT NULL,
    source_sequence BIGINT NOT NULL,
    soc_pct FLOAT,
    pack_voltage_v FLOAT,
    pack_current_a FLOAT,
    temperature_max_c FLOAT,
    measurements JSON NOT NULL,
    envelope JSON NOT NULL,
    PRIMARY KEY (device_id, sequence, measured_at)
) PARTITION BY RANGE (measured_at)
"""


def _month(shift: int) -> datetime:
    now = datetime.now(UTC)
    index = now.year * 12 + now.month - 1 + shift
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def _create_samples() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.create_table(
            "telemetry_sample",
            sa.Column("device_id", sa.String(length=120), nullable=False),
            sa.Column("sequence", sa.BigInteger(), nullable=False),
            sa.Column("measured_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("battery_id", sa.String(length=36), nullable=True),
            sa.Column("source_id", sa.String(length=120), nullable=False),
            sa.Column("source_sequence", sa.BigInteger(), nullable=False),
            sa.Column("soc_pct", sa.Float(), nullable=True),
            sa.Column("pack_voltage_v", sa.Float(), nullable=True),
            sa.Column("pack_current_a", sa.Float(), nullable=True),
            sa.Column("temperature_max_c", sa.Float(), nullable=True),
            sa.Column("measurements", sa.JSON(), nullable=False),
            sa.Column("envelope", sa.JSON(), nullable=False),
            sa.PrimaryKeyConstraint("device_id", "sequence", "measured_at"),
        )
        op.create_index(
            "ix_telemetry_sample_battery_time",
            "telemetry_sample",
            ["battery_id", "measured_at"],
            unique=False,
        )
        return
    op.execute(_PG_SAMPLE)
    op.execute("CREATE TABLE telemetry_sample_default PARTITION OF telemetry_sample DEFAULT")
    for shift in MONTHS_AROUND:
        start, end = _month(shift), _month(shift + 1)
        op.execute(
            f"CREATE TABLE telemetry_sample_{start:%Y%m} PARTITION OF telemetry_sample "
            f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
        )
    op.execute(
        "CREATE INDEX ix_telemetry_sample_battery_time "
        "ON telemetry_sample (battery_id, measured_at)"
    )


def upgrade() -> None:
    op.create_table(
        "telemetry_hourly",
        sa.Column("battery_id", sa.String(length=36), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("soc_min", sa.Float(), nullable=True),
        sa.Column("soc_max", sa.Float(), nullable=True),
        sa.Column("soc_mean", sa.Float(), nullable=True),
        sa.Column("voltage_min", sa.Float(), nullable=True),
        sa.Column("voltage_max", sa.Float(), nullable=True),
        sa.Column("current_min", sa.Float(), nullable=True),
        sa.Column("current_max", sa.Float(), nullable=True),
        sa.Column("temperature_min", sa.Float(), nullable=True),
        sa.Column("temperature_max", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("battery_id", "hour"),
    )
    op.create_table(
        "telemetry_sequence",
        sa.Column("device_id", sa.String(length=120), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("device_id", "sequence"),
    )
    op.create_table(
        "telemetry_device",
        sa.Column("id", sa.String(length=120), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("predecessor_id", sa.String(length=120), nullable=True),
        sa.Column("successor_id", sa.String(length=120), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dedupe_floor", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_telemetry_device_organisation_id"),
        "telemetry_device",
        ["organisation_id"],
        unique=False,
    )
    op.create_table(
        "telemetry_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("battery_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("device_id", sa.String(length=120), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("detail", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["battery_id"],
            ["battery.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_telemetry_event_battery_id"), "telemetry_event", ["battery_id"], unique=False
    )
    op.create_table(
        "telemetry_source",
        sa.Column("device_id", sa.String(length=120), nullable=False),
        sa.Column("source_id", sa.String(length=120), nullable=False),
        sa.Column("battery_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["battery_id"],
            ["battery.id"],
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["telemetry_device.id"],
        ),
        sa.PrimaryKeyConstraint("device_id", "source_id"),
    )
    op.create_index(
        op.f("ix_telemetry_source_battery_id"), "telemetry_source", ["battery_id"], unique=False
    )
    op.create_table(
        "telemetry_state",
        sa.Column("battery_id", sa.String(length=36), nullable=False),
        sa.Column("measured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("device_id", sa.String(length=120), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("measurements", sa.JSON(), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("soc_histogram", sa.JSON(), nullable=False),
        sa.Column("temperature_histogram", sa.JSON(), nullable=False),
        sa.Column("first_cumulative_charged_ah", sa.Float(), nullable=True),
        sa.Column("max_cumulative_charged_ah", sa.Float(), nullable=True),
        sa.Column("integrated_charged_ah", sa.Float(), nullable=False),
        sa.Column("deep_discharge_events", sa.Integer(), nullable=False),
        sa.Column("overcharge_events", sa.Integer(), nullable=False),
        sa.Column("in_deep_discharge", sa.Boolean(), nullable=False),
        sa.Column("in_overcharge", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["battery_id"],
            ["battery.id"],
        ),
        sa.PrimaryKeyConstraint("battery_id"),
    )
    _create_samples()


def downgrade() -> None:
    for table in (
        "telemetry_state",
        "telemetry_source",
        "telemetry_event",
        "telemetry_device",
        "telemetry_sequence",
        "telemetry_sample",
        "telemetry_hourly",
    ):
        op.drop_table(table)
