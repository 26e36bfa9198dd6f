"""Lifecycle events: append-only, hash-chained per battery. SQL stays here; the caller commits.

Canonical event hash: the event is a JSON document

    {"id": "urn:uuid:…", "type": <kind>, "passport": "urn:uuid:<battery>", "sequence": n,
     "occurredAt": <xsd:dateTime>, "recordedBy": <actor>, "data": {…},
     "previousHash": <hex of event n-1, or 64 zeros for n = 1>}

and its hash is SHA-256 over the RFC 8785 (JCS) serialisation of exactly that document
(the hash is not part of it). Changing any stored event, reordering, dropping or inserting
one breaks the recomputed chain (`verify_chain`). The battery row is locked while an event is
appended, so two writers cannot both append sequence n.

Every state change that an event describes (installation, owner, status, ceasing) happens in
the same unit of work as the event, so the record and the log never disagree.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth.principal import Principal
from backend.kit.errors import ForbiddenError, InvalidInputError
from backend.lifecycle.errors import EventChainBrokenError, LifecycleTransitionError
from backend.lifecycle.models import LifecycleEvent
from backend.orgs.roles import Role
from backend.passports.attributes import BatteryStatus
from backend.passports.models import Battery
from backend.passports.service import (
    RESPONSIBLE_ROLES,
    Measurement,
    apply_measurement,
    ensure_identifier_free,
    ensure_writable,
    get_battery,
    get_model,
    new_battery,
    passport_id,
    set_status,
    validate_identifier,
    xsd_datetime,
)
from backend.vehicles.service import (
    close_installation,
    current_installation,
    get_vehicle,
    open_installation,
)
from credentials.errors import CredentialError
from credentials.jcs import canonicalize

if TYPE_CHECKING:
    from backend.passports.issuing import PassportIssuer

GENESIS_HASH: Final = "0" * 64
MAX_DATA_BYTES = 16_384


class EventKind(StrEnum):
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
    INSPECTED = "inspected"
    # Recorded by the platform's safety and charging services (backend.safety, .charging).
    SAFETY_ALERT = "safety_alert"
    SAFETY_ALERT_CLEARED = "safety_alert_cleared"
    CHARGING_SESSION = "charging_session"


SECOND_LIFE: Final = {
    EventKind.REPURPOSED: BatteryStatus.REPURPOSED,
    EventKind.REUSED: BatteryStatus.REUSED,
    EventKind.REMANUFACTURED: BatteryStatus.REMANUFACTURED,
}
# Kinds anyone may record through `record_event`; the others change state and have their own
# function (installation, ownership, second life, recycling).
PLAIN_KINDS: Final = frozenset(
    {
        EventKind.MANUFACTURED,
        EventKind.PLACED_ON_MARKET,
        EventKind.REPAIRED,
        EventKind.ACCIDENT,
        EventKind.WASTE,
    }
)
# Besides the battery's responsible organisation (and the platform), who may record what.
# Object-level custody (this recycler holds this battery) is checked by the caller's policy.
EXTRA_ROLES: Final[Mapping[EventKind, frozenset[Role]]] = {
    EventKind.INSTALLED: frozenset({Role.REPAIRER}),
    EventKind.REMOVED: frozenset({Role.REPAIRER, Role.RECYCLER, Role.SECOND_LIFE_OPERATOR}),
    EventKind.REPAIRED: frozenset({Role.REPAIRER}),
    EventKind.ACCIDENT: frozenset({Role.REPAIRER, Role.INSPECTOR, Role.AUTHORITY}),
    EventKind.OWNERSHIP_TRANSFERRED: frozenset({Role.SECOND_LIFE_OPERATOR, Role.RECYCLER}),
    EventKind.REPURPOSED: frozenset({Role.SECOND_LIFE_OPERATOR}),
    EventKind.REUSED: frozenset({Role.SECOND_LIFE_OPERATOR}),
    EventKind.REMANUFACTURED: frozenset({Role.SECOND_LIFE_OPERATOR}),
    EventKind.WASTE: frozenset({Role.RECYCLER}),
    EventKind.RECYCLED: frozenset({Role.RECYCLER}),
    EventKind.INSPECTED: frozenset({Role.INSPECTOR}),
}


def event_hash(document: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the JCS serialisation of the event document."""
    return hashlib.sha256(canonicalize(dict(document)).encode("utf-8")).hexdigest()


