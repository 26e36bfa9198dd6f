from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Column
from sqlmodel import Field, SQLModel, UniqueConstraint

from backend.kit.models import json_column, timestamp_column, utcnow


class TxStatus(StrEnum):
    PENDING = "pending"  # recorded, not yet signed (or to be signed afresh)
    SENT = "sent"  # signed and handed to the node; raw bytes kept for a re-send
    MINED = "mined"  # in a block, not yet buried under the configured confirmations
    CONFIRMED = "confirmed"  # buried under `chain_confirmations` blocks
    FAILED = "failed"  # reverted: kept for inspection, never re-sent


# Rows that still need the writer (in id order).
OPEN_STATUSES = (TxStatus.PENDING, TxStatus.SENT, TxStatus.MINED)
# Rows whose effect is on chain (replayed on a fresh embedded chain, watched for reorgs).
LANDED_STATUSES = (TxStatus.MINED, TxStatus.CONFIRMED)


def _big(*, nullable: bool = True) -> Any:
    # Wei amounts exceed 32 bits; PostgreSQL's INTEGER would overflow.
    return Column(BigInteger, nullable=nullable)


class ChainTransaction(SQLModel, table=True):
    """The transaction outbox: every chain write is a row here first, then sent by one writer.

    `tried_hashes` keeps every hash signed for the row's nonce (fee bumps re-sign it); whichever
    one mines settles the row and becomes `tx_hash`.
    """

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
    tried_hashes: list[str] = Field(default_factory=list, sa_column=json_column())
    gas_limit: int | None = Field(default=None, sa_column=_big())
    max_fee_per_gas: int | None = Field(default=None, sa_column=_big())
    max_priority_fee_per_gas: int | None = Field(default=None, sa_column=_big())
    attempts: int = 0
    reorgs: int = 0
    block_number: int | None = None
    block_hash: str | None = Field(default=None, max_length=66)
    gas_used: int | None = Field(default=None, sa_column=_big())
    effective_gas_price: int | None = Field(default=None, sa_column=_big())
    error: str | None = None
    error_code: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    sent_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    mined_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    confirmed_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))


class ChainDeployment(SQLModel, table=True):
    """Where each contract lives on each chain (written by `bpp chain deploy` or at start)."""

    __tablename__ = "chain_deployment"
    __table_args__ = (UniqueConstraint("chain_id", "contract"),)

    id: int | None = Field(default=None, primary_key=True)
    # Chain ids exceed 32 bits (eth-tester's is 131277322940537).
    chain_id: int = Field(sa_column=_big(nullable=False))
    contract: str = Field(max_length=60)
    address: str = Field(max_length=42)
    block_number: int
    deployed_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())


class ChainIssuerAccount(SQLModel, table=True):
    """An issuing organisation's chain account (key in the chain key store) and its delegation
    of the platform relayer (`setDelegateBySig`, queued in the outbox)."""

    __tablename__ = "chain_issuer_account"

    did: str = Field(primary_key=True, max_length=300)
    address: str = Field(unique=True, index=True, max_length=42)
    key_name: str = Field(max_length=80)
    delegate: str = Field(max_length=42)
    delegate_expires_at: int = Field(sa_column=_big(nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
