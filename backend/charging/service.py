"""Charging: safety credentials for chargers, and the sessions chargers report.

`request_credential` answers a charge-point operator's charger with a short-lived
`ChargingSafetyCredential` (signed by the platform, one entry on a `suspension` status list)
stating the highest SoC the battery may be charged to there, or a refusal with the reasons.
`report_session` records OCPP-style session reports (start, meter values, stop): the meter
values feed the safety rules as readings, and a stopped session becomes a `charging_session`
lifecycle event with its summary.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth.principal import Principal
from backend.charging.models import ChargingCredential, ChargingSession
from backend.charging.policy import policy
from backend.issuance import statuslists
from backend.kit.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from backend.kit.models import as_utc
from backend.lifecycle.service import EventKind, actor_of, record_service_event
from backend.orgs.roles import Role
from backend.passports.models import Battery
from backend.passports.service import get_battery, passport_id, xsd_datetime
from backend.safety import service as safety
from backend.safety.rules import Reading
from backend.vehicles.service import find_vehicle, installed_battery_id
from credentials.contexts import CREDENTIALS_V2_URL
from credentials.statuslist import StatusPurpose, make_status_entry
from credentials.vocab import BATTERY_CONTEXT_URL

if TYPE_CHECKING:
    from backend.issuance.service import IssuanceService

CREDENTIAL_TYPE: Final = "ChargingSafetyCredential"
CHARGERS: Final = frozenset({Role.CHARGE_POINT_OPERATOR, Role.PLATFORM})
MAX_ID: Final = 120
MAX_TRANSACTION: Final = 64
MAX_METER_VALUES: Final = 200  # per report
MAX_SESSION_VALUES: Final = 2000  # kept per session
CLOCK_SKEW: Final = timedelta(minutes=5)
# OCPP measurands the rules read (others are stored, not interpreted).
ENERGY: Final = "Energy.Active.Import.Register"
SOC: Final = "SoC"
TEMPERATURE: Final = "Temperature"
CURRENT: Final = "Current.Import"
VOLTAGE: Final = "Voltage"
_UNIT_SCALE: Final = {"Wh": 0.001, "kWh": 1.0}
_ENDED: Final = frozenset({"waste", "recycled"})


def _text(value: str | None, field_name: str, max_length: int) -> str:
    text = (value or "").strip()
    if not text or len(text) > max_length:
        raise InvalidInputError(f"{field_name} must be 1-{max_length} characters", field=field_name)
    return text


async def resolve_battery(
    session: AsyncSession, *, battery_id: str | None, vin: str | None
) -> Battery:
    """Exactly one of a battery id or a VIN (the battery installed in that vehicle now)."""
    if (battery_id is None) == (vin is None):
        raise InvalidInputError("give exactly one of batteryId or vin", field="batteryId")
    if battery_id is not None:
        return await get_battery(session, battery_id)
    assert vin is not None
    vehicle = await find_vehicle(session, vin)
    installed = await installed_battery_id(session, vehicle.id)
    if installed is None:
        raise NotFoundError(f"no battery is installed in vehicle {vin}", field="vin")
    return await get_battery(session, installed)


# -- credentials --------------------------------------------------------------------------


class RefusalCode(StrEnum):
    OPEN_ALERT = "OPEN_ALERT"
    GRADE_NOT_ALLOWED = "GRADE_NOT_ALLOWED"
    BATTERY_OUT_OF_SERVICE = "BATTERY_OUT_OF_SERVICE"


@dataclass(frozen=True, slots=True)
class RefusalReason:
    code: RefusalCode
    message: str


@dataclass(frozen=True, slots=True)
class CredentialRequest:
    charger_id: str
    underground: bool
    battery_id: str | None = None
    vin: str | None = None


@dataclass(frozen=True, slots=True)
class CredentialDecision:
    battery_id: str
    grade: str
    grade_reasons: tuple[str, ...]
    underground: bool
    charger_id: str
    credential: ChargingCredential | None = None
    document: dict[str, Any] | None = None
    refusals: tuple[RefusalReason, ...] = field(default_factory=tuple)


def refusals_for(
    battery: Battery, summary: safety.SafetySummary, *, underground: bool
) -> tuple[list[RefusalReason], float | None]:
    reasons = [
        RefusalReason(RefusalCode.OPEN_ALERT, f"open {a.severity} alert {a.rule}: {a.message}")
        for a in summary.open_alerts
    ]
    if battery.ceased_at is not None or battery.status in _ENDED:
        reasons.append(
            RefusalReason(
                RefusalCode.BATTERY_OUT_OF_SERVICE, f"the battery's status is {battery.status}"
            )
        )
    cap = policy().soc_cap(summary.grade.grade, underground=underground)
    if cap is None:
        where = "an underground" if underground else "a surface"
        reasons.append(
            RefusalReason(
                RefusalCode.GRADE_NOT_ALLOWED,
                f"safety grade {summary.grade.grade} may not charge at {where} charger",
            )
        )
    return reasons, cap


async def request_credential(
    session: AsyncSession,
    issuance: IssuanceService,
    principal: Principal,
    request: CredentialRequest,
) -> CredentialDecision:
    principal.require_role(CHARGERS)
    charger_id = _text(request.charger_id, "chargerId", MAX_ID)
    battery = await resolve_battery(session, battery_id=request.battery_id, vin=request.vin)
    now = datetime.now(UTC).replace(microsecond=0)
    summary = await safety.safety_summary(session, battery.id, now)
    reasons, cap = refusals_for(battery, summary, underground=request.underground)
    decision = CredentialDecision(
        battery_id=battery.id,
        grade=summary.grade.grade,
        grade_reasons=tuple(r.message for r in summary.grade.reasons),
        underground=request.underground,
        charger_id=charger_id,
    )
    if reasons or cap is None:
        return CredentialDecision(**{**_fields(decision), "refusals": tuple(reasons)})
    expires = now + timedelta(seconds=policy().credential_ttl_s)
    issuer = issuance.platform.did
    status_list, index = await statuslists.allocate_index(
        session,
        issuer_did=issuer,
        chain_issuer=lambda s: issuance.chain_issuer_address(s, issuer),
        sender=issuance.relayer_address,
        purpose=StatusPurpose.SUSPENSION.value,
        size=issuance.settings.status_list_size,
    )
    unsigned = {
        "@context": [CREDENTIALS_V2_URL, BATTERY_CONTEXT_URL],
        "id": f"urn:uuid:{uuid.uuid4()}",
        "type": ["VerifiableCredential", CREDENTIAL_TYPE],
        "issuer": issuer,
        "validFrom": xsd_datetime(now),
        "validUntil": xsd_datetime(expires),
        # Only terms of the battery-passport context; the charger, its location and its
        # operator are on the platform's record of the credential (charging_credential).
        "credentialSubject": {
            "id": passport_id(battery),
            "batteryIdentifier": battery.identifier,
            "safetyGrade": summary.grade.grade,
            "maxAllowedStateOfCharge": cap,
            "activeAlerts": [],  # issued only when none is open (docs/SAFETY.md)
        },
        "credentialStatus": make_status_entry(
            issuance.status_list_url(status_list.id), index, StatusPurpose.SUSPENSION
        ),
    }
    issued = await issuance.issue_credential(session, unsigned, battery_id=battery.id)
    issued.status_list_id = status_list.id
    issued.status_index = index
    session.add(issued)
    assert principal.organisation_id is not None
    credential = ChargingCredential(
        id=str(uuid.uuid4()),
        issued_credential_id=issued.id,
        credential_id=issued.credential_id,
        battery_id=battery.id,
        organisation_id=principal.organisation_id,
        charger_id=charger_id,
        underground=request.underground,
        max_soc_pct=cap,
        grade=summary.grade.grade,
        issued_at=now,
        expires_at=expires,
    )
    session.add(credential)
    await session.flush()
    return CredentialDecision(
        **{**_fields(decision), "credential": credential, "document": issued.document}
    )


def _fields(decision: CredentialDecision) -> dict[str, Any]:
    return {
        "battery_id": decision.battery_id,
        "grade": decision.grade,
        "grade_reasons": decision.grade_reasons,
        "underground": decision.underground,
        "charger_id": decision.charger_id,
    }


# -- sessions -----------------------------------------------------------------------------


class SessionEvent(StrEnum):
    START = "START"
    UPDATE = "UPDATE"
    STOP = "STOP"


@dataclass(frozen=True, slots=True)
class MeterValue:
    measurand: str
    value: float
    unit: str | None = None
    timestamp: datetime | None = None
    location: str | None = None


@dataclass(frozen=True, slots=True)
class SessionReport:
    charger_id: str
    transaction_id: str
    event: SessionEvent
    timestamp: datetime
    battery_id: str | None = None
    vin: str | None = None
    meter_values: Sequence[MeterValue] = ()
    stop_reason: str | None = None


def _check_time(value: datetime, field_name: str, now: datetime) -> datetime:
    if value.tzinfo is None:
        raise InvalidInputError(f"{field_name} needs a time zone", field=field_name)
    if value > now + CLOCK_SKEW:
        raise InvalidInputError(f"{field_name} is in the future", field=field_name)
    return value.astimezone(UTC)


def _meter_rows(report: SessionReport, now: datetime) -> list[dict[str, Any]]:
    if len(report.meter_values) > MAX_METER_VALUES:
        raise InvalidInputError(
            f"at most {MAX_METER_VALUES} meter values per report", field="meterValues"
        )
    rows: list[dict[str, Any]] = []
    for value in report.meter_values:
        measurand = _text(value.measurand, "meterValues.measurand", 60)
        if not math.isfinite(value.value):
            raise InvalidInputError("a meter value must be a finite number", field="meterValues")
        if measurand == ENERGY and value.unit is not None and value.unit not in _UNIT_SCALE:
            raise InvalidInputError("energy is in Wh or kWh", field="meterValues.unit")
        at = _check_time(value.timestamp or report.timestamp, "meterValues.timestamp", now)
        row: dict[str, Any] = {"measurand": measurand, "value": value.value, "timestamp": at}
        if value.unit:
            row["unit"] = value.unit[:20]
        if value.location:
            row["location"] = value.location[:20]
        rows.append(row)
    return rows


def readings_of(rows: Sequence[dict[str, Any]], source: str) -> list[Reading]:
    """Meter values grouped by time into readings the rules understand (charging = true)."""
    by_time: dict[datetime, dict[str, Any]] = {}
    for row in rows:
        m = by_time.setdefault(row["timestamp"], {"charging": True})
        measurand, value = row["measurand"], row["value"]
        if measurand == SOC:
            m["soc_pct"] = value
        elif measurand == TEMPERATURE:
            m["temperature_max_c"] = max(value, m.get("temperature_max_c", value))
            m["temperature_min_c"] = min(value, m.get("temperature_min_c", value))
        elif measurand == CURRENT:
            m["pack_current_a"] = abs(value)
        elif measurand == VOLTAGE:
            m["pack_voltage_v"] = value
    return [Reading(at, m, source) for at, m in by_time.items() if len(m) > 1]


def _summarise(charging: ChargingSession) -> None:
    values = charging.meter_values
    energy = [
        v["value"] * _UNIT_SCALE.get(v.get("unit") or "Wh", 0.001)
        for v in values
        if v["measurand"] == ENERGY
    ]
    if len(energy) >= 2:
        charging.energy_kwh = round(max(energy) - energy[0], 4)
    soc = [v for v in values if v["measurand"] == SOC]
    if soc:
        charging.soc_start_pct = soc[0]["value"]
        charging.soc_end_pct = soc[-1]["value"]
    temperatures = [v["value"] for v in values if v["measurand"] == TEMPERATURE]
    if temperatures:
        charging.peak_temperature_c = max(temperatures)


def _jsonable(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**row, "timestamp": xsd_datetime(row["timestamp"])} for row in rows]


async def report_session(
    session: AsyncSession, principal: Principal, report: SessionReport
) -> tuple[ChargingSession, list[safety.Notice]]:
    principal.require_role(CHARGERS)
    assert principal.organisation_id is not None
    now = datetime.now(UTC)
    charger_id = _text(report.charger_id, "chargerId", MAX_ID)
    transaction_id = _text(report.transaction_id, "transactionId", MAX_TRANSACTION)
    at = _check_time(report.timestamp, "timestamp", now)
    rows = _meter_rows(report, now)
    existing = (
        await session.exec(
            select(ChargingSession)
            .where(
                ChargingSession.organisation_id == principal.organisation_id,
                ChargingSession.charger_id == charger_id,
                ChargingSession.transaction_id == transaction_id,
            )
            .with_for_update()
        )
    ).first()
    if report.event is SessionEvent.START:
        if existing is not None:
            raise AlreadyExistsError(
                f"transaction {transaction_id} of charger {charger_id} was already started",
                field="transactionId",
            )
        battery = await resolve_battery(session, battery_id=report.battery_id, vin=report.vin)
        charging = ChargingSession(
            id=str(uuid.uuid4()),
            organisation_id=principal.organisation_id,
            charger_id=charger_id,
            transaction_id=transaction_id,
            battery_id=battery.id,
            started_at=at,
            updated_at=now,
        )
        credential = (
            await session.exec(
                select(ChargingCredential)
                .where(
                    ChargingCredential.battery_id == battery.id,
                    ChargingCredential.charger_id == charger_id,
                    ChargingCredential.organisation_id == principal.organisation_id,
                )
                .order_by(ChargingCredential.issued_at.desc())  # type: ignore[attr-defined]
            )
        ).first()
        if credential is not None and as_utc(credential.expires_at) > now:
            charging.credential_id = credential.credential_id
    else:
        if existing is None:
            raise NotFoundError(
                f"no transaction {transaction_id} of charger {charger_id}", field="transactionId"
            )
        if existing.status != "charging":
            raise AlreadyExistsError(
                f"transaction {transaction_id} has stopped already", field="transactionId"
            )
        charging = existing
        battery = await get_battery(session, charging.battery_id)
    kept = list(charging.meter_values) + _jsonable(rows)
    charging.meter_values = kept[-MAX_SESSION_VALUES:]
    charging.updated_at = now
    if report.event is SessionEvent.STOP:
        charging.status = "completed"
        charging.stopped_at = at
        charging.stop_reason = (report.stop_reason or "").strip()[:60] or None
    _summarise(charging)
    session.add(charging)
    await session.flush()
    if report.event is SessionEvent.STOP:
        event = await record_service_event(
            session,
            battery.id,
            EventKind.CHARGING_SESSION,
            actor_of(principal),
            at=min(at, now),
            data=session_summary(charging),
        )
        charging.stop_event_id = event.event_id
        session.add(charging)
    notices = await safety.on_readings(
        session, battery, readings_of(rows, f"charger:{charger_id}/{transaction_id}"), now
    )
    return charging, notices


def session_summary(charging: ChargingSession) -> dict[str, Any]:
    return {
        "sessionId": charging.id,
        "chargerId": charging.charger_id,
        "transactionId": charging.transaction_id,
        "startedAt": xsd_datetime(as_utc(charging.started_at)),
        "stoppedAt": xsd_datetime(as_utc(charging.stopped_at)) if charging.stopped_at else None,
        "energyKwh": charging.energy_kwh,
        "socStartPct": charging.soc_start_pct,
        "socEndPct": charging.soc_end_pct,
        "peakTemperatureC": charging.peak_temperature_c,
        "stopReason": charging.stop_reason,
        "credentialId": charging.credential_id,
    }
