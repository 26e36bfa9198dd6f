"""The GraphQL schema: queries and mutations of the passport slice."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import strawberry
from sqlmodel.ext.asyncio.session import AsyncSession
from strawberry.extensions import DisableIntrospection, SchemaExtension
from strawberry.scalars import JSON

from backend.issuance import service as issuance
from backend.kit.errors import DomainError, InvalidInputError
from backend.passports import service as passports
from backend.passports.service import BatteryRegistration
from graphql_schema.context import Context
from graphql_schema.types import (
    Battery,
    Credential,
    IssuePassportResult,
    IssuePassportSuccess,
    PassportError,
    RegisterBatteryResult,
    RegisterBatterySuccess,
    RevokeCredentialResult,
    RevokeCredentialSuccess,
    VerificationResult,
    VerifyCredentialResult,
)

T = TypeVar("T")
Info = strawberry.Info[Context, None]
MAX_PAGE_SIZE = 100


async def in_unit_of_work(
    info: Info, work: Callable[[AsyncSession], Awaitable[T]]
) -> T | PassportError:
    """Run a mutation's work in one transaction: commit on success, nothing written on error."""
    runtime = info.context.runtime
    try:
        async with runtime.db.unit_of_work() as session:
            result = await work(session)
    except DomainError as error:
        return PassportError.from_domain(error)
    runtime.outbox.wake()
    return result


@strawberry.input
class RegisterBatteryInput:
    identifier: str
    model: str
    manufacturer: str
    chemistry: str
    rated_capacity_ah: float
    nominal_voltage_v: float


@strawberry.input
class IssuePassportInput:
    battery_id: strawberry.ID


@strawberry.input
class RevokeCredentialInput:
    credential_id: str
    reason: str | None = None
    urgent: bool = strawberry.field(
        default=False, description="Publish on chain at once (accident, theft, fraud)."
    )


@strawberry.type
class Query:
    @strawberry.field(description="One battery by its id (a UUID) or passport id (urn:uuid:…).")
    async def battery(self, info: Info, id: strawberry.ID) -> Battery | None:
        try:
            async with info.context.runtime.db.read_only() as session:
                row = await passports.get_battery(session, str(id))
        except DomainError:
            return None
        return Battery.from_row(row)

    @strawberry.field(description="Batteries ordered by id; `after` is the last id of a page.")
    async def batteries(
        self, info: Info, first: int = 20, after: str | None = None
    ) -> list[Battery]:
        limit = max(1, min(first, MAX_PAGE_SIZE))
        async with info.context.runtime.db.read_only() as session:
            rows = await passports.list_batteries(session, limit=limit, after=after)
        return [Battery.from_row(row) for row in rows]

    @strawberry.field(description="A credential the platform issued, by its id (urn:uuid:…).")
    async def credential(self, info: Info, id: str) -> Credential | None:
        async with info.context.runtime.db.read_only() as session:
            row = await issuance.find_credential(session, id)
        return Credential.from_row(row) if row is not None else None

    @strawberry.field(description="Verify a credential: each check with pass/fail/unknown/skipped.")
    async def verify_credential(self, info: Info, credential: JSON) -> VerifyCredentialResult:
        if not isinstance(credential, dict):
            return PassportError.from_domain(
                InvalidInputError("credential must be a JSON object", field="credential")
            )
        try:
            result = await info.context.runtime.issuance.verify(credential)
        except DomainError as error:
            return PassportError.from_domain(error)
        return VerificationResult.from_json(result)


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Register a battery (manufacturer, issuer or platform key).")
    async def register_battery(
        self, info: Info, input: RegisterBatteryInput
    ) -> RegisterBatteryResult:
        data = BatteryRegistration(
            identifier=input.identifier,
            model=input.model,
            manufacturer=input.manufacturer,
            chemistry=input.chemistry,
            rated_capacity_ah=input.rated_capacity_ah,
            nominal_voltage_v=input.nominal_voltage_v,
        )

        async def work(session: AsyncSession) -> RegisterBatterySuccess:
            row = await passports.register_battery(session, info.context.principal, data)
            return RegisterBatterySuccess(battery=Battery.from_row(row))

        return await in_unit_of_work(info, work)

    @strawberry.mutation(description="Issue (or re-issue) the battery's BatteryPassportCredential.")
    async def issue_passport(self, info: Info, input: IssuePassportInput) -> IssuePassportResult:
        runtime = info.context.runtime

        async def work(session: AsyncSession) -> IssuePassportSuccess:
            battery, row = await runtime.issuance.issue_passport(
                session, info.context.principal, str(input.battery_id)
            )
            return IssuePassportSuccess(
                battery=Battery.from_row(battery), credential=Credential.from_row(row)
            )

        return await in_unit_of_work(info, work)

    @strawberry.mutation(description="Revoke a credential; the change is published on chain.")
    async def revoke_credential(
        self, info: Info, input: RevokeCredentialInput
    ) -> RevokeCredentialResult:
        runtime = info.context.runtime

        async def work(session: AsyncSession) -> RevokeCredentialSuccess:
            row = await runtime.issuance.revoke(
                session,
                info.context.principal,
                input.credential_id,
                reason=input.reason,
                urgent=input.urgent,
            )
            return RevokeCredentialSuccess(credential=Credential.from_row(row))

        result = await in_unit_of_work(info, work)
        if not isinstance(result, PassportError):
            runtime.issuance.status_changed(urgent=input.urgent)
        return result


def build_schema(*, production: bool) -> strawberry.Schema:
    """The schema; production leaves out introspection (the router masks unexpected errors)."""
    extensions: list[Callable[[], SchemaExtension]] = [DisableIntrospection] if production else []
    return strawberry.Schema(query=Query, mutation=Mutation, extensions=extensions)


schema = build_schema(production=False)
