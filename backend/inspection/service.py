"""Inspections: open (an accredited inspector's organisation), upload the bay's read and
bench tests, complete (assess, grade, issue, update the passport, record the event).

SQL stays here; the caller's unit of work commits. The credentials are signed as the
inspector's organisation — its own `did:web` under the platform and its own key in the key
store — once as Data Integrity (`ecdsa-rdfc-2019`) and once as an SD-JWT VC bound to the
platform's custodial holder key (`backend.trade.holder`), for selective sharing with a buyer.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth.principal import Principal
from backend.inspection import methods
from backend.inspection.models import Inspection
from backend.issuance.models import IssuedCredential
from backend.issuance.service import CredentialFormat, find_credential
from backend.kit.errors import (
    DomainError,
    ErrorCode,
    ForbiddenError,
    NotFoundError,
    UnauthenticatedError,
)
from backend.lifecycle import service as lifecycle
from backend.orgs.models import Organisation
from backend.orgs.roles import Role
from backend.passports.models import Battery
from backend.passports.service import (
    Measurement,
    apply_measurement,
    battery_attributes,
    ensure_writable,
    get_battery,
    numeric_value,
    passport_id,
    xsd_datetime,
)
from backend.trade.holder import battery_holder_jwk
from backend.vehicles.models import Vehicle
from backend.vehicles.service import current_installation
from credentials.contexts import CREDENTIALS_V2_URL
from credentials.jcs import canonicalize
from credentials.vocab import BATTERY_CONTEXT_URL

if TYPE_CHECKING:
    from backend.runtime import Runtime

INSPECTION_TYPE: Final = "BatteryInspectionCredential"
# PRODUCT.md §4.1: an inspection result is valid for e.g. 12 months.
INSPECTION_VALIDITY: Final = timedelta(days=365)


class InspectionStateError(DomainError):
    """The inspection is not in a state that allows this step."""

    code = ErrorCode.CONFLICT
    status_code = 409


class NotAccreditedError(ForbiddenError):
    """The inspector's organisation is not accredited for inspections on chain now."""


class RegistryUnavailableError(DomainError):
    code = ErrorCode.UNAVAILABLE
    status_code = 503


@dataclass(frozen=True, slots=True)
class Inspector:
    organisation: Organisation
    did: str


@dataclass(frozen=True, slots=True)
class CompletedInspection:
    inspection: Inspection
    assessment: methods.Assessment
    credential: IssuedCredential
    sd_jwt: IssuedCredential


def _inspection_id(value: str) -> str:
    try:
        return str(uuid.UUID(value.removeprefix("urn:uuid:")))
    except ValueError:
        raise NotFoundError(f"no inspection {value!r}", field="inspectionId") from None


