"""Persisted GraphQL documents: the allow-list of the mobile apps' operations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from backend.kit.models import timestamp_column, utcnow


class PersistedQuery(SQLModel, table=True):
    __tablename__ = "persisted_query"

    sha256: str = Field(primary_key=True, max_length=64)  # hex of the document's UTF-8 bytes
    document: str = Field(sa_column=Column(Text, nullable=False))
    registered_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
