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

from backend.audit.service import record
from backend.auth.policy import Resource, ResourceKind
from backend.kit import idempotency
from backend.kit.errors import DomainError, ErrorCode

if TYPE_CHECKING:
    from graphql_schema.context import Context


@strawberry.enum(description="Why a battery, passport, vehicle or lifecycle operation failed.")
class PassportErrorCode(Enum):
    NOT_FOUND = ErrorCode.NOT_FOUND.value
    INVALID_INPUT = ErrorCode.INVALID_INPUT.value
    ALREADY_EXISTS = ErrorCode.ALREADY_EXISTS.value
    ALREADY_REVOKED = ErrorCode.ALREADY_REVOKED.value
    FORBIDDEN = ErrorCode.FORBIDDEN.value
    UNAUTHENTICATED = ErrorCode.UNAUTHENTICATED.value
    CONFLICT = ErrorCode.CONFLICT.value
    UNAVAILABLE = ErrorCode.UNAVAILABLE.value
    PASSPORT_CEASED = ErrorCode.PASSPORT_CEASED.value
    INVALID_VIN = ErrorCode.INVALID_VIN.value
    LIFECYCLE_TRANSITION = ErrorCode.LIFECYCLE_TRANSITION.value
    BATTERY_INSTALLED = ErrorCode.BATTERY_INSTALLED.value
    EVENT_NOT_ANCHORED = ErrorCode.EVENT_NOT_ANCHORED.value
    EVENT_CHAIN_BROKEN = ErrorCode.EVENT_CHAIN_BROKEN.value


@strawberry.enum(
    description="Why a sign-up, sign-in, session, consent or personal-data operation failed."
)
class AccountErrorCode(Enum):
    NOT_FOUND = ErrorCode.NOT_FOUND.value
    INVALID_INPUT = ErrorCode.INVALID_INPUT.value
    ALREADY_EXISTS = ErrorCode.ALREADY_EXISTS.value
    FORBIDDEN = ErrorCode.FORBIDDEN.value
    UNAUTHENTICATED = ErrorCode.UNAUTHENTICATED.value
    CONFLICT = ErrorCode.CONFLICT.value
    UNAVAILABLE = ErrorCode.UNAVAILABLE.value
    INVALID_CREDENTIALS = ErrorCode.INVALID_CREDENTIALS.value
    TOKEN_INVALID = ErrorCode.TOKEN_INVALID.value
    TOKEN_EXPIRED = ErrorCode.TOKEN_EXPIRED.value
    TOKEN_REVOKED = ErrorCode.TOKEN_REVOKED.value
    REFRESH_TOKEN_REUSED = ErrorCode.REFRESH_TOKEN_REUSED.value
    CHALLENGE_INVALID = ErrorCode.CHALLENGE_INVALID.value
    PRESENTATION_REJECTED = ErrorCode.PRESENTATION_REJECTED.value


@strawberry.enum(description="Why an authority operation (accreditation, audit log) failed.")
class AuthorityErrorCode(Enum):
    NOT_FOUND = ErrorCode.NOT_FOUND.value
    INVALID_INPUT = ErrorCode.INVALID_INPUT.value
    FORBIDDEN = ErrorCode.FORBIDDEN.value
    UNAUTHENTICATED = ErrorCode.UNAUTHENTICATED.value
    CONFLICT = ErrorCode.CONFLICT.value
    UNAVAILABLE = ErrorCode.UNAVAILABLE.value


@strawberry.enum(description="Why a charging, safety or parking operation failed.")
class SafetyErrorCode(Enum):
    NOT_FOUND = ErrorCode.NOT_FOUND.value
    INVALID_INPUT = ErrorCode.INVALID_INPUT.value
    ALREADY_EXISTS = ErrorCode.ALREADY_EXISTS.value
    FORBIDDEN = ErrorCode.FORBIDDEN.value
    UNAUTHENTICATED = ErrorCode.UNAUTHENTICATED.value
    CONFLICT = ErrorCode.CONFLICT.value
    UNAVAILABLE = ErrorCode.UNAVAILABLE.value


# Codes of lower layers that a domain's enum does not list: what the client should do about
# them is what the generic code says (a chain node out of reach is UNAVAILABLE).
_FALLBACK = {
    400: "INVALID_INPUT",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    409: "CONFLICT",
    422: "INVALID_INPUT",
}


