"""Per-request GraphQL context: the runtime, the caller and request-scoped helpers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from strawberry.fastapi import BaseContext

from backend.auth.principal import ANONYMOUS, Principal
from backend.orgs.service import authenticate_api_key

if TYPE_CHECKING:
    from backend.runtime import Runtime


@dataclass
class Context(BaseContext):
    runtime: Runtime
    principal: Principal
    presented_credentials: bool

    def __post_init__(self) -> None:
        super().__init__()


def bearer_token(headers: Any) -> str | None:
    value = headers.get("authorization")
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return str(token.strip())


async def principal_from_request(runtime: Runtime, request: Request) -> tuple[Principal, bool]:
    token = bearer_token(request.headers)
    if token is None:
        return ANONYMOUS, False
    async with runtime.db.read_only() as session:
        principal = await authenticate_api_key(
            session, token, runtime.settings.secret_key.get_secret_value()
        )
    return principal, True


async def get_context(request: Request) -> Context:
    runtime: Runtime = request.app.state.runtime
    principal, presented = await principal_from_request(runtime, request)
    return Context(runtime=runtime, principal=principal, presented_credentials=presented)
