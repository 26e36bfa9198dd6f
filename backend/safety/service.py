"""Safety alerts: the rules applied to readings, alerts opened and cleared, the grade.

Writes happen only when an alert opens, escalates or clears: then the battery's safety state
row is locked (one writer per battery), the alert row is written, a lifecycle event is
appended to the battery's hash chain, and the battery's charging credentials are suspended
(first open alert) or resumed (last one cleared). What a committed change must announce —
the owner's subscription, the parking cache, an urgent status-list publish — is returned as
`Notice`s for the caller to hand to `backend.safety.notify.publish` after the commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth.principal import Principal
from backend.charging.suspension import resume_credentials, suspend_credentials
from backend.kit.errors import InvalidInputError, NotFoundError
from backend.kit.models import as_utc
from backend.lifecycle.service import EventKind, actor_of, record_service_event
from backend.orgs.roles import Role
from backend.passports.models import Battery
from backend.passports.service import get_battery, parse_uuid
from backend.safety import rules
from backend.safety.errors import AlertAlreadyClearedError
from backend.safety.grade import Grade, grade_of
from backend.safety.models import SafetyAlert, SafetyState
from backend.safety.rules import SEVERITY_RANK, Finding, Previous, Reading, Rule
from backend.safety.thresholds import profile_for
from backend.telemetry.derived import Observation
from backend.telemetry.models import TelemetryState

SERVICE_ACTOR: Final = "service:safety"
# Who may clear an alert by hand (an inspector after looking at the battery; the platform).
CLEARERS: Final = frozenset({Role.INSPECTOR, Role.PLATFORM})
MAX_REASON: Final = 500
OUT_OF_SERVICE: Final = frozenset({"waste", "recycled"})


@dataclass(frozen=True, slots=True)
class Notice:
    """Something a committed unit of work must announce."""

    kind: str  # SAFETY_ALERT | SAFETY_ALERT_CLEARED
    battery_id: str
    alert_id: str
    rule: str
    severity: str
    event_id: str | None
    credentials_changed: int


# -- applying an evaluation ---------------------------------------------------------------


async def _locked_state(session: AsyncSession, battery_id: str) -> SafetyState:
    state = await session.get(SafetyState, battery_id, with_for_update=True)
    if state is None:
        state = SafetyState(battery_id=battery_id)
        session.add(state)
        await session.flush()
        state = await session.get(SafetyState, battery_id, with_for_update=True)
        assert state is not None
    return state


async def open_alerts(session: AsyncSession, battery_id: str) -> list[SafetyAlert]:
    rows = await session.exec(
        select(SafetyAlert)
        .where(SafetyAlert.battery_id == battery_id, SafetyAlert.status == "open")
        .order_by(col(SafetyAlert.opened_at))
    )
    return list(rows.all())


def _event_data(alert: SafetyAlert) -> dict[str, Any]:
    return {
        "alertId": alert.id,
        "rule": alert.rule,
        "severity": alert.severity,
        "message": alert.message,
        "evidence": alert.evidence,
    }


async def _open(
    session: AsyncSession, battery_id: str, finding: Finding, now: datetime
) -> SafetyAlert:
    alert = SafetyAlert(
        id=str(uuid.uuid4()),
        battery_id=battery_id,
        rule=finding.rule.value,
        severity=finding.severity.value,
        message=finding.message[:500],
        evidence=finding.evidence,
        opened_at=finding.at,
        last_seen_at=finding.at,
        created_at=now,
    )
    event = await record_service_event(
        session,
        battery_id,
        EventKind.SAFETY_ALERT,
        SERVICE_ACTOR,
        at=min(finding.at, now),
        data=_event_data(alert),
    )
    alert.event_id = event.event_id
    session.add(alert)
    return alert


async def _clear(
    session: AsyncSession,
    alert: SafetyAlert,
    *,
    at: datetime,
    by: str,
    reason: str,
    now: datetime,
) -> None:
    alert.status = "cleared"
    alert.cleared_at = at
    alert.cleared_by = by
    alert.clear_reason = reason[:MAX_REASON]
    event = await record_service_event(
        session,
        alert.battery_id,
        EventKind.SAFETY_ALERT_CLEARED,
        by,
        at=min(at, now),
        data={"alertId": alert.id, "rule": alert.rule, "reason": alert.clear_reason},
    )
    alert.clear_event_id = event.event_id
    session.add(alert)


async def _settle(
    session: AsyncSession,
    state: SafetyState,
    still_open: Sequence[SafetyAlert],
    now: datetime,
    *,
    had_open: bool,
) -> int:
    """Count and severity of what is open; suspend or resume the charging credentials."""
    state.open_alerts = len(still_open)
    state.worst_severity = max(
        (a.severity for a in still_open), key=lambda s: SEVERITY_RANK.get(s, 0), default=None
    )
    state.updated_at = now
    session.add(state)
    if still_open:
        return await suspend_credentials(session, state.battery_id, now)
    if had_open:
        return await resume_credentials(session, state.battery_id, now)
    return 0


async def apply_evaluation(
    session: AsyncSession,
    battery_id: str,
    evaluation: rules.Evaluation,
    now: datetime,
    *,
    last_reading_at: datetime | None = None,
) -> list[Notice]:
    """Open, refresh and clear the battery's alerts as the evaluation says."""
    state = await _locked_state(session, battery_id)
    current = {alert.rule: alert for alert in await open_alerts(session, battery_id)}
    had_open = bool(current)
    opened: list[SafetyAlert] = []
    cleared: list[SafetyAlert] = []
    for rule, outcome in evaluation.fired().items():
        assert outcome.first is not None
        assert outcome.last is not None
        alert = current.get(rule.value)
        if alert is None:
            alert = await _open(session, battery_id, outcome.first, now)
            current[rule.value] = alert
            opened.append(alert)
        if outcome.worst is not None and SEVERITY_RANK[outcome.worst] > SEVERITY_RANK.get(
            alert.severity, 0
        ):
            alert.severity = outcome.worst.value
        if outcome.last.at >= as_utc(alert.last_seen_at):
            alert.last_seen_at = outcome.last.at
            alert.evidence = outcome.last.evidence
            alert.message = outcome.last.message[:500]
        session.add(alert)
    for rule, healthy_at in evaluation.healthy().items():
        alert = current.get(rule.value)
        if alert is None or healthy_at <= as_utc(alert.last_seen_at):
            continue
        await _clear(
            session,
            alert,
            at=healthy_at,
            by=SERVICE_ACTOR,
            reason=f"a newer reading ({healthy_at.isoformat()}) is within the limit",
            now=now,
        )
        del current[rule.value]
        cleared.append(alert)
    if last_reading_at is not None and (
        state.last_reading_at is None or last_reading_at > as_utc(state.last_reading_at)
    ):
        state.last_reading_at = last_reading_at
    changed = await _settle(session, state, list(current.values()), now, had_open=had_open)
    notices = [_notice("SAFETY_ALERT", alert, changed) for alert in opened]
    notices += [_notice("SAFETY_ALERT_CLEARED", alert, changed) for alert in cleared]
    return notices


