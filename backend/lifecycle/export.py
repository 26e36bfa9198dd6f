"""Battery export sections and driver-erasure hooks for `backend.consent.privacy`.

`export_sections(entitlements)` gives the named sections `export_battery(..., sections=...)`
plugs in — attribute values through the access policy, the verified event chain with each
event's hash, installations and passport versions — so an export never carries an
attribute its reader may not see. `erase_owner` is an erasure hook: the driver's id leaves
vehicles and batteries; the hash chain holds only digests of owner ids, so it stays intact.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.access.policy import Entitlements
from backend.kit.models import as_utc
from backend.lifecycle.service import verify_chain
from backend.passports.issuing import PassportCredentialType, version_chain
from backend.passports.models import Battery
from backend.passports.service import get_battery, readable_attributes
from backend.vehicles.models import Vehicle
from backend.vehicles.service import installation_history

Section = Callable[[AsyncSession, str], Awaitable[Any]]


def export_sections(entitlements: Entitlements) -> Mapping[str, Section]:
    """Sections of a battery export for a caller with `entitlements`."""

    async def attributes(session: AsyncSession, battery_id: str) -> dict[str, Any]:
        return await readable_attributes(
            session, await get_battery(session, battery_id), entitlements
        )

    async def lifecycle_events(session: AsyncSession, battery_id: str) -> list[dict[str, Any]]:
        return [
            {**event.document, "hash": event.hash}
            for event in await verify_chain(session, battery_id)
        ]

    async def installations(session: AsyncSession, battery_id: str) -> list[dict[str, Any]]:
        return [
            {
                "vehicle": f"urn:uuid:{row.vehicle_id}",
                "installedAt": as_utc(row.installed_at).isoformat(),
                "removedAt": as_utc(row.removed_at).isoformat() if row.removed_at else None,
                "removalReason": row.removal_reason,
            }
            for row in await installation_history(session, battery_id=battery_id)
        ]

    async def passport_versions(session: AsyncSession, battery_id: str) -> list[dict[str, Any]]:
        return [
            {
                "type": version.credential_type,
                "version": version.version,
                "credentialId": version.credential_id,
                "previousCredentialId": version.previous_credential_id,
            }
            for credential_type in PassportCredentialType
            for version in await version_chain(session, battery_id, credential_type)
        ]

    return {
        "attributes": attributes,
        "lifecycleEvents": lifecycle_events,
        "installations": installations,
        "passportVersions": passport_versions,
    }


async def erase_owner(session: AsyncSession, driver_id: str) -> None:
    """Erasure hook: forget the driver as owner of vehicles and batteries, and their plates."""
    await session.exec(
        update(Vehicle).where(col(Vehicle.owner_id) == driver_id).values(owner_id=None, plate=None)
    )
    await session.exec(
        update(Battery).where(col(Battery.owner_id) == driver_id).values(owner_id=None)
    )
