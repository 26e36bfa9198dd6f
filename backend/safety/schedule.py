"""The scheduled safety pass: the rules again over every battery's last known reading, and
the grade refreshed (its data-freshness part changes with time alone).

Why again: thresholds are data and may have changed since a reading was ingested, and an
alert is only as current as the last reading. The pass uses the condition rules only (the
latched ones — episodes, SOH drops, accidents — need the reading before, which ingest had),
and never re-opens an alert for a reading older than the alert's clearing (an inspector who
cleared it has seen the battery since).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

import structlog
from sqlalchemy import func, true
from sqlmodel import col, select

from backend.kit.models import as_utc
from backend.passports.models import Battery
from backend.safety import rules
from backend.safety.models import SafetyAlert, SafetyState
from backend.safety.notify import publish
from backend.safety.service import Notice, apply_evaluation, safety_summary
from backend.safety.thresholds import profile_for
from backend.telemetry.models import TelemetryState

if TYPE_CHECKING:
    from backend.runtime import Runtime

log = structlog.get_logger("bpp.safety.schedule")
SWEEP_INTERVAL_S: Final = 300.0
PAGE: Final = 200


@dataclass(frozen=True, slots=True)
class SweepResult:
    batteries: int
    notices: int
    regraded: int


async def sweep(
    runtime: Runtime,
    now: datetime | None = None,
    *,
    battery_ids: Sequence[str] | None = None,
) -> SweepResult:
    """One pass over every battery with telemetry (or only `battery_ids`)."""
    now = now or datetime.now(UTC)
    seen = notices_count = regraded = 0
    after = ""
    while True:
        async with runtime.db.read_only() as session:
            page = list(
                (
                    await session.exec(
                        select(TelemetryState, Battery.chemistry, Battery.model)
                        .join(Battery, col(Battery.id) == col(TelemetryState.battery_id))
                        .where(col(TelemetryState.battery_id) > after)
                        .where(
                            col(TelemetryState.battery_id).in_(battery_ids)
                            if battery_ids is not None
                            else true()
                        )
                        .order_by(col(TelemetryState.battery_id))
                        .limit(PAGE)
                    )
                ).all()
            )
        if not page:
            break
        after = page[-1][0].battery_id
        for state, chemistry, model in page:
            seen += 1
            notices = await _battery(runtime, state, chemistry, model, now)
            notices_count += len(notices)
            regraded += await _regrade(runtime, state.battery_id, now)
            await publish(runtime, notices)
    return SweepResult(batteries=seen, notices=notices_count, regraded=regraded)


async def _battery(
    runtime: Runtime, state: TelemetryState, chemistry: str, model: str, now: datetime
) -> list[Notice]:
    if not state.samples:
        return []
    at = as_utc(state.measured_at)
    reading = rules.Reading(at, state.measurements, f"device:{state.device_id}#{state.sequence}")
    evaluation = rules.evaluate(profile_for(chemistry, model), [reading], rules.Previous())
    for rule in rules.LATCHED:
        evaluation.outcomes.pop(rule, None)
    async with runtime.db.read_only() as session:
        recent_clear = (
            await session.exec(
                select(SafetyAlert.rule, func.max(SafetyAlert.cleared_at))
                .where(SafetyAlert.battery_id == state.battery_id, SafetyAlert.status == "cleared")
                .group_by(col(SafetyAlert.rule))
            )
        ).all()
        open_count = (await session.get(SafetyState, state.battery_id)) or SafetyState(
            battery_id=state.battery_id
        )
    for rule_name, cleared_at in recent_clear:
        if cleared_at is not None and as_utc(cleared_at) >= at:
            evaluation.outcomes.pop(rules.Rule(rule_name), None)
    if not evaluation.fired() and not (open_count.open_alerts and evaluation.healthy()):
        return []
    async with runtime.db.unit_of_work() as session:
        return await apply_evaluation(session, state.battery_id, evaluation, now)


async def _regrade(runtime: Runtime, battery_id: str, now: datetime) -> int:
    async with runtime.db.read_only() as session:
        summary = await safety_summary(session, battery_id, now)
        state = await session.get(SafetyState, battery_id)
    if state is not None and state.grade == summary.grade.grade:
        return 0
    async with runtime.db.unit_of_work() as session:
        row = await session.get(SafetyState, battery_id, with_for_update=True)
        if row is None:
            row = SafetyState(battery_id=battery_id)
        row.grade = summary.grade.grade
        row.grade_reasons = [r.message for r in summary.grade.reasons]
        row.graded_at = now
        session.add(row)
    await runtime.parking.invalidate([battery_id])
    return 1


async def sweep_forever(runtime: Runtime, interval_s: float = SWEEP_INTERVAL_S) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            result = await sweep(runtime)
            log.info(
                "safety sweep",
                batteries=result.batteries,
                notices=result.notices,
                regraded=result.regraded,
            )
        except asyncio.CancelledError:
            raise
        except Exception:  # a failed pass is logged; the next one runs on time
            log.exception("safety sweep failed")
