"""Per-request GraphQL context: the runtime, the caller, and request-scoped DataLoaders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import HTTPConnection
from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext

from backend.auth.principal import ANONYMOUS, Principal
from backend.issuance import service as issuance
from backend.issuance.models import IssuedCredential
from backend.orgs.service import authenticate_api_key

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
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        super().__init__()
        self.loaders = Loaders(self.runtime)


def bearer_token(headers: Any) -> str | None:
    value = headers.get("authorization") if headers else None
    if not value or not isinstance(value, str):
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def principal_for_token(runtime: Runtime, token: str | None) -> tuple[Principal, bool]:
    if token is None:
        return ANONYMOUS, False
    async with runtime.db.read_only() as session:
        principal = await authenticate_api_key(
            session, token, runtime.settings.secret_key.get_secret_value()
        )
    return principal, True


async def get_context(connection: HTTPConnection) -> Context:
    """Context of an HTTP request or a WebSocket connection (subscriptions)."""
    runtime: Runtime = connection.app.state.runtime
    principal, presented = await principal_for_token(runtime, bearer_token(connection.headers))
    return Context(runtime=runtime, principal=principal, presented_credentials=presented)
