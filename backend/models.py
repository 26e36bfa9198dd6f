"""Every table, imported once so Alembic and the app see the same metadata."""

from sqlmodel import SQLModel

from backend.api.models import PersistedQuery
from backend.audit.models import AuditEntry
from backend.auth.models import Driver, RefreshToken
from backend.chain.models import ChainDeployment, ChainTransaction
from backend.charging.models import ChargingCredential, ChargingSession
from backend.consent.models import Consent
from backend.inspection.models import Inspection
from backend.issuance.models import IssuedCredential, StatusChange, StatusList
from backend.kit.idempotency import IdempotencyRecord
from backend.lifecycle.models import EventAnchor, LifecycleEvent
from backend.orgs.models import ApiKey, Organisation
from backend.parking.models import ParkingFacility
from backend.passports.models import Battery, BatteryMeasurement, BatteryModel, PassportVersion
from backend.safety.models import SafetyAlert, SafetyState
from backend.telemetry.models import (
    TelemetryDevice,
    TelemetryEvent,
    TelemetryHourly,
    TelemetrySample,
    TelemetrySequence,
    TelemetrySource,
    TelemetryState,
)
from backend.trade.models import CredentialShare, TransferOffer
from backend.vehicles.models import Installation, Vehicle

metadata = SQLModel.metadata

__all__ = [
    "ApiKey",
    "AuditEntry",
    "Battery",
    "BatteryMeasurement",
    "BatteryModel",
    "ChainDeployment",
    "ChainTransaction",
    "ChargingCredential",
    "ChargingSession",
    "Consent",
    "CredentialShare",
    "Driver",
    "EventAnchor",
    "IdempotencyRecord",
    "Inspection",
    "Installation",
    "IssuedCredential",
    "LifecycleEvent",
    "Organisation",
    "ParkingFacility",
    "PassportVersion",
    "PersistedQuery",
    "RefreshToken",
    "SafetyAlert",
    "SafetyState",
    "StatusChange",
    "StatusList",
    "TelemetryDevice",
    "TelemetryEvent",
    "TelemetryHourly",
    "TelemetrySample",
    "TelemetrySequence",
    "TelemetrySource",
    "TelemetryState",
    "TransferOffer",
    "Vehicle",
    "metadata",
]
