"""Real services for the tests: which ones to use (environment) and how to start them.

- `BPP_TEST_DATABASE_URL`: a PostgreSQL server URL; each test session creates its own
  database there and drops it afterwards. Unset: a SQLite file in a temporary folder.
- `BPP_TEST_REDIS_URL`: a Redis server URL (the database number in it is flushed first).
  Unset: the app's embedded Valkey.
- `BPP_TEST_CHAIN`: `embedded` (default, the in-process EVM) or `anvil` (started from
  `contracts/node_modules/.bin/anvil` on a free port).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import redis.asyncio as aioredis

REPO_ROOT = Path(__file__).resolve().parent.parent
ANVIL = REPO_ROOT / "contracts" / "node_modules" / ".bin" / "anvil"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def anvil_node(*, state_file: Path | None = None, port: int | None = None) -> Iterator[str]:
    """A real anvil node on loopback; yields its RPC URL."""
    if not ANVIL.exists():
        raise RuntimeError(f"anvil is not installed at {ANVIL}: run scripts/bootstrap")
    port = port or free_port()
    args = [str(ANVIL), "--host", "127.0.0.1", "--port", str(port), "--silent"]
    if state_file is not None:
        args += ["--state", str(state_file)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                reply = httpx.post(
                    url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
                )
                if reply.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("anvil did not start")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _plain(url: str) -> str:
    """asyncpg takes `postgresql://`, not SQLAlchemy's `postgresql+asyncpg://`."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@asynccontextmanager
async def postgres_database(server_url: str) -> AsyncIterator[str]:
    """A fresh PostgreSQL database on `server_url`'s server; yields its URL, then drops it."""
    name = f"bpp_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(_plain(server_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield with_database(server_url, name)
    finally:
        admin = await asyncpg.connect(_plain(server_url))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def flush_redis(url: str) -> None:
    client = aioredis.Redis.from_url(url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


def chain_choice() -> str:
    choice = os.environ.get("BPP_TEST_CHAIN", "embedded")
    if choice not in ("embedded", "anvil"):
        raise RuntimeError(f"BPP_TEST_CHAIN must be embedded or anvil, not {choice!r}")
    return choice
