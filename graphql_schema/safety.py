"""Charging & safety: a battery's safety grade and alerts, charging safety credentials for
chargers, charging session reports, clearing an alert by an inspector, parking gate
decisions and facilities (docs/SAFETY.md, docs/API.md "Charging & safety").

Every failure is a `SafetyError` with a `SafetyErrorCode`; a charger's request that the
safety state refuses is not an error but a `ChargingRefusal` with the reasons.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any, Final, Self, cast

import strawberry
from sqlmodel.ext.asyncio.session import AsyncSession
from strawberry.scalars import JSON

from backend.auth.policy import Resource, ResourceKind
from backend.auth.principal import Principal
from backend.charging import service as charging
from backend.charging.models import ChargingCredential as CredentialRow
from backend.charging.models import ChargingSession as SessionRow
from backend.kit.errors import DomainError, ForbiddenError, UnauthenticatedError
from backend.kit.events import battery_channel
from backend.kit.models import as_utc
from backend.orgs.roles import Role
from backend.parking import service as parking
from backend.parking.models import ParkingFacility as FacilityRow
from backend.passports.models import Battery
from backend.passports.service import get_battery
from backend.safety import service as safety
from backend.safety.models import SafetyAlert as AlertRow
from backend.safety.notify import publish
from graphql_schema.context import Context
from graphql_schema.errors import SafetyError, run_mutation
from graphql_schema.passports import battery_id_from, json_object, request_of

Info = strawberry.Info[Context, None]

# Organisations that read any battery's safety state (besides its own organisation and owner).
SAFETY_READERS: Final = frozenset(
    {
        Role.PLATFORM,
        Role.AUTHORITY,
        Role.INSPECTOR,
        Role.CHARGE_POINT_OPERATOR,
        Role.PARKING_OPERATOR,
    }
)


def may_read_safety(principal: Principal, battery: Battery) -> None:
    if not principal.is_authenticated:
        raise UnauthenticatedError("reading a battery's safety state needs credentials")
    if principal.role in SAFETY_READERS and principal.is_organisation:
        return
    if principal.organisation_id is not None and principal.organisation_id == (
        battery.organisation_id
    ):
        return
    owner = battery.owner_id
    if owner is not None and owner in (principal.driver_id, principal.did):
        return
    raise ForbiddenError("only the battery's owner, its organisation and safety services may")


# -- types --------------------------------------------------------------------------------


@strawberry.enum
class SafetySeverity(Enum):
    WARNING = "warning"
    CRITICAL = "critical"


@strawberry.enum
class SafetyAlertStatus(Enum):
    OPEN = "open"
    CLEARED = "cleared"


@strawberry.type(description="A safety rule that fired on a battery (docs/SAFETY.md).")
class SafetyAlert:
    alert_id: strawberry.ID
    battery_id: str
    rule: str = strawberry.field(description="cell_overvoltage, pack_overtemperature, …")
    severity: SafetySeverity
    status: SafetyAlertStatus
    message: str
    evidence: JSON = strawberry.field(description="The readings that fired it, and the limit.")
    opened_at: datetime = strawberry.field(description="Time of the first firing reading.")
    last_seen_at: datetime
    cleared_at: datetime | None
    cleared_by: str | None
    clear_reason: str | None
    event_id: str | None = strawberry.field(description="The safety_alert lifecycle event.")
    clear_event_id: str | None

    @classmethod
    def from_row(cls, row: AlertRow) -> Self:
        return cls(
            alert_id=strawberry.ID(row.id),
            battery_id=row.battery_id,
            rule=row.rule,
            severity=SafetySeverity(row.severity),
            status=SafetyAlertStatus(row.status),
            message=row.message,
            evidence=cast(JSON, row.evidence),
            opened_at=as_utc(row.opened_at),
            last_seen_at=as_utc(row.last_seen_at),
            cleared_at=as_utc(row.cleared_at) if row.cleared_at else None,
            cleared_by=row.cleared_by,
            clear_reason=row.clear_reason,
            event_id=row.event_id,
            clear_event_id=row.clear_event_id,
        )


@strawberry.type(description="Why the grade is below A.")
class SafetyGradeReason:
    code: str = strawberry.field(description="OPEN_ALERT, LOW_SOH, STALE_DATA or NO_DATA.")
    grade: str = strawberry.field(description="The grade this reason alone caps at.")
    message: str


@strawberry.type(description="A battery's safety grade (A best … E worst) and open alerts.")
class BatterySafety:
    battery_id: str
    grade: str
    reasons: list[SafetyGradeReason]
    open_alerts: list[SafetyAlert]
    soh_pct: float | None
    last_reading_at: datetime | None
    evaluated_at: datetime

    @classmethod
    def from_summary(cls, summary: safety.SafetySummary) -> Self:
        return cls(
            battery_id=summary.battery_id,
            grade=summary.grade.grade,
            reasons=[
                SafetyGradeReason(code=r.code, grade=r.grade, message=r.message)
                for r in summary.grade.reasons
            ],
            open_alerts=[SafetyAlert.from_row(a) for a in summary.open_alerts],
            soh_pct=summary.soh_pct,
            last_reading_at=summary.last_reading_at,
            evaluated_at=summary.evaluated_at,
        )


@strawberry.type
class SafetyAlertList:
    alerts: list[SafetyAlert] = strawberry.field(description="Newest first, ≤ 100.")


BatterySafetyResult = Annotated[
    BatterySafety | SafetyError, strawberry.union("BatterySafetyResult")
]
SafetyAlertsResult = Annotated[
    SafetyAlertList | SafetyError, strawberry.union("SafetyAlertsResult")
]


# -- charging -----------------------------------------------------------------------------


@strawberry.input(description="A charger asks whether (and how far) it may charge a battery.")
class RequestChargingCredentialInput:
    battery_id: strawberry.ID | None = strawberry.field(
        default=None, description="The battery; or give vin."
    )
    vin: str | None = strawberry.field(
        default=None, description="The vehicle whose installed battery is meant."
    )
    charger_id: str = strawberry.field(description="The charger's id at its operator (EVSE id).")
    underground: bool = strawberry.field(
        description="The charger is in an enclosed/underground space."
    )


@strawberry.type(
    description="A short-lived ChargingSafetyCredential: the battery may be charged at this "
    "charger up to maxSocPct until expiresAt, unless its suspension status entry is set."
)
class ChargingSafetyCredential:
    credential_id: str
    battery_id: str
    charger_id: str
    underground: bool
    grade: str
    max_soc_pct: float
    issued_at: datetime
    expires_at: datetime
    suspended: bool
    credential: JSON = strawberry.field(description="The signed W3C credential (Data Integrity).")

    @classmethod
    def from_row(cls, row: CredentialRow, document: dict[str, Any]) -> Self:
        return cls(
            credential_id=row.credential_id,
            battery_id=row.battery_id,
            charger_id=row.charger_id,
            underground=row.underground,
            grade=row.grade,
            max_soc_pct=row.max_soc_pct,
            issued_at=as_utc(row.issued_at),
            expires_at=as_utc(row.expires_at),
            suspended=row.suspended,
            credential=cast(JSON, document),
        )

    def replay_data(self) -> dict[str, Any]:
        return {"credentialId": self.credential_id}

    @classmethod
    async def from_replay(cls, session: AsyncSession, data: dict[str, Any]) -> Self:
        from sqlmodel import select

        from backend.issuance.models import IssuedCredential

        row = (
            await session.exec(
                select(CredentialRow).where(CredentialRow.credential_id == data["credentialId"])
            )
        ).one()
        issued = await session.get(IssuedCredential, row.issued_credential_id)
        assert issued is not None
        return cls.from_row(row, issued.document)


@strawberry.enum
class ChargingRefusalCode(Enum):
    OPEN_ALERT = "OPEN_ALERT"
    GRADE_NOT_ALLOWED = "GRADE_NOT_ALLOWED"
    BATTERY_OUT_OF_SERVICE = "BATTERY_OUT_OF_SERVICE"


@strawberry.type
class ChargingRefusalReason:
    code: ChargingRefusalCode
    message: str


@strawberry.type(description="The battery may not be charged here now; nothing was issued.")
class ChargingRefusal:
    battery_id: str
    charger_id: str
    underground: bool
    grade: str
    reasons: list[ChargingRefusalReason]
    grade_reasons: list[str]

    def replay_data(self) -> dict[str, Any]:
        return {
            "refusal": {
                "batteryId": self.battery_id,
                "chargerId": self.charger_id,
                "underground": self.underground,
                "grade": self.grade,
                "reasons": [[r.code.value, r.message] for r in self.reasons],
                "gradeReasons": list(self.grade_reasons),
            }
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Self:
        return cls(
            battery_id=data["batteryId"],
            charger_id=data["chargerId"],
            underground=data["underground"],
            grade=data["grade"],
            reasons=[
                ChargingRefusalReason(code=ChargingRefusalCode(code), message=message)
                for code, message in data["reasons"]
            ],
            grade_reasons=list(data["gradeReasons"]),
        )


ChargingCredentialResult = Annotated[
    ChargingSafetyCredential | ChargingRefusal | SafetyError,
    strawberry.union("ChargingCredentialResult"),
]


@strawberry.enum
class ChargingSessionEvent(Enum):
    START = "START"
    UPDATE = "UPDATE"
    STOP = "STOP"


@strawberry.input(description="One OCPP-style sampled value.")
class MeterValueInput:
    measurand: str = strawberry.field(
        description="Energy.Active.Import.Register (Wh or kWh), SoC (%), Temperature (°C), "
        "Current.Import (A), Voltage (V); others are stored as sent."
    )
    value: float
    unit: str | None = None
    timestamp: datetime | None = strawberry.field(
        default=None, description="Defaults to the report's timestamp."
    )
    location: str | None = None


@strawberry.input(description="A charger's report on one charging session (transaction).")
class ReportChargingSessionInput:
    charger_id: str
    transaction_id: str
    event: ChargingSessionEvent
    timestamp: datetime
    battery_id: strawberry.ID | None = strawberry.field(
        default=None, description="At START: the battery, or give vin."
    )
    vin: str | None = None
    meter_values: list[MeterValueInput] = strawberry.field(default_factory=list)
    stop_reason: str | None = None
    idempotency_key: str | None = None


@strawberry.type(description="A charging session as its charger reported it.")
class ChargingSession:
    session_id: strawberry.ID
    battery_id: str
    charger_id: str
    transaction_id: str
    status: str = strawberry.field(description="charging or completed.")
    started_at: datetime
    stopped_at: datetime | None
    energy_kwh: float | None
    soc_start_pct: float | None
    soc_end_pct: float | None
    peak_temperature_c: float | None
    stop_reason: str | None
    credential_id: str | None
    event_id: str | None = strawberry.field(description="The charging_session lifecycle event.")

    @classmethod
    def from_row(cls, row: SessionRow) -> Self:
        return cls(
            session_id=strawberry.ID(row.id),
            battery_id=row.battery_id,
            charger_id=row.charger_id,
            transaction_id=row.transaction_id,
            status=row.status,
            started_at=as_utc(row.started_at),
            stopped_at=as_utc(row.stopped_at) if row.stopped_at else None,
            energy_kwh=row.energy_kwh,
            soc_start_pct=row.soc_start_pct,
            soc_end_pct=row.soc_end_pct,
            peak_temperature_c=row.peak_temperature_c,
            stop_reason=row.stop_reason,
            credential_id=row.credential_id,
            event_id=row.stop_event_id,
        )


@strawberry.type
class ChargingSessionRecorded:
    session: ChargingSession
    alerts_opened: int = strawberry.field(description="Safety alerts its values opened.")

    def replay_data(self) -> dict[str, Any]:
        return {"sessionId": str(self.session.session_id), "alertsOpened": self.alerts_opened}

    @classmethod
    async def from_replay(cls, session: AsyncSession, data: dict[str, Any]) -> Self:
        row = await session.get(SessionRow, data["sessionId"])
        assert row is not None
        return cls(session=ChargingSession.from_row(row), alerts_opened=data["alertsOpened"])


ChargingSessionResult = Annotated[
    ChargingSessionRecorded | SafetyError, strawberry.union("ChargingSessionResult")
]


# -- clearing -----------------------------------------------------------------------------


@strawberry.input(description="An inspector clears an alert after examining the battery.")
class ClearSafetyAlertInput:
    alert_id: strawberry.ID
    reason: str
    idempotency_key: str | None = None


@strawberry.type
class SafetyAlertCleared:
    alert: SafetyAlert

    def replay_data(self) -> dict[str, Any]:
        return {"alertId": str(self.alert.alert_id)}

    @classmethod
    async def from_replay(cls, session: AsyncSession, data: dict[str, Any]) -> Self:
        row = await session.get(AlertRow, data["alertId"])
        assert row is not None
        return cls(alert=SafetyAlert.from_row(row))


ClearSafetyAlertResult = Annotated[
    SafetyAlertCleared | SafetyError, strawberry.union("ClearSafetyAlertResult")
]


# -- parking ------------------------------------------------------------------------------


@strawberry.enum
class ParkingVerdict(Enum):
    ALLOW = "ALLOW"
    DENY = "DENY"
    ALLOW_WITH_CHARGE_CAP = "ALLOW_WITH_CHARGE_CAP"


@strawberry.input(description="What a gate read, and where: a facility or just the location.")
class ParkingDecisionInput:
    facility_id: str | None = None
    underground: bool | None = None
    plate: str | None = None
    vin: str | None = None
    battery_id: strawberry.ID | None = None


@strawberry.type(description="A gate's answer, from the cache.")
class ParkingDecision:
    decision: ParkingVerdict
    reasons: list[str]
    battery_id: str | None
    grade: str | None
    charge_cap_pct: float | None
    underground: bool


ParkingDecisionResult = Annotated[
    ParkingDecision | SafetyError, strawberry.union("ParkingDecisionResult")
]


@strawberry.input(description="A parking facility of the caller's organisation.")
class RegisterParkingFacilityInput:
    facility_id: str | None = strawberry.field(
        default=None, description="Letters, digits, '-', '_', '.'; a UUID when left out."
    )
    name: str
    underground: bool
    policy: JSON | None = strawberry.field(
        default=None,
        description="Overrides of the gate policy: deny_grades, deny_severities, "
        "unknown_vehicle (docs/SAFETY.md).",
    )
    idempotency_key: str | None = None


@strawberry.type
class ParkingFacility:
    facility_id: str
    name: str
    underground: bool
    policy: JSON

    @classmethod
    def from_row(cls, row: FacilityRow) -> Self:
        return cls(
            facility_id=row.id,
            name=row.name,
            underground=row.underground,
            policy=cast(JSON, row.policy),
        )


@strawberry.type
class ParkingFacilityRegistered:
    facility: ParkingFacility

    def replay_data(self) -> dict[str, Any]:
        return {"facilityId": self.facility.facility_id}

    @classmethod
    async def from_replay(cls, session: AsyncSession, data: dict[str, Any]) -> Self:
        row = await session.get(FacilityRow, data["facilityId"])
        assert row is not None
        return cls(facility=ParkingFacility.from_row(row))


ParkingFacilityResult = Annotated[
    ParkingFacilityRegistered | SafetyError, strawberry.union("ParkingFacilityResult")
]


def _optional_battery(value: strawberry.ID | None) -> str | None:
    return battery_id_from(str(value)) if value is not None else None


# -- resolvers ----------------------------------------------------------------------------


@strawberry.type
class SafetyQuery:
    @strawberry.field(description="A battery's safety grade with the reasons, and open alerts.")
    async def battery_safety(self, info: Info, battery_id: strawberry.ID) -> BatterySafetyResult:
        try:
            async with info.context.runtime.db.read_only() as session:
                battery = await get_battery(session, battery_id_from(str(battery_id)))
                may_read_safety(info.context.principal, battery)
                summary = await safety.safety_summary(session, battery.id)
        except DomainError as error:
            return SafetyError.from_domain(error)
        return BatterySafety.from_summary(summary)

    @strawberry.field(description="A battery's safety alerts, newest first.")
    async def safety_alerts(
        self, info: Info, battery_id: strawberry.ID, status: SafetyAlertStatus | None = None
    ) -> SafetyAlertsResult:
        try:
            async with info.context.runtime.db.read_only() as session:
                battery = await get_battery(session, battery_id_from(str(battery_id)))
                may_read_safety(info.context.principal, battery)
                rows = await safety.list_alerts(
                    session, battery.id, status=status.value if status else None
                )
        except DomainError as error:
            return SafetyError.from_domain(error)
        return SafetyAlertList(alerts=[SafetyAlert.from_row(r) for r in rows])

    @strawberry.field(
        description="A parking gate's decision by plate, VIN or battery id, from the cache "
        "(also REST: GET /parking/v1/decision)."
    )
    async def parking_decision(
        self, info: Info, input: ParkingDecisionInput
    ) -> ParkingDecisionResult:
        try:
            decision = await info.context.runtime.parking.decide(
                info.context.principal,
                parking.GateQuery(
                    facility_id=input.facility_id,
                    underground=input.underground,
                    plate=input.plate,
                    vin=input.vin,
                    battery_id=str(input.battery_id) if input.battery_id is not None else None,
                ),
            )
        except DomainError as error:
            return SafetyError.from_domain(error)
        return ParkingDecision(
            decision=ParkingVerdict(decision.verdict.value),
            reasons=list(decision.reasons),
            battery_id=decision.battery_id,
            grade=decision.grade,
            charge_cap_pct=decision.charge_cap_pct,
            underground=decision.underground,
        )


def _battery_resource(battery_id: str) -> Resource:
    return Resource(ResourceKind.BATTERY, id=battery_id)


@strawberry.type
class SafetyMutation:
    @strawberry.mutation(
        description="A charger (charge-point-operator API key) asks for a ChargingSafetyCredential."
    )
    async def request_charging_credential(
        self, info: Info, input: RequestChargingCredentialInput
    ) -> ChargingCredentialResult:
        runtime = info.context.runtime

        async def work(session: AsyncSession) -> ChargingSafetyCredential | ChargingRefusal:
            decision = await charging.request_credential(
                session,
                runtime.issuance,
                info.context.principal,
                charging.CredentialRequest(
                    charger_id=input.charger_id,
                    underground=input.underground,
                    battery_id=_optional_battery(input.battery_id),
                    vin=input.vin,
                ),
            )
            if decision.credential is None or decision.document is None:
                return ChargingRefusal(
                    battery_id=decision.battery_id,
                    charger_id=decision.charger_id,
                    underground=decision.underground,
                    grade=decision.grade,
                    reasons=[
                        ChargingRefusalReason(
                            code=ChargingRefusalCode(r.code.value), message=r.message
                        )
                        for r in decision.refusals
                    ],
                    grade_reasons=list(decision.grade_reasons),
                )
            return ChargingSafetyCredential.from_row(decision.credential, decision.document)

        async def replay(
            session: AsyncSession, data: dict[str, Any]
        ) -> ChargingSafetyCredential | ChargingRefusal:
            if "refusal" in data:
                return ChargingRefusal.from_data(data["refusal"])
            return await ChargingSafetyCredential.from_replay(session, data)

        return await run_mutation(
            info,
            operation="requestChargingCredential",
            request=request_of(input),
            idempotency_key=None,
            work=work,
            replay=replay,
            audit=lambda result: _battery_resource(result.battery_id),
            error=SafetyError,
        )

    @strawberry.mutation(
        description="A charger reports a session: START (battery or VIN), UPDATE, STOP, with "
        "OCPP-style meter values; a stopped session becomes a charging_session lifecycle event."
    )
    async def report_charging_session(
        self, info: Info, input: ReportChargingSessionInput
    ) -> ChargingSessionResult:
        runtime = info.context.runtime
        notices: list[safety.Notice] = []

        async def work(session: AsyncSession) -> ChargingSessionRecorded:
            row, found = await charging.report_session(
                session,
                info.context.principal,
                charging.SessionReport(
                    charger_id=input.charger_id,
                    transaction_id=input.transaction_id,
                    event=charging.SessionEvent(input.event.value),
                    timestamp=input.timestamp,
                    battery_id=_optional_battery(input.battery_id),
                    vin=input.vin,
                    meter_values=[
                        charging.MeterValue(
                            measurand=v.measurand,
                            value=v.value,
                            unit=v.unit,
                            timestamp=v.timestamp,
                            location=v.location,
                        )
                        for v in input.meter_values
                    ],
                    stop_reason=input.stop_reason,
                ),
            )
            notices[:] = found
            opened = sum(1 for n in found if n.kind == "SAFETY_ALERT")
            return ChargingSessionRecorded(
                session=ChargingSession.from_row(row), alerts_opened=opened
            )

        result = await run_mutation(
            info,
            operation="reportChargingSession",
            request=request_of(input),
            idempotency_key=input.idempotency_key,
            work=work,
            replay=ChargingSessionRecorded.from_replay,
            audit=lambda result: _battery_resource(result.session.battery_id),
            error=SafetyError,
        )
        if isinstance(result, ChargingSessionRecorded):
            await publish(runtime, notices)
            if result.session.event_id:
                if runtime.anchorer is not None:
                    runtime.anchorer.wake()
                await runtime.events.publish(
                    battery_channel(result.session.battery_id),
                    {"kind": "CHARGING_SESSION", "eventId": result.session.event_id},
                )
        return result

    @strawberry.mutation(description="An inspector clears a safety alert, with the reason.")
    async def clear_safety_alert(
        self, info: Info, input: ClearSafetyAlertInput
    ) -> ClearSafetyAlertResult:
        runtime = info.context.runtime
        notices: list[safety.Notice] = []

        async def work(session: AsyncSession) -> SafetyAlertCleared:
            alert, found = await safety.clear_alert(
                session, info.context.principal, str(input.alert_id), input.reason
            )
            notices[:] = found
            return SafetyAlertCleared(alert=SafetyAlert.from_row(alert))

        result = await run_mutation(
            info,
            operation="clearSafetyAlert",
            request=request_of(input),
            idempotency_key=input.idempotency_key,
            work=work,
            replay=SafetyAlertCleared.from_replay,
            audit=lambda result: _battery_resource(result.alert.battery_id),
            error=SafetyError,
        )
        if isinstance(result, SafetyAlertCleared):
            await publish(runtime, notices)
        return result

    @strawberry.mutation(description="A parking operator registers a facility its gates name.")
    async def register_parking_facility(
        self, info: Info, input: RegisterParkingFacilityInput
    ) -> ParkingFacilityResult:
        async def work(session: AsyncSession) -> ParkingFacilityRegistered:
            row = await parking.register_facility(
                session,
                info.context.principal,
                facility_id=input.facility_id,
                name=input.name,
                underground=input.underground,
                facility_policy=json_object(input.policy, "policy") or None,
            )
            return ParkingFacilityRegistered(facility=ParkingFacility.from_row(row))

        return await run_mutation(
            info,
            operation="registerParkingFacility",
            request=request_of(input),
            idempotency_key=input.idempotency_key,
            work=work,
            replay=ParkingFacilityRegistered.from_replay,
            error=SafetyError,
        )
