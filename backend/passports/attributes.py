"""The 93 passport attributes (EU Annex XIII as itemised by DIN DKE SPEC 99100) as data.

The rows live in `attribute_table.py`, generated from `shared/passport-attributes.csv` by

    .venv/bin/python -m backend.passports.attributes ../shared/passport-attributes.csv

and a test regenerates it from the CSV and compares, so table and CSV never drift. JSON terms
are exactly `credentials.vocab.PASSPORT_TERMS`. This module also validates attribute values
(what a client may store for each attribute) and renders stored values for credentials.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from backend.access.audience import Audience
from backend.kit.errors import InvalidInputError
from backend.passports.attribute_table import ROWS
from credentials.vocab import PASSPORT_TERMS


class Requirement(StrEnum):
    MANDATORY = "mandatory"
    VOLUNTARY = "voluntary"
    NOT_REQUIRED = "not_required"


class Behaviour(StrEnum):
    STATIC = "static"
    DYNAMIC = "dynamic"


class Level(StrEnum):
    MODEL = "model"  # the same for every battery of a model: stored once on the model
    ITEM = "item"  # this battery's own value


class AttributeGroup(StrEnum):
    """The top-level categories of the CSV: the unit of storage and of consent."""

    IDENTIFICATION = "identification"
    LABELS = "labels"
    CARBON_FOOTPRINT = "carbon_footprint"
    DUE_DILIGENCE = "due_diligence"
    MATERIALS = "materials"
    CIRCULARITY = "circularity"
    PERFORMANCE = "performance"


_GROUP_OF_CATEGORY: Final = {
    "Identifiers/product": AttributeGroup.IDENTIFICATION,
    "Labels/conformity": AttributeGroup.LABELS,
    "Carbon footprint": AttributeGroup.CARBON_FOOTPRINT,
    "Due diligence": AttributeGroup.DUE_DILIGENCE,
    "Materials": AttributeGroup.MATERIALS,
    "Circularity": AttributeGroup.CIRCULARITY,
    "Perf & durability": AttributeGroup.PERFORMANCE,
}


class BatteryStatus(StrEnum):
    """Annex XIII `battery status` (attribute 11), driven by lifecycle events."""

    ORIGINAL = "original"
    REPURPOSED = "repurposed"
    REUSED = "re-used"
    REMANUFACTURED = "remanufactured"
    WASTE = "waste"


class ValueKind(StrEnum):
    QUANTITY = "quantity"  # a finite number in the attribute's unit
    COUNT = "count"  # a non-negative integer (unit "-")
    TEXT = "text"  # a string or a list of strings (information, references)
    DATE = "date"  # YYYY-MM-DD or YYYY-MM
    URL = "url"  # an http(s) link
    STATUS = "status"  # a BatteryStatus
    IDENTIFIER = "identifier"  # set by the platform, never through an attribute write


# Kinds the unit alone does not tell.
_KIND_OVERRIDES: Final = {
    "batteryPassportIdentifier": ValueKind.IDENTIFIER,
    "batteryIdentifier": ValueKind.IDENTIFIER,
    "manufacturingDate": ValueKind.DATE,
    "puttingIntoServiceDate": ValueKind.DATE,
    "carbonFootprintStudyUrl": ValueKind.URL,
    "batteryStatus": ValueKind.STATUS,
    "accidentInformation": ValueKind.TEXT,
}
# Quantities that may be negative (temperatures).
_SIGNED_UNITS: Final = frozenset({"°C"})
# Shares and states are percentages of a whole.
_BOUNDED_PERCENT: Final = re.compile(r"(Share|^stateOf.*|^capacityThresholdForExhaustion)$")
MAX_TEXT = 4000
MAX_LIST = 200


@dataclass(frozen=True, slots=True)
class AttributeDefinition:
    """One row of the attribute table."""

    no: int
    clause: str
    category: str
    title: str
    requirement: Requirement
    unit: str  # exactly as the CSV lists it ("n.a." = none)
    audience: Audience
    behaviour: Behaviour
    level: Level
    term: str
    group: AttributeGroup
    kind: ValueKind

    @property
    def symbol(self) -> str | None:
        """The unit as written in credentials ("[tCO2e]" → "tCO2e"); None when unitless."""
        if self.unit in ("n.a.", "-"):
            return None
        return self.unit.strip("[]")

    @property
    def is_dynamic(self) -> bool:
        return self.behaviour is Behaviour.DYNAMIC


def group_of(category: str) -> AttributeGroup:
    return _GROUP_OF_CATEGORY[category.split(" / ", maxsplit=1)[0].strip()]


def kind_of(term: str, unit: str) -> ValueKind:
    if term in _KIND_OVERRIDES:
        return _KIND_OVERRIDES[term]
    if unit == "-":
        return ValueKind.COUNT
    if unit == "n.a.":
        return ValueKind.TEXT
    return ValueKind.QUANTITY


def _definition(row: tuple[str, ...]) -> AttributeDefinition:
    no, clause, category, title, requirement, unit, access, behaviour, level = row
    number = int(no)
    term = PASSPORT_TERMS[number]
    if term.clause != clause:
        raise ValueError(
            f"attribute {number}: clause {clause} but the vocabulary has {term.clause}"
        )
    return AttributeDefinition(
        no=number,
        clause=clause,
        category=category,
        title=title,
        requirement=Requirement(requirement),
        unit=unit,
        audience=Audience(access),
        behaviour=Behaviour(behaviour),
        level=Level(level),
        term=term.term,
        group=group_of(category),
        kind=kind_of(term.term, unit),
    )


ATTRIBUTES: Final[tuple[AttributeDefinition, ...]] = tuple(_definition(row) for row in ROWS)
BY_NO: Final[Mapping[int, AttributeDefinition]] = MappingProxyType({a.no: a for a in ATTRIBUTES})
BY_TERM: Final[Mapping[str, AttributeDefinition]] = MappingProxyType(
    {a.term: a for a in ATTRIBUTES}
)

# -- the generated table ------------------------------------------------------------------------

CSV_COLUMNS: Final = (
    "no",
    "din_dke_spec_99100",
    "category",
    "attribute",
    "ev_requirement",
    "unit",
    "access",
    "behaviour",
    "level",
)


def parse_csv(text: str) -> tuple[tuple[str, ...], ...]:
    """The CSV's rows as string tuples, columns in `CSV_COLUMNS` order (header checked)."""
    reader = csv.reader(io.StringIO(text))
    header = tuple(next(reader))
    if header != CSV_COLUMNS:
        raise ValueError(f"unexpected CSV header {header}")
    return tuple(tuple(cell.strip() for cell in row) for row in reader if row)


