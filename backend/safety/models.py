"""Safety tables: alerts (open until cleared) and each battery's rule memory and grade."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from backend.kit.models import json_column, timestamp_column, utcnow


class SafetyAlert(SQLModel, table=True):
    """One rule firing on one battery: open until a newer healthy reading or an inspector
    clears it. At most one open alert per (battery, rule); a repeat only bumps `last_seen_at`
    and the evidence."""

    __tablename__ = "safety_alert"
    __table_args__ = (Index("ix_safety_alert_battery_status", "battery_id", "status"),)

    id: str = Field(primary_key=True, max_length=36)
    battery_id: str = Field(foreign_key="battery.id", max_length=36)
    rule: str = Field(max_length=40)
    severity: str = Field(max_length=20)  # info | warning | critical
    status: str = Field(default="open", max_length=20)  # open | cleared
    message: str = Field(max_length=500)
    # The readings that fired the rule: [{quantity, value, unit, measuredAt, …}] plus the limit.
    evidence: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())
    opened_at: datetime = Field(sa_column=timestamp_column())  # time of the firing reading
    last_seen_at: datetime = Field(sa_column=timestamp_column())
    cleared_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    cleared_by: str | None = Field(default=None, max_length=300)
    clear_reason: str | None = Field(default=None, max_length=500)
    event_id: str | None = Field(default=None, max_length=45)  # the lifecycle event (opened)
    clear_event_id: str | None = Field(default=None, max_length=45)
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())


class SafetyState(SQLModel, table=True):
    """Per battery: what rules need from earlier readings, and the last computed grade."""

    __tablename__ = "safety_state"

    battery_id: str = Field(primary_key=True, foreign_key="battery.id", max_length=36)
    # Rule memory, e.g. {"temperature": [value, iso time], "soh": [value, iso time]}.
    memory: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())
    open_alerts: int = 0
    worst_severity: str | None = Field(default=None, max_length=20)
    last_reading_at: datetime | None = Field(
        default=None, sa_column=timestamp_column(nullable=True)
    )
    grade: str | None = Field(default=None, max_length=2)
    grade_reasons: list[str] = Field(default_factory=list, sa_column=json_column())
    graded_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
