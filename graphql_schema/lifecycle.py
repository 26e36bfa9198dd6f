"""Vehicles, lifecycle events and their proofs — types, queries, mutations.

Lifecycle events are the passport's public history: their kind, time, sequence and hashes are
everyone's (a buyer checks `eventProof` against the chain); the `data` of an event (a VIN, a
repair note) is restricted to whoever may read the battery's restricted data. Vehicles carry a
plate and an owner: only the owner, the platform and authorities read them.

Every lifecycle mutation runs the domain service's role rules (who may record which kind) and,
first, the object-level policy: the responsible organisation, the platform, or an
organisation holding the battery (custody); a driver hands ownership on as the owner.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, cast

import strawberry
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from strawberry.scalars import JSON

from backend.access.battery import BatteryView
from backend.auth.policy import Action, Resource, ResourceKind, authorize, decide
from backend.auth.principal import Principal
from backend.kit.errors import DomainError, InvalidInputError, NotFoundError
from backend.kit.events import battery_channel
from backend.kit.models import as_utc
from backend.lifecycle import anchoring
from backend.lifecycle import service as lifecycle
from backend.lifecycle.models import LifecycleEvent as EventRow
from backend.passports.models import Battery as BatteryRow
from backend.safety.notify import announce_accident
from backend.vehicles import service as vehicles
from backend.vehicles.models import Installation as InstallationRow
from backend.vehicles.models import Vehicle as VehicleRow
from graphql_schema.context import Context
from graphql_schema.errors import PassportError, run_mutation
from graphql_schema.passports import Battery, battery_id_from, battery_of, json_object, request_of
from graphql_schema.relay import Node, from_global_id, to_global_id

Info = strawberry.Info[Context, None]


@strawberry.enum(description="What happened to a battery.")
class LifecycleEventKind(Enum):
    MANUFACTURED = "manufactured"
    PLACED_ON_MARKET = "placed_on_market"
    INSTALLED = "installed"
    OWNERSHIP_TRANSFERRED = "ownership_transferred"
    REPAIRED = "repaired"
    ACCIDENT = "accident"
    REMOVED = "removed"
    REPURPOSED = "repurposed"
    REUSED = "re-used"
    REMANUFACTURED = "remanufactured"
    WASTE = "waste"
    RECYCLED = "recycled"
    SAFETY_ALERT = "safety_alert"
    SAFETY_ALERT_CLEARED = "safety_alert_cleared"
    CHARGING_SESSION = "charging_session"
    INSPECTED = "inspected"


@strawberry.enum(
    description="Kinds recorded by `recordLifecycleEvent` (the others have their own)."
)
class PlainEventKind(Enum):
    MANUFACTURED = "manufactured"
    PLACED_ON_MARKET = "placed_on_market"
    REPAIRED = "repaired"
    ACCIDENT = "accident"
    WASTE = "waste"


@strawberry.enum(description="A second life: a new passport linked to its predecessor.")
class SecondLifeKind(Enum):
    REPURPOSED = "repurposed"
    REUSED = "re-used"
    REMANUFACTURED = "remanufactured"


@strawberry.type(description="One event of a battery's append-only, hash-chained history.")
class LifecycleEvent(Node):
    event_id: str = strawberry.field(description="urn:uuid:…, the id `eventProof` takes.")
    battery_id: str
    kind: LifecycleEventKind
    sequence: int
    occurred_at: datetime
    recorded_by: str
    hash: str = strawberry.field(description="SHA-256 (hex) of the JCS of the event document.")
    previous_hash: str
    anchored: bool = strawberry.field(description="Included in a Merkle root sent to the chain.")
    data: JSON | None = strawberry.field(
        description="The event's details; null unless the caller may read restricted data."
    )

    @classmethod
    def from_row(cls, row: EventRow, *, with_data: bool) -> LifecycleEvent:
        document = row.document
        return cls(
            id=to_global_id("LifecycleEvent", row.event_id),
            event_id=row.event_id,
            battery_id=row.battery_id,
            kind=LifecycleEventKind(row.kind),
            sequence=row.sequence,
            occurred_at=as_utc(row.occurred_at),
            recorded_by=str(document.get("recordedBy", "")),
            hash=row.hash,
            previous_hash=str(document.get("previousHash", "")),
            anchored=row.anchor_id is not None,
            data=cast(JSON, document.get("data")) if with_data else None,
        )


def sees_event_data(info: Info, view: BatteryView) -> bool:
    decision = view.decide(Action.READ_RESTRICTED)
    if decision.allowed:
        info.context.audit.note(
            Action.READ_RESTRICTED, view.resource, decision, why="lifecycle event data"
        )
    return decision.allowed


@strawberry.type(description="A battery sitting in a vehicle from installedAt to removedAt.")
class Installation:
    vehicle_id: str
    vin: str | None = strawberry.field(description="Null unless the caller may read the vehicle.")
    installed_at: datetime
    removed_at: datetime | None
    removal_reason: str | None


@strawberry.type(description="A vehicle (VIN, plate) and the batteries it carried.")
class Vehicle(Node):
    vehicle_id: str
    vin: str
    plate: str | None
    owner_id: str | None = strawberry.field(description="The owning driver's id.")
    created_at: datetime

    @strawberry.field(description="The battery installed now, if any.")
    async def battery(self, info: Info) -> Battery | None:
        async with info.context.runtime.db.read_only() as session:
            battery_id = await vehicles.installed_battery_id(session, self.vehicle_id)
        if battery_id is None:
            return None
        view = await info.context.loaders.battery_view.load(battery_id)
        return Battery.from_view(view) if view is not None else None

    @strawberry.field(description="Every battery installation of this vehicle, oldest first.")
    async def installations(self, info: Info) -> list[VehicleInstallation]:
        async with info.context.runtime.db.read_only() as session:
            rows = await vehicles.installation_history(session, vehicle_id=self.vehicle_id)
        return [
            VehicleInstallation(
                battery_id=row.battery_id,
                installed_at=as_utc(row.installed_at),
                removed_at=as_utc(row.removed_at) if row.removed_at else None,
                removal_reason=row.removal_reason,
            )
            for row in rows
        ]

    @classmethod
    def from_row(cls, row: VehicleRow) -> Vehicle:
        return cls(
            id=to_global_id("Vehicle", row.id),
            vehicle_id=row.id,
            vin=row.vin,
            plate=row.plate,
            owner_id=row.owner_id,
            created_at=as_utc(row.created_at),
        )


@strawberry.type
class VehicleInstallation:
    battery_id: str
    installed_at: datetime
    removed_at: datetime | None
    removal_reason: str | None


def vehicle_resource(row: VehicleRow) -> Resource:
    return Resource(ResourceKind.VEHICLE, id=row.id, owner_id=row.owner_id)


def readable_vehicle(info: Info, row: VehicleRow) -> Vehicle | None:
    """The vehicle if the caller may read it (owner, platform, authority); audited."""
    resource = vehicle_resource(row)
    decision = decide(info.context.principal, Action.READ_VEHICLE, resource)
    if not decision.allowed:
        return None
    info.context.audit.note(Action.READ_VEHICLE, resource, decision, why="vehicle")
    return Vehicle.from_row(row)


@strawberry.type(description="An inclusion proof of an event in an anchored Merkle root.")
class EventProof:
    event_id: str
    event_hash: str = strawberry.field(description="0x-prefixed SHA-256 of the event's JCS.")
    issuer: str = strawberry.field(description="The anchoring account on chain.")
    anchor_sequence: int
    index: int
    count: int
    root: str
    proof: list[str] = strawberry.field(description="Sibling hashes, leaf to root, 0x-hex.")
    confirmed: bool = strawberry.field(description="The anchor transaction is confirmed.")
    verified: bool = strawberry.field(description="The proof leads to the root (offline check).")
    on_chain: bool | None = strawberry.field(
        description="The registry contract confirms the inclusion; null if the node is down."
    )


EventProofResult = Annotated[EventProof | PassportError, strawberry.union("EventProofResult")]


def vehicle_id_from(value: str) -> str:
    try:
        kind, local = from_global_id(value)
    except DomainError:
        return value
    if kind != "Vehicle":
        raise InvalidInputError(f"id is a {kind}, not a Vehicle", field="vehicleId")
    return local


def event_id_from(value: str) -> str:
    if value.startswith("urn:uuid:"):
        return value
    kind, local = from_global_id(value)
    if kind != "LifecycleEvent":
        raise InvalidInputError(f"id is a {kind}, not a LifecycleEvent", field="eventId")
    return local


async def node_of(info: Info, kind: str, local: str) -> Node | None:
    context = info.context
    if kind == "Vehicle":
        async with context.runtime.db.read_only() as session:
            row = await session.get(VehicleRow, local)
        return readable_vehicle(info, row) if row is not None else None
    if kind == "LifecycleEvent":
        async with context.runtime.db.read_only() as session:
            event = (await session.exec(select(EventRow).where(EventRow.event_id == local))).first()
        if event is None:
            return None
        view = await context.loaders.battery_view.load(event.battery_id)
        if view is None:
            return None
        return LifecycleEvent.from_row(event, with_data=sees_event_data(info, view))
    return None


# ------------------------------------------------------------------------------ results


@strawberry.type
class RegisterVehicleSuccess:
    vehicle_id: str
    vin: str
    plate: str | None

    def replay_data(self) -> dict[str, Any]:
        return {"vehicle_id": self.vehicle_id}


@strawberry.type(description="The events a lifecycle operation appended, and the battery after.")
class LifecycleSuccess:
    battery: Battery
    events: list[LifecycleEvent]
    successor: Battery | None = strawberry.field(
        default=None, description="A second life: the new battery with its own passport."
    )

    def replay_data(self) -> dict[str, Any]:
        return {
            "battery_id": self.battery.battery_id,
            "event_ids": [event.event_id for event in self.events],
            "successor_id": self.successor.battery_id if self.successor else None,
        }


RegisterVehicleResult = Annotated[
    RegisterVehicleSuccess | PassportError, strawberry.union("RegisterVehicleResult")
]
LifecycleResult = Annotated[LifecycleSuccess | PassportError, strawberry.union("LifecycleResult")]


@strawberry.input
class RegisterVehicleInput:
    vin: str
    plate: str | None = None
    owner_id: str | None = strawberry.field(
        default=None, description="The owning driver (a driver registering becomes the owner)."
    )
    idempotency_key: str | None = None


@strawberry.input
class RecordLifecycleEventInput:
    battery_id: strawberry.ID
    kind: PlainEventKind
    occurred_at: datetime | None = None
    data: JSON | None = None
    idempotency_key: str | None = None


@strawberry.input
class InstallBatteryInput:
    battery_id: strawberry.ID
    vehicle_id: strawberry.ID
    occurred_at: datetime | None = None
    idempotency_key: str | None = None


@strawberry.input
class RemoveBatteryInput:
    battery_id: strawberry.ID
    reason: str | None = None
    occurred_at: datetime | None = None
    idempotency_key: str | None = None


@strawberry.input(description="Move a battery from its vehicle into another (removal + install).")
class SwapBatteryInput:
    battery_id: strawberry.ID
    to_vehicle_id: strawberry.ID
    occurred_at: datetime | None = None
    idempotency_key: str | None = None


@strawberry.input
class TransferOwnershipInput:
    battery_id: strawberry.ID
    new_owner_id: str = strawberry.field(
        description="A driver id, or an organisation's DID (which then holds the battery)."
    )
    occurred_at: datetime | None = None
    idempotency_key: str | None = None


@strawberry.input
class StartSecondLifeInput:
    battery_id: strawberry.ID
    kind: SecondLifeKind
    new_identifier: str
    model_id: strawberry.ID | None = None
    occurred_at: datetime | None = None
    idempotency_key: str | None = None


@strawberry.input
class RecycleBatteryInput:
    battery_id: strawberry.ID
    occurred_at: datetime | None = None
    data: JSON | None = None
    idempotency_key: str | None = None


# ---------------------------------------------------------------------------- helpers


async def checked_view(info: Info, session: AsyncSession, battery_id: str) -> BatteryView:
    """The battery as the caller sees it, after the object-level lifecycle policy."""
    row = await session.get(BatteryRow, battery_id)
    if row is None:
        raise NotFoundError(f"no battery {battery_id}", field="batteryId")
    (view,) = await info.context.loaders.views([row], session)
    authorize(info.context.principal, Action.RECORD_LIFECYCLE_EVENT, view.resource, view.consents)
    return view


async def events_success(
    info: Info,
    session: AsyncSession,
    battery_id: str,
    events: list[EventRow],
    successor: BatteryRow | None = None,
) -> LifecycleSuccess:
    row = await session.get(BatteryRow, battery_id)
    assert row is not None
    return LifecycleSuccess(
        battery=await battery_of(info, row, session),
        events=[LifecycleEvent.from_row(event, with_data=True) for event in events],
        successor=await battery_of(info, successor, session) if successor is not None else None,
    )


async def run_lifecycle(
    info: Info,
    operation: str,
    input: Any,
    work: Callable[[AsyncSession], Awaitable[LifecycleSuccess]],
) -> LifecycleSuccess | PassportError:
    """A lifecycle mutation: one unit of work, audited, idempotent; events announced and the
    anchorer woken after commit."""
    runtime = info.context.runtime

    async def replay(session: AsyncSession, data: dict[str, Any]) -> LifecycleSuccess:
        events = list(
            await session.exec(
                select(EventRow).where(col(EventRow.event_id).in_(data["event_ids"]))
            )
        )
        events.sort(key=lambda event: data["event_ids"].index(event.event_id))
        successor = (
            await session.get(BatteryRow, data["successor_id"]) if data["successor_id"] else None
        )
        return await events_success(info, session, data["battery_id"], events, successor)

    result = await run_mutation(
        info,
        operation=operation,
        request=request_of(input),
        idempotency_key=input.idempotency_key,
        work=work,
        replay=replay,
        audit=lambda result: Resource(ResourceKind.BATTERY, id=result.battery.battery_id),
    )
    if isinstance(result, LifecycleSuccess):
        if runtime.anchorer is not None:
            runtime.anchorer.wake()
        runtime.issuance.status_changed(urgent=False)
        for event in result.events:
            await runtime.events.publish(
                battery_channel(event.battery_id),
                {"kind": event.kind.value.upper(), "eventId": event.event_id},
            )
            if event.kind is LifecycleEventKind.ACCIDENT:
                await announce_accident(runtime, event.battery_id, event.event_id)
    return result


def acting_as(principal: Principal) -> Principal | None:
    """Who the lifecycle service sees: organisations as themselves; a driver acts as the
    owner after the policy said so (the service records the platform, never a person)."""
    return None if principal.is_driver else principal


@strawberry.type
class LifecycleQuery:
    @strawberry.field(description="A vehicle by its global ID, UUID, VIN or plate (owner only).")
    async def vehicle(self, info: Info, id: str) -> Vehicle | None:
        async with info.context.runtime.db.read_only() as session:
            try:
                row = await session.get(VehicleRow, vehicle_id_from(id))
                if row is None:
                    row = await vehicles.find_vehicle(session, id)
            except DomainError:
                return None
        return readable_vehicle(info, row)

    @strawberry.field(description="The proof that an event is in a root anchored on chain.")
    async def event_proof(self, info: Info, event_id: str) -> EventProofResult:
        runtime = info.context.runtime
        try:
            async with runtime.db.read_only() as session:
                proof = await anchoring.event_proof(session, event_id_from(event_id))
        except DomainError as error:
            return PassportError.from_domain(error)
        on_chain: bool | None = None
        try:
            on_chain = await anchoring.check_on_chain(runtime.chain, proof)
        except DomainError:
            on_chain = None
        return EventProof(
            event_id=proof.event_id,
            event_hash="0x" + proof.event_hash,
            issuer=proof.issuer,
            anchor_sequence=proof.anchor_sequence,
            index=proof.index,
            count=proof.count,
            root="0x" + proof.root,
            proof=["0x" + sibling for sibling in proof.proof],
            confirmed=proof.confirmed,
            verified=proof.verify(),
            on_chain=on_chain,
        )


@strawberry.type
class LifecycleMutation:
    @strawberry.mutation(description="Register a vehicle (organisations; a driver owns theirs).")
    async def register_vehicle(
        self, info: Info, input: RegisterVehicleInput
    ) -> RegisterVehicleResult:
        principal = info.context.principal

        async def work(session: AsyncSession) -> RegisterVehicleSuccess:
            row = await vehicles.register_vehicle(
                session, principal, input.vin, plate=input.plate, owner_id=input.owner_id
            )
            return RegisterVehicleSuccess(vehicle_id=row.id, vin=row.vin, plate=row.plate)

        async def replay(session: AsyncSession, data: dict[str, Any]) -> RegisterVehicleSuccess:
            row = await vehicles.get_vehicle(session, data["vehicle_id"])
            return RegisterVehicleSuccess(vehicle_id=row.id, vin=row.vin, plate=row.plate)

        return await run_mutation(
            info,
            operation="registerVehicle",
            request=request_of(input),
            idempotency_key=input.idempotency_key,
            work=work,
            replay=replay,
            audit=lambda result: Resource(ResourceKind.VEHICLE, id=result.vehicle_id),
        )

    @strawberry.mutation(
        description="Record a plain event: manufactured, placed on market, repaired, accident, "
        "waste."
    )
    async def record_lifecycle_event(
        self, info: Info, input: RecordLifecycleEventInput
    ) -> LifecycleResult:
        async def work(session: AsyncSession) -> LifecycleSuccess:
            battery_id = battery_id_from(str(input.battery_id))
            await checked_view(info, session, battery_id)
            event = await lifecycle.record_event(
                session,
                acting_as(info.context.principal),
                battery_id,
                lifecycle.EventKind(input.kind.value),
                occurred_at=input.occurred_at,
                data=json_object(input.data, "data"),
            )
            return await events_success(info, session, battery_id, [event])

        return await run_lifecycle(info, "recordLifecycleEvent", input, work)

    @strawberry.mutation(description="Install a battery in a vehicle.")
    async def install_battery(self, info: Info, input: InstallBatteryInput) -> LifecycleResult:
        async def work(session: AsyncSession) -> LifecycleSuccess:
            battery_id = battery_id_from(str(input.battery_id))
            await checked_view(info, session, battery_id)
            event = await lifecycle.install_battery(
                session,
                acting_as(info.context.principal),
                battery_id,
                vehicle_id_from(str(input.vehicle_id)),
                occurred_at=input.occurred_at,
            )
            return await events_success(info, session, battery_id, [event])

        return await run_lifecycle(info, "installBattery", input, work)

    @strawberry.mutation(description="Remove a battery from its vehicle.")
    async def remove_battery(self, info: Info, input: RemoveBatteryInput) -> LifecycleResult:
        async def work(session: AsyncSession) -> LifecycleSuccess:
            battery_id = battery_id_from(str(input.battery_id))
            await checked_view(info, session, battery_id)
            event = await lifecycle.remove_battery(
                session,
                acting_as(info.context.principal),
                battery_id,
                occurred_at=input.occurred_at,
                reason=input.reason,
            )
            return await events_success(info, session, battery_id, [event])

        return await run_lifecycle(info, "removeBattery", input, work)

    @strawberry.mutation(description="Move a battery into another vehicle (one unit of work).")
    async def swap_battery(self, info: Info, input: SwapBatteryInput) -> LifecycleResult:
        async def work(session: AsyncSession) -> LifecycleSuccess:
            battery_id = battery_id_from(str(input.battery_id))
            await checked_view(info, session, battery_id)
            removed, installed = await lifecycle.swap_battery(
                session,
                acting_as(info.context.principal),
                battery_id,
                vehicle_id_from(str(input.to_vehicle_id)),
                occurred_at=input.occurred_at,
            )
            return await events_success(info, session, battery_id, [removed, installed])

        return await run_lifecycle(info, "swapBattery", input, work)

    @strawberry.mutation(
        description="Hand the battery to a new owner: the owning driver, or the responsible or "
        "holding organisation."
    )
    async def transfer_ownership(
        self, info: Info, input: TransferOwnershipInput
    ) -> LifecycleResult:
        principal = info.context.principal

        async def work(session: AsyncSession) -> LifecycleSuccess:
            battery_id = battery_id_from(str(input.battery_id))
            row = await session.get(BatteryRow, battery_id)
            if row is None:
                raise NotFoundError(f"no battery {battery_id}", field="batteryId")
            (view,) = await info.context.loaders.views([row], session)
            if principal.is_driver:
                authorize(principal, Action.TRANSFER_OWNERSHIP, view.resource, view.consents)
            else:
                authorize(principal, Action.RECORD_LIFECYCLE_EVENT, view.resource, view.consents)
            event = await lifecycle.transfer_ownership(
                session,
                acting_as(principal),
                battery_id,
                input.new_owner_id,
                occurred_at=input.occurred_at,
            )
            return await events_success(info, session, battery_id, [event])

        return await run_lifecycle(info, "transferOwnership", input, work)

    @strawberry.mutation(
        description="Repurpose, re-use or remanufacture: the old passport ceases and a new "
        "battery with its own passport starts, linked both ways."
    )
    async def start_second_life(self, info: Info, input: StartSecondLifeInput) -> LifecycleResult:
        principal = info.context.principal
        runtime = info.context.runtime

        async def work(session: AsyncSession) -> LifecycleSuccess:
            battery_id = battery_id_from(str(input.battery_id))
            await checked_view(info, session, battery_id)
            if runtime.passports is None:
                raise DomainError("passport issuing is not running in this process")
            model_id = None
            if input.model_id is not None:
                from graphql_schema.passports import model_id_from

                model_id = model_id_from(str(input.model_id))
            second = await lifecycle.start_second_life(
                session,
                principal,
                runtime.passports,
                battery_id,
                kind=lifecycle.EventKind(input.kind.value),
                new_identifier=input.new_identifier,
                model_id=model_id,
                occurred_at=input.occurred_at,
            )
            return await events_success(
                info,
                session,
                battery_id,
                [second.predecessor_event, second.genesis_event],
                successor=second.battery,
            )

        return await run_lifecycle(info, "startSecondLife", input, work)

    @strawberry.mutation(
        description="The battery is recycled: its passport ceases (credentials revoked)."
    )
    async def recycle_battery(self, info: Info, input: RecycleBatteryInput) -> LifecycleResult:
        principal = info.context.principal
        runtime = info.context.runtime

        async def work(session: AsyncSession) -> LifecycleSuccess:
            battery_id = battery_id_from(str(input.battery_id))
            await checked_view(info, session, battery_id)
            if runtime.passports is None:
                raise DomainError("passport issuing is not running in this process")
            event = await lifecycle.recycle(
                session,
                principal,
                runtime.passports,
                battery_id,
                occurred_at=input.occurred_at,
                data=json_object(input.data, "data"),
            )
            return await events_success(info, session, battery_id, [event])

        return await run_lifecycle(info, "recycleBattery", input, work)


async def battery_events(info: Info, view: BatteryView) -> list[LifecycleEvent]:
    rows = await info.context.loaders.events_by_battery.load(view.battery.id)
    with_data = bool(rows) and sees_event_data(info, view)
    return [LifecycleEvent.from_row(row, with_data=with_data) for row in rows]


async def battery_installations(info: Info, view: BatteryView) -> list[Installation]:
    if not view.decide(Action.READ_RESTRICTED).allowed:
        return []
    rows: list[InstallationRow] = await info.context.loaders.installations_by_battery.load(
        view.battery.id
    )
    vins: dict[str, str] = {}
    if rows:
        async with info.context.runtime.db.read_only() as session:
            found = await session.exec(
                select(VehicleRow.id, VehicleRow.vin).where(
                    col(VehicleRow.id).in_({row.vehicle_id for row in rows})
                )
            )
            vins = dict(found.all())
    return [
        Installation(
            vehicle_id=row.vehicle_id,
            vin=vins.get(row.vehicle_id),
            installed_at=as_utc(row.installed_at),
            removed_at=as_utc(row.removed_at) if row.removed_at else None,
            removal_reason=row.removal_reason,
        )
        for row in rows
    ]
