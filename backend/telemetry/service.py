"""Reading what telemetry says about a battery (the passport's performance data).

Telemetry is restricted `performance` data: the owner, the responsible organisation,
authorities and the platform read it, others with the owner's consent or a legitimate-interest
role that reaches performance data (`backend.access.battery`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.access.battery import battery_views
from backend.audit.service import AuditTrail
from backend.auth.policy import Action, authorize
from backend.auth.principal import Principal
from backend.kit.models import as_utc
from backend.passports import service as passports
from backend.passports.attributes import AttributeGroup
from backend.telemetry import derived
from backend.telemetry.models import TelemetryEvent, TelemetryHourly, TelemetryState

MAX_EVENTS = 100
MAX_HOURS = 24 * 31


@dataclass(frozen=True, slots=True)
class Histogram:
    """Sample counts per bucket; `edges` are the inner bucket boundaries."""

    unit: str
    edges: list[float]
    counts: list[int]


@dataclass(frozen=True, slots=True)
class BatteryTelemetry:
    battery_id: str
    rated_capacity_ah: float
    samples: int = 0
    last_measured_at: datetime | None = None
    last_device_id: str | None = None
    last_measurements: dict[str, Any] = field(default_factory=dict)
    soc_histogram: Histogram | None = None
    temperature_histogram: Histogram | None = None
    charged_ah: float = 0.0
    full_cycles: float = 0.0
    deep_discharge_events: int = 0
    overcharge_events: int = 0
    events: list[TelemetryEvent] = field(default_factory=list)
    hourly: list[TelemetryHourly] = field(default_factory=list)


async def battery_telemetry(
    session: AsyncSession,
    principal: Principal,
    battery_id: str,
    organisation_did: Callable[[str], str],
    *,
    hours_since: datetime | None = None,
    audit: AuditTrail | None = None,
) -> BatteryTelemetry:
    """Last known state, histograms, cycles and events of one battery.

    Authorized as a restricted read of the battery's `performance` group; with `audit` (the
    request's trail) the read is audited when the request ends.
    """
    battery = await passports.get_battery(session, battery_id)
    (view,) = await battery_views(session, principal, [battery], organisation_did)
    resource = replace(view.resource, data_group=AttributeGroup.PERFORMANCE.value)
    if audit is not None:
        audit.authorize_read(Action.READ_RESTRICTED, resource, view.consents, why="telemetry")
    else:
        authorize(principal, Action.READ_RESTRICTED, resource, view.consents)
    state = await session.get(TelemetryState, battery.id)
    events = (
        await session.exec(
            select(TelemetryEvent)
            .where(TelemetryEvent.battery_id == battery.id)
            .order_by(col(TelemetryEvent.occurred_at).desc())
            .limit(MAX_EVENTS)
        )
    ).all()
    hourly_query = select(TelemetryHourly).where(TelemetryHourly.battery_id == battery.id)
    if hours_since is not None:
        hourly_query = hourly_query.where(col(TelemetryHourly.hour) >= hours_since)
    hourly = (
        await session.exec(hourly_query.order_by(col(TelemetryHourly.hour).desc()).limit(MAX_HOURS))
    ).all()
    if state is None or state.samples == 0:
        return BatteryTelemetry(
            battery.id, battery.rated_capacity_ah, events=list(events), hourly=list(hourly)
        )
    charged = derived.BatteryState(
        measured_at=None,
        device_id=state.device_id,
        sequence=state.sequence,
        measurements={},
        samples=state.samples,
        soc_histogram=[],
        temperature_histogram=[],
        first_cumulative_charged_ah=state.first_cumulative_charged_ah,
        max_cumulative_charged_ah=state.max_cumulative_charged_ah,
        integrated_charged_ah=state.integrated_charged_ah,
        deep_discharge_events=0,
        overcharge_events=0,
        in_deep_discharge=False,
        in_overcharge=False,
    ).charged_ah
    return BatteryTelemetry(
        battery_id=battery.id,
        rated_capacity_ah=battery.rated_capacity_ah,
        samples=state.samples,
        last_measured_at=as_utc(state.measured_at),
        last_device_id=state.device_id,
        last_measurements=dict(state.measurements),
        soc_histogram=Histogram(
            "%", [float(10 * i) for i in range(1, derived.SOC_BUCKETS)], list(state.soc_histogram)
        ),
        temperature_histogram=Histogram(
            "°C", list(derived.TEMPERATURE_EDGES), list(state.temperature_histogram)
        ),
        charged_ah=charged,
        full_cycles=derived.full_cycles(charged, battery.rated_capacity_ah),
        deep_discharge_events=state.deep_discharge_events,
        overcharge_events=state.overcharge_events,
        events=list(events),
        hourly=list(hourly),
    )
