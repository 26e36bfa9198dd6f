from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from backend.kit.models import json_column, timestamp_column, utcnow


class CredentialShare(SQLModel, table=True):
    """A seller's time-limited share of a battery's credentials. Only a SHA-256 of the share
    token is stored; the token (in the link / QR) is shown once."""

    __tablename__ = "credential_share"

    id: str = Field(primary_key=True, max_length=36)
    token_hash: str = Field(unique=True, index=True, max_length=64)
    battery_id: str = Field(foreign_key="battery.id", index=True)
    created_by: str = Field(max_length=120)  # the seller's pseudonymous subject
    disclose: list[str] = Field(default_factory=list, sa_column=json_column())
    inspection_id: str | None = Field(default=None, foreign_key="inspection.id")
    expires_at: datetime = Field(sa_column=timestamp_column())
    revoked_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    views: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())


class TransferOffer(SQLModel, table=True):
    """Ownership transfer by consent of both parties: the seller offers (a one-time accept
    code, stored hashed), the buyer accepts; the transfer and its lifecycle event happen in
    the accepting unit of work."""

    __tablename__ = "transfer_offer"

    id: str = Field(primary_key=True, max_length=36)
    code_hash: str = Field(unique=True, index=True, max_length=64)
    battery_id: str = Field(foreign_key="battery.id", index=True)
    seller: str = Field(max_length=120)  # subject of the seller's consent
    seller_owner_id: str | None = Field(default=None, max_length=300)
    buyer: str | None = Field(default=None, max_length=120)  # subject of the buyer's consent
    status: str = Field(default="offered", index=True, max_length=20)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())
    event_id: str | None = Field(default=None, max_length=45)
    expires_at: datetime = Field(sa_column=timestamp_column())
    offered_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    accepted_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
