"""Suspending and resuming a battery's valid charging safety credentials.

Each `ChargingSafetyCredential` has one entry on a `suspension` status list of its issuer.
An open safety alert sets the entries of the battery's unexpired credentials (urgent: the
chain publish goes out at once); the last alert clearing unsets them again. Expired ones are
left alone: they no longer verify anyway.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.charging.models import ChargingCredential
from backend.issuance import statuslists
from backend.issuance.models import IssuedCredential


async def _valid(
    session: AsyncSession, battery_id: str, now: datetime, *, suspended: bool
) -> list[tuple[ChargingCredential, IssuedCredential]]:
    rows = await session.exec(
        select(ChargingCredential, IssuedCredential)
        .join(
            IssuedCredential,
            col(IssuedCredential.id) == col(ChargingCredential.issued_credential_id),
        )
        .where(
            ChargingCredential.battery_id == battery_id,
            ChargingCredential.suspended == suspended,
            col(ChargingCredential.expires_at) > now,
        )
    )
    return list(rows.all())


async def _set(session: AsyncSession, battery_id: str, now: datetime, *, suspend: bool) -> int:
    changed = 0
    for credential, issued in await _valid(session, battery_id, now, suspended=not suspend):
        if issued.status_list_id is None or issued.status_index is None:
            continue
        await statuslists.set_status(
            session, issued.status_list_id, issued.status_index, int(suspend), urgent=True
        )
        credential.suspended = suspend
        credential.suspended_at = now if suspend else None
        session.add(credential)
        changed += 1
    return changed


async def suspend_credentials(session: AsyncSession, battery_id: str, now: datetime) -> int:
    """Suspend the battery's valid credentials; how many changed."""
    return await _set(session, battery_id, now, suspend=True)


async def resume_credentials(session: AsyncSession, battery_id: str, now: datetime) -> int:
    """Lift the suspension of the battery's still valid credentials; how many changed."""
    return await _set(session, battery_id, now, suspend=False)
