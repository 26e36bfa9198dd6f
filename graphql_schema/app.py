"""Mount the GraphQL schema on FastAPI (GraphiQL in development only)."""

from __future__ import annotations

from strawberry.fastapi import GraphQLRouter
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from backend.settings import Settings
from graphql_schema.context import Context, get_context
from graphql_schema.schema import build_schema


def graphql_router(settings: Settings) -> GraphQLRouter[Context, None]:
    return GraphQLRouter(
        build_schema(production=not settings.is_development),
        context_getter=get_context,
        graphql_ide="graphiql" if settings.is_development else None,
        subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
    )
