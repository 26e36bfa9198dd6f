"""A battery's life from manufacture to recycling, on the running runtime.

At every step: every credential issued so far verifies (or, once superseded or ceased, fails
exactly on its revocation status), and every lifecycle event so far has an inclusion proof
that checks locally and against the anchored root in `EventAnchorRegistry` on chain.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth.principal import Principal
from backend.chain.models import ChainTransaction, TxStatus
from backend.issuance.models import IssuedCredential
from backend.kit.errors import AlreadyExistsError, ForbiddenError
from backend.lifecycle.anchoring import check_on_chain, event_proof
from backend.lifecycle.errors import LifecycleTransitionError
from backend.lifecycle.models import LifecycleEvent
from backend.lifecycle.service import (
    EventKind,
    battery_events,
    install_battery,
    record_event,
    recycle,
    remove_battery,
    start_second_life,
    swap_battery,
    transfer_ownership,
    verify_chain,
)
from backend.orgs.roles import Role
from backend.orgs.service import get_or_create_organisation
from backend.passports.errors import PassportCeasedError
from backend.passports.issuing import (
    IssuedVersion,
    PassportCredentialType,
    PassportIssuer,
    version_chain,
)
from backend.passports.models import Battery
from backend.passports.service import (
    Measurement,
    ModelRegistration,
    get_battery,
    record_measurements,
    register_battery_of_model,
    register_model,
    set_item_attributes,
)
from backend.runtime import Runtime
from backend.vehicles.errors import BatteryInstalledError
from backend.vehicles.service import installation_history, register_vehicle

pytestmark = pytest.mark.integration

MODEL_ATTRIBUTES: dict[str, Any] = {
    "manufacturingPlace": "Busan, KR",
    "warrantyPeriod": "8 years or 160,000 km",
    "batteryMass": 453.5,
    "carbonFootprintPerFunctionalUnit": 61.2,
    "carbonFootprintPerformanceClass": "B",
    "carbonFootprintStudyUrl": "https://example.org/cf-study.pdf",
    "criticalRawMaterials": ["lithium", "cobalt", "natural graphite"],
    "renewableContentShare": 12.5,
    "expectedLifetimeCycles": 3000,
    "idleTemperatureLowerBoundary": -30,
    "idleTemperatureUpperBoundary": 55,
    # legitimate interest
    "cathodeAnodeElectrolyteMaterials": ["NMC811", "graphite", "LiPF6 in EC/DMC"],
    "dismantlingInformation": "https://example.org/dismantling-manual.pdf",
    "capacityFade": 0.0,
    # authorities
    "complianceTestReports": ["UN 38.3 report 2025-0042"],
}
LEGITIMATE_ONLY = {"cathodeAnodeElectrolyteMaterials", "dismantlingInformation", "capacityFade"}
AUTHORITIES_ONLY = {"complianceTestReports"}


async def principal(runtime: Runtime, slug: str, role: Role) -> Principal:
    async with runtime.db.unit_of_work() as session:
        organisation = await get_or_create_organisation(session, slug)
    return Principal(organisation_id=organisation.id, organisation_slug=slug, role=role)


def unique_vin() -> str:
    from backend.vehicles.service import vin_check_digit

    body = uuid.uuid4().hex.upper().replace("I", "1").replace("O", "0").replace("Q", "9")
    draft = ("KMH" + body)[:8] + "0" + ("KMH" + body)[9:17]
    return draft[:8] + vin_check_digit(draft) + draft[9:]


def unique_identifier(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12].upper()}"


class Ledger:
    """Everything issued and recorded so far, checked after each step."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.active: dict[str, dict[str, Any]] = {}  # credential id → document
        self.revoked: dict[str, dict[str, Any]] = {}
        self.battery_ids: list[str] = []

    def issued(self, issued: IssuedVersion) -> dict[str, Any]:
        document = issued.credential.document
        self.active[issued.credential.credential_id] = document
        return document

    async def refresh_revocations(self) -> None:
        async with self.runtime.db.read_only() as session:
            rows = list(
                await session.exec(
                    select(IssuedCredential).where(
                        col(IssuedCredential.credential_id).in_(list(self.active)),
                        col(IssuedCredential.revoked_at).is_not(None),
                    )
                )
            )
        for row in rows:
            self.revoked[row.credential_id] = self.active.pop(row.credential_id)

    async def settle(self) -> None:
        """Publish status changes, anchor new events, and mine everything queued."""
        assert self.runtime.anchorer is not None
        await self.runtime.issuance.publish_status_changes()
        await self.runtime.anchorer.anchor_once()
        await self.runtime.outbox.drain_once()

    async def check(self) -> None:
        await self.refresh_revocations()
        await self.settle()
        for credential_id, document in self.active.items():
            result = await self.runtime.issuance.verify(document)
            not_passed = [c for c in result["checks"] if c["status"] != "pass"]
            assert result["verified"] is True, (credential_id, not_passed)
        for credential_id, document in self.revoked.items():
            result = await self.runtime.issuance.verify(document)
            assert result["verified"] is False, credential_id
            failed = {c["name"] for c in result["checks"] if c["status"] == "fail"}
            assert failed == {"status_revocation"}, (credential_id, result["checks"])
        async with self.runtime.db.read_only() as session:
            for battery_id in self.battery_ids:
                for event in await verify_chain(session, battery_id):
                    proof = await event_proof(session, event.event_id)
                    assert proof.verify(), event.kind
                    assert proof.confirmed, event.kind
                    assert await check_on_chain(self.runtime.chain, proof), event.kind
            anchors = list(
                await session.exec(
                    select(ChainTransaction).where(ChainTransaction.function == "anchor")
                )
            )
        assert anchors
        assert all(row.status == TxStatus.CONFIRMED for row in anchors)


