from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from backend.kit.models import json_column, timestamp_column, utcnow


class Inspection(SQLModel, table=True):
    """One inspection of one battery by an accredited inspector's organisation.

    `open` → (read uploaded, tests optional) → `completed` (credentials issued) or
    `cancelled`. The assessment and the issued credentials' ids are kept for the record.
    """

    __tablename__ = "inspection"

    id: str = Field(primary_key=True, max_length=36)
    battery_id: str = Field(foreign_key="battery.id", index=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    inspector_did: str = Field(max_length=300)
    status: str = Field(default="open", index=True, max_length=20)
    site: str | None = Field(default=None, max_length=200)
    read: dict[str, Any] | None = Field(default=None, sa_column=json_column(nullable=True))
    capacity_test: dict[str, Any] | None = Field(default=None, sa_column=json_column(nullable=True))
    pulse_test: dict[str, Any] | None = Field(default=None, sa_column=json_column(nullable=True))
    result: dict[str, Any] | None = Field(default=None, sa_column=json_column(nullable=True))
    grade: str | None = Field(default=None, max_length=20)
    credential_id: str | None = Field(default=None, max_length=500)
    sd_jwt_credential_id: str | None = Field(default=None, max_length=500)
    event_id: str | None = Field(default=None, max_length=45)
    opened_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    read_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    completed_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
