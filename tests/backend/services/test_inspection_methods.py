"""The inspection methods: figures, uncertainties and the grade ladder (pure functions)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from backend.inspection.methods import (
    CapacityTest,
    Grade,
    PulseTest,
    Read,
    Reference,
    assess,
    parse_capacity_test,
    parse_pulse_test,
    parse_read,
)
from backend.kit.errors import InvalidInputError

REFERENCE = Reference(
    rated_capacity_ah=100.0,
    nominal_voltage_v=400.0,
    certified_energy_kwh=40.0,
    initial_resistance_ohm=0.1,
)


def read(**changes: Any) -> Read:
    values: dict[str, Any] = {
        "soh_pct": 97.0,
        "cell_voltages_v": (3.70, 3.71, 3.72),
        "temperatures_c": (24.0, 25.0),
        "isolation_kohm": 1000.0,  # 2,500 Ω/V at 400 V
        "cumulative_discharged_kwh": 8000.0,
        "cumulative_charged_kwh": 8500.0,
        "pack_voltage_v": 370.0,
    }
    values.update(changes)
    return Read(**values)


def capacity(
    charge_ah: float, *, cells: tuple[float, ...] = (), energy: float | None = None
) -> CapacityTest:
    return CapacityTest(
        charge_ah=charge_ah,
        soc_start_pct=100.0,
        soc_end_pct=0.0,
        energy_kwh=energy,
        cell_capacities_ah=cells,
    )


def test_capacity_counting_gives_soh_fade_and_their_uncertainty() -> None:
    result = assess(REFERENCE, read(), capacity(92.0, energy=36.0))
    by_method = {f.method: f for f in result.soh}
    assert by_method["capacity-counting"].value == 92.0
    assert result.capacity_fade is not None
    assert result.capacity_fade.value == 8.0  # (1 − C/C_BOL)·100 %
    # 0.5 % current accuracy and ±2 pp at each rested end over a 100 pp window
    expected = 92.0 * math.hypot(0.005, math.sqrt(2) * 2 / 100)
    assert by_method["capacity-counting"].uncertainty == pytest.approx(expected, abs=0.01)
    assert by_method["bms"].uncertainty == 4.0
    assert result.soce is not None
    assert result.soce.value == 90.0  # 36 kWh of 40 certified
    best = result.best_soh
    assert best is not None
    assert best.method == "capacity-counting"


def test_a_narrow_window_is_scaled_and_less_certain() -> None:
    wide = assess(REFERENCE, read(), capacity(92.0))
    narrow = assess(
        REFERENCE, read(), CapacityTest(charge_ah=46.0, soc_start_pct=80.0, soc_end_pct=30.0)
    )
    assert narrow.remaining_capacity is not None
    assert wide.remaining_capacity is not None
    assert narrow.remaining_capacity.value == wide.remaining_capacity.value == 92.0
    assert (narrow.remaining_capacity.uncertainty or 0) > (wide.remaining_capacity.uncertainty or 0)


def test_pulse_test_gives_resistance_and_its_increase() -> None:
    result = assess(
        REFERENCE, read(), pulse=PulseTest(current_step_a=200, voltage_drop_v=26.0, duration_s=10)
    )
    assert result.resistance is not None
    assert result.resistance.value == 130.0  # mΩ
    assert result.resistance_increase is not None
    assert result.resistance_increase.value == 30.0  # (R − R_BOL)/R_BOL·100 %
    no_reference = Reference(rated_capacity_ah=100, nominal_voltage_v=400)
    assert assess(no_reference, read(), pulse=PulseTest(200, 26.0, 10)).resistance_increase is None


@pytest.mark.parametrize(
    ("charge", "cells", "changes", "grade", "reason"),
    [
        (95.0, (95.0, 94.0, 93.5), {}, Grade.REMANUFACTURE, "SOH 95"),
        (89.0, (89.0, 88.5), {}, Grade.REUSE, "below 90 %"),
        (95.0, (95.0, 90.0), {}, Grade.REUSE, "cell SoH spread"),
        (95.0, (), {}, Grade.REUSE, "not measured"),
        (75.0, (), {}, Grade.REPURPOSE, "SOH below 80"),
        (55.0, (), {}, Grade.RECYCLE, "SOH below 60"),
        (95.0, (95.0, 94.5), {"isolation_kohm": 30.0}, Grade.RECYCLE, "unsafe"),
        (95.0, (95.0, 94.5), {"isolation_kohm": 120.0}, Grade.REPURPOSE, "below 500"),
        (95.0, (95.0, 94.5), {"cell_voltages_v": (3.6, 3.7)}, Grade.REPURPOSE, "100 mV"),
    ],
)
def test_grade_ladder_with_the_binding_reason_first(
    charge: float, cells: tuple[float, ...], changes: dict[str, Any], grade: Grade, reason: str
) -> None:
    result = assess(REFERENCE, read(**changes), capacity(charge, cells=cells))
    assert result.grade is grade, result.reasons
    assert reason in result.reasons[0], result.reasons


def test_without_a_capacity_test_the_bms_soh_grades_at_most_reuse() -> None:
    result = assess(REFERENCE, read(soh_pct=99.0))
    assert result.grade is Grade.REUSE
    assert any("no capacity test" in r for r in result.reasons)


def test_resistance_increase_caps_the_grade() -> None:
    worn = PulseTest(current_step_a=100, voltage_drop_v=21.0, duration_s=10)  # +110 %
    result = assess(REFERENCE, read(), capacity(95.0, cells=(95.0, 94.0)), worn)
    assert result.grade is Grade.RECYCLE
    tired = PulseTest(current_step_a=100, voltage_drop_v=16.0, duration_s=10)  # +60 %
    assert assess(REFERENCE, read(), capacity(95.0, cells=(95.0, 94.0)), tired).grade is (
        Grade.REPURPOSE
    )


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ("not an object", "read"),
        ({"temperatures_c": [20], "soh_pct": 90}, "cell_voltages_v"),
        ({"cell_voltages_v": [3.7], "soh_pct": 90}, "temperatures_c"),
        ({"cell_voltages_v": [3.7, "x"], "temperatures_c": [20], "soh_pct": 90}, "cell_voltages_v"),
        ({"cell_voltages_v": [3.7], "temperatures_c": [500], "soh_pct": 90}, "temperatures_c"),
        ({"cell_voltages_v": [3.7], "temperatures_c": [20], "soh_pct": 500}, "soh_pct"),
        ({"cell_voltages_v": [3.7], "temperatures_c": [20]}, "soh_pct"),
        (
            {"cell_voltages_v": [3.7], "temperatures_c": [20], "soh_pct": float("nan")},
            "soh_pct",
        ),
    ],
)
def test_bad_reads_are_refused_with_the_field(data: Any, field: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        parse_read(data)
    assert refused.value.field == field


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"chargeAh": 50, "socStartPct": 60, "socEndPct": 50}, "socEndPct"),
        ({"chargeAh": -1, "socStartPct": 100, "socEndPct": 0}, "chargeAh"),
        ({"socStartPct": 100, "socEndPct": 0}, "chargeAh"),
        ({"chargeAh": 50, "socStartPct": 150, "socEndPct": 0}, "socStartPct"),
        (
            {"chargeAh": 50, "socStartPct": 100, "socEndPct": 0, "cellCapacitiesAh": [0]},
            "cellCapacitiesAh",
        ),
    ],
)
def test_bad_capacity_tests_are_refused(data: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        parse_capacity_test(data)
    assert refused.value.field == field


def test_bad_pulse_tests_are_refused() -> None:
    for data, field in (
        ({"currentStepA": 0.1, "voltageDropV": 1, "durationS": 10}, "currentStepA"),
        ({"currentStepA": 100, "voltageDropV": 0, "durationS": 10}, "voltageDropV"),
        ({"currentStepA": 100, "voltageDropV": 1, "durationS": 300}, "durationS"),
    ):
        with pytest.raises(InvalidInputError) as refused:
            parse_pulse_test(data)
        assert refused.value.field == field
    assert parse_pulse_test(None) is None
