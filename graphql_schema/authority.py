"""The city authority's view: the audit log, statistics, accreditation of organisations.

Only the `authority` role (and the platform operator) reads the audit log and statistics;
reading the log is itself audited. Accreditation queues an `IssuerRegistry.accredit`
transaction signed by the city root key this platform holds (`bpp chain accredit` does the
same from the command line); the outbox sends it after the mutation commits.
"""

from __future__ import annotations

import time
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, cast

import strawberry
from sqlmodel.ext.asyncio.session import AsyncSession
from strawberry.scalars import JSON

from backend.audit import statistics
from backend.audit.models import AuditEntry as AuditRow
from backend.audit.service import AuditFilter, read_entries
from backend.auth.policy import Action, Resource, ResourceKind, authorize
from backend.chain.service import enqueue_accreditation
from backend.kit.errors import DomainError, InvalidInputError
from backend.kit.models import as_utc
from backend.orgs.roles import Role
from backend.platform import PLATFORM_SLUG
from contracts.issuers import Role as RegistryRole
from graphql_schema.context import Context
from graphql_schema.errors import AuthorityError, run_mutation
from graphql_schema.passports import request_of
from graphql_schema.relay import Connection, decode_cursor, page_size

Info = strawberry.Info[Context, None]


@strawberry.type(description="One audited write or restricted read (who, what, when, why).")
class AuditEntry:
    entry_id: int
    at: datetime
    actor: str
    actor_role: str | None
    action: str
    resource_kind: str
    resource_id: str | None
    outcome: str
    reason: str | None
    request_id: str | None
    details: JSON
    entry_hash: str

    @classmethod
    def from_row(cls, row: AuditRow) -> AuditEntry:
        assert row.id is not None
        return cls(
            entry_id=row.id,
            at=as_utc(row.at),
            actor=row.actor,
            actor_role=row.actor_role,
            action=row.action,
            resource_kind=row.resource_kind,
            resource_id=row.resource_id,
            outcome=row.outcome,
            reason=row.reason,
            request_id=row.request_id,
            details=cast(JSON, row.details),
            entry_hash=row.entry_hash,
        )


@strawberry.type
class AuditEntryConnection(Connection[AuditEntry]):
    pass


@strawberry.type
class Count:
    key: str
    count: int


@strawberry.type
class IssuedRevokedCount:
    credential_type: str
    issued: int
    revoked: int


@strawberry.type(description="Simple statistics for the city, from the data held.")
class CityStatistics:
    batteries_by_status: list[Count]
    batteries_by_chemistry: list[Count]
    credentials: list[IssuedRevokedCount]
    soh_distribution: list[Count] = strawberry.field(
        description="Batteries per 10 % SOH bucket (latest stateOfHealth held)."
    )


@strawberry.input
class AuditLogFilter:
    actor: str | None = None
    action: str | None = None
    resource_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@strawberry.type
class AccreditationQueued:
    issuer: str
    role: str
    valid_from: datetime
    valid_until: datetime
    transaction_id: int = strawberry.field(description="The chain outbox row that sends it.")

    def replay_data(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "role": self.role,
            "valid_from": self.valid_from.isoformat(),
            "valid_until": self.valid_until.isoformat(),
            "transaction_id": self.transaction_id,
        }


AccreditResult = Annotated[AccreditationQueued | AuthorityError, strawberry.union("AccreditResult")]
AuditLogResult = Annotated[
    AuditEntryConnection | AuthorityError, strawberry.union("AuditLogResult")
]
StatisticsResult = Annotated[CityStatistics | AuthorityError, strawberry.union("StatisticsResult")]


@strawberry.enum(description="Roles the city accredits in the issuer registry.")
class AccreditableRole(Enum):
    ISSUER = Role.ISSUER.value
    MANUFACTURER = Role.MANUFACTURER.value
    CHARGE_POINT_OPERATOR = Role.CHARGE_POINT_OPERATOR.value
    PARKING_OPERATOR = Role.PARKING_OPERATOR.value
    INSPECTOR = Role.INSPECTOR.value
    REPAIRER = Role.REPAIRER.value
    SECOND_LIFE_OPERATOR = Role.SECOND_LIFE_OPERATOR.value
    RECYCLER = Role.RECYCLER.value


@strawberry.input
class AccreditInput:
    issuer: str = strawberry.field(
        description="The organisation's DID, chain address (0x…) or slug on this platform."
    )
    role: AccreditableRole
    days: int = 365
    idempotency_key: str | None = None