async def test_from_manufacture_to_recycling(runtime: Runtime) -> None:
    assert runtime.passports is not None
    passports: PassportIssuer = runtime.passports
    ledger = Ledger(runtime)
    maker = await principal(runtime, "lc-cells", Role.MANUFACTURER)
    repairer = await principal(runtime, "lc-repair", Role.REPAIRER)
    second_life = await principal(runtime, "lc-second-life", Role.SECOND_LIFE_OPERATOR)
    recycler = await principal(runtime, "lc-recycling", Role.RECYCLER)
    start = datetime.now(UTC) - timedelta(days=400)

    # -- manufactured, with a full public passport -------------------------------------------
    async with runtime.db.unit_of_work() as session:
        model = await register_model(
            session,
            maker,
            ModelRegistration(
                name=f"LC Pack {uuid.uuid4().hex[:6]}",
                manufacturer="LC Cells Co., Busan",
                chemistry="NMC",
                rated_capacity_ah=111.2,
                nominal_voltage_v=697.0,
                attributes=MODEL_ATTRIBUTES,
            ),
        )
        battery = await register_battery_of_model(
            session,
            maker,
            model.id,
            unique_identifier("LC"),
            attributes={
                "manufacturingDate": "2025-05-14",
                "extinguishingAgent": "water (large quantities)",
                "puttingIntoServiceDate": "2025-06-01",  # legitimate interest
            },
        )
        await record_event(session, maker, battery.id, EventKind.MANUFACTURED, occurred_at=start)
        passport = ledger.issued(await passports.issue(session, maker, battery.id))
    ledger.battery_ids.append(battery.id)
    assert passport["issuer"] == runtime.platform.organisation_did("lc-cells")
    subject = passport["credentialSubject"]
    assert subject["id"] == subject["batteryPassportIdentifier"] == f"urn:uuid:{battery.id}"
    assert subject["batteryModel"] == f"urn:uuid:{model.id}"
    assert subject["batteryMass"] == {"value": 453.5, "unit": "kg"}
    assert subject["idleTemperatureLowerBoundary"] == {"value": -30.0, "unit": "°C"}
    assert subject["manufacturingDate"] == "2025-05-14"
    assert subject["ratedCapacity"] == {"value": 111.2, "unit": "Ah"}
    restricted = LEGITIMATE_ONLY | AUTHORITIES_ONLY | {"puttingIntoServiceDate", "batteryStatus"}
    assert not restricted & set(subject), restricted & set(subject)
    await ledger.check()

    # -- on the market, in vehicle A, measured --------------------------------------------------
    async with runtime.db.unit_of_work() as session:
        vehicle_a = await register_vehicle(session, maker, unique_vin(), plate="12가3456")
        vehicle_b = await register_vehicle(session, maker, unique_vin(), owner_id="driver-b")
        await record_event(
            session, maker, battery.id, EventKind.PLACED_ON_MARKET, occurred_at=start
        )
        await install_battery(
            session, maker, battery.id, vehicle_a.id, occurred_at=start + timedelta(days=1)
        )
        await transfer_ownership(session, maker, battery.id, "driver-a")
        measured = datetime.now(UTC) - timedelta(hours=1)
        await record_measurements(
            session,
            None,
            battery.id,
            {
                "stateOfCertifiedEnergy": Measurement(
                    97.5, measured, "bms:7EC", "UDS 22 01 05", 1.0
                ),
                "stateOfCharge": Measurement(81, measured, "bms:7EC", "UDS 22 01 01", 0.5),
                "fullCycleCount": Measurement(42, measured, "bms:7EC", "BMS counter"),
            },
        )
        condition = ledger.issued(
            await passports.issue(session, None, battery.id, PassportCredentialType.CONDITION)
        )
    assert condition["issuer"] == runtime.platform.did
    assert condition["validUntil"] > condition["validFrom"]
    soce = condition["credentialSubject"]["stateOfCertifiedEnergy"]
    assert soce == {
        "type": "Measurement",
        "value": 97.5,
        "unit": "%",
        "measuredAt": measured.replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "originator": "bms:7EC",
        "method": "UDS 22 01 05",
        "uncertainty": 1.0,
    }
    assert condition["credentialSubject"]["batteryStatus"]["value"] == "original"
    assert "batteryMass" not in condition["credentialSubject"]  # static data is the passport's
    await ledger.check()

    # -- swapped into vehicle B; an accident; repaired ------------------------------------------
    async with runtime.db.unit_of_work() as session:
        with pytest.raises(BatteryInstalledError):
            await install_battery(session, maker, battery.id, vehicle_b.id)
    async with runtime.db.unit_of_work() as session:
        removed, installed = await swap_battery(session, maker, battery.id, vehicle_b.id)
        accident = await record_event(
            session,
            repairer,
            battery.id,
            EventKind.ACCIDENT,
            data={"severity": "minor", "description": "rear collision"},
        )
        await record_event(session, repairer, battery.id, EventKind.REPAIRED)
        history = await installation_history(session, battery_id=battery.id)
        after_accident = await get_battery(session, battery.id)
    accidents = after_accident.condition["accidentInformation"]
    assert accidents["value"] == [f"{accident.document['occurredAt'][:10]}: rear collision"]
    assert accidents["originator"] == "org:lc-repair"
    assert removed.document["data"] == {
        "vehicle": f"urn:uuid:{vehicle_a.id}",
        "vin": vehicle_a.vin,
        "swap": True,
    }
    assert installed.document["previousHash"] == removed.hash
    assert [(h.vehicle_id, h.removal_reason) for h in history] == [
        (vehicle_a.id, "swapped"),
        (vehicle_b.id, None),
    ]
    await ledger.check()

    # -- the model's data changes: the passport is re-issued, the old version revoked ----------
    async with runtime.db.unit_of_work() as session:
        reissued = await passports.update_model(session, maker, model.id, {"batteryMass": 452.0})
        unchanged = await passports.issue(session, maker, battery.id)
        versions = await version_chain(session, battery.id, PassportCredentialType.PASSPORT)
    (second,) = [r for r in reissued if r.version.credential_type == "BatteryPassportCredential"]
    assert second.reissued
    assert not unchanged.reissued
    assert unchanged.credential.id == second.credential.id
    second_doc = ledger.issued(second)
    assert [v.version for v in versions] == [1, 2]
    assert versions[1].previous_credential_id == passport["id"]
    assert second_doc["relatedResource"][0]["id"] == passport["id"]
    assert second_doc["relatedResource"][0]["digestSRI"].startswith("sha384-")
    assert second_doc["credentialSubject"]["batteryMass"] == {"value": 452.0, "unit": "kg"}
    await ledger.check()
    assert passport["id"] in ledger.revoked

    # -- removed and repurposed: a new passport linked to its predecessor -----------------------
    async with runtime.db.unit_of_work() as session:
        with pytest.raises(LifecycleTransitionError):
            await start_second_life(
                session,
                second_life,
                passports,
                battery.id,
                kind=EventKind.REPURPOSED,
                new_identifier=unique_identifier("SL"),
            )
    async with runtime.db.unit_of_work() as session:
        await remove_battery(session, maker, battery.id, reason="end of first life")
        life = await start_second_life(
            session,
            second_life,
            passports,
            battery.id,
            kind=EventKind.REPURPOSED,
            new_identifier=unique_identifier("SL"),
        )
        successor_passport = ledger.issued(
            await passports.issue(session, second_life, life.battery.id)
        )
    ledger.battery_ids.append(life.battery.id)
    assert life.genesis_event.document["data"] == {
        "predecessorPassport": f"urn:uuid:{battery.id}",
        "predecessorEventHash": life.predecessor_event.hash,
    }
    assert life.predecessor_event.document["data"] == {
        "successorPassport": f"urn:uuid:{life.battery.id}"
    }
    successor_subject = successor_passport["credentialSubject"]
    assert successor_subject["predecessorPassport"] == f"urn:uuid:{battery.id}"
    assert successor_passport["issuer"] == runtime.platform.organisation_did("lc-second-life")
    await ledger.check()
    # The predecessor's passport and condition credentials were revoked with it.
    assert {passport["id"], second_doc["id"], condition["id"]} <= set(ledger.revoked)

    # The predecessor's record is read-only now.
    async with runtime.db.unit_of_work() as session:
        with pytest.raises(PassportCeasedError):
            await record_event(session, maker, battery.id, EventKind.REPAIRED)
    async with runtime.db.unit_of_work() as session:
        with pytest.raises(PassportCeasedError):
            await passports.issue(session, maker, battery.id)

    # -- waste and recycled: the passport ceases -----------------------------------------------
    async with runtime.db.unit_of_work() as session:
        with pytest.raises(ForbiddenError):  # a recycler is not the responsible organisation
            await set_item_attributes(
                session, recycler, life.battery.id, {"extinguishingAgent": "sand"}
            )
    async with runtime.db.unit_of_work() as session:
        await record_event(session, recycler, life.battery.id, EventKind.WASTE)
        with pytest.raises(LifecycleTransitionError):
            await record_event(session, repairer, life.battery.id, EventKind.REPAIRED)
    async with runtime.db.unit_of_work() as session:
        await recycle(session, recycler, passports, life.battery.id, data={"plant": "Pohang"})
        ceased = await get_battery(session, life.battery.id)
    assert ceased.status == "waste"
    assert ceased.ceased_at is not None
    await ledger.check()
    assert successor_passport["id"] in ledger.revoked
    assert not ledger.active

    await assert_read_only(runtime, passports, ceased, recycler)

    async with runtime.db.read_only() as session:
        kinds = [e.kind for e in await battery_events(session, battery.id)]
        successor_kinds = [e.kind for e in await battery_events(session, life.battery.id)]
    assert kinds == [
        "manufactured",
        "placed_on_market",
        "installed",
        "ownership_transferred",
        "removed",
        "installed",
        "accident",
        "safety_alert",  # the accident's critical safety alert (backend/safety)
        "repaired",
        "removed",
        "repurposed",
    ]
    assert successor_kinds == ["repurposed", "waste", "recycled"]


