"""Battery models, batteries, their measured values and passport versions.

Storage: what is queried or filtered is a typed column (identifier, chemistry, category,
status, owner, model, the latest state of certified energy); the rest of the 93 attributes
is one validated JSON document per attribute group on the model (model-level static data),
one document of item-level static data and one of the latest dynamic values on the battery
(see docs/DECISIONS.md, "passports: attribute storage").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.kit.models import json_column, timestamp_column, utcnow


class BatteryModel(SQLModel, table=True):
    __tablename__ = "battery_model"
    __table_args__ = (UniqueConstraint("organisation_id", "name"),)

    id: str = Field(primary_key=True, max_length=36)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    name: str = Field(max_length=120)
    manufacturer: str = Field(max_length=200)
    chemistry: str = Field(index=True, max_length=40)
    category: str = Field(default="EV", index=True, max_length=40)
    rated_capacity_ah: float
    nominal_voltage_v: float
    # Model-level static attributes, one JSON document per attribute group: {term: value}.
    identification: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())
    labels: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())
    carbon_footprint: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())
    due_diligence: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())
    materials: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())
    circularity: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())
    performance: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())


class Battery(SQLModel, table=True):
    __tablename__ = "battery"

    id: str = Field(primary_key=True, max_length=36)  # a UUID; the passport id is urn:uuid:<id>
    identifier: str = Field(unique=True, index=True, max_length=64)
    # Copied from the model at registration (the model's core values are immutable once a
    # battery refers to it), so lists and filters need no join.
    model: str = Field(max_length=120)
    manufacturer: str = Field(max_length=200)
    chemistry: str = Field(max_length=40)
    rated_capacity_ah: float
    nominal_voltage_v: float
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    model_id: str | None = Field(default=None, foreign_key="battery_model.id", index=True)
    status: str = Field(default="original", index=True, max_length=20)
    owner_id: str | None = Field(default=None, index=True, max_length=64)
    predecessor_id: str | None = Field(default=None, foreign_key="battery.id", index=True)
    # Item-level static attributes {term: value} and the latest dynamic values
    # {term: {value, unit, measuredAt, originator, method, uncertainty}}.
    item_data: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())
    condition: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())
    state_of_certified_energy: float | None = Field(default=None, index=True)
    ceased_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())


class BatteryMeasurement(SQLModel, table=True):
    """Every dynamic value ever recorded (the battery's `condition` holds the latest)."""

    __tablename__ = "battery_measurement"

    id: int | None = Field(default=None, primary_key=True)
    battery_id: str = Field(foreign_key="battery.id", index=True)
    term: str = Field(max_length=60)
    value: Any = Field(sa_column=json_column())
    unit: str | None = Field(default=None, max_length=20)
    measured_at: datetime = Field(sa_column=timestamp_column())
    originator: str = Field(max_length=300)
    method: str = Field(max_length=200)
    uncertainty: float | None = None
    recorded_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())


class PassportVersion(SQLModel, table=True):
    """One issued version of a battery's passport (or per-group) credential.

    Versions count 1, 2, 3 … per battery and credential type; each new version revokes the
    previous one and links to it (`relatedResource` in the credential, `previous_credential_id`
    here). `digest` is the SHA-256 of the JCS subject, so unchanged data is not re-issued.
    """

    __tablename__ = "passport_version"
    __table_args__ = (UniqueConstraint("battery_id", "credential_type", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    battery_id: str = Field(foreign_key="battery.id", index=True)
    credential_type: str = Field(max_length=80)
    version: int
    issued_credential_id: str = Field(foreign_key="issued_credential.id", unique=True)
    credential_id: str = Field(max_length=500)
    previous_credential_id: str | None = Field(default=None, max_length=500)
    digest: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