class InspectionService:
    """Stateless over the runtime's database, platform identity, issuance and chain mirror."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    # -- who inspects -----------------------------------------------------------------------

    async def inspector(self, session: AsyncSession, principal: Principal) -> Inspector:
        """The caller as an inspector organisation the platform signs for.

        An API key of role `inspector`, or a role session (presentation of the city's
        `AccreditedInspectorCredential`) whose holder is an organisation DID this platform
        hosts; either way the organisation must be accredited on chain for inspections now.
        """
        if not principal.is_authenticated:
            raise UnauthenticatedError("an inspection needs an inspector's credentials")
        if principal.role is not Role.INSPECTOR:
            raise ForbiddenError("only an accredited inspector opens and signs inspections")
        platform = self.runtime.platform
        organisation: Organisation | None = None
        if principal.organisation_id is not None:
            organisation = await session.get(Organisation, principal.organisation_id)
        elif principal.did is not None:
            prefix = platform.organisation_did("")
            if principal.did.startswith(prefix):
                slug = principal.did[len(prefix) :]
                organisation = (
                    await session.exec(select(Organisation).where(Organisation.slug == slug))
                ).first()
        if organisation is None:
            raise ForbiddenError(
                "the inspector's DID is not an organisation this platform signs for",
                field="inspector",
            )
        did = platform.organisation_did(organisation.slug)
        await self.require_accredited(did)
        return Inspector(organisation, did)

    async def require_accredited(self, did: str) -> None:
        services = self.runtime.chain_services
        answer = (
            None
            if services is None
            else await services.accreditation.is_accredited(
                did, [INSPECTION_TYPE], datetime.now(UTC)
            )
        )
        if answer is None:
            raise RegistryUnavailableError("the on-chain issuer registry cannot be read now")
        if not answer:
            raise NotAccreditedError(
                f"{did} is not accredited as an inspector in the issuer registry",
                field="inspector",
            )

    # -- steps ------------------------------------------------------------------------------

    async def open(
        self,
        session: AsyncSession,
        principal: Principal,
        battery_id: str,
        *,
        site: str | None = None,
    ) -> Inspection:
        inspector = await self.inspector(session, principal)
        battery = await get_battery(session, battery_id)
        ensure_writable(battery)
        if site is not None and len(site.strip()) > 200:
            raise DomainError("site is at most 200 characters", field="site")
        assert inspector.organisation.id is not None
        row = Inspection(
            id=str(uuid.uuid4()),
            battery_id=battery.id,
            organisation_id=inspector.organisation.id,
            inspector_did=inspector.did,
            site=site.strip() if site else None,
        )
        session.add(row)
        await session.flush()
        return row

    async def _own(
        self,
        session: AsyncSession,
        principal: Principal,
        inspection_id: str,
        *,
        lock: bool = True,
    ) -> tuple[Inspection, Inspector]:
        inspector = await self.inspector(session, principal)
        row = await session.get(Inspection, _inspection_id(inspection_id), with_for_update=lock)
        if row is None or row.organisation_id != inspector.organisation.id:
            # another organisation's inspection answers like an unknown id
            raise NotFoundError(f"no inspection {inspection_id!r}", field="inspectionId")
        return row, inspector

    async def upload(
        self,
        session: AsyncSession,
        principal: Principal,
        inspection_id: str,
        *,
        read: Any,
        capacity_test: Any = None,
        pulse_test: Any = None,
    ) -> Inspection:
        """Store the bay's full read and the bench tests, after checking them all."""
        row, _ = await self._own(session, principal, inspection_id)
        if row.status != "open":
            raise InspectionStateError(f"the inspection is {row.status}", field="inspectionId")
        methods.parse_read(read)
        methods.parse_capacity_test(capacity_test)
        methods.parse_pulse_test(pulse_test)
        row.read = dict(read)
        row.capacity_test = dict(capacity_test) if capacity_test is not None else None
        row.pulse_test = dict(pulse_test) if pulse_test is not None else None
        row.read_at = datetime.now(UTC)
        session.add(row)
        await session.flush()
        return row

    async def reference(self, session: AsyncSession, battery: Battery) -> methods.Reference:
        attributes = await battery_attributes(session, battery)
        return methods.Reference(
            rated_capacity_ah=battery.rated_capacity_ah,
            nominal_voltage_v=battery.nominal_voltage_v,
            certified_energy_kwh=numeric_value(attributes.get("certifiedUsableEnergy")),
            initial_resistance_ohm=numeric_value(attributes.get("initialInternalResistance")),
        )

    async def complete(
        self, session: AsyncSession, principal: Principal, inspection_id: str
    ) -> CompletedInspection:
        row, inspector = await self._own(session, principal, inspection_id)
        if row.status != "open":
            raise InspectionStateError(f"the inspection is {row.status}", field="inspectionId")
        if row.read is None:
            raise InspectionStateError(
                "upload the bay's read before completing", field="inspectionId"
            )
        battery = await get_battery(session, row.battery_id, for_update=True)
        ensure_writable(battery)
        assessment = methods.assess(
            await self.reference(session, battery),
            methods.parse_read(row.read),
            methods.parse_capacity_test(row.capacity_test),
            methods.parse_pulse_test(row.pulse_test),
        )
        now = datetime.now(UTC).replace(microsecond=0)
        installation = await current_installation(session, battery.id)
        vin = None
        if installation is not None:
            vehicle = await session.get(Vehicle, installation.vehicle_id)
            vin = vehicle.vin if vehicle is not None else None
        subject = inspection_subject(battery, assessment, now, vin=vin)
        unsigned: dict[str, Any] = {
            "@context": [CREDENTIALS_V2_URL, BATTERY_CONTEXT_URL],
            "type": ["VerifiableCredential", INSPECTION_TYPE],
            "issuer": inspector.did,
            "validFrom": xsd_datetime(now),
            "validUntil": xsd_datetime(now + INSPECTION_VALIDITY),
            "credentialSubject": subject,
        }
        issuance = self.runtime.issuance
        credential = await issuance.issue_credential(
            session,
            {**unsigned, "id": f"urn:uuid:{uuid.uuid4()}"},
            battery_id=battery.id,
        )
        sd_jwt = await issuance.issue_credential(
            session,
            {**unsigned, "id": f"urn:uuid:{uuid.uuid4()}"},
            battery_id=battery.id,
            credential_format=CredentialFormat.SD_JWT,
            holder_jwk=battery_holder_jwk(self.runtime.platform),
        )
        self._update_passport(session, battery, assessment, inspector.did, now)
        if self.runtime.passports is not None:
            # a condition credential the battery has is re-issued with the new values
            await self.runtime.passports.sync(session, battery.id)
        digest = hashlib.sha256(canonicalize(credential.document).encode("utf-8")).hexdigest()
        event = await lifecycle.record_inspection(
            session,
            principal_for_event(principal, inspector),
            battery.id,
            {
                "inspection": f"urn:uuid:{row.id}",
                "grade": assessment.grade.value,
                "credentials": [credential.credential_id, sd_jwt.credential_id],
                "credentialDigest": digest,
            },
            occurred_at=now,
        )
        row.status = "completed"
        row.result = assessment_json(assessment)
        row.grade = assessment.grade.value
        row.credential_id = credential.credential_id
        row.sd_jwt_credential_id = sd_jwt.credential_id
        row.event_id = event.event_id
        row.completed_at = now
        session.add(row)
        await session.flush()
        return CompletedInspection(row, assessment, credential, sd_jwt)

    def _update_passport(
        self,
        session: AsyncSession,
        battery: Battery,
        assessment: methods.Assessment,
        originator: str,
        at: datetime,
    ) -> None:
        """The passport's dynamic data (Annex XIII item-level values) from the inspection."""
        values: dict[str, methods.Figure | None] = {
            "remainingCapacity": assessment.remaining_capacity,
            "stateOfCertifiedEnergy": assessment.soce,
            "energyThroughput": assessment.energy_throughput,
        }
        for term, figure in values.items():
            if figure is None:
                continue
            apply_measurement(
                session,
                battery,
                term,
                Measurement(
                    value=figure.value,
                    measured_at=at,
                    originator=originator,
                    method=f"inspection:{figure.method}",
                    uncertainty=figure.uncertainty,
                ),
            )
        session.add(battery)

    async def revoke(
        self, session: AsyncSession, principal: Principal, inspection_id: str, reason: str | None
    ) -> Inspection:
        """Revoke both forms of the inspection's credential (the inspector's own decision)."""
        row, _ = await self._own(session, principal, inspection_id)
        if row.status != "completed":
            raise InspectionStateError(f"the inspection is {row.status}", field="inspectionId")
        for credential_id in (row.credential_id, row.sd_jwt_credential_id):
            found = await find_credential(session, credential_id) if credential_id else None
            if found is not None and found.revoked_at is None:
                await self.runtime.issuance._revoke_row(
                    session, found, reason=reason or "inspection withdrawn", urgent=True
                )
        row.status = "revoked"
        session.add(row)
        return row

    async def get(
        self, session: AsyncSession, principal: Principal, inspection_id: str
    ) -> Inspection:
        row, _ = await self._own(session, principal, inspection_id, lock=False)
        return row


