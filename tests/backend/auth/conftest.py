"""Auth tests run on the session's real database and Redis (SQLite and an embedded Valkey by
default; PostgreSQL and Redis with `BPP_TEST_DATABASE_URL` / `BPP_TEST_REDIS_URL`), without the
chain: nothing here needs it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from redis.asyncio import Redis

from backend.auth.passwords import PasswordHashing
from backend.auth.service import AuthServices
from backend.kit.db import Database
from backend.kit.migrations import upgrade_database
from backend.kit.redis import EmbeddedValkey, connect
from backend.orgs.roles import Role
from backend.settings import Settings, normalise_database_url

HOST = "platform.example"


def org_did(slug: str, role: Role | None = None) -> str:
    if role is Role.PLATFORM:
        return f"did:web:{HOST}"
    return f"did:web:{HOST}:orgs:{slug}"


@pytest.fixture(scope="session")
def valkey_url(redis_url: str | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`BPP_TEST_REDIS_URL` when set, else an embedded Valkey of our own."""
    if redis_url is not None:
        yield redis_url
        return
    server = EmbeddedValkey(tmp_path_factory.mktemp("auth-valkey"))
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
async def redis(valkey_url: str) -> AsyncIterator[Redis]:
    client = connect(valkey_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
async def auth_db(database_url: str) -> AsyncIterator[Database]:
    """The session's database (`BPP_TEST_DATABASE_URL`: PostgreSQL; else SQLite), migrated."""
    db = Database(normalise_database_url(database_url))
    await upgrade_database(db.engine)
    try:
        yield db
    finally:
        await db.dispose()


# Cheap argon2 parameters: the tests check behaviour, not cost (2 shared cores).
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
def auth_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, access_token_ttl_s=60, refresh_token_ttl_s=3600)


@pytest.fixture
def auth(auth_settings: Settings, auth_db: Database, redis: Redis) -> AuthServices:
    return AuthServices.build(
        auth_settings,
        auth_db,
        redis,
        org_did,
        passwords=PasswordHashing(FAST_HASHER),
    )


def unique_email() -> str:
    return f"driver-{uuid.uuid4().hex[:12]}@example.org"