def actor_of(principal: Principal | None) -> str:
    if principal is None:
        return "platform"
    if principal.organisation_slug is not None:
        return f"org:{principal.organisation_slug}"
    return "platform" if principal.role is Role.PLATFORM else "unknown"


def _authorise(principal: Principal | None, battery: Battery, kind: EventKind) -> None:
    if principal is None:
        return
    extra = EXTRA_ROLES.get(kind, frozenset())
    principal.require_role(RESPONSIBLE_ROLES | extra)
    if principal.role in (Role.PLATFORM, *extra):
        return
    if principal.organisation_id != battery.organisation_id:
        raise ForbiddenError("only the responsible organisation may record this event")


def _check_data(data: Mapping[str, Any] | None) -> dict[str, Any]:
    payload = dict(data or {})
    try:
        size = len(canonicalize(payload).encode("utf-8"))
    except (TypeError, ValueError, CredentialError) as exc:
        raise InvalidInputError(f"event data must be plain JSON: {exc}", field="data") from None
    if size > MAX_DATA_BYTES:
        raise InvalidInputError(f"event data is over {MAX_DATA_BYTES} bytes", field="data")
    return payload


async def last_event(session: AsyncSession, battery_id: str) -> LifecycleEvent | None:
    return (
        await session.exec(
            select(LifecycleEvent)
            .where(LifecycleEvent.battery_id == battery_id)
            .order_by(col(LifecycleEvent.sequence).desc())
            .limit(1)
        )
    ).first()


async def _kinds_so_far(session: AsyncSession, battery_id: str) -> set[str]:
    return set(
        await session.exec(
            select(LifecycleEvent.kind).where(LifecycleEvent.battery_id == battery_id)
        )
    )


async def _check_transition(session: AsyncSession, battery: Battery, kind: EventKind) -> None:
    seen = await _kinds_so_far(session, battery.id)
    # A second-life battery's history starts with its second-life event (appended by
    # `start_second_life`, not checked here); an original battery's with `manufactured`.
    if not seen:
        if kind is not EventKind.MANUFACTURED:
            raise LifecycleTransitionError(
                f"the first event of a battery is manufactured, not {kind}", field="kind"
            )
        return
    if kind is EventKind.MANUFACTURED:
        raise LifecycleTransitionError("the battery's history has started already", field="kind")
    if kind is EventKind.PLACED_ON_MARKET and kind.value in seen:
        raise LifecycleTransitionError("the battery was already placed on the market", field="kind")
    # A waste battery may still be handed over, prepared for a second life (Art. 73:
    # preparation for re-use, repurposing or remanufacturing is a treatment of waste), or
    # recycled — nothing else.
    if battery.status == BatteryStatus.WASTE.value and kind not in (
        EventKind.RECYCLED,
        EventKind.OWNERSHIP_TRANSFERRED,
        EventKind.REMOVED,
        EventKind.INSPECTED,
        *SECOND_LIFE,
    ):
        raise LifecycleTransitionError(
            f"a waste battery can only be handed over, given a second life or recycled, not {kind}",
            field="kind",
        )
    if kind in (EventKind.WASTE, EventKind.RECYCLED, *SECOND_LIFE) and (
        await current_installation(session, battery.id) is not None
    ):
        raise LifecycleTransitionError(
            f"remove the battery from its vehicle before {kind}", field="kind"
        )


async def _append(
    session: AsyncSession,
    battery: Battery,
    kind: EventKind,
    actor: str,
    *,
    at: datetime,
    data: dict[str, Any],
) -> LifecycleEvent:
    previous = await last_event(session, battery.id)
    sequence = 1 if previous is None else previous.sequence + 1
    event_id = f"urn:uuid:{uuid.uuid4()}"
    document = {
        "id": event_id,
        "type": kind.value,
        "passport": passport_id(battery),
        "sequence": sequence,
        "occurredAt": xsd_datetime(at),
        "recordedBy": actor,
        "data": data,
        "previousHash": GENESIS_HASH if previous is None else previous.hash,
    }
    event = LifecycleEvent(
        event_id=event_id,
        battery_id=battery.id,
        sequence=sequence,
        kind=kind.value,
        occurred_at=at,
        document=document,
        hash=event_hash(document),
    )
    session.add(event)
    await session.flush()
    return event


