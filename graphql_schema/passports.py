"""Batteries, their passport credentials, verification — types, queries, mutations."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any, Self, cast

import strawberry
from sqlalchemy import tuple_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from strawberry.scalars import JSON

from backend.issuance import service as issuance
from backend.issuance.models import IssuedCredential
from backend.kit.errors import DomainError, InvalidInputError, NotFoundError
from backend.kit.events import battery_channel, credential_channel
from backend.kit.models import as_utc
from backend.passports import service as passports
from backend.passports.models import Battery as BatteryRow
from backend.passports.service import BatteryRegistration
from graphql_schema.context import Context
from graphql_schema.errors import PassportError, run_mutation
from graphql_schema.relay import (
    Connection,
    Node,
    decode_cursor,
    from_global_id,
    page_size,
    to_global_id,
)

Info = strawberry.Info[Context, None]


@strawberry.enum
class CredentialStatus(Enum):
    ACTIVE = "active"
    REVOKED = "revoked"


@strawberry.type(description="A credential the platform issued, with its current status.")
class Credential(Node):
    credential_id: str = strawberry.field(description="The credential's own `id` (a URI).")
    type: str
    issuer: str
    issued_at: datetime
    revoked_at: datetime | None
    revocation_reason: str | None
    document: JSON

    @strawberry.field
    def status(self) -> CredentialStatus:
        return CredentialStatus.REVOKED if self.revoked_at is not None else CredentialStatus.ACTIVE

    @classmethod
    def from_row(cls, row: IssuedCredential) -> Credential:
        return cls(
            id=to_global_id("Credential", row.id),
            credential_id=row.credential_id,
            type=row.type,
            issuer=row.issuer_did,
            issued_at=as_utc(row.issued_at),
            revoked_at=as_utc(row.revoked_at) if row.revoked_at else None,
            revocation_reason=row.revocation_reason,
            document=cast(JSON, row.document),
        )


@strawberry.type(description="A battery registered on the platform.")
class Battery(Node):
    battery_id: str = strawberry.field(description="The battery's UUID.")
    identifier: str
    model: str
    manufacturer: str
    chemistry: str
    rated_capacity_ah: float
    nominal_voltage_v: float
    created_at: datetime

    @strawberry.field(description="The passport identifier: urn:uuid:<battery id>.")
    def passport_id(self) -> str:
        return f"urn:uuid:{self.battery_id}"

    @strawberry.field(description="The current BatteryPassportCredential, if one was issued.")
    async def passport(self, info: Info) -> Credential | None:
        row = await info.context.loaders.passport_by_battery.load(self.battery_id)
        return Credential.from_row(row) if row is not None else None

    @classmethod
    def from_row(cls, row: BatteryRow) -> Battery:
        return cls(
            id=to_global_id("Battery", row.id),
            battery_id=row.id,
            identifier=row.identifier,
            model=row.model,
            manufacturer=row.manufacturer,
            chemistry=row.chemistry,
            rated_capacity_ah=row.rated_capacity_ah,
            nominal_voltage_v=row.nominal_voltage_v,
            created_at=as_utc(row.created_at),
        )


def battery_id_from(value: str) -> str:
    """A battery's UUID from its global ID, its UUID or its passport id (urn:uuid:…)."""
    try:
        kind, local = from_global_id(value)
    except DomainError:
        return passports.parse_battery_id(value)
    if kind != "Battery":
        raise InvalidInputError(f"id is a {kind}, not a Battery", field="batteryId")
    return passports.parse_battery_id(local)


@strawberry.enum
class CheckStatus(Enum):
    PASS = "pass"  # noqa: S105 - a check outcome, not a password
    FAIL = "fail"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"


@strawberry.type(description="One verification check and why it ended as it did.")
class VerificationCheck:
    name: str
    status: CheckStatus
    reason: str | None


@strawberry.type(
    description="The verifier's result: verified when no check failed and none required is unknown."
)
class VerificationResult:
    verified: bool
    checks: list[VerificationCheck]
    snapshot_age_s: float | None

    @classmethod
    def from_json(cls, result: dict[str, Any]) -> VerificationResult:
        return cls(
            verified=bool(result["verified"]),
            checks=[
                VerificationCheck(
                    name=check["name"],
                    status=CheckStatus(check["status"]),
                    reason=check.get("reason"),
                )
                for check in result["checks"]
            ],
            snapshot_age_s=result.get("snapshot_age_s"),
        )


@strawberry.type
class RegisterBatterySuccess:
    battery: Battery

    def replay_data(self) -> dict[str, Any]:
        return {"battery_id": self.battery.battery_id}

    @classmethod
    async def from_replay(cls, session: AsyncSession, data: dict[str, Any]) -> Self:
        return cls(
            battery=Battery.from_row(await passports.get_battery(session, data["battery_id"]))
        )


@strawberry.type
class IssuePassportSuccess:
    battery: Battery
    credential: Credential

    def replay_data(self) -> dict[str, Any]:
        return {
            "battery_id": self.battery.battery_id,
            "row_id": from_global_id(self.credential.id)[1],
        }

    @classmethod
    async def from_replay(cls, session: AsyncSession, data: dict[str, Any]) -> Self:
        row = await session.get(IssuedCredential, data["row_id"])
        if row is None:
            raise NotFoundError("the recorded credential no longer exists")
        battery = await passports.get_battery(session, data["battery_id"])
        return cls(battery=Battery.from_row(battery), credential=Credential.from_row(row))


