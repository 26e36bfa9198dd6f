"""A chain service stack per test: SQLite (or a fresh PostgreSQL database on
`BPP_TEST_DATABASE_URL`'s server), migrated; a Valkey server, a chain with the three
registries deployed by the backend client, and the relayer/city-root key store.

`stack` runs on the in-process EVM and on anvil (`anvil` marker); the fault tests build their
own anvil with `--state FILE` through `anvil_stack`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlmodel import col, select

from backend.chain.accounts import ChainAccountStore
from backend.chain.client import ChainClient
from backend.chain.models import ChainTransaction
from backend.chain.outbox import OutboxWriter, enqueue
from backend.chain.service import ChainServices, connect_chain
from backend.kit.db import Database
from backend.kit.migrations import upgrade_database
from backend.kit.redis import EmbeddedValkey, connect
from backend.settings import Settings
from tests.services import anvil_node, postgres_database

REGISTRY = "StatusListRegistry"


@pytest.fixture(scope="session")
def valkey_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = EmbeddedValkey(tmp_path_factory.mktemp("valkey"))
    try:
        yield server.start()
    finally:
        server.stop()


@dataclass
class Stack:
    settings: Settings
    db: Database
    redis: Redis
    chain: ChainClient
    store: ChainAccountStore
    kind: str
    writers: list[OutboxWriter] = field(default_factory=list)

    def writer(self, **options: Any) -> OutboxWriter:
        options.setdefault("poll_interval_s", 0.05)
        writer = OutboxWriter(self.db, self.chain, self.redis, **options)
        self.writers.append(writer)
        return writer

    async def services(self) -> ChainServices:
        return await ChainServices.build(
            self.db, self.chain, self.store, self.redis, mirror_max_age_s=60.0
        )

    @property
    def relayer(self) -> str:
        return str(self.chain.relayer.address)

    async def rpc(self, method: str, *params: Any) -> Any:
        reply = await self.chain.w3.provider.make_request(method, list(params))
        assert "error" not in reply, reply
        return reply.get("result")

    async def enqueue(self, function: str, *args: Any, sender: str | None = None) -> int:
        async with self.db.unit_of_work() as session:
            row = enqueue(
                session,
                contract=REGISTRY,
                function=function,
                args=list(args),
                sender=sender or self.relayer,
            )
            await session.flush()
            assert row.id is not None
            return row.id

    async def rows(self) -> list[ChainTransaction]:
        async with self.db.read_only() as session:
            return list(
                await session.exec(select(ChainTransaction).order_by(col(ChainTransaction.id)))
            )

    async def row(self, row_id: int) -> ChainTransaction:
        async with self.db.read_only() as session:
            row = await session.get(ChainTransaction, row_id)
            assert row is not None
            return row

    async def latest(self, issuer: str, list_id: bytes) -> tuple[int, bytes]:
        version, digest = await self.chain.call(REGISTRY, "latest", issuer, list_id)
        return int(version), bytes(digest)


def new_list_id() -> tuple[str, bytes]:
    list_uuid = str(uuid.uuid4())
    return list_uuid, uuid.UUID(list_uuid).bytes.rjust(32, b"\0")


@asynccontextmanager
async def open_stack(
    tmp_path: Path, valkey_url: str, rpc_url: str | None, kind: str
) -> AsyncIterator[Stack]:
    async with AsyncExitStack() as resources:
        server = os.environ.get("BPP_TEST_DATABASE_URL")
        database_url = (
            await resources.enter_async_context(postgres_database(server))
            if server
            else f"sqlite:///{tmp_path / 'bpp.sqlite3'}"
        )
        async with _open_stack(tmp_path, valkey_url, rpc_url, kind, database_url) as stack:
            yield stack


@asynccontextmanager
async def _open_stack(
    tmp_path: Path, valkey_url: str, rpc_url: str | None, kind: str, database_url: str
) -> AsyncIterator[Stack]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        redis_url=valkey_url,
        chain_rpc_url=rpc_url,
        public_base_url="http://127.0.0.1:8000",
    )
    settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.effective_database_url)
    await upgrade_database(db.engine)
    redis = connect(valkey_url)
    await redis.flushdb()
    chain, store = await connect_chain(settings)
    async with db.unit_of_work() as session:
        await chain.deploy_all(session)
    stack = Stack(settings=settings, db=db, redis=redis, chain=chain, store=store, kind=kind)
    try:
        yield stack
    finally:
        for writer in stack.writers:
            await writer.release_lock()
        await redis.aclose()
        await chain.close()
        await db.dispose()


@pytest.fixture(params=["embedded", pytest.param("anvil", marks=pytest.mark.anvil)])
async def stack(
    request: pytest.FixtureRequest, tmp_path: Path, valkey_url: str
) -> AsyncIterator[Stack]:
    node: AbstractContextManager[str] | None = anvil_node() if request.param == "anvil" else None
    url = node.__enter__() if node else None
    try:
        async with open_stack(tmp_path, valkey_url, url, request.param) as built:
            yield built
    finally:
        if node is not None:
            node.__exit__(None, None, None)


@pytest.fixture
async def anvil_stack(tmp_path: Path, valkey_url: str) -> AsyncIterator[Stack]:
    with anvil_node() as url:
        async with open_stack(tmp_path, valkey_url, url, "anvil") as built:
            yield built


@pytest.fixture
async def embedded_stack(tmp_path: Path, valkey_url: str) -> AsyncIterator[Stack]:
    async with open_stack(tmp_path, valkey_url, None, "embedded") as built:
        yield built
