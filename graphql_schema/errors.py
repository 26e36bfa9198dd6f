"""Expected failures as typed union members, and the one way a mutation runs.

`run_mutation` runs a mutation's work in one unit of work: on a domain error everything rolls
back and the caller gets a `PassportError` with a machine code; with an idempotency key the
first success is recorded in the same transaction and a replay returns it without running the
work again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import strawberry
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.kit import idempotency
from backend.kit.errors import DomainError, ErrorCode

if TYPE_CHECKING:
    from graphql_schema.context import Context


@strawberry.enum(description="Machine-readable reason of an expected failure.")
class PassportErrorCode(Enum):
    NOT_FOUND = ErrorCode.NOT_FOUND.value
    INVALID_INPUT = ErrorCode.INVALID_INPUT.value
    ALREADY_EXISTS = ErrorCode.ALREADY_EXISTS.value
    ALREADY_REVOKED = ErrorCode.ALREADY_REVOKED.value
    FORBIDDEN = ErrorCode.FORBIDDEN.value
    UNAUTHENTICATED = ErrorCode.UNAUTHENTICATED.value
    CONFLICT = ErrorCode.CONFLICT.value
    UNAVAILABLE = ErrorCode.UNAVAILABLE.value


@strawberry.type(description="An expected failure: nothing was written.")
class PassportError:
    code: PassportErrorCode
    message: str
    field: str | None = None

    @classmethod
    def from_domain(cls, error: DomainError) -> PassportError:
        return cls(
            code=PassportErrorCode(error.code.value), message=error.message, field=error.field
        )


class Replayable(Protocol):
    """A success result that can be stored for an idempotent replay and rebuilt from it."""

    def replay_data(self) -> dict[str, Any]: ...


ResultT = TypeVar("ResultT", bound=Replayable)


def principal_key(context: Context) -> str:
    principal = context.principal
    if principal.organisation_id is not None:
        return f"org:{principal.organisation_id}"
    return "anonymous"


async def run_mutation(
    info: strawberry.Info[Context, None],
    *,
    operation: str,
    request: dict[str, Any],
    idempotency_key: str | None,
    work: Callable[[AsyncSession], Awaitable[ResultT]],
    replay: Callable[[AsyncSession, dict[str, Any]], Awaitable[ResultT]],
) -> ResultT | PassportError:
    runtime = info.context.runtime
    try:
        async with runtime.db.unit_of_work() as session:
            if idempotency_key is None:
                return_value = await work(session)
            else:
                key = idempotency.validate_key(idempotency_key)
                who = principal_key(info.context)
                digest = idempotency.request_hash(operation, request)
                stored = await idempotency.find_replay(
                    session, principal=who, key=key, operation=operation, digest=digest
                )
                if stored is not None:
                    return await replay(session, stored)
                return_value = await work(session)
                idempotency.remember(
                    session,
                    principal=who,
                    key=key,
                    operation=operation,
                    digest=digest,
                    result=return_value.replay_data(),
                )
    except DomainError as error:
        return PassportError.from_domain(error)
    if runtime.outbox is not None:
        runtime.outbox.wake()
    return return_value
