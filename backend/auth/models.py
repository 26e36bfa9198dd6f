"""Drivers and their refresh tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.kit.models import timestamp_column, utcnow


class Driver(SQLModel, table=True):
    """A driver's account. The id is a random UUID, the pseudonym used everywhere else (vehicle
    owner ids, events, audit entries); the personal columns are emptied on anonymisation."""

    __tablename__ = "driver"
    __table_args__ = (UniqueConstraint("oidc_issuer", "oidc_subject"),)

    id: str = Field(primary_key=True, max_length=36)
    email: str | None = Field(default=None, unique=True, index=True, max_length=254)
    phone: str | None = Field(default=None, unique=True, index=True, max_length=20)
    display_name: str | None = Field(default=None, max_length=200)
    password_hash: str | None = Field(default=None, max_length=200)
    oidc_issuer: str | None = Field(default=None, max_length=300)
    oidc_subject: str | None = Field(default=None, max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    anonymised_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))


class RefreshToken(SQLModel, table=True):
    """One refresh token of a session (family). Only a keyed hash of the token is stored; a
    used token stays as a record so that presenting it again is recognised as reuse."""

    __tablename__ = "refresh_token"

    id: str = Field(primary_key=True, max_length=36)
    family_id: str = Field(index=True, max_length=36)
    driver_id: str = Field(foreign_key="driver.id", index=True, max_length=36)
    token_hash: str = Field(unique=True, max_length=64)
    issued_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    expires_at: datetime = Field(sa_column=timestamp_column())
    used_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