def _when(occurred_at: datetime | None) -> datetime:
    if occurred_at is None:
        return datetime.now(UTC)
    if occurred_at.tzinfo is None:
        raise InvalidInputError("occurredAt needs a time zone", field="occurredAt")
    if occurred_at > datetime.now(UTC):
        raise InvalidInputError("occurredAt is in the future", field="occurredAt")
    return occurred_at


async def _locked(session: AsyncSession, battery_id: str) -> Battery:
    battery = await get_battery(session, battery_id, for_update=True)
    ensure_writable(battery)
    return battery


async def record_event(
    session: AsyncSession,
    principal: Principal | None,
    battery_id: str,
    kind: EventKind,
    *,
    occurred_at: datetime | None = None,
    data: Mapping[str, Any] | None = None,
) -> LifecycleEvent:
    """Record a plain event (manufactured, placed on market, repaired, accident, waste)."""
    if kind not in PLAIN_KINDS:
        raise InvalidInputError(f"{kind} has its own operation", field="kind")
    battery = await _locked(session, battery_id)
    _authorise(principal, battery, kind)
    if kind is EventKind.MANUFACTURED and battery.status != BatteryStatus.ORIGINAL.value:
        raise LifecycleTransitionError("a second-life battery was not manufactured", field="kind")
    await _check_transition(session, battery, kind)
    at = _when(occurred_at)
    event = await _append(
        session, battery, kind, actor_of(principal), at=at, data=_check_data(data)
    )
    if kind is EventKind.WASTE:
        set_status(battery, BatteryStatus.WASTE, at, actor_of(principal))
        session.add(battery)
    elif kind is EventKind.ACCIDENT:
        # Annex XIII "information on accidents" is this log's accident entries, each dated.
        description = str(event.document["data"].get("description") or "accident")[:500]
        held = battery.condition.get("accidentInformation", {}).get("value", [])
        entry = f"{xsd_datetime(at)[:10]}: {description}"
        apply_measurement(
            session,
            battery,
            "accidentInformation",
            Measurement(
                [*held, entry], at, actor_of(principal), f"lifecycle event {event.event_id}"
            ),
        )
        session.add(battery)
        # A reported accident opens a critical safety alert (and suspends charging
        # credentials) in the same unit of work; imported here: safety builds on lifecycle.
        from backend.safety.service import on_accident

        await on_accident(session, battery.id, event.event_id, at, description)
    return event


async def record_service_event(
    session: AsyncSession,
    battery_id: str,
    kind: EventKind,
    actor: str,
    *,
    at: datetime,
    data: Mapping[str, Any],
) -> LifecycleEvent:
    """An event a platform service records on its own authority (a safety alert, a charging
    session): the caller has authorised the request; the battery row is locked for the chain."""
    battery = await get_battery(session, battery_id, for_update=True)
    return await _append(session, battery, kind, actor, at=at, data=_check_data(data))


async def install_battery(
    session: AsyncSession,
    principal: Principal | None,
    battery_id: str,
    vehicle_id: str,
    *,
    occurred_at: datetime | None = None,
) -> LifecycleEvent:
    battery = await _locked(session, battery_id)
    _authorise(principal, battery, EventKind.INSTALLED)
    await _check_transition(session, battery, EventKind.INSTALLED)
    vehicle = await get_vehicle(session, vehicle_id)
    at = _when(occurred_at)
    await open_installation(session, battery.id, vehicle, at)
    data = {"vehicle": f"urn:uuid:{vehicle.id}", "vin": vehicle.vin}
    return await _append(
        session, battery, EventKind.INSTALLED, actor_of(principal), at=at, data=data
    )


async def remove_battery(
    session: AsyncSession,
    principal: Principal | None,
    battery_id: str,
    *,
    occurred_at: datetime | None = None,
    reason: str | None = None,
) -> LifecycleEvent:
    battery = await _locked(session, battery_id)
    _authorise(principal, battery, EventKind.REMOVED)
    await _check_transition(session, battery, EventKind.REMOVED)
    at = _when(occurred_at)
    installation = await close_installation(session, battery.id, at, "removed")
    vehicle = await get_vehicle(session, installation.vehicle_id)
    data: dict[str, Any] = {"vehicle": f"urn:uuid:{vehicle.id}", "vin": vehicle.vin}
    if reason:
        data["reason"] = reason[:500]
    return await _append(session, battery, EventKind.REMOVED, actor_of(principal), at=at, data=data)


