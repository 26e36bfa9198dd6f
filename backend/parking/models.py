"""Parking facilities: where a gate decides (underground or not) and whose operator runs it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from backend.kit.models import json_column, timestamp_column, utcnow


class ParkingFacility(SQLModel, table=True):
    __tablename__ = "parking_facility"

    id: str = Field(primary_key=True, max_length=64)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    name: str = Field(max_length=200)
    underground: bool = False
    # Overrides of the default gate policy for this facility (see backend/parking/policy).
    policy: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
