"""Token-bucket rate limits in Redis, shared by every API process.

Each bucket holds up to `burst` tokens and gains `rate` tokens a second; a request takes one
token from each of its buckets (the caller's principal and its IP address) or, when any is
empty, takes none and learns how long until it would succeed. One Lua script does the check
and the update for all buckets atomically, with the Redis server's clock (no skew between API
processes), in one round trip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from redis.asyncio import Redis

KEY_PREFIX: Final = "bpp:ratelimit:"

# KEYS: bucket keys. ARGV: per bucket (rate, burst) pairs. Returns 0 when every bucket had a
# token (one taken from each), else the milliseconds until the emptiest would have one.
# Public so that a script doing more in the same round trip (the parking gate's) can embed it
# as a local function and take from the very same buckets.
BUCKET_TAKE_SCRIPT: Final = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local states = {}
local wait = 0
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local held = redis.call('HMGET', key, 't', 'at')
  local tokens = tonumber(held[1]) or burst
  local at = tonumber(held[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
  if tokens < 1 then
    wait = math.max(wait, (1 - tokens) / rate)
  end
  states[i] = tokens
end
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local tokens = states[i]
  if wait == 0 then tokens = tokens - 1 end
  redis.call('HSET', key, 't', tostring(tokens), 'at', tostring(now))
  redis.call('PEXPIRE', key, math.ceil(burst / rate * 1000) + 1000)
end
return math.ceil(wait * 1000)
"""


@dataclass(frozen=True, slots=True)
class Bucket:
    key: str
    rate_per_s: float
    burst: float

    def __post_init__(self) -> None:
        if not (self.rate_per_s > 0 and self.burst >= 1):
            raise ValueError("a bucket needs a positive rate and a burst of at least 1")


class RateLimiter:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._script = redis.register_script(BUCKET_TAKE_SCRIPT)

    async def take(self, buckets: list[Bucket]) -> float | None:
        """Take a token from every bucket: None if allowed, else seconds to wait."""
        if not buckets:
            return None
        args: list[float] = []
        for bucket in buckets:
            args += [bucket.rate_per_s, bucket.burst]
        wait_ms = int(
            await self._script(keys=[KEY_PREFIX + bucket.key for bucket in buckets], args=args)
        )
        return None if wait_ms <= 0 else math.ceil(wait_ms / 100) / 10