async def swap_battery(
    session: AsyncSession,
    principal: Principal | None,
    battery_id: str,
    to_vehicle_id: str,
    *,
    occurred_at: datetime | None = None,
) -> tuple[LifecycleEvent, LifecycleEvent]:
    """Move the battery from its vehicle into another: a removal and an installation."""
    battery = await _locked(session, battery_id)
    _authorise(principal, battery, EventKind.REMOVED)
    _authorise(principal, battery, EventKind.INSTALLED)
    await _check_transition(session, battery, EventKind.INSTALLED)
    target = await get_vehicle(session, to_vehicle_id)
    at = _when(occurred_at)
    installation = await close_installation(session, battery.id, at, "swapped")
    source = await get_vehicle(session, installation.vehicle_id)
    if source.id == target.id:
        raise InvalidInputError("the battery already sits in that vehicle", field="vehicleId")
    await open_installation(session, battery.id, target, at)
    actor = actor_of(principal)
    removed = await _append(
        session,
        battery,
        EventKind.REMOVED,
        actor,
        at=at,
        data={"vehicle": f"urn:uuid:{source.id}", "vin": source.vin, "swap": True},
    )
    installed = await _append(
        session,
        battery,
        EventKind.INSTALLED,
        actor,
        at=at,
        data={"vehicle": f"urn:uuid:{target.id}", "vin": target.vin, "swap": True},
    )
    return removed, installed


async def transfer_ownership(
    session: AsyncSession,
    principal: Principal | None,
    battery_id: str,
    new_owner_id: str,
    *,
    occurred_at: datetime | None = None,
) -> LifecycleEvent:
    """Hand the battery to a new owner (a driver or organisation id; consent is the
    caller's policy). The event names no person: only that ownership changed."""
    owner = new_owner_id.strip()
    if not owner or len(owner) > 64:
        raise InvalidInputError("an owner id is 1-64 characters", field="ownerId")
    battery = await _locked(session, battery_id)
    _authorise(principal, battery, EventKind.OWNERSHIP_TRANSFERRED)
    await _check_transition(session, battery, EventKind.OWNERSHIP_TRANSFERRED)
    if battery.owner_id == owner:
        raise LifecycleTransitionError("that is already the owner", field="ownerId")
    battery.owner_id = owner
    session.add(battery)
    at = _when(occurred_at)
    # Personal data stays out of the hash chain (it must survive a driver's erasure), so the
    # event carries a salted digest of the owner id, not the id itself.
    digest = hashlib.sha256(f"{battery.id}:{owner}".encode()).hexdigest()
    return await _append(
        session,
        battery,
        EventKind.OWNERSHIP_TRANSFERRED,
        actor_of(principal),
        at=at,
        data={"ownerDigest": digest},
    )


async def record_inspection(
    session: AsyncSession,
    principal: Principal,
    battery_id: str,
    data: Mapping[str, Any],
    *,
    occurred_at: datetime | None = None,
) -> LifecycleEvent:
    """An inspection's result (grade, credential ids and digests) in the battery's history,
    recorded by the inspecting organisation (any accredited inspector, not only the
    responsible organisation; backend.inspection checks the accreditation)."""
    battery = await _locked(session, battery_id)
    _authorise(principal, battery, EventKind.INSPECTED)
    await _check_transition(session, battery, EventKind.INSPECTED)
    return await _append(
        session,
        battery,
        EventKind.INSPECTED,
        actor_of(principal),
        at=_when(occurred_at),
        data=_check_data(data),
    )


@dataclass(frozen=True, slots=True)
class SecondLife:
    predecessor_event: LifecycleEvent
    battery: Battery  # the new battery record with its own passport id
    genesis_event: LifecycleEvent


