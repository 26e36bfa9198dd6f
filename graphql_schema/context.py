"""Per-request GraphQL context: the runtime, the caller, and request-scoped DataLoaders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection
from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext

from backend.auth.principal import ANONYMOUS, Principal
from backend.issuance import service as issuance
from backend.issuance.models import IssuedCredential
from backend.kit.errors import DomainError

if TYPE_CHECKING:
    from backend.runtime import Runtime


class Loaders:
    """DataLoaders of one request: each batches the lookups of a whole result into one query."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.passport_by_battery: DataLoader[str, IssuedCredential | None] = DataLoader(
            self._passports
        )

    async def _passports(self, battery_ids: Sequence[str]) -> list[IssuedCredential | None]:
        async with self.runtime.db.read_only() as session:
            found = await issuance.current_passport_credentials(session, list(battery_ids))
        return [found.get(battery_id) for battery_id in battery_ids]


@dataclass
class Context(BaseContext):
    runtime: Runtime
    principal: Principal
    presented_credentials: bool
    # Why a presented bearer token was refused (expired, revoked, malformed): the request then
    # runs as anonymous, and a write answers UNAUTHENTICATED.
    auth_error: DomainError | None = None
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        super().__init__()
        self.loaders = Loaders(self.runtime)


async def resolve_principal(
    runtime: Runtime, authorization: str | None
) -> tuple[Principal, DomainError | None]:
    """The caller behind `Authorization: Bearer …` (API key, access token, trusted OIDC)."""
    if runtime.auth is None:
        return ANONYMOUS, None
    try:
        return await runtime.auth.resolver.resolve_header(authorization), None
    except DomainError as error:
        return ANONYMOUS, error


async def get_context(connection: HTTPConnection) -> Context:
    """Context of an HTTP request or a WebSocket connection (subscriptions)."""
    runtime: Runtime = connection.app.state.runtime
    authorization = connection.headers.get("authorization")
    principal, error = await resolve_principal(runtime, authorization)
    return Context(
        runtime=runtime,
        principal=principal,
        presented_credentials=authorization is not None,
        auth_error=error,
    )
