"""Retention: raw samples older than `BPP_TELEMETRY_RAW_DAYS` become hourly aggregates.

One run (`bpp telemetry compact`, or the runtime's periodic job): aggregate the raw samples of
bound batteries older than the cutoff per (battery, hour) into `telemetry_hourly` (merged with
an hour already there: a late backlog may add to it), raise each device's de-duplication floor
to the highest sequence being removed and drop the keys below it (a resend of those is still a
DUPLICATE), then remove the raw rows — on PostgreSQL whole monthly partitions are dropped when
they lie entirely before the cutoff, and next months' partitions are created ahead.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Table, func, select, text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.kit.db import Database
from backend.kit.models import as_utc, utcnow
from backend.telemetry.models import (
    TelemetryDevice,
    TelemetryHourly,
    TelemetrySample,
    TelemetrySequence,
)

log = structlog.get_logger("bpp.telemetry.compaction")
PARTITION_PREFIX = "telemetry_sample_"
_LOCK_KEY = 0x7E1E_0005  # advisory lock id of the compaction job


@dataclass(frozen=True, slots=True)
class CompactionReport:
    cutoff: datetime
    aggregated_hours: int
    removed_samples: int
    dropped_partitions: list[str]
    created_partitions: list[str]

    def as_json(self) -> dict[str, Any]:
        return {
            "cutoff": self.cutoff.isoformat(),
            "aggregatedHours": self.aggregated_hours,
            "removedSamples": self.removed_samples,
            "droppedPartitions": self.dropped_partitions,
            "createdPartitions": self.created_partitions,
        }


def month_start(moment: datetime, shift: int = 0) -> datetime:
    index = moment.year * 12 + moment.month - 1 + shift
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def partition_name(start: datetime) -> str:
    return f"{PARTITION_PREFIX}{start:%Y%m}"


def _hour_expr(session: AsyncSession, column: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.date_trunc("hour", column)
    return func.strftime("%Y-%m-%d %H:00:00", column)


def _hour_value(value: Any) -> datetime:
    if isinstance(value, datetime):
        return as_utc(value)
    return datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


async def aggregate(session: AsyncSession, cutoff: datetime) -> int:
    """Fold bound raw samples before the cutoff into hourly rows; the number of hours written."""
    s: Table = TelemetrySample.__table__  # type: ignore[attr-defined]
    hour = _hour_expr(session, s.c.measured_at).label("hour")
    query = (
        select(
            s.c.battery_id,
            hour,
            func.count().label("n"),
            func.min(s.c.soc_pct),
            func.max(s.c.soc_pct),
            func.sum(s.c.soc_pct),
            func.count(s.c.soc_pct),
            func.min(s.c.pack_voltage_v),
            func.max(s.c.pack_voltage_v),
            func.min(s.c.pack_current_a),
            func.max(s.c.pack_current_a),
            func.min(s.c.temperature_max_c),
            func.max(s.c.temperature_max_c),
        )
        .where(s.c.measured_at < cutoff, s.c.battery_id.is_not(None))
        .group_by(s.c.battery_id, hour)
    )
    written = 0
    for row in (await (await session.connection()).execute(query)).all():
        battery_id, at = row[0], _hour_value(row[1])
        n, soc_lo, soc_hi, soc_sum, soc_n, v_lo, v_hi, i_lo, i_hi, t_lo, t_hi = row[2:]
        existing = await session.get(TelemetryHourly, (battery_id, at))
        if existing is None:
            existing = TelemetryHourly(battery_id=battery_id, hour=at, samples=0)
        old_soc_n = existing.samples if existing.soc_mean is not None else 0
        total_soc = (existing.soc_mean or 0.0) * old_soc_n + (soc_sum or 0.0)
        existing.samples += n
        existing.soc_mean = total_soc / (old_soc_n + soc_n) if old_soc_n + soc_n else None
        existing.soc_min = _lo(existing.soc_min, soc_lo)
        existing.soc_max = _hi(existing.soc_max, soc_hi)
        existing.voltage_min = _lo(existing.voltage_min, v_lo)
        existing.voltage_max = _hi(existing.voltage_max, v_hi)
        existing.current_min = _lo(existing.current_min, i_lo)
        existing.current_max = _hi(existing.current_max, i_hi)
        existing.temperature_min = _lo(existing.temperature_min, t_lo)
        existing.temperature_max = _hi(existing.temperature_max, t_hi)
        session.add(existing)
        written += 1
    await session.flush()
    return written


def _lo(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _hi(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


async def raise_dedupe_floors(session: AsyncSession, cutoff: datetime) -> None:
    s: Table = TelemetrySample.__table__  # type: ignore[attr-defined]
    q: Table = TelemetrySequence.__table__  # type: ignore[attr-defined]
    rows = (
        await (await session.connection()).execute(
            select(s.c.device_id, func.max(s.c.sequence))
            .where(s.c.measured_at < cutoff)
            .group_by(s.c.device_id)
        )
    ).all()
    for device_id, highest in rows:
        device = await session.get(TelemetryDevice, device_id, with_for_update=True)
        if device is None or highest <= device.dedupe_floor:
            continue
        device.dedupe_floor = highest
        session.add(device)
        await (await session.connection()).execute(
            q.delete().where(q.c.device_id == device_id, q.c.sequence <= highest)
        )
    await session.flush()


async def _pg_partitions(session: AsyncSession) -> dict[str, tuple[datetime, datetime]]:
    """Monthly partitions by name → [start, end) (the default partition is left out)."""
    rows = (
        await (await session.connection()).execute(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'telemetry_sample'"
            )
        )
    ).all()
    found = {}
    for (name,) in rows:
        suffix = name.removeprefix(PARTITION_PREFIX)
        if len(suffix) == 6 and suffix.isdigit():
            start = datetime(int(suffix[:4]), int(suffix[4:]), 1, tzinfo=UTC)
            found[name] = (start, month_start(start, 1))
    return found


async def ensure_partitions(
    session: AsyncSession, now: datetime, months_ahead: int = 2
) -> list[str]:
    """Create this month's and the next months' partitions (PostgreSQL only)."""
    if session.get_bind().dialect.name != "postgresql":
        return []
    existing = await _pg_partitions(session)
    created = []
    for shift in range(months_ahead + 1):
        start = month_start(now, shift)
        name = partition_name(start)
        if name in existing:
            continue
        end = month_start(start, 1)
        # A savepoint: rows already in the default partition for that month make it fail,
        # and then the month simply stays in the default partition.
        try:
            async with session.begin_nested():
                await (await session.connection()).execute(
                    text(
                        f"CREATE TABLE {name} PARTITION OF telemetry_sample "
                        f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
                    )
                )
            created.append(name)
        except Exception as error:
            log.warning("telemetry partition not created", partition=name, error=str(error))
    return created


async def remove_raw(session: AsyncSession, cutoff: datetime) -> tuple[int, list[str]]:
    s: Table = TelemetrySample.__table__  # type: ignore[attr-defined]
    dropped: list[str] = []
    removed = 0
    if session.get_bind().dialect.name == "postgresql":
        for name, (_start, end) in sorted((await _pg_partitions(session)).items()):
            if end <= cutoff:
                conn = await session.connection()
                count_sql = text(f"SELECT count(*) FROM {name}")  # noqa: S608 - our own name
                count = (await conn.execute(count_sql)).scalar_one()
                await conn.execute(text(f"DROP TABLE {name}"))
                removed += int(count)
                dropped.append(name)
    result: Any = await (await session.connection()).execute(
        s.delete().where(s.c.measured_at < cutoff)
    )
    removed += int(result.rowcount or 0)
    return removed, dropped


async def compact(db: Database, *, raw_days: int, now: datetime | None = None) -> CompactionReport:
    """One compaction run in one transaction."""
    now = now or utcnow()
    cutoff = now - timedelta(days=raw_days)
    async with db.unit_of_work() as session:
        if session.get_bind().dialect.name == "postgresql":
            # One compaction at a time (several workers, a CLI run): a second one waits, then
            # sees the first one's deletions (READ COMMITTED), so no hour is counted twice.
            conn = await session.connection()
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        created = await ensure_partitions(session, now)
        hours = await aggregate(session, cutoff)
        await raise_dedupe_floors(session, cutoff)
        removed, dropped = await remove_raw(session, cutoff)
    return CompactionReport(cutoff, hours, removed, dropped, created)


async def compact_forever(db: Database, *, raw_days: int, interval_s: float) -> None:
    """The runtime's background job: compact every `interval_s` seconds, log failures."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            report = await compact(db, raw_days=raw_days)
        except Exception as error:  # the next period tries again
            log.warning("telemetry compaction failed", error=repr(error))
        else:
            if report.removed_samples or report.created_partitions:
                log.info("telemetry compacted", **report.as_json())