async def assert_read_only(
    runtime: Runtime, passports: PassportIssuer, battery: Battery, recycler: Principal
) -> None:
    now = datetime.now(UTC)
    attempts: list[Callable[[AsyncSession], Awaitable[object]]] = [
        lambda s: record_event(s, None, battery.id, EventKind.ACCIDENT),
        lambda s: record_measurements(
            s, None, battery.id, {"stateOfCharge": Measurement(50, now, "x", "y")}
        ),
        lambda s: set_item_attributes(s, None, battery.id, {"extinguishingAgent": "sand"}),
        lambda s: passports.issue(s, None, battery.id),
        lambda s: recycle(s, recycler, passports, battery.id),
        lambda s: transfer_ownership(s, None, battery.id, "someone"),
    ]
    for attempt in attempts:
        async with runtime.db.unit_of_work() as session:
            with pytest.raises(PassportCeasedError) as caught:
                await attempt(session)
        assert caught.value.code == "PASSPORT_CEASED"


async def test_a_failing_second_life_writes_nothing_and_queues_nothing(runtime: Runtime) -> None:
    assert runtime.passports is not None
    maker = await principal(runtime, "lc-atomic", Role.MANUFACTURER)
    second_life = await principal(runtime, "lc-atomic-2nd", Role.SECOND_LIFE_OPERATOR)
    async with runtime.db.unit_of_work() as session:
        model = await register_model(
            session,
            maker,
            ModelRegistration(
                name="Atomic Pack",
                manufacturer="Atomic",
                chemistry="LFP",
                rated_capacity_ah=100,
                nominal_voltage_v=400,
            ),
        )
        battery = await register_battery_of_model(session, maker, model.id, unique_identifier("AT"))
        taken = await register_battery_of_model(session, maker, model.id, unique_identifier("AT"))
        await record_event(session, maker, battery.id, EventKind.MANUFACTURED)
        await runtime.passports.issue(session, maker, battery.id)
    await runtime.issuance.publish_status_changes()
    outbox_before = await status_and_list_writes(runtime)
    with pytest.raises(AlreadyExistsError):
        async with runtime.db.unit_of_work() as session:
            await start_second_life(
                session,
                second_life,
                runtime.passports,
                battery.id,
                kind=EventKind.REMANUFACTURED,
                new_identifier=taken.identifier,
            )
    # Had the revocations of the old passport survived, this would queue a status publish.
    await runtime.issuance.publish_status_changes()
    async with runtime.db.read_only() as session:
        fresh = await get_battery(session, battery.id)
        events = await battery_events(session, battery.id)
        credentials = list(
            await session.exec(
                select(IssuedCredential).where(IssuedCredential.battery_id == battery.id)
            )
        )
        successors = list(
            await session.exec(select(Battery).where(Battery.predecessor_id == battery.id))
        )
    assert fresh.ceased_at is None
    assert fresh.status == "original"
    assert [e.kind for e in events] == ["manufactured"]
    assert credentials
    assert all(c.revoked_at is None for c in credentials)
    assert successors == []
    assert await status_and_list_writes(runtime) == outbox_before


