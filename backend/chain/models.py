from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlmodel import Field, SQLModel, UniqueConstraint

from backend.kit.models import json_column, timestamp_column, utcnow


class TxStatus(StrEnum):
    PENDING = "pending"  # recorded, not yet sent
    SENT = "sent"  # signed and handed to the node; raw bytes kept for a re-send
    CONFIRMED = "confirmed"  # mined and buried under the configured confirmations
    FAILED = "failed"  # reverted: kept for inspection, never re-sent


class ChainTransaction(SQLModel, table=True):
    """The transaction outbox: every chain write is a row here first, then sent by one writer."""

    __tablename__ = "chain_transaction"

    id: int | None = Field(default=None, primary_key=True)
    contract: str = Field(max_length=60)
    function: str = Field(max_length=60)
    args: list[Any] = Field(sa_column=json_column())
    sender: str = Field(max_length=42)
    status: str = Field(default=TxStatus.PENDING, index=True, max_length=12)
    urgent: bool = False
    nonce: int | None = None
    tx_hash: str | None = Field(default=None, max_length=66)
    raw_tx: str | None = None
    attempts: int = 0
    block_number: int | None = None
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    sent_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    confirmed_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))


class ChainDeployment(SQLModel, table=True):
    """Where each contract lives on each chain (written by `bpp chain deploy` or at start)."""

    __tablename__ = "chain_deployment"
    __table_args__ = (UniqueConstraint("chain_id", "contract"),)

    id: int | None = Field(default=None, primary_key=True)
    chain_id: int
    contract: str = Field(max_length=60)
    address: str = Field(max_length=42)
    block_number: int
    deployed_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
