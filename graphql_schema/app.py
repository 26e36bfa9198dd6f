"""Mount the GraphQL schema on FastAPI (GraphiQL in development only).

Every error in a response carries `extensions.code`: `GRAPHQL_PARSE_FAILED` and
`GRAPHQL_VALIDATION_FAILED` for documents refused before execution (a required input field
left out, say), `INTERNAL_SERVER_ERROR` for an unexpected failure — whose message, outside
development, is replaced by the request id to quote to support; the details go to the log.
Expected failures are not errors at all but typed union results (`PassportError`).
"""

from __future__ import annotations

from typing import Any

import structlog
from graphql import GraphQLError
from starlette.requests import Request
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLHTTPResponse
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult

from backend.kit.errors import DomainError
from backend.settings import Settings
from graphql_schema.context import Context, get_context
from graphql_schema.schema import build_schema

log = structlog.get_logger("bpp.graphql")


def error_code(error: GraphQLError) -> str:
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
        self.mask_internal_errors = not settings.is_development

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
