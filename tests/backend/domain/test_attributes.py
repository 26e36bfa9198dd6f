"""The attribute table is the CSV, term for term; values are validated per attribute."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.access.audience import Audience
from backend.kit.errors import InvalidInputError
from backend.passports import attribute_table
from backend.passports.attributes import (
    ATTRIBUTES,
    BY_TERM,
    AttributeGroup,
    Behaviour,
    Level,
    ValueKind,
    parse_csv,
    render_static,
    render_table_module,
    validate_value,
)
from credentials.vocab import PASSPORT_TERMS


@pytest.fixture(scope="module")
def csv_rows(shared_dir: Path) -> tuple[tuple[str, ...], ...]:
    return parse_csv((shared_dir / "passport-attributes.csv").read_text(encoding="utf-8"))


def test_generated_table_is_the_csv_regenerated(csv_rows: tuple[tuple[str, ...], ...]) -> None:
    generated = Path(attribute_table.__file__).read_text(encoding="utf-8")
    assert generated == render_table_module(csv_rows)


def test_every_csv_row_is_one_attribute_with_its_access_behaviour_level_and_unit(
    csv_rows: tuple[tuple[str, ...], ...],
) -> None:
    assert len(csv_rows) == len(ATTRIBUTES) == 93
    for row, definition in zip(csv_rows, ATTRIBUTES, strict=True):
        no, clause, category, title, requirement, unit, access, behaviour, level = row
        assert definition.no == int(no)
        assert definition.clause == clause
        assert definition.category == category
        assert definition.title == title
        assert definition.requirement.value == requirement
        assert definition.unit == unit
        assert definition.audience == Audience(access)
        assert definition.behaviour == Behaviour(behaviour)
        assert definition.level == Level(level)
        assert definition.term == PASSPORT_TERMS[int(no)].term


def test_terms_are_unique_and_dynamic_data_is_item_level() -> None:
    assert len(BY_TERM) == 93
    for definition in ATTRIBUTES:
        if definition.behaviour is Behaviour.DYNAMIC:
            assert definition.level is Level.ITEM, definition.term


def test_groups_follow_the_csv_categories() -> None:
    assert BY_TERM["batteryStatus"].group is AttributeGroup.IDENTIFICATION
    assert BY_TERM["complianceTestReports"].group is AttributeGroup.LABELS
    assert BY_TERM["absoluteCarbonFootprint"].group is AttributeGroup.CARBON_FOOTPRINT
    assert BY_TERM["supplyChainIndices"].group is AttributeGroup.DUE_DILIGENCE
    assert BY_TERM["cathodeAnodeElectrolyteMaterials"].group is AttributeGroup.MATERIALS
    assert BY_TERM["dismantlingInformation"].group is AttributeGroup.CIRCULARITY
    assert BY_TERM["accidentInformation"].group is AttributeGroup.PERFORMANCE
    assert {d.group for d in ATTRIBUTES} == set(AttributeGroup)


def test_units_render_as_listed() -> None:
    assert render_static(BY_TERM["ratedCapacity"], 111.2) == {"value": 111.2, "unit": "Ah"}
    assert render_static(BY_TERM["absoluteCarbonFootprint"], 5.1) == {
        "value": 5.1,
        "unit": "tCO2e",
    }
    assert render_static(BY_TERM["idleTemperatureLowerBoundary"], -20.0) == {
        "value": -20.0,
        "unit": "°C",
    }
    assert render_static(BY_TERM["expectedLifetimeCycles"], 3000) == 3000
    assert render_static(BY_TERM["manufacturingPlace"], "Busan") == "Busan"


@pytest.mark.parametrize(
    ("term", "value", "stored"),
    [
        ("batteryMass", 453, 453.0),
        ("idleTemperatureLowerBoundary", -30, -30.0),
        ("expectedLifetimeCycles", 3000.0, 3000),
        ("manufacturingDate", "2025-05", "2025-05"),
        ("manufacturingDate", "2025-05-31", "2025-05-31"),
        ("carbonFootprintStudyUrl", "https://example.org/cf.pdf", "https://example.org/cf.pdf"),
        ("criticalRawMaterials", ["lithium", " cobalt "], ["lithium", "cobalt"]),
        ("batteryStatus", "re-used", "re-used"),
    ],
)
def test_valid_values_are_stored_normalised(term: str, value: object, stored: object) -> None:
    assert validate_value(BY_TERM[term], value) == stored


@pytest.mark.parametrize(
    ("term", "value"),
    [
        ("batteryMass", -1),
        ("batteryMass", "453"),
        ("batteryMass", True),
        ("batteryMass", float("nan")),
        ("renewableContentShare", 101),
        ("stateOfCharge", 100.5),
        ("expectedLifetimeCycles", 2.5),
        ("deepDischargeEventCount", -1),
        ("manufacturingDate", "2025-13"),
        ("manufacturingDate", "yesterday"),
        ("carbonFootprintStudyUrl", "ftp://example.org"),
        ("criticalRawMaterials", []),
        ("criticalRawMaterials", ""),
        ("batteryStatus", "scrapped"),
        ("batteryIdentifier", "X-1"),
        ("batteryPassportIdentifier", "urn:uuid:x"),
    ],
)
def test_invalid_values_are_refused_naming_the_term(term: str, value: object) -> None:
    with pytest.raises(InvalidInputError) as caught:
        validate_value(BY_TERM[term], value)
    assert caught.value.field == term


def test_every_kind_is_used_and_identifiers_are_platform_set() -> None:
    assert {d.kind for d in ATTRIBUTES} == set(ValueKind)
    identifiers = {d.term for d in ATTRIBUTES if d.kind is ValueKind.IDENTIFIER}
    assert identifiers == {"batteryPassportIdentifier", "batteryIdentifier"}
