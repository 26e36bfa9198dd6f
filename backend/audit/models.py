from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from backend.kit.models import json_column, timestamp_column, utcnow


class AuditEntry(SQLModel, table=True):
    """One audited write or restricted read. Append-only and hash-chained: `entry_hash` covers
    the entry's fields and the previous entry's hash, so an edited or deleted row breaks the
    chain. Actors appear only by pseudonymous subject (`driver:<uuid>`, `org:<did>`)."""

    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column(index=True))
    actor: str = Field(index=True, max_length=320)
    actor_role: str | None = Field(default=None, max_length=40)
    action: str = Field(index=True, max_length=80)
    resource_kind: str = Field(max_length=40)
    resource_id: str | None = Field(default=None, index=True, max_length=300)
    outcome: str = Field(max_length=20)
    reason: str | None = Field(default=None, max_length=500)
    request_id: str | None = Field(default=None, max_length=80)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())
    prev_hash: str = Field(max_length=64)
    entry_hash: str = Field(unique=True, max_length=64)