@strawberry.type
class RevokeCredentialSuccess:
    credential: Credential

    def replay_data(self) -> dict[str, Any]:
        return {"row_id": from_global_id(self.credential.id)[1]}

    @classmethod
    async def from_replay(cls, session: AsyncSession, data: dict[str, Any]) -> Self:
        row = await session.get(IssuedCredential, data["row_id"])
        if row is None:
            raise NotFoundError("the recorded credential no longer exists")
        return cls(credential=Credential.from_row(row))


RegisterBatteryResult = Annotated[
    RegisterBatterySuccess | PassportError, strawberry.union("RegisterBatteryResult")
]
IssuePassportResult = Annotated[
    IssuePassportSuccess | PassportError, strawberry.union("IssuePassportResult")
]
RevokeCredentialResult = Annotated[
    RevokeCredentialSuccess | PassportError, strawberry.union("RevokeCredentialResult")
]
VerifyCredentialResult = Annotated[
    VerificationResult | PassportError, strawberry.union("VerifyCredentialResult")
]


@strawberry.input
class RegisterBatteryInput:
    identifier: str
    model: str
    manufacturer: str
    chemistry: str
    rated_capacity_ah: float
    nominal_voltage_v: float
    idempotency_key: str | None = None


@strawberry.input
class IssuePassportInput:
    battery_id: strawberry.ID
    idempotency_key: str | None = None


@strawberry.input
class RevokeCredentialInput:
    credential_id: str
    reason: str | None = None
    urgent: bool = strawberry.field(
        default=False, description="Publish on chain at once (accident, theft, fraud)."
    )
    idempotency_key: str | None = None


def request_of(data: Any) -> dict[str, Any]:
    """The input as plain data (for the idempotency request hash), minus the key itself."""
    values = dict(strawberry.asdict(data))
    values.pop("idempotency_key", None)
    return values


async def battery_page(
    session: AsyncSession, *, limit: int, after: str | None
) -> list[tuple[list[Any], Battery]]:
    """Batteries newest first, keyset-paged on (created_at, id)."""
    query = (
        select(BatteryRow)
        .order_by(col(BatteryRow.created_at).desc(), col(BatteryRow.id).desc())
        .limit(limit + 1)
    )
    if after is not None:
        key = decode_cursor(after)
        if len(key) != 2 or not all(isinstance(part, str) for part in key):
            raise InvalidInputError("malformed cursor", field="after")
        created = datetime.fromisoformat(key[0])
        query = query.where(
            tuple_(col(BatteryRow.created_at), col(BatteryRow.id)) < tuple_(created, key[1])
        )
    rows = await session.exec(query)
    return [([as_utc(row.created_at).isoformat(), row.id], Battery.from_row(row)) for row in rows]


@strawberry.type
class BatteryConnection(Connection[Battery]):
    pass


@strawberry.type
class PassportQuery:
    @strawberry.field(description="Any object by its global ID.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        try:
            kind, local = from_global_id(str(id))
        except DomainError:
            return None
        async with info.context.runtime.db.read_only() as session:
            if kind == "Battery":
                battery = await session.get(BatteryRow, local)
                return Battery.from_row(battery) if battery is not None else None
            if kind == "Credential":
                credential = await session.get(IssuedCredential, local)
                return Credential.from_row(credential) if credential is not None else None
        return None

    @strawberry.field(description="One battery by its global ID, UUID or passport id.")
    async def battery(self, info: Info, id: strawberry.ID) -> Battery | None:
        try:
            battery_id = battery_id_from(str(id))
            async with info.context.runtime.db.read_only() as session:
                row = await passports.get_battery(session, battery_id)
        except DomainError:
            return None
        return Battery.from_row(row)

    @strawberry.field(description="Batteries, newest first (keyset cursors, at most 100 a page).")
    async def batteries(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> BatteryConnection:
        limit = page_size(first)
        async with info.context.runtime.db.read_only() as session:
            rows = await battery_page(session, limit=limit, after=after)
        connection = Connection.from_rows(rows, limit)
        return BatteryConnection(edges=connection.edges, page_info=connection.page_info)

    @strawberry.field(description="A credential the platform issued, by its `id` (a URI).")
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
class PassportMutation:
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

        return await run_mutation(
            info,
            operation="registerBattery",
            request=request_of(input),
            idempotency_key=input.idempotency_key,
            work=work,
            replay=RegisterBatterySuccess.from_replay,
        )

    @strawberry.mutation(description="Issue (or re-issue) the battery's BatteryPassportCredential.")
    async def issue_passport(self, info: Info, input: IssuePassportInput) -> IssuePassportResult:
        runtime = info.context.runtime

        async def work(session: AsyncSession) -> IssuePassportSuccess:
            battery, row = await runtime.issuance.issue_passport(
                session, info.context.principal, battery_id_from(str(input.battery_id))
            )
            return IssuePassportSuccess(
                battery=Battery.from_row(battery), credential=Credential.from_row(row)
            )

        result = await run_mutation(
            info,
            operation="issuePassport",
            request=request_of(input),
            idempotency_key=input.idempotency_key,
            work=work,
            replay=IssuePassportSuccess.from_replay,
        )
        if isinstance(result, IssuePassportSuccess):
            await runtime.events.publish(
                battery_channel(result.battery.battery_id),
                {"kind": "PASSPORT_ISSUED", "credentialId": result.credential.credential_id},
            )
        return result

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

        result = await run_mutation(
            info,
            operation="revokeCredential",
            request=request_of(input),
            idempotency_key=input.idempotency_key,
            work=work,
            replay=RevokeCredentialSuccess.from_replay,
        )
        if isinstance(result, RevokeCredentialSuccess):
            runtime.issuance.status_changed(urgent=input.urgent)
            await runtime.events.publish(
                credential_channel(result.credential.credential_id),
                {"credentialId": result.credential.credential_id, "status": "revoked"},
            )
        return result