def _notice(kind: str, alert: SafetyAlert, changed: int) -> Notice:
    return Notice(
        kind=kind,
        battery_id=alert.battery_id,
        alert_id=alert.id,
        rule=alert.rule,
        severity=alert.severity,
        event_id=alert.event_id if kind == "SAFETY_ALERT" else alert.clear_event_id,
        credentials_changed=changed,
    )


# -- the ingest hook ----------------------------------------------------------------------


_BATTERY = Battery.__table__  # type: ignore[attr-defined]
_TSTATE = TelemetryState.__table__  # type: ignore[attr-defined]
_SSTATE = SafetyState.__table__  # type: ignore[attr-defined]


async def on_ingest(
    session: AsyncSession, by_battery: Mapping[str, Sequence[Observation]], now: datetime
) -> list[Notice]:
    """The rules over one ingested batch, called before the batch updates the telemetry
    state (so that state is still "the reading before"). One query for every battery of the
    batch; nothing is written unless an alert opens, escalates or clears."""
    if not by_battery:
        return []
    conn = await session.connection()
    rows = (
        await conn.execute(
            sa_select(
                _BATTERY.c.id,
                _BATTERY.c.chemistry,
                _BATTERY.c.model,
                _TSTATE.c.measured_at,
                _TSTATE.c.measurements,
                _TSTATE.c.device_id,
                _TSTATE.c.sequence,
                _TSTATE.c.samples,
                _TSTATE.c.in_deep_discharge,
                _TSTATE.c.in_overcharge,
                _SSTATE.c.open_alerts,
            )
            .select_from(_BATTERY)
            .outerjoin(_TSTATE, _TSTATE.c.battery_id == _BATTERY.c.id)
            .outerjoin(_SSTATE, _SSTATE.c.battery_id == _BATTERY.c.id)
            .where(_BATTERY.c.id.in_(sorted(by_battery)))
        )
    ).all()
    notices: list[Notice] = []
    for row in rows:
        battery_id = row.id
        previous = Previous()
        if row.samples:
            previous = Previous(
                reading=Reading(
                    as_utc(row.measured_at),
                    row.measurements or {},
                    f"device:{row.device_id}#{row.sequence}",
                ),
                in_deep_discharge=bool(row.in_deep_discharge),
                in_overcharge=bool(row.in_overcharge),
            )
        readings = [
            Reading(o.measured_at, o.measurements, f"device:{o.device_id}#{o.sequence}")
            for o in by_battery[battery_id]
        ]
        evaluation = rules.evaluate(profile_for(row.chemistry, row.model), readings, previous)
        if evaluation.fired() or (row.open_alerts and evaluation.healthy()):
            notices += await apply_evaluation(session, battery_id, evaluation, now)
    return notices


