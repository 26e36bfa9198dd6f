"""`GET /parking/v1/decision`: the parking gate controllers' REST endpoint.

Query: `facilityId` (a registered facility of the caller's organisation) or `underground`
(true/false), and exactly one of `plate`, `vin`, `batteryId`. Answers
`{"decision": "ALLOW" | "DENY" | "ALLOW_WITH_CHARGE_CAP", "reasons": […], "batteryId",
"grade", "chargeCapPct", "underground"}`. Needs a parking-operator API key
(`Authorization: Bearer bpp_…`); rate limited like the GraphQL API (the caller's role bucket
and its IP's, `settings.rate_limits`); refusals are application/problem+json.
"""

from __future__ import annotations

import math

import orjson
from fastapi import APIRouter, Request, Response

from backend.auth.principal import Principal
from backend.kit.errors import InvalidInputError, UnauthenticatedError
from backend.kit.ratelimit import Bucket
from backend.parking.service import GateKeys, GateQuery, RateLimitedError
from backend.runtime import Runtime

router = APIRouter(tags=["parking"])
_keys = GateKeys()
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


def _flag(value: str | None) -> bool | None:
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise InvalidInputError("underground is true or false", field="underground")


async def _principal(runtime: Runtime, authorization: str | None) -> Principal:
    if not authorization:
        raise UnauthenticatedError("a gate needs a parking-operator API key (Bearer)")
    held = _keys.get(authorization)
    if held is not None:
        return held
    if runtime.auth is None:
        raise UnauthenticatedError("authentication is not available")
    principal = await runtime.auth.resolver.resolve_header(authorization)
    _keys.put(authorization, principal)
    return principal


def _problem(status: int, code: str, detail: str, path: str, **headers: str) -> Response:
    body = {
        "type": f"urn:bpp:error:{code.lower()}",
        "title": code,
        "status": status,
        "detail": detail,
        "instance": path,
    }
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type="application/problem+json",
        headers=headers or None,
    )


def _client_ip(request: Request, runtime: Runtime) -> str:
    if runtime.settings.trust_forwarded_for:
        forwarded = request.headers.get("x-forwarded-for")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.client.host if request.client else "unknown"


def _anonymous_buckets(runtime: Runtime, request: Request) -> list[Bucket]:
    settings = runtime.settings
    ip = _client_ip(request, runtime)
    rate = settings.rate_limits.get("anonymous", settings.rate_limits.get("default", 50.0))
    ip_rate = settings.rate_limit_ip_per_s
    burst_s = settings.rate_limit_burst_s
    return [
        Bucket(f"ip:{ip}", ip_rate, max(1.0, ip_rate * burst_s)),
        Bucket(f"anon:{ip}", rate, max(1.0, rate * burst_s)),
    ]


def _buckets(runtime: Runtime, principal: Principal, ip: str) -> list[Bucket]:
    """The GraphQL API's buckets (graphql_schema/guard.py): the caller's role rate and its
    IP's, both from `settings.rate_limits` / `rate_limit_ip_per_s`."""
    settings = runtime.settings
    burst_s = settings.rate_limit_burst_s
    rates = settings.rate_limits
    role = principal.role.value if principal.role is not None else str(principal.kind)
    rate = rates.get(role, rates.get("default", 50.0))
    ip_rate = settings.rate_limit_ip_per_s
    return [
        Bucket(f"ip:{ip}", ip_rate, max(1.0, ip_rate * burst_s)),
        Bucket(f"p:{principal.subject}", rate, max(1.0, rate * burst_s)),
    ]


async def gate_decision(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    try:
        principal = await _principal(runtime, request.headers.get("authorization"))
    except UnauthenticatedError:
        # Failed sign-ins count against the address like anonymous GraphQL requests do, so
        # guessing keys costs the guesser, not the database.
        wait = await runtime.rate_limiter.take(_anonymous_buckets(runtime, request))
        if wait is not None:
            return _problem(
                429,
                "RATE_LIMITED",
                f"rate limit reached; retry after {wait} s",
                request.url.path,
                **{"Retry-After": str(max(1, math.ceil(wait)))},
            )
        raise
    params = request.query_params
    try:
        decision = await runtime.parking.decide(
            principal,
            GateQuery(
                facility_id=params.get("facilityId"),
                underground=_flag(params.get("underground")),
                plate=params.get("plate"),
                vin=params.get("vin"),
                battery_id=params.get("batteryId"),
            ),
            _buckets(runtime, principal, _client_ip(request, runtime)),
            runtime.rate_limiter,
        )
    except RateLimitedError as limited:
        return _problem(
            429,
            "RATE_LIMITED",
            str(limited),
            request.url.path,
            **{"Retry-After": str(max(1, math.ceil(limited.retry_after_s)))},
        )
    return Response(
        orjson.dumps(decision.to_json()),
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


# A plain Starlette route: the endpoint reads its own query, so FastAPI's dependency solving
# and validation layer would only add cost to every gate request (see docs/BENCHMARKS.md).
router.add_route("/parking/v1/decision", gate_decision, methods=["GET"], name="gate_decision")
