"""Statistics for the city, from the tables that exist: batteries by chemistry and by passport
status, credentials issued and revoked per type, the distribution of state of health.

Each statistic is one small function over a session; adding one is adding a function (and, for
GraphQL, a field). They are aggregates without personal data; reading them needs the
`statistics:read` scope (authority, platform) — check with `authorize` before calling.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.issuance.models import IssuedCredential
from backend.passports.models import Battery

PASSPORT_TYPE: Final = "BatteryPassportCredential"
# Credential types whose subject states a state of health, newest first wins per battery.
SOH_TYPES: Final = ("BatteryInspectionCredential", "BatteryConditionCredential")


@dataclass(frozen=True, slots=True)
class IssuedRevoked:
    issued: int
    revoked: int


async def batteries_by_chemistry(session: AsyncSession) -> dict[str, int]:
    rows = await session.exec(select(Battery.chemistry, func.count()).group_by(Battery.chemistry))
    return {chemistry: int(count) for chemistry, count in rows.all()}


async def batteries_by_passport_status(session: AsyncSession) -> dict[str, int]:
    """`active` (a current passport), `revoked` (passports, none current), `none`."""
    batteries = int((await session.exec(select(func.count()).select_from(Battery))).one())
    rows = await session.exec(
        select(
            IssuedCredential.battery_id,
            func.count(),
            func.count(col(IssuedCredential.revoked_at)),
        )
        .where(IssuedCredential.type == PASSPORT_TYPE, col(IssuedCredential.battery_id).isnot(None))
        .group_by(IssuedCredential.battery_id)
    )
    counts: Counter[str] = Counter()
    for _, issued, revoked in rows.all():
        counts["active" if issued > revoked else "revoked"] += 1
    counts["none"] = batteries - counts["active"] - counts["revoked"]
    return dict(counts)


async def credentials_issued_and_revoked(session: AsyncSession) -> dict[str, IssuedRevoked]:
    rows = await session.exec(
        select(
            IssuedCredential.type, func.count(), func.count(col(IssuedCredential.revoked_at))
        ).group_by(IssuedCredential.type)
    )
    return {kind: IssuedRevoked(int(i), int(r)) for kind, i, r in rows.all()}


def soh_of(document: Mapping[str, Any]) -> float | None:
    """The state of health (%) a credential states, if any (a number or `{value}`)."""
    subject = document.get("credentialSubject")
    if not isinstance(subject, Mapping):
        return None
    value = subject.get("stateOfHealth")
    if isinstance(value, Mapping):
        value = value.get("value")
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 150:
        return float(value)
    return None


def histogram(values: Iterable[float], bucket_width: int = 10) -> dict[str, int]:
    """Counts per bucket `lo-hi` (lo inclusive); 100 % falls into the last bucket."""
    counts: Counter[int] = Counter()
    for value in values:
        low = min(int(value // bucket_width) * bucket_width, 100 - bucket_width)
        counts[low] += 1
    return {f"{low}-{low + bucket_width}": counts[low] for low in sorted(counts)}


async def soh_distribution(session: AsyncSession, bucket_width: int = 10) -> dict[str, int]:
    """Latest stated SOH per battery (unrevoked inspection or condition credentials)."""
    rows = await session.exec(
        select(IssuedCredential.battery_id, IssuedCredential.document)
        .where(
            col(IssuedCredential.type).in_(SOH_TYPES),
            col(IssuedCredential.revoked_at).is_(None),
            col(IssuedCredential.battery_id).isnot(None),
        )
        .order_by(col(IssuedCredential.issued_at).desc())
    )
    latest: dict[str, float] = {}
    for battery_id, document in rows.all():
        if battery_id is None or battery_id in latest or not isinstance(document, Mapping):
            continue
        soh = soh_of(document)
        if soh is not None:
            latest[battery_id] = soh
    return histogram(latest.values(), bucket_width)
