from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from backend.kit.models import timestamp_column, utcnow


class Consent(SQLModel, table=True):
    """A driver's grant to one organisation (by DID) for one data group. Withdrawal sets
    `withdrawn_at`; a new grant is a new row, so the history stays readable."""

    __tablename__ = "consent"

    id: int | None = Field(default=None, primary_key=True)
    driver_id: str = Field(foreign_key="driver.id", index=True, max_length=36)
    grantee_did: str = Field(index=True, max_length=300)
    data_group: str = Field(max_length=80)
    purpose: str | None = Field(default=None, max_length=500)
    granted_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    withdrawn_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
