"""`bpp serve --demo`: seed demo batteries with issued passports (once per data directory)."""

from __future__ import annotations

import structlog
from sqlmodel import select

from backend.auth.principal import Principal
from backend.orgs.roles import Role
from backend.orgs.service import get_or_create_organisation
from backend.passports.models import Battery
from backend.passports.service import BatteryRegistration, register_battery
from backend.runtime import Runtime

log = structlog.get_logger("bpp.demo")

DEMO_ORGANISATION = "busan-battery-works"
DEMO_BATTERIES = (
    BatteryRegistration(
        "KR2024110001NMC", "E-GMP 77.4 kWh", "Busan Battery Works", "NMC", 111.2, 697.0
    ),
    BatteryRegistration(
        "KR2024090002LFP", "City Bus LFP 350 kWh", "Busan Battery Works", "LFP", 560.0, 625.0
    ),
    BatteryRegistration(
        "KR2023050003NCA", "Taxi Pack 64 kWh", "Busan Battery Works", "NCA", 180.0, 356.0
    ),
)


async def seed_demo(runtime: Runtime) -> list[str]:
    """Register the demo batteries and issue their passports; a no-op when already seeded.

    The last battery's passport is issued twice, so the demo also holds one revoked
    (superseded) credential whose revocation is on chain.
    """
    async with runtime.db.unit_of_work() as session:
        seeded = (
            await session.exec(
                select(Battery.id).where(Battery.identifier == DEMO_BATTERIES[0].identifier)
            )
        ).first()
        if seeded is not None:
            return []
        organisation = await get_or_create_organisation(
            session, DEMO_ORGANISATION, "Busan Battery Works"
        )
        principal = Principal(
            organisation_id=organisation.id,
            organisation_slug=organisation.slug,
            role=Role.MANUFACTURER,
        )
        ids = []
        for registration in DEMO_BATTERIES:
            battery = await register_battery(session, principal, registration)
            await runtime.issuance.issue_passport(session, principal, battery.id)
            ids.append(battery.id)
        await runtime.issuance.issue_passport(session, principal, ids[-1])
    await runtime.issuance.publish_status_changes()
    log.info("demo batteries seeded", batteries=ids)
    return ids