async def on_readings(
    session: AsyncSession, battery: Battery, readings: Sequence[Reading], now: datetime
) -> list[Notice]:
    """The rules over readings from elsewhere (a charger's meter values); they are newer
    than the battery's last telemetry reading or they say nothing about rates."""
    tstate = await session.get(TelemetryState, battery.id)
    previous = Previous()
    if tstate is not None and tstate.samples:
        previous = Previous(
            reading=Reading(as_utc(tstate.measured_at), tstate.measurements, "telemetry"),
            in_deep_discharge=tstate.in_deep_discharge,
            in_overcharge=tstate.in_overcharge,
        )
    evaluation = rules.evaluate(profile_for(battery.chemistry, battery.model), readings, previous)
    newest = max((r.at for r in readings), default=None)
    state = await session.get(SafetyState, battery.id)
    if evaluation.fired() or (state is not None and state.open_alerts and evaluation.healthy()):
        return await apply_evaluation(session, battery.id, evaluation, now, last_reading_at=newest)
    if newest is not None:
        state = await _locked_state(session, battery.id)
        if state.last_reading_at is None or newest > as_utc(state.last_reading_at):
            state.last_reading_at = newest
            session.add(state)
    return []


async def on_accident(
    session: AsyncSession, battery_id: str, event_id: str, at: datetime, description: str
) -> list[Notice]:
    """An accident reported in the lifecycle log opens a critical, latched alert."""
    finding = Finding(
        Rule.ACCIDENT,
        rules.Severity.CRITICAL,
        at,
        f"accident reported: {description}"[:500],
        {"readings": [], "lifecycleEvent": event_id},
    )
    evaluation = rules.Evaluation(
        {Rule.ACCIDENT: rules.RuleOutcome(first=finding, last=finding, worst=finding.severity)}
    )
    return await apply_evaluation(session, battery_id, evaluation, datetime.now(UTC))


# -- clearing by hand ---------------------------------------------------------------------


async def clear_alert(
    session: AsyncSession, principal: Principal, alert_id: str, reason: str
) -> tuple[SafetyAlert, list[Notice]]:
    """An inspector (or the platform) clears an alert after looking at the battery."""
    principal.require_role(CLEARERS)
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON:
        raise InvalidInputError(f"give a reason of 1-{MAX_REASON} characters", field="reason")
    alert = await session.get(SafetyAlert, parse_uuid(alert_id, "alertId"))
    if alert is None:
        raise NotFoundError(f"no safety alert {alert_id}", field="alertId")
    state = await _locked_state(session, alert.battery_id)
    await session.refresh(alert)
    if alert.status != "open":
        raise AlertAlreadyClearedError("the alert is already cleared", field="alertId")
    now = datetime.now(UTC)
    await _clear(session, alert, at=now, by=actor_of(principal), reason=reason, now=now)
    still_open = await open_alerts(session, alert.battery_id)
    changed = await _settle(session, state, still_open, now, had_open=True)
    return alert, [_notice("SAFETY_ALERT_CLEARED", alert, changed)]


# -- reading the state --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SafetySummary:
    battery_id: str
    grade: Grade
    open_alerts: tuple[SafetyAlert, ...]
    soh_pct: float | None
    last_reading_at: datetime | None
    evaluated_at: datetime
    out_of_service: bool


async def safety_summary(
    session: AsyncSession, battery_id: str, now: datetime | None = None
) -> SafetySummary:
    battery = await get_battery(session, battery_id)
    now = now or datetime.now(UTC)
    alerts = await open_alerts(session, battery.id)
    tstate = await session.get(TelemetryState, battery.id)
    sstate = await session.get(SafetyState, battery.id)
    soh = None
    last: datetime | None = None
    if tstate is not None and tstate.samples:
        soh = rules.number(tstate.measurements, "soh_pct")
        last = as_utc(tstate.measured_at)
    if sstate is not None and sstate.last_reading_at is not None:
        other = as_utc(sstate.last_reading_at)
        last = other if last is None or other > last else last
    grade = grade_of(
        open_alerts=[(a.rule, a.severity) for a in alerts],
        soh_pct=soh,
        last_reading_at=last,
        now=now,
    )
    return SafetySummary(
        battery_id=battery.id,
        grade=grade,
        open_alerts=tuple(alerts),
        soh_pct=soh,
        last_reading_at=last,
        evaluated_at=now,
        out_of_service=battery.ceased_at is not None or battery.status in OUT_OF_SERVICE,
    )


async def list_alerts(
    session: AsyncSession, battery_id: str, *, status: str | None, limit: int = 100
) -> list[SafetyAlert]:
    query = select(SafetyAlert).where(SafetyAlert.battery_id == parse_uuid(battery_id, "batteryId"))
    if status is not None:
        query = query.where(SafetyAlert.status == status)
    rows = await session.exec(query.order_by(col(SafetyAlert.opened_at).desc()).limit(limit))
    return list(rows.all())
