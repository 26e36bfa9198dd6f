"""Charging tables: issued charging safety credentials and charging sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.kit.models import json_column, timestamp_column, utcnow


class ChargingCredential(SQLModel, table=True):
    """A short-lived `ChargingSafetyCredential` issued to a charger for one battery.

    Its status entry is on a `suspension` list: an open safety alert sets it, clearing the
    alert unsets it (while the credential is still valid)."""

    __tablename__ = "charging_credential"

    id: str = Field(primary_key=True, max_length=36)
    issued_credential_id: str = Field(foreign_key="issued_credential.id", unique=True)
    credential_id: str = Field(index=True, max_length=500)
    battery_id: str = Field(foreign_key="battery.id", index=True, max_length=36)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    charger_id: str = Field(max_length=120)
    underground: bool = False
    max_soc_pct: float
    grade: str = Field(max_length=2)
    issued_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    expires_at: datetime = Field(sa_column=timestamp_column())
    suspended: bool = False
    suspended_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))


class ChargingSession(SQLModel, table=True):
    """One charging session as a charger reports it (OCPP-style start, meter values, stop)."""

    __tablename__ = "charging_session"
    __table_args__ = (UniqueConstraint("organisation_id", "charger_id", "transaction_id"),)

    id: str = Field(primary_key=True, max_length=36)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    charger_id: str = Field(max_length=120)
    transaction_id: str = Field(max_length=64)
    battery_id: str = Field(foreign_key="battery.id", index=True, max_length=36)
    credential_id: str | None = Field(default=None, max_length=500)
    status: str = Field(default="charging", max_length=20)  # charging | completed
    started_at: datetime = Field(sa_column=timestamp_column())
    stopped_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    energy_kwh: float | None = None
    soc_start_pct: float | None = None
    soc_end_pct: float | None = None
    peak_temperature_c: float | None = None
    stop_reason: str | None = Field(default=None, max_length=60)
    # The OCPP-style sampled values as reported: [{measurand, value, unit, timestamp, …}].
    meter_values: list[dict[str, Any]] = Field(default_factory=list, sa_column=json_column())
    start_event_id: str | None = Field(default=None, max_length=45)
    stop_event_id: str | None = Field(default=None, max_length=45)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
