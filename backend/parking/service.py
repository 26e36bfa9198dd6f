"""Parking gate decisions from a Redis cache, facilities, and the gate's own key cache.

The cache holds, per battery, a safety snapshot (grade, reasons, open alerts) for
`SNAPSHOT_TTL_S`, and per plate or VIN the battery installed in that vehicle for `REF_TTL_S`.
A safety alert opening or clearing deletes the battery's snapshot after its commit
(`invalidate`), so a gate sees the change at its next decision; the TTLs bound how stale the
grade's data-freshness part and a vehicle's installed battery can be. A decision on a warm
cache is two Redis GETs and no database work.
"""

from __future__ import annotations

import hashlib
import math
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import orjson
from redis.asyncio import Redis
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth.principal import Principal
from backend.kit.db import Database
from backend.kit.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from backend.kit.ratelimit import BUCKET_TAKE_SCRIPT, Bucket, RateLimiter
from backend.kit.ratelimit import KEY_PREFIX as RATE_KEY_PREFIX
from backend.orgs.roles import Role
from backend.parking.decision import Decision, decide, policy
from backend.parking.models import ParkingFacility
from backend.passports.service import parse_battery_id
from backend.safety.service import safety_summary
from backend.vehicles.models import Vehicle
from backend.vehicles.service import installed_battery_id

KEY_PREFIX: Final = "bpp:parking:"
SNAPSHOT_TTL_S: Final = 60
REF_TTL_S: Final = 300
NO_BATTERY: Final = "-"
GATE_ROLES: Final = frozenset({Role.PARKING_OPERATOR, Role.PLATFORM})
FACILITY_TTL_S: Final = 60.0
MAX_REF: Final = 40


# KEYS[1]: a plate/VIN reference key; ARGV[1]: the snapshot key prefix. Returns the
# reference's battery id (or nil) and that battery's snapshot (or nil).
_LOOKUP: Final = """
local battery = redis.call('GET', KEYS[1])
if not battery or battery == '-' then return {battery, false} end
return {battery, redis.call('GET', ARGV[1] .. battery)}
"""


# The gate's one round trip: the rate-limit take (the kit's token-bucket script, run as a
# local function so its buckets are the very ones the GraphQL guard uses) and, when tokens
# were there, the lookup above. KEYS: the bucket keys, then the reference key. ARGV: the
# number of buckets, the buckets' (rate, burst) pairs, the snapshot key prefix. Returns
# {wait_ms} when limited, else {0, battery id or nil, snapshot or nil}.
_LIMITED_LOOKUP: Final = (
    "local function take(KEYS, ARGV)\n"
    + BUCKET_TAKE_SCRIPT
    + """
end
local buckets = tonumber(ARGV[1])
local keys, args = {}, {}
for i = 1, buckets do
  keys[i] = KEYS[i]
  args[2 * i - 1] = ARGV[2 * i]
  args[2 * i] = ARGV[2 * i + 1]
end
local wait = take(keys, args)
if wait > 0 then return {wait} end
local battery = redis.call('GET', KEYS[buckets + 1])
if not battery or battery == '-' then return {0, battery, false} end
return {0, battery, redis.call('GET', ARGV[2 * buckets + 2] .. battery)}
"""
)


def _battery_key(battery_id: str) -> str:
    return f"{KEY_PREFIX}battery:{battery_id}"


def _ref_key(kind: str, value: str) -> str:
    return f"{KEY_PREFIX}{kind}:{value}"


def normalise_plate(plate: str) -> str:
    return plate.strip().upper().replace(" ", "").replace("-", "")


async def snapshot_of(session: AsyncSession, battery_id: str) -> dict[str, Any]:
    summary = await safety_summary(session, battery_id)
    return {
        "batteryId": summary.battery_id,
        "grade": summary.grade.grade,
        "reasons": [[r.code, r.message] for r in summary.grade.reasons],
        "alerts": [[a.rule, a.severity] for a in summary.open_alerts],
        "outOfService": summary.out_of_service,
        "evaluatedAt": summary.evaluated_at.isoformat(),
    }