EnumT = TypeVar("EnumT", bound=Enum)


def _code_in(enum: type[EnumT], error: DomainError) -> EnumT:
    try:
        return enum(error.code.value)
    except ValueError:
        return enum(_FALLBACK.get(error.status_code, "UNAVAILABLE"))


class DomainFailure(Protocol):
    @classmethod
    def from_domain(cls, error: DomainError) -> Any: ...


@strawberry.type(description="An expected failure of a passport operation: nothing was written.")
class PassportError:
    code: PassportErrorCode
    message: str
    field: str | None = None

    @classmethod
    def from_domain(cls, error: DomainError) -> PassportError:
        return cls(
            code=_code_in(PassportErrorCode, error), message=error.message, field=error.field
        )


@strawberry.type(description="An expected failure of an account operation: nothing was written.")
class AccountError:
    code: AccountErrorCode
    message: str
    field: str | None = None

    @classmethod
    def from_domain(cls, error: DomainError) -> AccountError:
        return cls(code=_code_in(AccountErrorCode, error), message=error.message, field=error.field)


@strawberry.type(description="An expected failure of an authority operation: nothing was written.")
class AuthorityError:
    code: AuthorityErrorCode
    message: str
    field: str | None = None

    @classmethod
    def from_domain(cls, error: DomainError) -> AuthorityError:
        return cls(
            code=_code_in(AuthorityErrorCode, error), message=error.message, field=error.field
        )


@strawberry.type(description="An expected failure of a safety operation: nothing was written.")
class SafetyError:
    code: SafetyErrorCode
    message: str
    field: str | None = None

    @classmethod
    def from_domain(cls, error: DomainError) -> SafetyError:
        return cls(code=_code_in(SafetyErrorCode, error), message=error.message, field=error.field)


class Replayable(Protocol):
    """A success result that can be stored for an idempotent replay and rebuilt from it."""

    def replay_data(self) -> dict[str, Any]: ...


ResultT = TypeVar("ResultT", bound=Replayable)
ErrorT = TypeVar("ErrorT", bound=DomainFailure)


def principal_key(context: Context) -> str:
    """Whose idempotency keys these are: an organisation's keys are shared by its clients."""
    principal = context.principal
    if principal.organisation_id is not None:
        return f"org:{principal.organisation_id}"
    return principal.subject


def _caller_resource(context: Context) -> Resource:
    principal = context.principal
    return Resource(ResourceKind.ORGANISATION, id=principal.subject)


async def run_mutation(
    info: strawberry.Info[Context, None],
    *,
    operation: str,
    request: dict[str, Any],
    idempotency_key: str | None,
    work: Callable[[AsyncSession], Awaitable[ResultT]],
    replay: Callable[[AsyncSession, dict[str, Any]], Awaitable[ResultT]],
    audit: Callable[[ResultT], Resource] | None = None,
    error: type[ErrorT] = PassportError,  # type: ignore[assignment]
    why: str | None = None,
) -> ResultT | ErrorT:
    """Run `work` in one unit of work with its audit entry; a replay writes nothing."""
    runtime = info.context.runtime

    async def audited(session: AsyncSession) -> ResultT:
        value = await work(session)
        await record(
            session,
            info.context.principal,
            f"graphql.{operation}",
            audit(value) if audit is not None else _caller_resource(info.context),
            reason=why or operation,
            request_id=info.context.request_id,
        )
        return value

    try:
        async with runtime.db.unit_of_work() as session:
            if idempotency_key is None:
                return_value = await audited(session)
            else:
                key = idempotency.validate_key(idempotency_key)
                who = principal_key(info.context)
                digest = idempotency.request_hash(operation, request)
                stored = await idempotency.find_replay(
                    session, principal=who, key=key, operation=operation, digest=digest
                )
                if stored is not None:
                    return await replay(session, stored)
                return_value = await audited(session)
                idempotency.remember(
                    session,
                    principal=who,
                    key=key,
                    operation=operation,
                    digest=digest,
                    result=return_value.replay_data(),
                )
    except DomainError as failure:
        return error.from_domain(failure)  # type: ignore[no-any-return]
    if runtime.outbox is not None:
        runtime.outbox.wake()
    return return_value