async def start_second_life(
    session: AsyncSession,
    principal: Principal,
    passports: PassportIssuer,
    battery_id: str,
    *,
    kind: EventKind,
    new_identifier: str,
    model_id: str | None = None,
    occurred_at: datetime | None = None,
) -> SecondLife:
    """Repurpose, re-use or remanufacture: the old passport ends (its credentials revoked,
    record read-only) and a new battery record with a new passport starts, linked both ways
    through the events' data and `predecessor_id`."""
    if kind not in SECOND_LIFE:
        raise InvalidInputError(f"{kind} is not a second life", field="kind")
    old = await _locked(session, battery_id)
    _authorise(principal, old, kind)
    await _check_transition(session, old, kind)
    identifier = validate_identifier(new_identifier)
    if identifier == old.identifier:
        raise InvalidInputError("a second-life battery gets a new identifier", field="identifier")
    model = await get_model(session, model_id or old.model_id or "")
    assert principal.organisation_id is not None
    at = _when(occurred_at)
    actor = actor_of(principal)
    status = SECOND_LIFE[kind]
    successor = new_battery(
        model,
        identifier,
        organisation_id=principal.organisation_id,
        originator=actor,
        status=status,
        predecessor_id=old.id,
        owner_id=old.owner_id,
    )
    await ensure_identifier_free(session, identifier)
    session.add(successor)
    await session.flush()
    final = await _append(
        session, old, kind, actor, at=at, data={"successorPassport": passport_id(successor)}
    )
    genesis = await _append(
        session,
        successor,
        kind,
        actor,
        at=at,
        data={"predecessorPassport": passport_id(old), "predecessorEventHash": final.hash},
    )
    set_status(old, status, at, actor)
    old.ceased_at = datetime.now(UTC)
    session.add(old)
    await passports.revoke_all(
        session, old, reason=f"{kind}: succeeded by {passport_id(successor)}", urgent=False
    )
    return SecondLife(predecessor_event=final, battery=successor, genesis_event=genesis)


async def recycle(
    session: AsyncSession,
    principal: Principal,
    passports: PassportIssuer,
    battery_id: str,
    *,
    occurred_at: datetime | None = None,
    data: Mapping[str, Any] | None = None,
) -> LifecycleEvent:
    """The battery is recycled: its passport ceases (credentials revoked, record read-only)."""
    battery = await _locked(session, battery_id)
    _authorise(principal, battery, EventKind.RECYCLED)
    await _check_transition(session, battery, EventKind.RECYCLED)
    at = _when(occurred_at)
    actor = actor_of(principal)
    event = await _append(
        session, battery, EventKind.RECYCLED, actor, at=at, data=_check_data(data)
    )
    set_status(battery, BatteryStatus.WASTE, at, actor)
    battery.ceased_at = datetime.now(UTC)
    session.add(battery)
    await passports.revoke_all(
        session, battery, reason="recycled: the passport ceased", urgent=False
    )
    return event


async def battery_events(session: AsyncSession, battery_id: str) -> list[LifecycleEvent]:
    return list(
        await session.exec(
            select(LifecycleEvent)
            .where(LifecycleEvent.battery_id == battery_id)
            .order_by(col(LifecycleEvent.sequence))
        )
    )


def check_event(event: LifecycleEvent) -> None:
    """The stored event still hashes to its recorded hash."""
    if event_hash(event.document) != event.hash:
        raise EventChainBrokenError(
            f"event {event.event_id} does not match its hash", field="eventId"
        )


def check_chain(events: Sequence[LifecycleEvent], battery_id: str) -> None:
    """Every event hashes to its hash, links to the one before and sits at its position
    (`EventChainBrokenError` otherwise); `events` in sequence order."""
    previous = GENESIS_HASH
    for expected, event in enumerate(events, start=1):
        check_event(event)
        document = event.document
        if (
            document.get("sequence") != expected
            or event.sequence != expected
            or document.get("previousHash") != previous
            or document.get("id") != event.event_id
            or document.get("passport") != f"urn:uuid:{battery_id}"
        ):
            raise EventChainBrokenError(
                f"event {event.event_id} breaks the chain at position {expected}",
                field="eventId",
            )
        previous = event.hash


async def verify_chain(session: AsyncSession, battery_id: str) -> list[LifecycleEvent]:
    """The battery's events, after `check_chain`."""
    events = await battery_events(session, battery_id)
    check_chain(events, battery_id)
    return events
