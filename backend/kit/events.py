"""Domain events fanned out through Redis pub/sub, so every API process sees every event.

A subscription served by one replica receives what a mutation on another replica published.
Events are published after the unit of work committed (a rolled-back change never announces
itself); pub/sub is at-most-once, so clients re-read state after reconnecting.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio import Redis

CHANNEL_PREFIX = "bpp:events:"


def credential_channel(credential_id: str) -> str:
    return f"{CHANNEL_PREFIX}credential:{credential_id}"


def battery_channel(battery_id: str) -> str:
    return f"{CHANNEL_PREFIX}battery:{battery_id}"


class EventBus:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def publish(self, channel: str, event: dict[str, Any]) -> None:
        await self.redis.publish(channel, json.dumps(event, separators=(",", ":")))

    async def subscribe(self, channel: str) -> AsyncIterator[dict[str, Any]]:
        """Events on `channel` from now on, until the consumer stops iterating."""
        pubsub = self.redis.pubsub()
        await pubsub.subscribe(channel)
        try:
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                data = message["data"]
                yield json.loads(data.decode() if isinstance(data, bytes) else data)
        finally:
            await pubsub.unsubscribe(channel)
            await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]
