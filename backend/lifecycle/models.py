"""The lifecycle event log and its on-chain anchors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.kit.models import json_column, timestamp_column, utcnow


class LifecycleEvent(SQLModel, table=True):
    """One event of one battery. Append-only: `document` is the hashed truth, the other
    columns are copies for queries; `hash` = SHA-256 of the JCS of `document`, and
    `document.previousHash` is the hash of the battery's event before it."""

    __tablename__ = "lifecycle_event"
    __table_args__ = (UniqueConstraint("battery_id", "sequence"),)

    id: int | None = Field(default=None, primary_key=True)  # global append order
    event_id: str = Field(unique=True, index=True, max_length=45)  # urn:uuid:…
    battery_id: str = Field(foreign_key="battery.id", index=True)
    sequence: int
    kind: str = Field(index=True, max_length=40)
    occurred_at: datetime = Field(sa_column=timestamp_column())
    document: dict[str, Any] = Field(sa_column=json_column())
    hash: str = Field(unique=True, max_length=64)
    anchor_id: int | None = Field(default=None, foreign_key="event_anchor.id", index=True)
    anchor_index: int | None = None
    recorded_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())


class EventAnchor(SQLModel, table=True):
    """A Merkle root over a batch of events, queued as `EventAnchorRegistry.anchor`."""

    __tablename__ = "event_anchor"
    __table_args__ = (UniqueConstraint("sender", "sequence"),)

    id: int | None = Field(default=None, primary_key=True)
    sender: str = Field(max_length=42)  # the anchoring account (the registry's `issuer`)
    sequence: int
    root: str = Field(max_length=64)
    count: int
    chain_transaction_id: int | None = Field(default=None, foreign_key="chain_transaction.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