async def status_and_list_writes(runtime: Runtime) -> list[int | None]:
    """Outbox rows other than event anchors (the background anchorer adds those any time)."""
    async with runtime.db.read_only() as session:
        return list(
            await session.exec(
                select(col(ChainTransaction.id)).where(ChainTransaction.function != "anchor")
            )
        )


async def test_first_event_must_be_manufactured(runtime: Runtime) -> None:
    maker = await principal(runtime, "lc-order", Role.MANUFACTURER)
    async with runtime.db.unit_of_work() as session:
        model = await register_model(
            session,
            maker,
            ModelRegistration(
                name="Order Pack",
                manufacturer="Order",
                chemistry="LFP",
                rated_capacity_ah=100,
                nominal_voltage_v=400,
            ),
        )
        battery = await register_battery_of_model(session, maker, model.id, unique_identifier("OR"))
    async with runtime.db.unit_of_work() as session:
        with pytest.raises(LifecycleTransitionError):
            await record_event(session, maker, battery.id, EventKind.PLACED_ON_MARKET)
    async with runtime.db.unit_of_work() as session:
        await record_event(session, maker, battery.id, EventKind.MANUFACTURED)
        with pytest.raises(LifecycleTransitionError):
            await record_event(session, maker, battery.id, EventKind.MANUFACTURED)
    async with runtime.db.read_only() as session:
        events = list(
            await session.exec(
                select(LifecycleEvent).where(LifecycleEvent.battery_id == battery.id)
            )
        )
    assert [e.sequence for e in events] == [1]