class RateLimitedError(Exception):
    """A gate's bucket is empty (the REST endpoint answers 429 with Retry-After)."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"rate limit reached; retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class GateQuery:
    facility_id: str | None = None
    underground: bool | None = None
    plate: str | None = None
    vin: str | None = None
    battery_id: str | None = None


class ParkingService:
    def __init__(self, db: Database, redis: Redis) -> None:
        self.db = db
        self.redis = redis
        self._facilities: dict[str, tuple[float, ParkingFacility | None]] = {}
        self._lookup = redis.register_script(_LOOKUP)
        self._limited_lookup = redis.register_script(_LIMITED_LOOKUP)

    # -- cache ----------------------------------------------------------------------------

    async def snapshot(self, battery_id: str) -> dict[str, Any]:
        cached = await self.redis.get(_battery_key(battery_id))
        if cached is not None:
            value: dict[str, Any] = orjson.loads(cached)
            return value
        return await self._load_snapshot(battery_id)

    async def _load_snapshot(self, battery_id: str) -> dict[str, Any]:
        async with self.db.read_only() as session:
            snapshot = await snapshot_of(session, battery_id)
        await self.redis.set(_battery_key(battery_id), orjson.dumps(snapshot), ex=SNAPSHOT_TTL_S)
        return snapshot

    async def by_reference(
        self, kind: str, value: str, limit: Sequence[Bucket] | None = None
    ) -> dict[str, Any] | None:
        """The snapshot of the battery in the vehicle with this plate or VIN (None: no battery
        on record): one Redis round trip — the rate-limit take of `limit` included — when
        both the reference and the snapshot are cached."""
        prefix = KEY_PREFIX + "battery:"
        if limit is None:
            found = await self._lookup(keys=[_ref_key(kind, value)], args=[prefix])
        else:
            keys = [RATE_KEY_PREFIX + b.key for b in limit] + [_ref_key(kind, value)]
            args: list[Any] = [len(limit)]
            for bucket in limit:
                args += [bucket.rate_per_s, bucket.burst]
            result = await self._limited_lookup(keys=keys, args=[*args, prefix])
            wait_ms = int(result[0])
            if wait_ms > 0:
                raise RateLimitedError(math.ceil(wait_ms / 100) / 10)
            found = result[1:]
        battery_raw, snapshot_raw = found[0], found[1]
        if battery_raw is None:
            battery_id = await self.battery_of(kind, value)
        else:
            text = battery_raw.decode() if isinstance(battery_raw, bytes) else str(battery_raw)
            battery_id = None if text == NO_BATTERY else text
        if battery_id is None:
            return None
        if snapshot_raw is not None:
            value_: dict[str, Any] = orjson.loads(snapshot_raw)
            return value_
        return await self._load_snapshot(battery_id)

    async def battery_of(self, kind: str, value: str) -> str | None:
        """The battery installed in the vehicle with this plate or VIN (None: none known)."""
        key = _ref_key(kind, value)
        cached = await self.redis.get(key)
        if cached is not None:
            text = cached.decode() if isinstance(cached, bytes) else str(cached)
            return None if text == NO_BATTERY else text
        async with self.db.read_only() as session:
            column = Vehicle.plate if kind == "plate" else Vehicle.vin
            vehicle_id = (await session.exec(select(Vehicle.id).where(column == value))).first()
            battery_id = (
                await installed_battery_id(session, vehicle_id) if vehicle_id is not None else None
            )
        await self.redis.set(key, battery_id or NO_BATTERY, ex=REF_TTL_S)
        return battery_id

    async def invalidate(self, battery_ids: Iterable[str]) -> None:
        keys = [_battery_key(b) for b in set(battery_ids)]
        if keys:
            await self.redis.delete(*keys)

    # -- facilities ----------------------------------------------------------------------

    async def facility(self, facility_id: str) -> ParkingFacility | None:
        now = time.monotonic()
        held = self._facilities.get(facility_id)
        if held is not None and held[0] > now:
            return held[1]
        async with self.db.read_only() as session:
            row = await session.get(ParkingFacility, facility_id)
        if len(self._facilities) > 10_000:
            self._facilities.clear()
        self._facilities[facility_id] = (now + FACILITY_TTL_S, row)
        return row

    # -- deciding -------------------------------------------------------------------------

    async def decide(
        self,
        principal: Principal,
        query: GateQuery,
        limit: Sequence[Bucket] | None = None,
        limiter: RateLimiter | None = None,
    ) -> Decision:
        """The gate's decision. With `limit` (and the `limiter` for the paths that do not
        look up by plate or VIN) the caller's rate limit is taken first, in the same Redis
        round trip as a cached lookup; `RateLimitedError` when a bucket is empty."""
        principal.require_role(GATE_ROLES)
        if limit is not None and (query.battery_id or not (query.plate or query.vin)):
            assert limiter is not None
            wait = await limiter.take(list(limit))
            if wait is not None:
                raise RateLimitedError(wait)
            limit = None
        given = [v for v in (query.plate, query.vin, query.battery_id) if v]
        if len(given) != 1:
            raise InvalidInputError("give exactly one of plate, vin or batteryId", field="plate")
        override: dict[str, Any] | None = None
        underground = query.underground
        if query.facility_id:
            facility = await self.facility(query.facility_id)
            if facility is None or (
                principal.role is not Role.PLATFORM
                and facility.organisation_id != principal.organisation_id
            ):
                raise NotFoundError(f"no facility {query.facility_id!r}", field="facilityId")
            if underground is not None and underground != facility.underground:
                raise InvalidInputError(
                    "underground contradicts the facility's registration", field="underground"
                )
            underground = facility.underground
            override = facility.policy or None
        if underground is None:
            raise InvalidInputError("give a facilityId or underground", field="underground")
        rules = policy().at(underground=underground, override=override)
        if query.battery_id:
            battery_id: str | None = parse_battery_id(query.battery_id)
        elif query.plate:
            plate = normalise_plate(query.plate)
            if not 0 < len(plate) <= MAX_REF:
                raise InvalidInputError("a plate is 1-40 characters", field="plate")
            return decide(
                await self.by_reference("plate", plate, limit), underground=underground, rules=rules
            )
        else:
            assert query.vin is not None
            vin = query.vin.strip().upper()
            if not 0 < len(vin) <= MAX_REF:
                raise InvalidInputError("a VIN is 1-40 characters", field="vin")
            return decide(
                await self.by_reference("vin", vin, limit), underground=underground, rules=rules
            )
        snapshot = await self.snapshot(battery_id) if battery_id is not None else None
        return decide(snapshot, underground=underground, rules=rules)


async def register_facility(
    session: AsyncSession,
    principal: Principal,
    *,
    facility_id: str | None,
    name: str,
    underground: bool,
    facility_policy: dict[str, Any] | None,
) -> ParkingFacility:
    principal.require_role(GATE_ROLES)
    assert principal.organisation_id is not None
    name = name.strip()
    if not 0 < len(name) <= 200:
        raise InvalidInputError("a facility name is 1-200 characters", field="name")
    identifier = (facility_id or str(uuid.uuid4())).strip()
    if not 0 < len(identifier) <= 64 or not all(c.isalnum() or c in "-_." for c in identifier):
        raise InvalidInputError(
            "a facility id is 1-64 letters, digits, '-', '_' or '.'", field="facilityId"
        )
    if facility_policy:
        try:
            policy().at(underground=underground, override=facility_policy)
        except ValueError as exc:
            raise InvalidInputError(str(exc), field="policy") from None
        unknown = set(facility_policy) - {"deny_grades", "deny_severities", "unknown_vehicle"}
        if unknown:
            raise InvalidInputError(
                f"unknown policy keys: {', '.join(sorted(unknown))}", field="policy"
            )
    if await session.get(ParkingFacility, identifier) is not None:
        raise AlreadyExistsError(f"facility {identifier!r} exists", field="facilityId")
    row = ParkingFacility(
        id=identifier,
        organisation_id=principal.organisation_id,
        name=name,
        underground=underground,
        policy=dict(facility_policy or {}),
        created_at=datetime.now(UTC),
    )
    session.add(row)
    await session.flush()
    return row


async def facilities_of(session: AsyncSession, organisation_id: int) -> list[ParkingFacility]:
    rows = await session.exec(
        select(ParkingFacility)
        .where(ParkingFacility.organisation_id == organisation_id)
        .order_by(col(ParkingFacility.id))
    )
    return list(rows.all())


class GateKeys:
    """The gate endpoint's API keys, resolved once per `ttl_s` per process.

    A gate asks many times a second with the same key; resolving it through the database
    each time would cost more than the decision. A revoked gate key therefore keeps working
    for up to `ttl_s` seconds on a process that has seen it (docs/DECISIONS.md).
    """

    def __init__(self, ttl_s: float = 10.0, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._held: dict[str, tuple[float, Principal]] = {}

    def get(self, authorization: str) -> Principal | None:
        held = self._held.get(self._digest(authorization))
        if held is None or held[0] < time.monotonic():
            return None
        return held[1]

    def put(self, authorization: str, principal: Principal) -> None:
        if len(self._held) >= self.max_entries:
            self._held.clear()
        self._held[self._digest(authorization)] = (time.monotonic() + self.ttl_s, principal)

    @staticmethod
    def _digest(authorization: str) -> str:
        return hashlib.sha256(authorization.encode()).hexdigest()
