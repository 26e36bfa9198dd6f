"""What every GraphQL request passes before it runs: rate limits, the persisted-query
allow-list and the cost limit — each refusal an error with its own `extensions.code`, before
any resolver runs.

- `RATE_LIMITED` (HTTP 429, `Retry-After`, `extensions.retryAfter` in seconds): the caller's
  token bucket (by role or kind) or its IP's is empty.
- `PERSISTED_QUERY_NOT_FOUND`: `extensions.persistedQuery.sha256Hash` names no registered
  document, or (allow-list mode, production) the request sent a document that is not
  registered.
- `PERSISTED_QUERY_MISMATCH`: a document sent with a hash that is not its SHA-256.
- `QUERY_COST_EXCEEDED` (`extensions.cost`): the operation's static cost is over the limit.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphql import DocumentNode, GraphQLError, GraphQLSchema, parse
from graphql.error import GraphQLSyntaxError

from backend.api.persisted import PersistedQueries
from backend.auth.principal import AuthMethod, Principal, PrincipalKind
from backend.kit.ratelimit import Bucket, RateLimiter
from backend.settings import Settings
from graphql_schema.cost import operation_cost

if TYPE_CHECKING:
    from starlette.requests import Request


@dataclass(frozen=True, slots=True)
class Refusal:
    code: str
    message: str
    extensions: dict[str, Any]
    status: int = 200
    retry_after: float | None = None

    def error(self) -> GraphQLError:
        return GraphQLError(self.message, extensions={"code": self.code, **self.extensions})


@functools.lru_cache(maxsize=512)
def parsed(document: str) -> DocumentNode | None:
    """Parsed documents, shared by requests (persisted queries repeat the same few)."""
    try:
        return parse(document)
    except GraphQLSyntaxError:
        return None  # execution reports the syntax error with its location


def limit_key(principal: Principal) -> str:
    """Which rate applies: an organisation's role, else the kind of principal."""
    if principal.auth_method is AuthMethod.PRESENTATION:
        return "role-session"
    if principal.kind is PrincipalKind.ORGANISATION and principal.role is not None:
        return principal.role.value
    return str(principal.kind)


def client_ip(request: Request, settings: Settings) -> str:
    if settings.trust_forwarded_for:
        forwarded = request.headers.get("x-forwarded-for")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.client.host if request.client else "unknown"


class ApiGuard:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _bucket(self, key: str, rate: float) -> Bucket:
        return Bucket(key, rate, max(1.0, rate * self.settings.rate_limit_burst_s))

    async def rate_limit(
        self, limiter: RateLimiter, principal: Principal, ip: str
    ) -> Refusal | None:
        rates = self.settings.rate_limits
        kind = limit_key(principal)
        rate = rates.get(kind, rates.get("default", 50.0))
        buckets = [self._bucket(f"ip:{ip}", self.settings.rate_limit_ip_per_s)]
        if principal.is_authenticated:
            buckets.append(self._bucket(f"p:{principal.subject}", rate))
        else:
            buckets.append(self._bucket(f"anon:{ip}", rate))
        wait = await limiter.take(buckets)
        if wait is None:
            return None
        return Refusal(
            "RATE_LIMITED",
            f"rate limit reached; retry after {wait} s",
            {"retryAfter": wait},
            status=429,
            retry_after=wait,
        )

    async def document(
        self, store: PersistedQueries, query: str | None, extensions: dict[str, Any] | None
    ) -> tuple[str | None, Refusal | None]:
        """The document to run: the persisted one named by hash, or the one sent (allowed
        unless the allow-list is enforced and it is not registered)."""
        persisted = (extensions or {}).get("persistedQuery")
        digest = None
        if isinstance(persisted, dict):
            if persisted.get("version") != 1 or not isinstance(persisted.get("sha256Hash"), str):
                return None, Refusal(
                    "PERSISTED_QUERY_NOT_FOUND",
                    "persistedQuery needs version 1 and a sha256Hash",
                    {},
                )
            digest = persisted["sha256Hash"].lower()
        if query is not None:
            actual = hashlib.sha256(query.encode()).hexdigest()
            if digest is not None and digest != actual:
                return None, Refusal(
                    "PERSISTED_QUERY_MISMATCH", "sha256Hash is not the hash of the query", {}
                )
            if self.settings.enforces_allowlist and await store.lookup(actual) is None:
                return None, Refusal(
                    "PERSISTED_QUERY_NOT_FOUND",
                    "only registered documents run here; send a registered sha256Hash",
                    {},
                )
            return query, None
        if digest is None:
            return None, None  # no query at all: the view answers 400
        found = await store.lookup(digest)
        if found is None:
            return None, Refusal(
                "PERSISTED_QUERY_NOT_FOUND", f"no registered document {digest[:12]}…", {}
            )
        return found, None

    def cost(
        self,
        schema: GraphQLSchema,
        query: str,
        operation_name: str | None,
        variables: dict[str, Any] | None,
    ) -> tuple[int, Refusal | None]:
        document = parsed(query)
        if document is None:
            return 0, None
        cost = operation_cost(schema, document, operation_name, variables)
        maximum = self.settings.graphql_max_cost
        if cost > maximum:
            return cost, Refusal(
                "QUERY_COST_EXCEEDED",
                f"the operation costs {cost}, more than the limit of {maximum}; ask for "
                "smaller pages or fewer nested lists",
                {"cost": {"requested": cost, "maximum": maximum}},
            )
        return cost, None
