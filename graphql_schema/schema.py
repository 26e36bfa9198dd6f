"""The GraphQL schema: every domain's queries, mutations and subscriptions, with limits."""

from __future__ import annotations

from collections.abc import Callable

import strawberry
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.tools import merge_types

from graphql_schema.passports import PassportMutation, PassportQuery
from graphql_schema.relay import Node
from graphql_schema.subscriptions import Subscription

MAX_DEPTH = 10
MAX_ALIASES = 15
MAX_TOKENS = 2000

Query = merge_types("Query", (PassportQuery,))
Mutation = merge_types("Mutation", (PassportMutation,))


def build_schema(*, production: bool, max_depth: int = MAX_DEPTH) -> strawberry.Schema:
    """The schema; production leaves out introspection (the router masks unexpected errors)."""
    extensions: list[Callable[[], SchemaExtension]] = [
        lambda: QueryDepthLimiter(max_depth=max_depth),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
    ]
    if production:
        extensions.append(DisableIntrospection)
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        types=[Node],
    )


schema = build_schema(production=False)
