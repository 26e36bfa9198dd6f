"""Registering batteries. SQL stays here; the caller's unit of work commits."""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth.principal import Principal
from backend.kit.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from backend.orgs.roles import BATTERY_WRITERS
from backend.passports.models import Battery

# The MOLIT battery ID is at most 24 characters including the production year-month; a
# manufacturer's own id fits the same shape. Upper-case letters, digits and hyphens only, so
# an identifier printed on a label and typed in by a person compares equal.
BATTERY_IDENTIFIER = re.compile(r"^[A-Z0-9][A-Z0-9-]{3,23}$")
CHEMISTRIES = frozenset({"LFP", "NMC", "NCA", "LMO", "LTO", "NMCA", "LMFP", "SODIUM-ION"})


@dataclass(frozen=True, slots=True)
class BatteryRegistration:
    identifier: str
    model: str
    manufacturer: str
    chemistry: str
    rated_capacity_ah: float
    nominal_voltage_v: float


def _require_text(value: str, field: str, max_length: int) -> str:
    cleaned = value.strip()
    if not cleaned:
        raise InvalidInputError(f"{field} is required", field=field)
    if len(cleaned) > max_length:
        raise InvalidInputError(f"{field} is longer than {max_length} characters", field=field)
    return cleaned


def _require_range(value: float, field: str, low: float, high: float, unit: str) -> float:
    if not math.isfinite(value) or not low < value <= high:
        raise InvalidInputError(
            f"{field} must be above {low} and at most {high} {unit}", field=field
        )
    return value


def validate_registration(data: BatteryRegistration) -> BatteryRegistration:
    identifier = data.identifier.strip()
    if not BATTERY_IDENTIFIER.fullmatch(identifier):
        raise InvalidInputError(
            "a battery identifier is 4-24 upper-case letters, digits or hyphens "
            "(the MOLIT battery ID or the manufacturer's id)",
            field="identifier",
        )
    chemistry = data.chemistry.strip().upper()
    if chemistry not in CHEMISTRIES:
        raise InvalidInputError(
            f"unknown chemistry {data.chemistry!r}; one of {', '.join(sorted(CHEMISTRIES))}",
            field="chemistry",
        )
    return BatteryRegistration(
        identifier=identifier,
        model=_require_text(data.model, "model", 120),
        manufacturer=_require_text(data.manufacturer, "manufacturer", 200),
        chemistry=chemistry,
        rated_capacity_ah=_require_range(data.rated_capacity_ah, "ratedCapacityAh", 0, 2000, "Ah"),
        nominal_voltage_v=_require_range(data.nominal_voltage_v, "nominalVoltageV", 0, 1500, "V"),
    )


async def register_battery(
    session: AsyncSession, principal: Principal, data: BatteryRegistration
) -> Battery:
    principal.require_role(BATTERY_WRITERS)
    assert principal.organisation_id is not None
    valid = validate_registration(data)
    taken = (
        await session.exec(select(Battery.id).where(Battery.identifier == valid.identifier))
    ).first()
    if taken is not None:
        raise AlreadyExistsError(
            f"a battery with identifier {valid.identifier} is already registered",
            field="identifier",
        )
    battery = Battery(
        id=str(uuid.uuid4()),
        identifier=valid.identifier,
        model=valid.model,
        manufacturer=valid.manufacturer,
        chemistry=valid.chemistry,
        rated_capacity_ah=valid.rated_capacity_ah,
        nominal_voltage_v=valid.nominal_voltage_v,
        organisation_id=principal.organisation_id,
    )
    session.add(battery)
    await session.flush()
    return battery


def parse_battery_id(value: str) -> str:
    """A battery id is its UUID; `urn:uuid:` passport ids are accepted too."""
    raw = value.removeprefix("urn:uuid:")
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise InvalidInputError(
            f"{value!r} is not a battery id (a UUID)", field="batteryId"
        ) from None


async def get_battery(session: AsyncSession, battery_id: str) -> Battery:
    battery = await session.get(Battery, parse_battery_id(battery_id))
    if battery is None:
        raise NotFoundError(f"no battery {battery_id}", field="batteryId")
    return battery


async def list_batteries(session: AsyncSession, *, limit: int, after: str | None) -> list[Battery]:
    query = select(Battery).order_by(col(Battery.id)).limit(limit)
    if after is not None:
        query = query.where(col(Battery.id) > after)
    return list(await session.exec(query))


async def count_batteries(session: AsyncSession) -> int:
    return int((await session.exec(select(func.count()).select_from(Battery))).one())