def render_table_module(rows: tuple[tuple[str, ...], ...]) -> str:
    lines = [
        "# ruff: noqa: E501",
        '"""GENERATED from shared/passport-attributes.csv by',
        "`python -m backend.passports.attributes CSV`.",
        "",
        "Do not edit: regenerate. Columns: " + ", ".join(CSV_COLUMNS) + ".",
        '"""',
        "",
        "from typing import Final",
        "",
        "# fmt: off",
        "ROWS: Final[tuple[tuple[str, ...], ...]] = (",
    ]
    lines += [
        "    (" + ", ".join(json.dumps(cell, ensure_ascii=False) for cell in row) + "),"
        for row in rows
    ]
    lines += [")", "# fmt: on"]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m backend.passports.attributes CSV\n")
        return 2
    rows = parse_csv(Path(argv[0]).read_text(encoding="utf-8"))
    target = Path(__file__).with_name("attribute_table.py")
    target.write_text(render_table_module(rows), encoding="utf-8")
    return 0


# -- values ------------------------------------------------------------------------------------


def _bad(definition: AttributeDefinition, message: str) -> InvalidInputError:
    return InvalidInputError(f"{definition.term}: {message}", field=definition.term)


def _text(definition: AttributeDefinition, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _bad(definition, "expected a non-empty string")
    if len(value) > MAX_TEXT:
        raise _bad(definition, f"longer than {MAX_TEXT} characters")
    return value.strip()


def validate_value(definition: AttributeDefinition, value: Any) -> Any:
    """The stored form of `value` for `definition`, or `InvalidInputError` naming the term."""
    kind = definition.kind
    if kind is ValueKind.IDENTIFIER:
        raise _bad(definition, "set by the platform at registration, not as an attribute")
    if kind in (ValueKind.QUANTITY, ValueKind.COUNT):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _bad(definition, "expected a number")
        if not math.isfinite(value):
            raise _bad(definition, "expected a finite number")
        if kind is ValueKind.COUNT:
            if not float(value).is_integer() or value < 0:
                raise _bad(definition, "expected a whole number ≥ 0")
            return int(value)
        if value < 0 and definition.unit not in _SIGNED_UNITS:
            raise _bad(definition, f"must not be negative ({definition.unit})")
        if definition.unit == "%" and _BOUNDED_PERCENT.search(definition.term) and value > 100:
            raise _bad(definition, "a share or state is at most 100 %")
        return float(value)
    if kind is ValueKind.TEXT:
        if isinstance(value, list):
            if not value or len(value) > MAX_LIST:
                raise _bad(definition, f"a list needs 1-{MAX_LIST} entries")
            return [_text(definition, item) for item in value]
        return _text(definition, value)
    if kind is ValueKind.DATE:
        text = _text(definition, value)
        try:
            date.fromisoformat(text if len(text) == 10 else text + "-01")
        except ValueError:
            raise _bad(definition, "expected a date YYYY-MM-DD or YYYY-MM") from None
        if len(text) not in (7, 10):
            raise _bad(definition, "expected a date YYYY-MM-DD or YYYY-MM")
        return text
    if kind is ValueKind.URL:
        text = _text(definition, value)
        if not re.fullmatch(r"https?://[^\s/$.?#][^\s]*", text):
            raise _bad(definition, "expected an http(s) URL")
        return text
    try:
        return BatteryStatus(value).value
    except ValueError:
        raise _bad(definition, f"one of {', '.join(s.value for s in BatteryStatus)}") from None


def render_static(definition: AttributeDefinition, stored: Any) -> Any:
    """A stored static value as credentials carry it (quantities with their unit)."""
    symbol = definition.symbol
    if definition.kind is ValueKind.QUANTITY and symbol is not None:
        return {"value": stored, "unit": symbol}
    return stored


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
