"""Telemetry: the gateways' `ingestSamples` (docs/BRIDGE.md), device management, and what a
battery's telemetry says (last known state, histograms, cycles, events).

`ingestSamples` authenticates by the batch's Ed25519 signature (the device is its own
principal; an `Authorization` header is ignored), answers `IngestSamplesResult` with one entry
per sample or `IngestError` for the whole batch. Device management runs through `run_mutation`
like every other write (union with `PassportError`, optional `idempotencyKey`).
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any, Self, cast

import strawberry
import structlog
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel.ext.asyncio.session import AsyncSession
from strawberry.scalars import JSON

from backend.auth.policy import Resource, ResourceKind
from backend.kit.errors import DomainError
from backend.kit.models import as_utc
from backend.passports.service import numeric_value
from backend.safety.notify import publish as publish_safety
from backend.telemetry import devices, ingest
from backend.telemetry import service as telemetry
from backend.telemetry.derived import hottest
from backend.telemetry.errors import IngestErrorCode as DomainIngestErrorCode
from backend.telemetry.errors import IngestRefused
from backend.telemetry.models import (
    TelemetryDevice,
    TelemetryEvent,
    TelemetryHourly,
    TelemetryState,
)
from graphql_schema.context import Context
from graphql_schema.errors import PassportError, run_mutation

Info = strawberry.Info[Context, None]
log = structlog.get_logger("bpp.graphql.telemetry")
GRAPHQL_INT_MAX = 2**31 - 1


# -- ingest --------------------------------------------------------------------------------


@strawberry.input(description="A signed batch of samples from one gateway (docs/BRIDGE.md).")
class IngestSamplesInput:
    device_id: str = strawberry.field(description="The gateway's did:key.")
    batch_id: strawberry.ID = strawberry.field(description="UUID v4 of the batch.")
    idempotency_key: str = strawberry.field(description='"<deviceId>/<batchId>".')
    samples: list[JSON] = strawberry.field(
        description="Sample objects; the signature covers their RFC 8785 form."
    )
    signature: str = strawberry.field(
        description="base64url Ed25519 signature of JCS({deviceId, batchId, idempotencyKey, "
        "samples})."
    )


@strawberry.enum
class SampleStatus(Enum):
    ACCEPTED = "ACCEPTED"
    DUPLICATE = "DUPLICATE"
    REJECTED = "REJECTED"


@strawberry.type(description="The server's answer for one sample of a batch.")
class SampleResult:
    sequence: int = strawberry.field(description="The sample's sequence (0 if it had none).")
    status: SampleStatus
    code: str | None = strawberry.field(
        default=None,
        description="Why a REJECTED sample was refused: INVALID, CLOCK_OUT_OF_RANGE, OUT_OF_RANGE.",
    )


@strawberry.type(description="Every sample of the batch answered.")
class IngestSamplesResult:
    batch_id: strawberry.ID
    results: list[SampleResult]


@strawberry.enum(description="Why a whole batch was refused (nothing was stored).")
class IngestErrorCode(Enum):
    UNKNOWN_DEVICE = DomainIngestErrorCode.UNKNOWN_DEVICE.value
    DEVICE_REVOKED = DomainIngestErrorCode.DEVICE_REVOKED.value
    BAD_SIGNATURE = DomainIngestErrorCode.BAD_SIGNATURE.value
    INVALID_BATCH = DomainIngestErrorCode.INVALID_BATCH.value
    BATCH_TOO_LARGE = DomainIngestErrorCode.BATCH_TOO_LARGE.value
    RATE_LIMITED = DomainIngestErrorCode.RATE_LIMITED.value
    UNAVAILABLE = DomainIngestErrorCode.UNAVAILABLE.value


@strawberry.type(description="The whole batch was refused; the gateway keeps it and retries.")
class IngestError:
    code: IngestErrorCode
    message: str


IngestSamplesPayload = Annotated[
    IngestSamplesResult | IngestError, strawberry.union("IngestSamplesPayload")
]


def _sequence(value: int | None) -> int:
    return value if value is not None and 0 <= value <= GRAPHQL_INT_MAX else 0


# -- devices -------------------------------------------------------------------------------


@strawberry.enum
class DeviceStatus(Enum):
    ACTIVE = "active"
    ROTATED = "rotated"
    REVOKED = "revoked"


@strawberry.type(description="Which battery a gateway's source reads.")
class DeviceSource:
    source_id: str
    battery_id: str


@strawberry.type(description="A gateway registered by an organisation; its id is its did:key.")
class Device:
    device_id: str
    label: str | None
    status: DeviceStatus
    predecessor_id: str | None
    successor_id: str | None
    created_at: datetime
    retired_at: datetime | None
    sources: list[DeviceSource]

    @classmethod
    def from_row(cls, row: TelemetryDevice, sources: dict[str, str]) -> Device:
        return cls(
            device_id=row.id,
            label=row.label,
            status=DeviceStatus(row.status),
            predecessor_id=row.predecessor_id,
            successor_id=row.successor_id,
            created_at=as_utc(row.created_at),
            retired_at=as_utc(row.retired_at) if row.retired_at else None,
            sources=[DeviceSource(source_id=k, battery_id=v) for k, v in sorted(sources.items())],
        )

    @classmethod
    async def load(cls, session: AsyncSession, did: str) -> Device:
        row = await session.get(TelemetryDevice, did)
        if row is None:
            raise DomainError("the recorded device no longer exists")
        return cls.from_row(row, dict(await devices.sources_of(session, did)))


@strawberry.input
class DeviceSourceInput:
    source_id: str = strawberry.field(description="The device id in the gateway's config.")
    battery_id: strawberry.ID = strawberry.field(description="Battery UUID or passport id.")


@strawberry.input
class RegisterDeviceInput:
    device_id: str = strawberry.field(description="did:key from `bpp-bridge keygen`.")
    label: str | None = None
    sources: list[DeviceSourceInput] = strawberry.field(default_factory=list)
    idempotency_key: str | None = None


@strawberry.input
class RotateDeviceKeyInput:
    device_id: str
    new_device_id: str
    idempotency_key: str | None = None


@strawberry.input
class RevokeDeviceInput:
    device_id: str
    idempotency_key: str | None = None


@strawberry.type
class DeviceSuccess:
    device: Device

    def replay_data(self) -> dict[str, Any]:
        return {"device_id": self.device.device_id}

    @classmethod
    async def from_replay(cls, session: AsyncSession, data: dict[str, Any]) -> Self:
        return cls(device=await Device.load(session, data["device_id"]))


RegisterDeviceResult = Annotated[
    DeviceSuccess | PassportError, strawberry.union("RegisterDeviceResult")
]
RotateDeviceKeyResult = Annotated[
    DeviceSuccess | PassportError, strawberry.union("RotateDeviceKeyResult")
]
RevokeDeviceResult = Annotated[
    DeviceSuccess | PassportError, strawberry.union("RevokeDeviceResult")
]


# -- battery telemetry ---------------------------------------------------------------------


@strawberry.type(description="Sample counts per bucket; `edges` are the inner boundaries.")
class Histogram:
    unit: str
    edges: list[float]
    counts: list[int]


@strawberry.type(description="A deep-discharge or overcharge episode (its first sample).")
class TelemetryEventRecord:
    kind: str
    occurred_at: datetime
    value: float
    detail: str
    device_id: str
    sequence: float


@strawberry.type(description="One hour of a battery's samples, downsampled.")
class TelemetryHour:
    hour: datetime
    samples: int
    soc_min: float | None
    soc_max: float | None
    soc_mean: float | None
    voltage_min: float | None
    voltage_max: float | None
    current_min: float | None
    current_max: float | None
    temperature_min: float | None
    temperature_max: float | None


@strawberry.type(description="What the gateways' samples say about one battery.")
class BatteryTelemetry:
    battery_id: str
    samples: int
    last_measured_at: datetime | None
    last_device_id: str | None
    last_measurements: JSON = strawberry.field(description="The newest sample's measurements.")
    soc_histogram: Histogram | None
    temperature_histogram: Histogram | None
    charged_ah: float = strawberry.field(description="Charge throughput (Ah).")
    full_cycles: float = strawberry.field(description="Charge throughput / rated capacity.")
    deep_discharge_events: int
    overcharge_events: int
    events: list[TelemetryEventRecord] = strawberry.field(description="Newest first, ≤ 100.")
    hourly: list[TelemetryHour] = strawberry.field(description="Newest first, ≤ 31 days.")


BatteryTelemetryResult = Annotated[
    BatteryTelemetry | PassportError, strawberry.union("BatteryTelemetryResult")
]


def _histogram(h: telemetry.Histogram | None) -> Histogram | None:
    return None if h is None else Histogram(unit=h.unit, edges=h.edges, counts=h.counts)


def _event(row: TelemetryEvent) -> TelemetryEventRecord:
    return TelemetryEventRecord(
        kind=row.kind,
        occurred_at=as_utc(row.occurred_at),
        value=row.value,
        detail=row.detail,
        device_id=row.device_id,
        sequence=float(row.sequence),
    )


def _hour(row: TelemetryHourly) -> TelemetryHour:
    return TelemetryHour(
        hour=as_utc(row.hour),
        samples=row.samples,
        soc_min=row.soc_min,
        soc_max=row.soc_max,
        soc_mean=row.soc_mean,
        voltage_min=row.voltage_min,
        voltage_max=row.voltage_max,
        current_min=row.current_min,
        current_max=row.current_max,
        temperature_min=row.temperature_min,
        temperature_max=row.temperature_max,
    )


@strawberry.type(description="A battery's last known state: its newest accepted sample.")
class LatestState:
    measured_at: datetime
    device_id: str
    samples: int = strawberry.field(description="Samples received so far.")
    soc_pct: float | None
    soh_pct: float | None
    pack_voltage_v: float | None
    pack_current_a: float | None = strawberry.field(description="Positive while charging.")
    temperature_max_c: float | None
    measurements: JSON = strawberry.field(description="Every normalised value of the sample.")

    @classmethod
    def from_row(cls, row: TelemetryState) -> Self:
        values = row.measurements
        return cls(
            measured_at=row.measured_at,
            device_id=row.device_id,
            samples=row.samples,
            soc_pct=numeric_value(values.get("soc_pct")),
            soh_pct=numeric_value(values.get("soh_pct")),
            pack_voltage_v=numeric_value(values.get("pack_voltage_v")),
            pack_current_a=numeric_value(values.get("pack_current_a")),
            temperature_max_c=hottest(values),
            measurements=cast(JSON, values),
        )


@strawberry.type
class TelemetryQuery:
    @strawberry.field(description="Last known state, histograms, cycles and events of a battery.")
    async def battery_telemetry(
        self, info: Info, battery_id: strawberry.ID, hours_since: datetime | None = None
    ) -> BatteryTelemetryResult:
        context = info.context
        try:
            async with context.runtime.db.read_only() as session:
                found = await telemetry.battery_telemetry(
                    session,
                    context.principal,
                    str(battery_id),
                    context.loaders.organisation_did,
                    hours_since=hours_since,
                    audit=context.audit,
                )
        except DomainError as error:
            return PassportError.from_domain(error)
        return BatteryTelemetry(
            battery_id=found.battery_id,
            samples=found.samples,
            last_measured_at=found.last_measured_at,
            last_device_id=found.last_device_id,
            last_measurements=cast(JSON, found.last_measurements),
            soc_histogram=_histogram(found.soc_histogram),
            temperature_histogram=_histogram(found.temperature_histogram),
            charged_ah=found.charged_ah,
            full_cycles=found.full_cycles,
            deep_discharge_events=found.deep_discharge_events,
            overcharge_events=found.overcharge_events,
            events=[_event(e) for e in found.events],
            hourly=[_hour(h) for h in found.hourly],
        )

    @strawberry.field(description="The caller's organisation's gateways.")
    async def devices(self, info: Info) -> list[Device]:
        async with info.context.runtime.db.read_only() as session:
            try:
                rows = await devices.list_devices(session, info.context.principal)
            except DomainError:
                return []
            return [
                Device.from_row(row, dict(await devices.sources_of(session, row.id)))
                for row in rows
            ]


@strawberry.type
class TelemetryMutation:
    @strawberry.mutation(description="Upload a signed batch of gateway samples (docs/BRIDGE.md).")
    async def ingest_samples(self, info: Info, input: IngestSamplesInput) -> IngestSamplesPayload:
        runtime = info.context.runtime
        batch = {
            "deviceId": input.device_id,
            "batchId": str(input.batch_id),
            "idempotencyKey": input.idempotency_key,
            "samples": input.samples,
            "signature": input.signature,
        }
        try:
            async with runtime.db.unit_of_work() as session:
                outcome = await ingest.ingest_batch(
                    session, batch, max_batch=runtime.settings.telemetry_max_batch
                )
        except IngestRefused as refused:
            return IngestError(code=IngestErrorCode(refused.code.value), message=refused.message)
        except DomainError as error:  # the device principal refused by the policy
            return IngestError(code=IngestErrorCode.UNKNOWN_DEVICE, message=error.message)
        except (OperationalError, DBAPIError, OSError) as error:
            log.warning("ingest unavailable", error=type(error).__name__)
            return IngestError(code=IngestErrorCode.UNAVAILABLE, message="storage unavailable")
        await publish_safety(runtime, outcome.notices)
        return IngestSamplesResult(
            batch_id=strawberry.ID(outcome.batch_id),
            results=[
                SampleResult(
                    sequence=_sequence(r.sequence), status=SampleStatus(r.status), code=r.code
                )
                for r in outcome.results
            ],
        )

    @strawberry.mutation(description="Register a gateway's did:key and its sources' batteries.")
    async def register_device(self, info: Info, input: RegisterDeviceInput) -> RegisterDeviceResult:
        sources = [
            devices.SourceBinding(source_id=s.source_id, battery_id=str(s.battery_id))
            for s in input.sources
        ]

        async def work(session: AsyncSession) -> DeviceSuccess:
            row = await devices.register_device(
                session, info.context.principal, input.device_id, label=input.label, sources=sources
            )
            return DeviceSuccess(device=await Device.load(session, row.id))

        return await run_mutation(
            info,
            operation="registerDevice",
            request=_request_of(input),
            idempotency_key=input.idempotency_key,
            work=work,
            replay=DeviceSuccess.from_replay,
            audit=_device_resource,
        )

    @strawberry.mutation(description="Replace a gateway's key: the new did:key succeeds the old.")
    async def rotate_device_key(
        self, info: Info, input: RotateDeviceKeyInput
    ) -> RotateDeviceKeyResult:
        async def work(session: AsyncSession) -> DeviceSuccess:
            row = await devices.rotate_device_key(
                session, info.context.principal, input.device_id, input.new_device_id
            )
            return DeviceSuccess(device=await Device.load(session, row.id))

        return await run_mutation(
            info,
            operation="rotateDeviceKey",
            request=_request_of(input),
            idempotency_key=input.idempotency_key,
            work=work,
            replay=DeviceSuccess.from_replay,
            audit=_device_resource,
        )

    @strawberry.mutation(description="Revoke a gateway: its batches are refused from now on.")
    async def revoke_device(self, info: Info, input: RevokeDeviceInput) -> RevokeDeviceResult:
        async def work(session: AsyncSession) -> DeviceSuccess:
            row = await devices.revoke_device(session, info.context.principal, input.device_id)
            return DeviceSuccess(device=await Device.load(session, row.id))

        return await run_mutation(
            info,
            operation="revokeDevice",
            request=_request_of(input),
            idempotency_key=input.idempotency_key,
            work=work,
            replay=DeviceSuccess.from_replay,
            audit=_device_resource,
        )


def _device_resource(result: DeviceSuccess) -> Resource:
    return Resource(ResourceKind.ORGANISATION, id=result.device.device_id)


def _request_of(data: Any) -> dict[str, Any]:
    values = dict(strawberry.asdict(data))
    values.pop("idempotency_key", None)
    return values