def principal_for_event(principal: Principal, inspector: Inspector) -> Principal:
    """The lifecycle service's view of the inspector: its organisation, role inspector."""
    return Principal(
        organisation_id=inspector.organisation.id,
        organisation_slug=inspector.organisation.slug,
        role=Role.INSPECTOR,
    )


def _measurement(figure: methods.Figure, at: str) -> dict[str, Any]:
    return {"type": "Measurement", **figure.to_json(), "measuredAt": at}


def inspection_subject(
    battery: Battery,
    assessment: methods.Assessment,
    at: datetime,
    *,
    vin: str | None = None,
) -> dict[str, Any]:
    """The `BatteryInspectionCredential` subject: only terms of the battery-passport context
    (the JSON-LD form is expanded strictly), each figure with method and uncertainty."""
    stamp = xsd_datetime(at)
    subject: dict[str, Any] = {
        "id": passport_id(battery),
        "type": "Battery",
        "batteryIdentifier": battery.identifier,
        "stateOfHealth": [_measurement(f, stamp) for f in assessment.soh],
        "inspectionGrade": {
            "value": assessment.grade.value,
            "description": list(assessment.reasons),
        },
        "reuseEligible": assessment.grade in (methods.Grade.REMANUFACTURE, methods.Grade.REUSE),
        "inspectionMethod": sorted(
            {f.method for f in assessment.soh}
            | {f.method for f in (assessment.resistance, assessment.soce) if f is not None}
        ),
        "inspectedAt": stamp,
    }
    optional = {
        "stateOfCertifiedEnergy": assessment.soce,
        "remainingCapacity": assessment.remaining_capacity,
        "capacityFade": assessment.capacity_fade,
        "internalResistanceIncrease": assessment.resistance_increase,
        "cellVoltageSpread": assessment.cell_voltage_spread,
        "cellStateOfHealthSpread": assessment.cell_soh_spread,
        "insulationResistance": assessment.isolation,
        "energyThroughput": assessment.energy_throughput,
        "fullCycleCount": assessment.full_cycles,
    }
    for term, figure in optional.items():
        if figure is not None:
            subject[term] = _measurement(figure, stamp)
    if vin is not None:
        subject["vehicleIdentificationNumber"] = vin
    return subject


