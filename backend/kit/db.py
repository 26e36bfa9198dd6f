"""Async SQLAlchemy engine and sessions; one unit of work per request or job.

Services never commit: the caller's `unit_of_work()` commits when the block succeeds and rolls
back when anything raises, so a failed mutation leaves nothing half-written.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from credentials import fastjson


def create_engine(url: str, *, sqlite_begin: str = "BEGIN IMMEDIATE") -> AsyncEngine:
    """An async engine; SQLite gets WAL, a busy timeout and enforced foreign keys."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the driver, open transactions (see `_begin_immediate`).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _begin_immediate(connection: Any) -> None:
            # The driver would start a transaction only at the first write, so a
            # read-modify-write (allocating a status index, publishing a list version) could
            # act on data another transaction changed meanwhile. BEGIN IMMEDIATE takes the
            # write lock up front: SQLite transactions run one at a time, like PostgreSQL's
            # row locks make them where it matters.
            connection.exec_driver_sql(sqlite_begin)

        return engine
    return create_async_engine(
        url,
        pool_size=10,
        max_overflow=20,
        # No ping per checkout (a round trip before every session's first query): a
        # connection the server dropped fails its first statement instead, SQLAlchemy
        # invalidates the pool on that disconnect error, and connections are recycled
        # after half an hour so idle ones do not outlive server-side timeouts.
        pool_recycle=1800,
        # JSON columns (telemetry state, histograms) through orjson, with the standard
        # parser for what orjson reads differently (integers beyond 64 bits).
        json_deserializer=fastjson.loads,
    )


class Database:
    """The engine plus session factories for units of work and for reads.

    On SQLite, reads get their own engine whose transactions are deferred (`BEGIN`): a read
    never takes the write lock, so it neither waits for nor blocks a writer — not even a unit
    of work opened while the read's session is still open.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        self.sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        self._read_engine = create_engine(url, sqlite_begin="BEGIN") if self.is_sqlite else None
        # On PostgreSQL reads run without BEGIN / ROLLBACK (autocommit on the same pool):
        # under READ COMMITTED every statement takes its own snapshot inside a transaction
        # too, so a read-only transaction bought nothing but two round trips per session.
        readers = (
            self._read_engine
            if self._read_engine is not None
            else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self.read_sessions = async_sessionmaker(
            readers, class_=AsyncSession, expire_on_commit=False
        )

    @property
    def engines(self) -> list[AsyncEngine]:
        return [self.engine] if self._read_engine is None else [self.engine, self._read_engine]

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """A session whose work commits at the end of the block or rolls back on error."""
        async with self.sessions() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    @asynccontextmanager
    async def read_only(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only: on PostgreSQL each statement commits by itself, so a
        write here would not be atomic — writes belong in `unit_of_work`."""
        async with self.read_sessions() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._read_engine is not None:
            await self._read_engine.dispose()
