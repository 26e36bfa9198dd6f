from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from backend.kit.models import timestamp_column, utcnow


class Battery(SQLModel, table=True):
    __tablename__ = "battery"

    id: str = Field(primary_key=True, max_length=36)  # a UUID; the passport id is urn:uuid:<id>
    identifier: str = Field(unique=True, index=True, max_length=64)
    model: str = Field(max_length=120)
    manufacturer: str = Field(max_length=200)
    chemistry: str = Field(max_length=40)
    rated_capacity_ah: float
    nominal_voltage_v: float
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