async def test_a_waste_battery_is_not_installed_but_may_get_a_second_life(
    runtime: Runtime,
) -> None:
    assert runtime.passports is not None
    maker = await principal(runtime, "lc-waste", Role.MANUFACTURER)
    recycler = await principal(runtime, "lc-waste-recycler", Role.RECYCLER)
    second_life = await principal(runtime, "lc-waste-2nd", Role.SECOND_LIFE_OPERATOR)
    async with runtime.db.unit_of_work() as session:
        model = await register_model(
            session,
            maker,
            ModelRegistration(
                name="Waste Pack",
                manufacturer="Waste",
                chemistry="LFP",
                rated_capacity_ah=100,
                nominal_voltage_v=400,
            ),
        )
        battery = await register_battery_of_model(session, maker, model.id, unique_identifier("WS"))
        vehicle = await register_vehicle(session, maker, unique_vin())
        await record_event(session, maker, battery.id, EventKind.MANUFACTURED)
        await record_event(session, recycler, battery.id, EventKind.WASTE)
    async with runtime.db.unit_of_work() as session:
        with pytest.raises(LifecycleTransitionError):
            await install_battery(session, maker, battery.id, vehicle.id)
        with pytest.raises(LifecycleTransitionError):
            await record_event(session, maker, battery.id, EventKind.PLACED_ON_MARKET)
    async with runtime.db.unit_of_work() as session:
        life = await start_second_life(
            session,
            second_life,
            runtime.passports,
            battery.id,
            kind=EventKind.REMANUFACTURED,
            new_identifier=unique_identifier("RM"),
        )
    assert life.battery.status == "remanufactured"
    assert life.battery.predecessor_id == battery.id