def assessment_json(assessment: methods.Assessment) -> dict[str, Any]:
    def figure(f: methods.Figure | None) -> dict[str, Any] | None:
        return None if f is None else f.to_json()

    return {
        "soh": [f.to_json() for f in assessment.soh],
        "soce": figure(assessment.soce),
        "remainingCapacity": figure(assessment.remaining_capacity),
        "capacityFade": figure(assessment.capacity_fade),
        "resistance": figure(assessment.resistance),
        "resistanceIncrease": figure(assessment.resistance_increase),
        "cellVoltageSpread": figure(assessment.cell_voltage_spread),
        "cellSohSpread": figure(assessment.cell_soh_spread),
        "isolation": figure(assessment.isolation),
        "isolationOhmPerV": assessment.isolation_ohm_per_v,
        "energyThroughput": figure(assessment.energy_throughput),
        "fullCycles": figure(assessment.full_cycles),
        "temperatureMaxC": assessment.temperature_max_c,
        "grade": assessment.grade.value,
        "reasons": list(assessment.reasons),
    }


async def latest_inspection(session: AsyncSession, battery_id: str) -> Inspection | None:
    """The battery's newest completed (not revoked) inspection."""
    return (
        await session.exec(
            select(Inspection)
            .where(Inspection.battery_id == battery_id, Inspection.status == "completed")
            .order_by(col(Inspection.completed_at).desc())
            .limit(1)
        )
    ).first()
