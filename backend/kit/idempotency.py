"""Idempotency keys: a mutation replayed with the same key returns its first result.

The record is written in the same unit of work as the mutation's own writes, so either both
exist or neither does: a crash after the commit replays the stored result, a crash before it
leaves nothing to replay and nothing written. Only successes are recorded — a refused request
wrote nothing, so running it again is harmless. The same key with a different request is a
conflict, not a replay.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel, UniqueConstraint, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.kit.errors import DomainError, ErrorCode
from backend.kit.models import json_column, timestamp_column, utcnow

MAX_KEY_LENGTH = 128


class IdempotencyConflictError(DomainError):
    code = ErrorCode.CONFLICT
    status_code = 409


class IdempotencyRecord(SQLModel, table=True):
    __tablename__ = "idempotency_record"
    __table_args__ = (UniqueConstraint("principal", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    principal: str = Field(max_length=80)
    key: str = Field(max_length=MAX_KEY_LENGTH)
    operation: str = Field(max_length=80)
    request_hash: str = Field(max_length=64)
    result: dict[str, Any] = Field(sa_column=json_column())
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column(index=True))


def request_hash(operation: str, request: Any) -> str:
    body = json.dumps([operation, request], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def validate_key(key: str) -> str:
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise DomainError(
            f"an idempotency key is 1-{MAX_KEY_LENGTH} printable characters",
            field="idempotencyKey",
        )
    return key


async def find_replay(
    session: AsyncSession, *, principal: str, key: str, operation: str, digest: str
) -> dict[str, Any] | None:
    """The stored result of this key, or None; a different request under it is refused."""
    record = (
        await session.exec(
            select(IdempotencyRecord).where(
                IdempotencyRecord.principal == principal, IdempotencyRecord.key == key
            )
        )
    ).first()
    if record is None:
        return None
    if record.operation != operation or record.request_hash != digest:
        raise IdempotencyConflictError(
            "this idempotency key was used for a different request", field="idempotencyKey"
        )
    return record.result


def remember(
    session: AsyncSession,
    *,
    principal: str,
    key: str,
    operation: str,
    digest: str,
    result: dict[str, Any],
) -> None:
    session.add(
        IdempotencyRecord(
            principal=principal, key=key, operation=operation, request_hash=digest, result=result
        )
    )
