"""Vehicles and battery installations."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from backend.kit.models import timestamp_column, utcnow


class Vehicle(SQLModel, table=True):
    __tablename__ = "vehicle"

    id: str = Field(primary_key=True, max_length=36)
    vin: str = Field(unique=True, index=True, max_length=17)
    plate: str | None = Field(default=None, index=True, max_length=20)
    # A driver id from backend.auth, kept opaque here.
    owner_id: str | None = Field(default=None, index=True, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())


class Installation(SQLModel, table=True):
    """A battery sitting in a vehicle from `installed_at` until `removed_at` (open = now)."""

    __tablename__ = "installation"

    id: int | None = Field(default=None, primary_key=True)
    vehicle_id: str = Field(foreign_key="vehicle.id", index=True)
    battery_id: str = Field(foreign_key="battery.id", index=True)
    installed_at: datetime = Field(sa_column=timestamp_column())
    removed_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    removal_reason: str | None = Field(default=None, max_length=20)  # removed | swapped
