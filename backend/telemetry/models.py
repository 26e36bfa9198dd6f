"""Telemetry tables: gateway devices, their sources' batteries, samples, aggregates, state.

`telemetry_sample` is range-partitioned by month on `measured_at` in PostgreSQL (migration
0005 creates it with raw SQL; the metadata here is the plain SQLite shape). A partitioned
table can only enforce uniqueness over keys that contain the partition column, so the
de-duplication key (device_id, sequence) lives in its own small table, `telemetry_sequence`,
and samples are inserted only for the pairs that table newly accepted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Index
from sqlmodel import Field, SQLModel

from backend.kit.models import json_column, timestamp_column, utcnow


class TelemetryDevice(SQLModel, table=True):
    """A gateway: its did:key is its id and its key. Rotation creates a successor row."""

    __tablename__ = "telemetry_device"

    id: str = Field(primary_key=True, max_length=120)  # did:key:z6Mk…
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    label: str | None = Field(default=None, max_length=200)
    status: str = Field(default="active", max_length=20)  # active | rotated | revoked
    predecessor_id: str | None = Field(default=None, max_length=120)
    successor_id: str | None = Field(default=None, max_length=120)
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    retired_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    # Sequences at or below this were compacted away: a resend of them is a DUPLICATE.
    dedupe_floor: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))


class TelemetrySource(SQLModel, table=True):
    """Which battery a gateway's source (the `sourceId` of its samples) reads."""

    __tablename__ = "telemetry_source"

    device_id: str = Field(primary_key=True, foreign_key="telemetry_device.id", max_length=120)
    source_id: str = Field(primary_key=True, max_length=120)
    battery_id: str = Field(foreign_key="battery.id", index=True, max_length=36)


class TelemetrySequence(SQLModel, table=True):
    """De-duplication keys: one row per accepted (device, sequence)."""

    __tablename__ = "telemetry_sequence"

    device_id: str = Field(primary_key=True, max_length=120)
    sequence: int = Field(sa_column=Column(BigInteger, primary_key=True))


class TelemetrySample(SQLModel, table=True):
    """A raw sample, kept `BPP_TELEMETRY_RAW_DAYS` days."""

    __tablename__ = "telemetry_sample"
    __table_args__ = (Index("ix_telemetry_sample_battery_time", "battery_id", "measured_at"),)

    device_id: str = Field(primary_key=True, max_length=120)
    sequence: int = Field(sa_column=Column(BigInteger, primary_key=True))
    measured_at: datetime = Field(sa_column=Column(DateTime(timezone=True), primary_key=True))
    received_at: datetime = Field(sa_column=timestamp_column())
    battery_id: str | None = Field(default=None, max_length=36)
    source_id: str = Field(max_length=120)
    source_sequence: int = Field(sa_column=Column(BigInteger, nullable=False))
    soc_pct: float | None = None
    pack_voltage_v: float | None = None
    pack_current_a: float | None = None
    temperature_max_c: float | None = None
    measurements: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())
    # Everything else of the sample as sent: address, adapter, profile, raw frames, errors,
    # clocks (kept for audits of a decoded value).
    envelope: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())


class TelemetryHourly(SQLModel, table=True):
    """Downsampled hour of one battery, kept for the battery's life."""

    __tablename__ = "telemetry_hourly"

    battery_id: str = Field(primary_key=True, max_length=36)
    hour: datetime = Field(sa_column=Column(DateTime(timezone=True), primary_key=True))
    samples: int
    soc_min: float | None = None
    soc_max: float | None = None
    soc_mean: float | None = None
    voltage_min: float | None = None
    voltage_max: float | None = None
    current_min: float | None = None
    current_max: float | None = None
    temperature_min: float | None = None
    temperature_max: float | None = None


class TelemetryState(SQLModel, table=True):
    """What the passport needs from telemetry, kept up to date at ingest."""

    __tablename__ = "telemetry_state"

    battery_id: str = Field(primary_key=True, foreign_key="battery.id", max_length=36)
    measured_at: datetime = Field(sa_column=timestamp_column())
    device_id: str = Field(max_length=120)
    sequence: int = Field(sa_column=Column(BigInteger, nullable=False))
    measurements: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())
    samples: int = 0
    soc_histogram: list[int] = Field(default_factory=list, sa_column=json_column())
    temperature_histogram: list[int] = Field(default_factory=list, sa_column=json_column())
    # Charge throughput: from the battery's own cumulative counter when it has one, else the
    # integral of the charging current between consecutive samples.
    first_cumulative_charged_ah: float | None = None
    max_cumulative_charged_ah: float | None = None
    integrated_charged_ah: float = 0.0
    deep_discharge_events: int = 0
    overcharge_events: int = 0
    in_deep_discharge: bool = False
    in_overcharge: bool = False
    updated_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())


class TelemetryEvent(SQLModel, table=True):
    """A deep-discharge or overcharge episode (its first sample)."""

    __tablename__ = "telemetry_event"

    id: int | None = Field(default=None, primary_key=True)
    battery_id: str = Field(foreign_key="battery.id", index=True, max_length=36)
    kind: str = Field(max_length=20)  # deep_discharge | overcharge
    occurred_at: datetime = Field(sa_column=timestamp_column())
    device_id: str = Field(max_length=120)
    sequence: int = Field(sa_column=Column(BigInteger, nullable=False))
    value: float
    detail: str = Field(max_length=200)