def counts(mapping: dict[str, int]) -> list[Count]:
    return [Count(key=key, count=value) for key, value in mapping.items()]


@strawberry.type
class AuthorityQuery:
    @strawberry.field(description="The audit log, oldest first (authority only; audited).")
    async def audit_log(
        self,
        info: Info,
        filter: AuditLogFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> AuditLogResult:
        try:
            limit = page_size(first)
            after_id = 0
            if after is not None:
                key = decode_cursor(after)
                if len(key) != 1 or not isinstance(key[0], int):
                    raise InvalidInputError("malformed cursor", field="after")
                after_id = key[0]
            wanted = filter or AuditLogFilter()
            async with info.context.runtime.db.unit_of_work() as session:
                rows = await read_entries(
                    session,
                    info.context.principal,
                    AuditFilter(
                        actor=wanted.actor,
                        action=wanted.action,
                        resource_id=wanted.resource_id,
                        since=wanted.since,
                        until=wanted.until,
                    ),
                    after_id=after_id,
                    limit=limit + 1,
                    request_id=info.context.request_id,
                )
        except DomainError as error:
            return AuthorityError.from_domain(error)
        connection = Connection.from_rows(
            [([row.id], AuditEntry.from_row(row)) for row in rows], limit
        )
        return AuditEntryConnection(edges=connection.edges, page_info=connection.page_info)

    @strawberry.field(description="Batteries by status and chemistry, credentials, SOH.")
    async def statistics(self, info: Info) -> StatisticsResult:
        try:
            authorize(
                info.context.principal, Action.READ_STATISTICS, Resource(ResourceKind.STATISTICS)
            )
            async with info.context.runtime.db.read_only() as session:
                by_status = await statistics.batteries_by_passport_status(session)
                by_chemistry = await statistics.batteries_by_chemistry(session)
                credentials = await statistics.credentials_issued_and_revoked(session)
                soh = await statistics.soh_distribution(session)
        except DomainError as error:
            return AuthorityError.from_domain(error)
        return CityStatistics(
            batteries_by_status=counts(by_status),
            batteries_by_chemistry=counts(by_chemistry),
            credentials=[
                IssuedRevokedCount(credential_type=kind, issued=value.issued, revoked=value.revoked)
                for kind, value in credentials.items()
            ],
            soh_distribution=counts(soh),
        )


@strawberry.type
class AuthorityMutation:
    @strawberry.mutation(
        description="Accredit an organisation for a role in the on-chain issuer registry "
        "(authority only); queued, signed by the city root key."
    )
    async def accredit_issuer(self, info: Info, input: AccreditInput) -> AccreditResult:
        runtime = info.context.runtime
        principal = info.context.principal

        async def work(session: AsyncSession) -> AccreditationQueued:
            authorize(principal, Action.ACCREDIT_ISSUER, Resource(ResourceKind.ISSUER_REGISTRY))
            if not 1 <= input.days <= 3650:
                raise InvalidInputError("days is 1 to 3650", field="days")
            issuer = input.issuer.strip()
            if not issuer.startswith(("did:", "0x")):
                platform = runtime.platform
                issuer = (
                    platform.did if issuer == PLATFORM_SLUG else platform.organisation_did(issuer)
                )
            role = RegistryRole(input.role.value)
            now = int(time.time())
            until = now + input.days * 86_400
            try:
                row = enqueue_accreditation(
                    session, runtime.chain, issuer, role, valid_from=now, valid_until=until
                )
            except ValueError as exc:
                raise InvalidInputError(str(exc), field="issuer") from None
            await session.flush()
            assert row.id is not None
            return AccreditationQueued(
                issuer=issuer,
                role=role.value,
                valid_from=datetime.fromtimestamp(now).astimezone(),
                valid_until=datetime.fromtimestamp(until).astimezone(),
                transaction_id=row.id,
            )

        async def replay(session: AsyncSession, data: dict[str, Any]) -> AccreditationQueued:
            return AccreditationQueued(
                issuer=data["issuer"],
                role=data["role"],
                valid_from=datetime.fromisoformat(data["valid_from"]),
                valid_until=datetime.fromisoformat(data["valid_until"]),
                transaction_id=data["transaction_id"],
            )

        return await run_mutation(
            info,
            operation="accreditIssuer",
            request=request_of(input),
            idempotency_key=input.idempotency_key,
            work=work,
            replay=replay,
            audit=lambda result: Resource(ResourceKind.ISSUER_REGISTRY, id=result.issuer),
            error=AuthorityError,
            why=f"accredit as {input.role.value}",
        )
