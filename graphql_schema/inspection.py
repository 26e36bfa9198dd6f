"""Performance inspection: open, upload the bay's read and bench tests, complete (grade and
credentials), revoke. Callers: an accredited inspector's organisation (API key of role
`inspector`, or a role session of an organisation DID the platform hosts)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, cast

import strawberry
from sqlmodel.ext.asyncio.session import AsyncSession
from strawberry.scalars import JSON

from backend.auth.policy import Resource, ResourceKind
from backend.inspection.models import Inspection as InspectionRow
from backend.inspection.service import InspectionService
from backend.issuance.service import find_credential
from backend.kit.errors import DomainError
from backend.kit.events import battery_channel
from backend.kit.models import as_utc
from graphql_schema.context import Info
from graphql_schema.errors import PassportError, run_mutation
from graphql_schema.passports import battery_id_from, request_of


@strawberry.type(description="One inspection of a battery by an accredited inspector.")
class Inspection:
    inspection_id: str
    battery_id: str
    inspector: str = strawberry.field(description="The inspecting organisation's DID.")
    status: str = strawberry.field(description="open | completed | revoked")
    site: str | None
    opened_at: datetime
    read_at: datetime | None
    completed_at: datetime | None
    grade: str | None = strawberry.field(
        description="remanufacture | reuse | repurpose | recycle (see docs/INSPECTION.md)."
    )
    result: JSON | None = strawberry.field(
        description="Every figure with its method and uncertainty, the grade and its reasons."
    )
    credential_id: str | None = strawberry.field(
        description="The BatteryInspectionCredential (Data Integrity)."
    )
    sd_jwt_credential_id: str | None = strawberry.field(
        description="The same result as an SD-JWT VC (dc+sd-jwt) for selective sharing."
    )
    event_id: str | None = strawberry.field(description="The `inspected` lifecycle event.")
    credential: JSON | None = None
    sd_jwt_credential: JSON | None = None

    @classmethod
    def from_row(
        cls,
        row: InspectionRow,
        credential: dict[str, Any] | None = None,
        sd_jwt: dict[str, Any] | None = None,
    ) -> Inspection:
        return cls(
            inspection_id=row.id,
            battery_id=row.battery_id,
            inspector=row.inspector_did,
            status=row.status,
            site=row.site,
            opened_at=as_utc(row.opened_at),
            read_at=as_utc(row.read_at) if row.read_at else None,
            completed_at=as_utc(row.completed_at) if row.completed_at else None,
            grade=row.grade,
            result=cast(JSON, row.result),
            credential_id=row.credential_id,
            sd_jwt_credential_id=row.sd_jwt_credential_id,
            event_id=row.event_id,
            credential=cast(JSON, credential),
            sd_jwt_credential=cast(JSON, sd_jwt),
        )

    def replay_data(self) -> dict[str, Any]:
        return {"inspection_id": self.inspection_id}


InspectionResult = Annotated[Inspection | PassportError, strawberry.union("InspectionResult")]


@strawberry.input
class OpenInspectionInput:
    battery_id: strawberry.ID
    site: str | None = None
    idempotency_key: str | None = None


@strawberry.input(
    description="The inspection bay's full read (the bridge's normalised measurement JSON: "
    "cell_voltages_v, temperatures_c, soh_pct, cumulative_discharged_kwh, isolation_kohm…) "
    "and, where done, the capacity test {chargeAh, socStartPct, socEndPct, energyKwh?, "
    "cellCapacitiesAh?} and the pulse test {currentStepA, voltageDropV, durationS}."
)
class UploadInspectionDataInput:
    inspection_id: str
    read: JSON
    capacity_test: JSON | None = None
    pulse_test: JSON | None = None
    idempotency_key: str | None = None


@strawberry.input
class InspectionIdInput:
    inspection_id: str
    reason: str | None = None
    idempotency_key: str | None = None


async def _documents(
    session: AsyncSession, row: InspectionRow
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    out: list[dict[str, Any] | None] = []
    for credential_id in (row.credential_id, row.sd_jwt_credential_id):
        found = await find_credential(session, credential_id) if credential_id else None
        out.append(found.document if found is not None else None)
    return out[0], out[1]


async def _run(info: Info, operation: str, input: Any, step: Any) -> Inspection | PassportError:
    async def work(session: AsyncSession) -> Inspection:
        row = await step(session)
        return Inspection.from_row(row, *await _documents(session, row))

    async def replay(session: AsyncSession, data: dict[str, Any]) -> Inspection:
        row = await session.get(InspectionRow, data["inspection_id"])
        assert row is not None
        return Inspection.from_row(row, *await _documents(session, row))

    result = await run_mutation(
        info,
        operation=operation,
        request=request_of(input),
        idempotency_key=input.idempotency_key,
        work=work,
        replay=replay,
        audit=lambda result: Resource(ResourceKind.BATTERY, id=result.battery_id),
    )
    if isinstance(result, Inspection) and operation in ("completeInspection", "revokeInspection"):
        runtime = info.context.runtime
        if runtime.anchorer is not None:
            runtime.anchorer.wake()
        runtime.issuance.status_changed(urgent=True)
        if operation == "completeInspection" and result.event_id is not None:
            message = {"kind": "INSPECTED", "eventId": result.event_id}
            await runtime.events.publish(battery_channel(result.battery_id), message)
    return result


@strawberry.type
class InspectionQuery:
    @strawberry.field(description="One of the caller's (inspector organisation's) inspections.")
    async def inspection(self, info: Info, inspection_id: str) -> InspectionResult:
        service = InspectionService(info.context.runtime)
        try:
            async with info.context.runtime.db.read_only() as session:
                row = await service.get(session, info.context.principal, inspection_id)
                return Inspection.from_row(row, *await _documents(session, row))
        except DomainError as exc:
            return PassportError.from_domain(exc)


@strawberry.type
class InspectionMutation:
    @strawberry.mutation(description="An accredited inspector opens an inspection of a battery.")
    async def open_inspection(self, info: Info, input: OpenInspectionInput) -> InspectionResult:
        service = InspectionService(info.context.runtime)
        principal = info.context.principal
        return await _run(
            info,
            "openInspection",
            input,
            lambda session: service.open(
                session, principal, battery_id_from(str(input.battery_id)), site=input.site
            ),
        )

    @strawberry.mutation(
        description="The inspection bay's bridge uploads the full read and the bench tests."
    )
    async def upload_inspection_data(
        self, info: Info, input: UploadInspectionDataInput
    ) -> InspectionResult:
        service = InspectionService(info.context.runtime)
        principal = info.context.principal
        return await _run(
            info,
            "uploadInspectionData",
            input,
            lambda session: service.upload(
                session,
                principal,
                input.inspection_id,
                read=input.read,
                capacity_test=input.capacity_test,
                pulse_test=input.pulse_test,
            ),
        )

    @strawberry.mutation(
        description="Assess and grade; issue the BatteryInspectionCredential (Data Integrity "
        "and SD-JWT VC) signed as the inspector's organisation; update the passport's "
        "dynamic data; append the anchored `inspected` event."
    )
    async def complete_inspection(self, info: Info, input: InspectionIdInput) -> InspectionResult:
        service = InspectionService(info.context.runtime)
        principal = info.context.principal

        async def step(session: AsyncSession) -> InspectionRow:
            done = await service.complete(session, principal, input.inspection_id)
            return done.inspection

        return await _run(info, "completeInspection", input, step)

    @strawberry.mutation(description="Withdraw an inspection: both credentials are revoked.")
    async def revoke_inspection(self, info: Info, input: InspectionIdInput) -> InspectionResult:
        service = InspectionService(info.context.runtime)
        principal = info.context.principal
        return await _run(
            info,
            "revokeInspection",
            input,
            lambda session: service.revoke(session, principal, input.inspection_id, input.reason),
        )
