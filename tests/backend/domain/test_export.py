"""Export sections go through the access policy; erasure forgets owners, not history."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from backend.access.audience import Audience
from backend.access.policy import PUBLIC, Entitlements
from backend.auth.principal import Principal
from backend.lifecycle.export import erase_owner, export_sections
from backend.lifecycle.service import (
    EventKind,
    event_hash,
    install_battery,
    record_event,
    transfer_ownership,
    verify_chain,
)
from backend.orgs.roles import Role
from backend.orgs.service import get_or_create_organisation
from backend.passports.attributes import BY_TERM
from backend.passports.service import (
    Measurement,
    ModelRegistration,
    get_battery,
    record_measurements,
    register_battery_of_model,
    register_model,
)
from backend.runtime import Runtime
from backend.vehicles.service import get_vehicle, register_vehicle, vin_check_digit

pytestmark = pytest.mark.integration


def a_vin() -> str:
    body = ("KNA" + uuid.uuid4().hex.upper()).replace("I", "1").replace("O", "0")
    draft = (body[:8] + "0" + body[9:17]).replace("Q", "9")
    return draft[:8] + vin_check_digit(draft) + draft[9:]


async def test_export_sections_filter_attributes_and_carry_the_chain(runtime: Runtime) -> None:
    async with runtime.db.unit_of_work() as session:
        organisation = await get_or_create_organisation(session, "export-maker")
        maker = Principal(
            organisation_id=organisation.id,
            organisation_slug="export-maker",
            role=Role.MANUFACTURER,
        )
        model = await register_model(
            session,
            maker,
            ModelRegistration(
                name="Export Pack",
                manufacturer="Export",
                chemistry="NMC",
                rated_capacity_ah=80,
                nominal_voltage_v=400,
                attributes={
                    "batteryMass": 300,
                    "cathodeAnodeElectrolyteMaterials": "NMC622",
                    "complianceTestReports": "UN 38.3",
                },
            ),
        )
        battery = await register_battery_of_model(
            session, maker, model.id, "EXP-" + uuid.uuid4().hex[:8].upper()
        )
        vehicle = await register_vehicle(
            session, maker, a_vin(), plate="33가1234", owner_id="driver-x"
        )
        await record_event(session, maker, battery.id, EventKind.MANUFACTURED)
        await install_battery(session, maker, battery.id, vehicle.id)
        await transfer_ownership(session, maker, battery.id, "driver-x")
        await record_measurements(
            session,
            None,
            battery.id,
            {"stateOfCharge": Measurement(55, datetime.now(UTC), "bms", "obd")},
        )
    async with runtime.db.read_only() as session:
        public = {name: await f(session, battery.id) for name, f in export_sections(PUBLIC).items()}
        full = {
            name: await f(session, battery.id)
            for name, f in export_sections(Entitlements.authorities()).items()
        }
        events = await verify_chain(session, battery.id)
    assert all(BY_TERM[t].audience is Audience.PUBLIC for t in public["attributes"])
    assert "batteryMass" in public["attributes"]
    assert {"stateOfCharge", "cathodeAnodeElectrolyteMaterials", "complianceTestReports"} <= set(
        full["attributes"]
    )
    exported = public["lifecycleEvents"]
    assert [e["hash"] for e in exported] == [e.hash for e in events]
    for entry in exported:
        document = {k: v for k, v in entry.items() if k != "hash"}
        assert event_hash(document) == entry["hash"]
    assert "driver-x" not in str(exported)  # ownership events carry only a digest
    assert public["installations"][0]["vehicle"] == f"urn:uuid:{vehicle.id}"
    assert public["passportVersions"] == []

    async with runtime.db.unit_of_work() as session:
        await erase_owner(session, "driver-x")
    async with runtime.db.read_only() as session:
        erased_vehicle = await get_vehicle(session, vehicle.id)
        erased_battery = await get_battery(session, battery.id)
        after = await verify_chain(session, battery.id)
    assert erased_vehicle.owner_id is None
    assert erased_vehicle.plate is None
    assert erased_battery.owner_id is None
    assert [e.hash for e in after] == [e.hash for e in events]
