"""Presentation challenges: random, stored in Redis with a TTL, consumed exactly once."""

from __future__ import annotations

import secrets
from typing import Final

from redis.asyncio import Redis
from redis.exceptions import RedisError

from backend.auth.errors import AuthUnavailableError, ChallengeInvalidError

_PREFIX: Final = "bpp:auth:challenge:"
_MAX_CHALLENGE_LENGTH: Final = 100


class ChallengeStore:
    def __init__(self, redis: Redis, *, ttl_s: int) -> None:
        self.redis = redis
        self.ttl_s = ttl_s

    async def issue(self, purpose: str = "role") -> str:
        challenge = secrets.token_urlsafe(24)
        try:
            await self.redis.set(_PREFIX + challenge, purpose.encode(), ex=self.ttl_s, nx=True)
        except RedisError as exc:
            raise AuthUnavailableError(f"cannot store the challenge: {exc}") from None
        return challenge

    async def consume(self, challenge: str, purpose: str = "role") -> None:
        """Spend a challenge; a second use, an expired or unknown one is refused.

        GETDEL is atomic, so two requests racing with the same challenge cannot both win.
        """
        if not challenge or len(challenge) > _MAX_CHALLENGE_LENGTH:
            raise ChallengeInvalidError("unknown or already used challenge")
        try:
            stored = await self.redis.getdel(_PREFIX + challenge)
        except RedisError as exc:
            raise AuthUnavailableError(f"cannot check the challenge: {exc}") from None
        if stored is None or stored != purpose.encode():
            raise ChallengeInvalidError("unknown, expired or already used challenge")
