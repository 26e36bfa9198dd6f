"""The GraphQL schema: every domain's queries, mutations and subscriptions, with limits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import strawberry
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.tools import merge_types

from backend.kit.errors import DomainError
from graphql_schema import lifecycle, passports
from graphql_schema.accounts import AccountMutation, AccountQuery
from graphql_schema.authority import AuthorityMutation, AuthorityQuery
from graphql_schema.context import Context, Info
from graphql_schema.doccache import DocumentCache
from graphql_schema.inspection import InspectionMutation, InspectionQuery
from graphql_schema.lifecycle import LifecycleMutation, LifecycleQuery
from graphql_schema.passports import PassportMutation, PassportQuery
from graphql_schema.relay import Node, from_global_id
from graphql_schema.safety import SafetyMutation, SafetyQuery
from graphql_schema.subscriptions import Subscription
from graphql_schema.telemetry import TelemetryMutation, TelemetryQuery
from graphql_schema.trade import TradeMutation, TradeQuery

MAX_DEPTH = 10
MAX_ALIASES = 15
MAX_TOKENS = 2000


@strawberry.type
class NodeQuery:
    @strawberry.field(description="Any object by its global ID, authorised like its own query.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        try:
            kind, local = from_global_id(str(id))
        except DomainError:
            return None
        for resolve in (passports.node_of, lifecycle.node_of):
            found = await resolve(info, kind, local)
            if found is not None:
                return found
        return None


class AuditFlush(SchemaExtension):
    """Writes the restricted reads an operation made to the audit log when it ends."""

    async def on_operation(self) -> AsyncIterator[None]:
        yield
        context = self.execution_context.context
        if isinstance(context, Context):
            await context.audit.flush(context.runtime.db)


Query = merge_types(
    "Query",
    (
        NodeQuery,
        PassportQuery,
        LifecycleQuery,
        AccountQuery,
        AuthorityQuery,
        TelemetryQuery,
        InspectionQuery,
        TradeQuery,
        SafetyQuery,
    ),
)
Mutation = merge_types(
    "Mutation",
    (
        PassportMutation,
        LifecycleMutation,
        AccountMutation,
        AuthorityMutation,
        TelemetryMutation,
        InspectionMutation,
        TradeMutation,
        SafetyMutation,
    ),
)


def build_schema(*, production: bool, max_depth: int = MAX_DEPTH) -> strawberry.Schema:
    """The schema; production leaves out introspection (the router masks unexpected errors)."""
    extensions: list[Callable[[], SchemaExtension]] = [
        lambda: QueryDepthLimiter(max_depth=max_depth),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        AuditFlush,
    ]
    if production:
        extensions.append(DisableIntrospection)
    extensions.append(DocumentCache().extension())
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        types=[Node],
    )


schema = build_schema(production=False)