async def test_only_changes_to_public_data_reissue_the_passport(runtime: Runtime) -> None:
    assert runtime.passports is not None
    passports = runtime.passports
    maker = await principal(runtime, "lc-reissue", Role.MANUFACTURER)
    async with runtime.db.unit_of_work() as session:
        model = await register_model(
            session,
            maker,
            ModelRegistration(
                name="Reissue Pack",
                manufacturer="Reissue",
                chemistry="LFP",
                rated_capacity_ah=100,
                nominal_voltage_v=400,
            ),
        )
        battery = await register_battery_of_model(session, maker, model.id, unique_identifier("RI"))
        first = await passports.issue(session, maker, battery.id)
    async with runtime.db.unit_of_work() as session:
        # Legitimate-interest data is not in the public passport: nothing to re-issue.
        hidden = await passports.update_battery(
            session, maker, battery.id, {"puttingIntoServiceDate": "2026-01-15"}
        )
        hidden_model = await passports.update_model(
            session, maker, model.id, {"dismantlingInformation": "manual v2"}
        )
    assert [v.reissued for v in hidden + hidden_model] == [False, False]
    async with runtime.db.unit_of_work() as session:
        shown = await passports.update_battery(
            session, maker, battery.id, {"extinguishingAgent": "water"}
        )
        versions = await version_chain(session, battery.id, PassportCredentialType.PASSPORT)
    assert [v.reissued for v in shown] == [True]
    assert shown[0].credential.document["credentialSubject"]["extinguishingAgent"] == "water"
    assert [v.version for v in versions] == [1, 2]
    assert versions[1].previous_credential_id == first.credential.credential_id
    result = await runtime.issuance.verify(first.credential.document)
    assert result["verified"] is False
