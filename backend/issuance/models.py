from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import LargeBinary, UniqueConstraint
from sqlmodel import Column, Field, SQLModel

from backend.kit.models import json_column, timestamp_column, utcnow


class StatusList(SQLModel, table=True):
    """One Bitstring status list of one issuer; `bits` is the current decoded list."""

    __tablename__ = "status_list"

    id: str = Field(primary_key=True, max_length=40)
    issuer_did: str = Field(index=True, max_length=300)
    # The chain account the list is registered under (the issuer's own; the relayer publishes
    # as its delegate).
    issuer_address: str = Field(max_length=42)
    purpose: str = Field(max_length=20)  # revocation | suspension
    size: int
    status_size: int = 1
    bits: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    allocated: int = 0  # how many indices are taken (for choosing a list with room)
    revision: int = 0  # bumped by every change; the served credential is cached per revision
    published_version: int = 0  # the last version handed to the chain outbox
    published_revision: int = 0  # the revision that version carries

    @property
    def served_version(self) -> int:
        """The version the current values are: the published one, or the next if changed since."""
        return self.published_version + (self.revision != self.published_revision)

    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())


class StatusChange(SQLModel, table=True):
    """A status change waiting for (or carried by) an on-chain publish."""

    __tablename__ = "status_change"

    id: int | None = Field(default=None, primary_key=True)
    status_list_id: str = Field(foreign_key="status_list.id", index=True)
    index: int
    value: int
    urgent: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    published_version: int | None = Field(default=None, index=True)


class IssuedCredential(SQLModel, table=True):
    __tablename__ = "issued_credential"
    __table_args__ = (UniqueConstraint("status_list_id", "status_index"),)

    id: str = Field(primary_key=True, max_length=36)  # the row's own UUID
    # The credential's `id`: a fresh urn:uuid for what the platform mints; whatever a VC-API
    # caller chose otherwise (not necessarily unique across callers).
    credential_id: str = Field(index=True, max_length=500)
    type: str = Field(index=True, max_length=80)
    battery_id: str | None = Field(default=None, foreign_key="battery.id", index=True)
    issuer_did: str = Field(index=True, max_length=300)
    document: dict[str, Any] = Field(sa_column=json_column())
    status_list_id: str | None = Field(default=None, foreign_key="status_list.id")
    status_index: int | None = None
    issued_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    revoked_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    revocation_reason: str | None = Field(default=None, max_length=500)
