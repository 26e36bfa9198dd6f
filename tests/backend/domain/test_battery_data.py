"""Models and batteries hold the attributes at the right level; reads go through the policy."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from backend.access.audience import Audience
from backend.access.policy import PUBLIC, Entitlements
from backend.auth.principal import Principal
from backend.issuance.service import passport_subject
from backend.kit.errors import AlreadyExistsError, InvalidInputError
from backend.orgs.roles import Role
from backend.orgs.service import get_or_create_organisation
from backend.passports.attributes import ATTRIBUTES, BY_TERM, AttributeGroup, Level, ValueKind
from backend.passports.service import (
    BatteryRegistration,
    Measurement,
    ModelRegistration,
    battery_attributes,
    readable_attributes,
    record_measurements,
    register_battery,
    register_battery_of_model,
    register_model,
    validate_item_attributes,
    validate_model_attributes,
)
from backend.runtime import Runtime

SAMPLE: dict[ValueKind, Any] = {
    ValueKind.QUANTITY: 12.0,
    ValueKind.COUNT: 7,
    ValueKind.TEXT: "see https://example.org/doc",
    ValueKind.DATE: "2025-05-01",
    ValueKind.URL: "https://example.org/study",
    ValueKind.STATUS: "original",
}
COLUMN_TERMS = {
    "manufacturerInformation",
    "batteryCategory",
    "batteryChemistry",
    "ratedCapacity",
    "nominalVoltage",
}


def full_model_attributes() -> dict[str, Any]:
    return {
        d.term: SAMPLE[d.kind]
        for d in ATTRIBUTES
        if d.level is Level.MODEL and d.term not in COLUMN_TERMS
    }


def full_item_attributes() -> dict[str, Any]:
    return {
        d.term: SAMPLE[d.kind]
        for d in ATTRIBUTES
        if d.level is Level.ITEM and not d.is_dynamic and d.kind is not ValueKind.IDENTIFIER
    }


def test_model_attributes_are_split_by_group_and_levels_are_enforced() -> None:
    groups = validate_model_attributes(full_model_attributes())
    assert set(groups) == set(AttributeGroup)
    for group, values in groups.items():
        assert all(BY_TERM[term].group is group for term in values)
    with pytest.raises(InvalidInputError):
        validate_model_attributes({"manufacturingDate": "2025-05"})  # item level
    with pytest.raises(InvalidInputError):
        validate_model_attributes({"stateOfCharge": 50})  # dynamic
    with pytest.raises(InvalidInputError):
        validate_model_attributes({"batteryChemistry": "LFP"})  # a typed column
    with pytest.raises(InvalidInputError):
        validate_item_attributes({"batteryMass": 400})  # model level
    assert validate_model_attributes({"batteryMass": None}) == {
        AttributeGroup.IDENTIFICATION: {"batteryMass": None}
    }


def test_the_slice_passport_subject_is_public_only() -> None:
    from backend.passports.models import Battery

    battery = Battery(
        id=str(uuid.uuid4()),
        identifier="SLICE-1",
        model="M",
        manufacturer="Maker",
        chemistry="LFP",
        rated_capacity_ah=1,
        nominal_voltage_v=1,
        organisation_id=1,
    )
    subject = passport_subject(battery)
    terms = set(subject) - {"id", "type", "name"}
    assert terms
    assert all(BY_TERM[term].audience is Audience.PUBLIC for term in terms)


@pytest.mark.integration
async def test_every_attribute_is_stored_and_read_per_audience(runtime: Runtime) -> None:
    async with runtime.db.unit_of_work() as session:
        organisation = await get_or_create_organisation(session, "data-maker")
        maker = Principal(
            organisation_id=organisation.id, organisation_slug="data-maker", role=Role.MANUFACTURER
        )
        model = await register_model(
            session,
            maker,
            ModelRegistration(
                name="Data Pack",
                manufacturer="Data Maker",
                chemistry="NMC",
                rated_capacity_ah=60,
                nominal_voltage_v=350,
                attributes=full_model_attributes(),
            ),
        )
        battery = await register_battery_of_model(
            session, maker, model.id, "DATA-0001", attributes=full_item_attributes()
        )
        now = datetime.now(UTC)
        await record_measurements(
            session,
            maker,
            battery.id,
            {
                d.term: Measurement(SAMPLE[d.kind], now, "bms", "test bench", 0.1)
                for d in ATTRIBUTES
                if d.is_dynamic and d.term != "batteryStatus"
            },
        )
        everything = await battery_attributes(session, battery)
        public = await readable_attributes(session, battery, PUBLIC)
        interested = await readable_attributes(
            session, battery, Entitlements.legitimate_interest(AttributeGroup)
        )
        authority = await readable_attributes(session, battery, Entitlements.authorities())
        with pytest.raises(AlreadyExistsError):
            await register_battery_of_model(session, maker, model.id, "DATA-0001")
    # All 93 attributes hold a value.
    assert set(everything) == set(BY_TERM)
    assert authority == everything
    assert set(public) == {d.term for d in ATTRIBUTES if d.audience is Audience.PUBLIC}
    assert set(interested) == {d.term for d in ATTRIBUTES if d.audience is not Audience.AUTHORITIES}
    assert everything["batteryStatus"]["value"] == "original"
    assert everything["stateOfCharge"]["unit"] == "%"
    assert everything["fullCycleCount"]["value"] == 7
    assert "unit" not in everything["fullCycleCount"]


@pytest.mark.integration
async def test_registration_by_core_values_finds_or_creates_the_model(runtime: Runtime) -> None:
    async with runtime.db.unit_of_work() as session:
        organisation = await get_or_create_organisation(session, "data-legacy")
        maker = Principal(
            organisation_id=organisation.id, organisation_slug="data-legacy", role=Role.MANUFACTURER
        )
        first = await register_battery(
            session, maker, BatteryRegistration("LEG-0001", "Legacy", "Legacy Co", "lfp", 100, 400)
        )
        second = await register_battery(
            session, maker, BatteryRegistration("LEG-0002", "Legacy", "Legacy Co", "LFP", 100, 400)
        )
        with pytest.raises(InvalidInputError):
            await register_battery(
                session,
                maker,
                BatteryRegistration("LEG-0003", "Legacy", "Legacy Co", "NMC", 100, 400),
            )
    assert first.model_id is not None
    assert first.model_id == second.model_id
    assert first.chemistry == "LFP"
