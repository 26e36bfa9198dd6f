"""Vehicles (VIN, plate, owner) and installations. SQL stays here; the caller commits.

Installing, swapping and removing batteries are lifecycle events: `backend.lifecycle.service`
calls `open_installation` / `close_installation` and records the event in the same unit of
work, so the history and the hash-chained log never disagree.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Final

from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth.principal import Principal
from backend.kit.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from backend.orgs.roles import Role
from backend.vehicles.errors import BatteryInstalledError, InvalidVinError
from backend.vehicles.models import Installation, Vehicle

VEHICLE_WRITERS: Final = frozenset(
    {Role.PLATFORM, Role.ISSUER, Role.MANUFACTURER, Role.REPAIRER, Role.SECOND_LIFE_OPERATOR}
)

# ISO 3779: 17 characters, I, O and Q never used (they read as 1 and 0).
_VIN = re.compile(r"^[A-HJ-NPR-Z0-9]{17}$")
# ISO 3779 / 49 CFR 565.15 check digit (position 9): transliterate, weight, sum mod 11.
_TRANSLITERATION: Final = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_WEIGHTS: Final = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
# Korean plates ("12가3456", "서울12가3456") and others: letters of any script, digits,
# inner spaces or hyphens; compared without spaces.
_PLATE = re.compile(r"^[\w][\w -]{0,18}[\w]$")


def vin_check_digit(vin: str) -> str:
    """The check character position 9 must hold ('0'-'9' or 'X' for 10)."""
    total = sum(_TRANSLITERATION[c] * w for c, w in zip(vin, _WEIGHTS, strict=True))
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


def validate_vin(vin: str) -> str:
    """The upper-cased VIN, or `InvalidVinError` (shape, or a wrong check digit)."""
    cleaned = vin.strip().upper()
    if not _VIN.fullmatch(cleaned):
        raise InvalidVinError(
            "a VIN is 17 characters: digits and letters except I, O and Q", field="vin"
        )
    expected = vin_check_digit(cleaned)
    if cleaned[8] != expected:
        raise InvalidVinError(
            f"VIN check digit (position 9) is {cleaned[8]}, expected {expected}", field="vin"
        )
    return cleaned


def validate_plate(plate: str) -> str:
    cleaned = " ".join(plate.split())
    if not _PLATE.fullmatch(cleaned) or "_" in cleaned:
        raise InvalidInputError(
            "a plate is 2-20 letters or digits with inner spaces or hyphens", field="plate"
        )
    return cleaned.replace(" ", "")


def _owner(owner_id: str | None) -> str | None:
    if owner_id is None:
        return None
    cleaned = owner_id.strip()
    if not cleaned or len(cleaned) > 64:
        raise InvalidInputError("an owner id is 1-64 characters", field="ownerId")
    return cleaned


async def register_vehicle(
    session: AsyncSession,
    principal: Principal,
    vin: str,
    *,
    plate: str | None = None,
    owner_id: str | None = None,
) -> Vehicle:
    if principal.is_driver:
        owner_id = principal.driver_id  # a driver registers their own vehicle
    else:
        principal.require_role(VEHICLE_WRITERS)
    valid_vin = validate_vin(vin)
    valid_plate = validate_plate(plate) if plate is not None else None
    taken = (await session.exec(select(Vehicle.id).where(Vehicle.vin == valid_vin))).first()
    if taken is not None:
        raise AlreadyExistsError(f"vehicle {valid_vin} is already registered", field="vin")
    vehicle = Vehicle(
        id=str(uuid.uuid4()), vin=valid_vin, plate=valid_plate, owner_id=_owner(owner_id)
    )
    session.add(vehicle)
    await session.flush()
    return vehicle


async def get_vehicle(session: AsyncSession, vehicle_id: str) -> Vehicle:
    try:
        key = str(uuid.UUID(vehicle_id.removeprefix("urn:uuid:")))
    except ValueError:
        raise InvalidInputError(f"{vehicle_id!r} is not a vehicle id", field="vehicleId") from None
    vehicle = await session.get(Vehicle, key)
    if vehicle is None:
        raise NotFoundError(f"no vehicle {vehicle_id}", field="vehicleId")
    return vehicle


async def find_vehicle(session: AsyncSession, vin_or_plate: str) -> Vehicle:
    """A vehicle by VIN or plate (what a parking gate reads)."""
    key = vin_or_plate.strip().upper()
    plate = key.replace(" ", "")
    found = (
        await session.exec(select(Vehicle).where(or_(Vehicle.vin == key, Vehicle.plate == plate)))
    ).first()
    if found is None:
        raise NotFoundError(f"no vehicle {vin_or_plate!r}", field="vehicle")
    return found


async def set_vehicle_owner(
    session: AsyncSession, principal: Principal, vehicle_id: str, owner_id: str | None
) -> Vehicle:
    principal.require_role(VEHICLE_WRITERS)
    vehicle = await get_vehicle(session, vehicle_id)
    vehicle.owner_id = _owner(owner_id)
    session.add(vehicle)
    await session.flush()
    return vehicle


async def current_installation(session: AsyncSession, battery_id: str) -> Installation | None:
    return (
        await session.exec(
            select(Installation).where(
                Installation.battery_id == battery_id, col(Installation.removed_at).is_(None)
            )
        )
    ).first()


async def installed_battery_id(session: AsyncSession, vehicle_id: str) -> str | None:
    row = (
        await session.exec(
            select(Installation).where(
                Installation.vehicle_id == vehicle_id, col(Installation.removed_at).is_(None)
            )
        )
    ).first()
    return None if row is None else row.battery_id


async def open_installation(
    session: AsyncSession, battery_id: str, vehicle: Vehicle, at: datetime
) -> Installation:
    if await current_installation(session, battery_id) is not None:
        raise BatteryInstalledError("the battery is installed in a vehicle", field="batteryId")
    if await installed_battery_id(session, vehicle.id) is not None:
        raise BatteryInstalledError(
            f"vehicle {vehicle.vin} already has a battery installed", field="vehicleId"
        )
    row = Installation(vehicle_id=vehicle.id, battery_id=battery_id, installed_at=at)
    session.add(row)
    await session.flush()
    return row


async def close_installation(
    session: AsyncSession, battery_id: str, at: datetime, reason: str
) -> Installation:
    row = await current_installation(session, battery_id)
    if row is None:
        raise BatteryInstalledError("the battery is not installed in a vehicle", field="batteryId")
    row.removed_at = at
    row.removal_reason = reason
    session.add(row)
    await session.flush()
    return row


async def installation_history(
    session: AsyncSession, *, battery_id: str | None = None, vehicle_id: str | None = None
) -> list[Installation]:
    """Installations of a battery or of a vehicle, oldest first."""
    query = select(Installation).order_by(col(Installation.installed_at), col(Installation.id))
    if battery_id is not None:
        query = query.where(Installation.battery_id == battery_id)
    if vehicle_id is not None:
        query = query.where(Installation.vehicle_id == vehicle_id)
    return list(await session.exec(query))
