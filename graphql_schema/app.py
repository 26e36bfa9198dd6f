"""Mount the GraphQL schema on FastAPI (GraphiQL in development only).

Every error in a response carries `extensions.code`: `GRAPHQL_PARSE_FAILED` and
`GRAPHQL_VALIDATION_FAILED` for documents refused before execution (a required input field
left out, say), `INTERNAL_SERVER_ERROR` for an unexpected failure — whose message, outside
development, is replaced by the request id to quote to support; the details go to the log.
Expected failures are not errors at all but typed union results (`PassportError`).
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import orjson
import strawberry
import structlog
from fastapi import Response
from graphql import GraphQLError, GraphQLSchema
from starlette.requests import Request
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult

from backend.kit.errors import DomainError
from backend.settings import Settings
from credentials import fastjson
from graphql_schema.context import Context, get_context
from graphql_schema.guard import ApiGuard, client_ip
from graphql_schema.schema import build_schema

if TYPE_CHECKING:
    from cross_web import AsyncHTTPRequestAdapter
    from strawberry.http.base import BaseRequestProtocol

log = structlog.get_logger("bpp.graphql")
SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


def error_code(error: GraphQLError) -> str:
    given = (error.extensions or {}).get("code")
    if isinstance(given, str):
        return given  # set by the guard (RATE_LIMITED, QUERY_COST_EXCEEDED, …)
    original = error.original_error
    if isinstance(original, DomainError):
        return original.code.value  # an expected failure outside a union field (a bad cursor)
    if original is not None and not isinstance(original, GraphQLError):
        return "INTERNAL_SERVER_ERROR"
    if error.message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    return "GRAPHQL_VALIDATION_FAILED"


class PlatformGraphQLRouter(GraphQLRouter[Context, None]):
    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.mask_internal_errors = not settings.is_development
        self.hide_suggestions = not settings.is_development
        self.guard = ApiGuard(settings)
        schema: strawberry.Schema = kwargs["schema"]
        self.core_schema: GraphQLSchema = schema._schema

    def decode_json(self, data: str | bytes) -> object:
        """Request bodies through orjson: integers beyond 64 bits stay exact, NaN is refused."""
        try:
            return fastjson.loads(data)
        except json.JSONDecodeError:
            raise
        except ValueError as exc:
            raise json.JSONDecodeError(str(exc), "", 0) from None

    def encode_json(self, data: object) -> str | bytes:
        try:
            return orjson.dumps(data)
        except TypeError:  # e.g. an integer beyond 64 bits in a JSON scalar
            return json.dumps(data)

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        """A GET naming a persisted query by hash (no `query`) is a query, not the IDE."""
        if request.query_params.get("extensions") is not None:
            return False
        return super().should_render_graphql_ide(request)

    async def execute_single(  # noqa: PLR0917 - the base class's signature
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """Rate limit, allow-list and cost first; then run within the time limit."""
        runtime = context.runtime
        refusal = await self.guard.rate_limit(
            runtime.rate_limiter, context.principal, client_ip(request, self.settings)
        )
        query = request_data.query
        if refusal is None:
            query, refusal = await self.guard.document(
                runtime.persisted_queries, request_data.query, request_data.extensions
            )
        cost = 0
        if refusal is None and query is not None:
            cost, refusal = self.guard.cost(
                self.core_schema,
                query,
                request_data.operation_name,
                request_data.variables,
            )
        if refusal is not None:
            if refusal.status != 200:
                sub_response.status_code = refusal.status
            if refusal.retry_after is not None:
                sub_response.headers["Retry-After"] = str(math.ceil(refusal.retry_after))
            return ExecutionResult(data=None, errors=[refusal.error()])
        try:
            result = await asyncio.wait_for(
                super().execute_single(
                    request,
                    request_adapter,
                    sub_response,
                    context,
                    root_value,
                    replace(request_data, query=query),
                ),
                timeout=self.settings.graphql_timeout_s,
            )
        except TimeoutError:
            return ExecutionResult(
                data=None,
                errors=[
                    GraphQLError(
                        f"the operation ran longer than {self.settings.graphql_timeout_s} s",
                        extensions={"code": "EXECUTION_TIMEOUT"},
                    )
                ],
            )
        result.extensions = {
            **(result.extensions or {}),
            "cost": {"requested": cost, "maximum": self.settings.graphql_max_cost},
        }
        if request_adapter.method == "GET":
            cacheable = not context.principal.is_authenticated and not result.errors
            sub_response.headers["Cache-Control"] = (
                "public, max-age=30" if cacheable else "private, no-store"
            )
            sub_response.headers["Vary"] = "Authorization"
        return result

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        response: GraphQLHTTPResponse = {"data": result.data}
        if result.errors:
            request_id = request.scope.get("state", {}).get("request_id")
            response["errors"] = [self._format(error, request_id) for error in result.errors]
        if result.extensions:
            response["extensions"] = result.extensions
        return response

    def _format(self, error: GraphQLError, request_id: str | None) -> dict[str, Any]:
        formatted: dict[str, Any] = dict(error.formatted)
        code = error_code(error)
        extensions = dict(formatted.get("extensions") or {})
        extensions["code"] = code
        if self.hide_suggestions and code == "GRAPHQL_VALIDATION_FAILED":
            # No "Did you mean …?" hints outside development: they map a hidden schema.
            formatted["message"] = SUGGESTION.sub("", str(formatted["message"]))
        if code == "INTERNAL_SERVER_ERROR":
            log.error("unexpected GraphQL error", exc_info=error.original_error, path=error.path)
            extensions["requestId"] = request_id
            if self.mask_internal_errors:
                formatted["message"] = f"Unexpected error; quote request id {request_id}."
        formatted["extensions"] = extensions
        return formatted


def graphql_router(settings: Settings) -> GraphQLRouter[Context, None]:
    return PlatformGraphQLRouter(
        settings,
        schema=build_schema(production=not settings.is_development),
        context_getter=get_context,
        graphql_ide="graphiql" if settings.is_development else None,
        subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
    )
