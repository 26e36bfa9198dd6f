"""One policy decides every attribute for every audience."""

from __future__ import annotations

import pytest

from backend.access.audience import Audience
from backend.access.policy import (
    PUBLIC,
    Entitlements,
    entitlements_for,
    visible_attributes,
    visible_definitions,
)
from backend.orgs.roles import Role
from backend.passports.attributes import (
    ATTRIBUTES,
    AttributeDefinition,
    AttributeGroup,
    Behaviour,
)

EVERYTHING = {definition.term: definition.no for definition in ATTRIBUTES}


def test_public_sees_exactly_the_public_attributes() -> None:
    visible = visible_attributes(EVERYTHING, PUBLIC)
    assert set(visible) == {d.term for d in ATTRIBUTES if d.audience is Audience.PUBLIC}
    assert len(visible) == 60


def test_authorities_see_everything() -> None:
    assert visible_attributes(EVERYTHING, Entitlements.authorities()) == EVERYTHING


@pytest.mark.parametrize("group", list(AttributeGroup))
def test_a_legitimate_interest_group_opens_only_that_group(group: AttributeGroup) -> None:
    visible = visible_attributes(EVERYTHING, Entitlements.legitimate_interest([group]))
    for definition in ATTRIBUTES:
        expected = definition.audience is Audience.PUBLIC or (
            definition.audience is Audience.LEGITIMATE_INTEREST and definition.group is group
        )
        assert (definition.term in visible) is expected, (group, definition.term)


@pytest.mark.parametrize("definition", ATTRIBUTES, ids=lambda d: d.term)
@pytest.mark.parametrize(
    "entitlements",
    [
        PUBLIC,
        Entitlements.legitimate_interest(AttributeGroup),
        Entitlements.authorities(),
    ],
    ids=["public", "legitimate_interest", "authorities"],
)
def test_every_attribute_for_every_audience(
    definition: AttributeDefinition, entitlements: Entitlements
) -> None:
    term = definition.term
    audience = definition.audience
    visible = term in visible_attributes({term: 1}, entitlements)
    if entitlements.authority:
        assert visible
    elif entitlements.legitimate_interest_groups:
        assert visible is (audience is not Audience.AUTHORITIES)
    else:
        assert visible is (audience is Audience.PUBLIC)


def test_authorities_only_data_never_reaches_legitimate_interest() -> None:
    every_group = Entitlements.legitimate_interest(AttributeGroup)
    assert "complianceTestReports" not in visible_attributes(EVERYTHING, every_group)


def test_unknown_keys_are_dropped_fail_closed() -> None:
    assert visible_attributes({"secretSauce": 1, "batteryChemistry": "NMC"}, PUBLIC) == {
        "batteryChemistry": "NMC"
    }
    assert visible_attributes({"secretSauce": 1}, Entitlements.authorities()) == {}


def test_roles_and_consent_combine() -> None:
    recycler = entitlements_for(Role.RECYCLER)
    assert "cathodeAnodeElectrolyteMaterials" in visible_attributes(EVERYTHING, recycler)
    assert "stateOfCharge" not in visible_attributes(EVERYTHING, recycler)
    consented = entitlements_for(Role.RECYCLER, [AttributeGroup.PERFORMANCE])
    assert "stateOfCharge" in visible_attributes(EVERYTHING, consented)
    assert visible_attributes(EVERYTHING, entitlements_for(Role.PARKING_OPERATOR)) == (
        visible_attributes(EVERYTHING, PUBLIC)
    )
    assert visible_attributes(EVERYTHING, entitlements_for(None)) == visible_attributes(
        EVERYTHING, PUBLIC
    )
    assert entitlements_for(Role.AUTHORITY) == Entitlements.authorities()
    assert (PUBLIC | Entitlements.authorities()).authority


def test_visible_definitions_by_behaviour() -> None:
    dynamic = visible_definitions(
        Entitlements.legitimate_interest(AttributeGroup), behaviour=Behaviour.DYNAMIC
    )
    assert len(dynamic) == 20
    assert all(d.audience is Audience.LEGITIMATE_INTEREST for d in dynamic)
    assert visible_definitions(PUBLIC, behaviour=Behaviour.DYNAMIC) == ()
