"""Inspection methods: pure functions from a bay read and bench tests to an assessment.

No I/O here. Every figure carries the method that produced it and its uncertainty (one
standard uncertainty, in the figure's unit); `docs/INSPECTION.md` gives the reasoning.

- SOH by BMS: the pack's own estimate (`soh_pct` of the read).
- SOH by capacity: charge counted between two rested states, `C = Q / (ΔSOC/100)`, against
  the rated capacity `C_BOL`; capacity fade `(1 − C/C_BOL)·100 %`.
- SOCE by energy: energy counted over the same window against the certified usable energy.
- Internal resistance by pulse: `R = ΔV/ΔI`; increase `(R − R_BOL)/R_BOL·100 %`.
- Cell spread: max − min cell voltage; cell SoH spread from per-cell capacities when the
  capacity test measured them.
- Isolation: against 500 Ω/V (and 100 Ω/V as the hard limit) of the nominal voltage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from backend.kit.errors import InvalidInputError

# One standard uncertainty of a BMS's own SOH estimate (pp): BMS estimators drift with use and
# are typically quoted within ±3-5 %.
BMS_SOH_UNCERTAINTY_PCT: Final = 4.0
# A rested state's SOC read from the OCV curve: ±2 pp per end (NMC; LFP is much worse).
REST_SOC_UNCERTAINTY_PCT: Final = 2.0
MIN_CAPACITY_WINDOW_PCT: Final = 20.0
# Thresholds of the grade (see docs/INSPECTION.md).
REMANUFACTURE_MIN_CAPACITY_PCT: Final = 90.0
REMANUFACTURE_MAX_CELL_SOH_SPREAD_PCT: Final = 3.0
REUSE_MIN_SOH_PCT: Final = 80.0
REUSE_MAX_RESISTANCE_INCREASE_PCT: Final = 50.0
REUSE_MAX_CELL_VOLTAGE_SPREAD_V: Final = 0.05
REPURPOSE_MIN_SOH_PCT: Final = 60.0
REPURPOSE_MAX_RESISTANCE_INCREASE_PCT: Final = 100.0
ISOLATION_OK_OHM_PER_V: Final = 500.0
ISOLATION_MIN_OHM_PER_V: Final = 100.0


class Grade(StrEnum):
    """Best use first: remanufacture (back to original specification) > reuse > repurpose >
    recycle."""

    REMANUFACTURE = "remanufacture"
    REUSE = "reuse"
    REPURPOSE = "repurpose"
    RECYCLE = "recycle"


_ORDER: Final = (Grade.REMANUFACTURE, Grade.REUSE, Grade.REPURPOSE, Grade.RECYCLE)


@dataclass(frozen=True, slots=True)
class Figure:
    """A computed value with its unit, method and one standard uncertainty."""

    value: float
    unit: str
    method: str
    uncertainty: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": self.value, "unit": self.unit, "method": self.method}
        if self.uncertainty is not None:
            out["uncertainty"] = self.uncertainty
        return out


@dataclass(frozen=True, slots=True)
class Reference:
    """Beginning-of-life values of the battery (from its passport)."""

    rated_capacity_ah: float
    nominal_voltage_v: float
    certified_energy_kwh: float | None = None
    initial_resistance_ohm: float | None = None


@dataclass(frozen=True, slots=True)
class Read:
    """The bay's full read (the bridge's normalised measurement names)."""

    soh_pct: float | None
    cell_voltages_v: tuple[float, ...]
    temperatures_c: tuple[float, ...]
    isolation_kohm: float | None
    cumulative_discharged_kwh: float | None
    cumulative_charged_kwh: float | None
    pack_voltage_v: float | None


@dataclass(frozen=True, slots=True)
class CapacityTest:
    """Charge (and energy) counted between two rested states."""

    charge_ah: float
    soc_start_pct: float
    soc_end_pct: float
    energy_kwh: float | None = None
    current_accuracy_pct: float = 0.5
    cell_capacities_ah: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class PulseTest:
    """A current step and the voltage response it caused."""

    current_step_a: float
    voltage_drop_v: float
    duration_s: float
    voltage_resolution_v: float = 0.01
    current_accuracy_pct: float = 0.5


@dataclass(frozen=True, slots=True)
class Assessment:
    soh: tuple[Figure, ...]
    soce: Figure | None
    remaining_capacity: Figure | None
    capacity_fade: Figure | None
    resistance: Figure | None
    resistance_increase: Figure | None
    cell_voltage_spread: Figure | None
    cell_soh_spread: Figure | None
    isolation: Figure | None
    isolation_ohm_per_v: float | None
    energy_throughput: Figure | None
    full_cycles: Figure | None
    temperature_max_c: float | None
    grade: Grade
    reasons: tuple[str, ...] = field(default=())

    @property
    def best_soh(self) -> Figure | None:
        """The SOH with the smallest uncertainty (a counted capacity beats the BMS)."""
        known = [f for f in self.soh if f.uncertainty is not None]
        return min(known, key=lambda f: f.uncertainty or 0.0) if known else None


def _number(data: dict[str, Any], name: str, *, required: bool = False) -> float | None:
    value = data.get(name)
    if value is None:
        if required:
            raise InvalidInputError(f"{name} is required", field=name)
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInputError(f"{name} must be a finite number", field=name)
    return float(value)


def _numbers(data: dict[str, Any], name: str, *, limit: int = 512) -> tuple[float, ...]:
    value = data.get(name)
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > limit:
        raise InvalidInputError(f"{name} must be a list of at most {limit} numbers", field=name)
    out = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item):
            raise InvalidInputError(f"{name} must hold finite numbers", field=name)
        out.append(float(item))
    return tuple(out)


def parse_read(data: Any) -> Read:
    """A bay read in the bridge's JSON (`Measurements.to_json`), checked for plausibility."""
    if not isinstance(data, dict):
        raise InvalidInputError("the read must be a JSON object", field="read")
    cells = _numbers(data, "cell_voltages_v")
    if not cells:
        raise InvalidInputError("a full read has the cell voltages", field="cell_voltages_v")
    if any(not 0.5 <= v <= 5.0 for v in cells):
        raise InvalidInputError("cell voltages must be 0.5-5 V", field="cell_voltages_v")
    temperatures = _numbers(data, "temperatures_c")
    if not temperatures:
        raise InvalidInputError("a full read has the temperatures", field="temperatures_c")
    if any(not -40 <= t <= 120 for t in temperatures):
        raise InvalidInputError("temperatures must be -40-120 °C", field="temperatures_c")
    soh = _number(data, "soh_pct")
    if soh is not None and not 0 < soh <= 120:
        raise InvalidInputError("soh_pct must be above 0 and at most 120", field="soh_pct")
    isolation = _number(data, "isolation_kohm")
    if isolation is not None and isolation < 0:
        raise InvalidInputError("isolation_kohm must not be negative", field="isolation_kohm")
    discharged = _number(data, "cumulative_discharged_kwh")
    charged = _number(data, "cumulative_charged_kwh")
    for name, value in (
        ("cumulative_discharged_kwh", discharged),
        ("cumulative_charged_kwh", charged),
    ):
        if value is not None and value < 0:
            raise InvalidInputError(f"{name} must not be negative", field=name)
    if soh is None and discharged is None:
        raise InvalidInputError(
            "a full read has the BMS SOH or the cumulative energy", field="soh_pct"
        )
    return Read(
        soh_pct=soh,
        cell_voltages_v=cells,
        temperatures_c=temperatures,
        isolation_kohm=isolation,
        cumulative_discharged_kwh=discharged,
        cumulative_charged_kwh=charged,
        pack_voltage_v=_number(data, "pack_voltage_v"),
    )


def parse_capacity_test(data: Any) -> CapacityTest | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise InvalidInputError("capacityTest must be a JSON object", field="capacityTest")
    charge = _number(data, "chargeAh", required=True)
    start = _number(data, "socStartPct", required=True)
    end = _number(data, "socEndPct", required=True)
    assert charge is not None
    assert start is not None
    assert end is not None
    if not (0 <= start <= 100 and 0 <= end <= 100):
        raise InvalidInputError("rested SOCs are 0-100 %", field="socStartPct")
    if abs(end - start) < MIN_CAPACITY_WINDOW_PCT:
        raise InvalidInputError(
            f"the rested states must be at least {MIN_CAPACITY_WINDOW_PCT:.0f} % SOC apart",
            field="socEndPct",
        )
    if charge <= 0:
        raise InvalidInputError("chargeAh is the counted charge, above 0", field="chargeAh")
    energy = _number(data, "energyKwh")
    if energy is not None and energy <= 0:
        raise InvalidInputError("energyKwh must be above 0", field="energyKwh")
    accuracy = _number(data, "currentAccuracyPct")
    cells = _numbers(data, "cellCapacitiesAh")
    if any(c <= 0 for c in cells):
        raise InvalidInputError("cell capacities must be above 0", field="cellCapacitiesAh")
    return CapacityTest(
        charge_ah=charge,
        soc_start_pct=start,
        soc_end_pct=end,
        energy_kwh=energy,
        current_accuracy_pct=0.5 if accuracy is None else abs(accuracy),
        cell_capacities_ah=cells,
    )


def parse_pulse_test(data: Any) -> PulseTest | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise InvalidInputError("pulseTest must be a JSON object", field="pulseTest")
    step = _number(data, "currentStepA", required=True)
    drop = _number(data, "voltageDropV", required=True)
    duration = _number(data, "durationS", required=True)
    assert step is not None
    assert drop is not None
    assert duration is not None
    if abs(step) < 1:
        raise InvalidInputError("currentStepA must be at least 1 A", field="currentStepA")
    if drop <= 0:
        raise InvalidInputError("voltageDropV must be above 0", field="voltageDropV")
    if not 0 < duration <= 30:
        raise InvalidInputError("durationS must be above 0 and at most 30 s", field="durationS")
    resolution = _number(data, "voltageResolutionV")
    return PulseTest(
        current_step_a=abs(step),
        voltage_drop_v=drop,
        duration_s=duration,
        voltage_resolution_v=0.01 if resolution is None else abs(resolution),
    )


def _r(value: float, digits: int = 2) -> float:
    return round(value, digits)


def assess(
    reference: Reference,
    read: Read,
    capacity: CapacityTest | None = None,
    pulse: PulseTest | None = None,
) -> Assessment:
    """Every figure the inputs allow, then the grade and the reasons for it."""
    soh: list[Figure] = []
    if read.soh_pct is not None:
        soh.append(Figure(_r(read.soh_pct, 1), "%", "bms", BMS_SOH_UNCERTAINTY_PCT))
    remaining = fade = soce = cell_soh_spread = None
    if capacity is not None:
        window = abs(capacity.soc_end_pct - capacity.soc_start_pct)
        measured = capacity.charge_ah / (window / 100.0)
        # relative uncertainties add in quadrature: the counted charge and the two rested SOCs
        rel = math.hypot(
            capacity.current_accuracy_pct / 100.0,
            math.sqrt(2) * REST_SOC_UNCERTAINTY_PCT / window,
        )
        remaining = Figure(_r(measured), "Ah", "capacity-counting", _r(measured * rel))
        ratio = measured / reference.rated_capacity_ah * 100.0
        soh.append(Figure(_r(ratio), "%", "capacity-counting", _r(ratio * rel)))
        fade = Figure(_r(100.0 - ratio), "%", "capacity-counting", _r(ratio * rel))
        if capacity.energy_kwh is not None:
            certified = reference.certified_energy_kwh or (
                reference.rated_capacity_ah * reference.nominal_voltage_v / 1000.0
            )
            energy = capacity.energy_kwh / (window / 100.0)
            value = energy / certified * 100.0
            soce = Figure(_r(value), "%", "energy-counting", _r(value * rel))
        if len(capacity.cell_capacities_ah) >= 2:
            cell_soh = [
                c / max(capacity.cell_capacities_ah) * 100 for c in capacity.cell_capacities_ah
            ]
            cell_soh_spread = Figure(
                _r(max(cell_soh) - min(cell_soh)), "%", "cell-capacity-counting", 0.5
            )
    resistance = increase = None
    if pulse is not None:
        ohms = pulse.voltage_drop_v / pulse.current_step_a
        rel = math.hypot(
            pulse.voltage_resolution_v / pulse.voltage_drop_v, pulse.current_accuracy_pct / 100
        )
        resistance = Figure(
            _r(ohms * 1000, 3), "mOhm", f"pulse-{pulse.duration_s:g}s", _r(ohms * 1000 * rel, 3)
        )
        if reference.initial_resistance_ohm:
            value = (ohms - reference.initial_resistance_ohm) / reference.initial_resistance_ohm
            increase = Figure(
                _r(value * 100), "%", f"pulse-{pulse.duration_s:g}s", _r((1 + value) * rel * 100)
            )
    spread_v = max(read.cell_voltages_v) - min(read.cell_voltages_v)
    cell_spread = Figure(_r(spread_v, 3), "V", "bms-cell-voltages", 0.02)
    isolation = ohm_per_v = None
    if read.isolation_kohm is not None:
        isolation = Figure(read.isolation_kohm, "kOhm", "bms-isolation-monitor")
        ohm_per_v = _r(read.isolation_kohm * 1000 / reference.nominal_voltage_v, 1)
    throughput = cycles = None
    if read.cumulative_discharged_kwh is not None:
        throughput = Figure(read.cumulative_discharged_kwh, "kWh", "bms-cumulative-energy")
        nominal_kwh = reference.rated_capacity_ah * reference.nominal_voltage_v / 1000.0
        cycles = Figure(
            _r(read.cumulative_discharged_kwh / nominal_kwh, 1), "cycles", "energy-throughput"
        )
    partial = Assessment(
        soh=tuple(soh),
        soce=soce,
        remaining_capacity=remaining,
        capacity_fade=fade,
        resistance=resistance,
        resistance_increase=increase,
        cell_voltage_spread=cell_spread,
        cell_soh_spread=cell_soh_spread,
        isolation=isolation,
        isolation_ohm_per_v=ohm_per_v,
        energy_throughput=throughput,
        full_cycles=cycles,
        temperature_max_c=max(read.temperatures_c),
        grade=Grade.RECYCLE,
    )
    grade, reasons = grade_of(partial)
    return Assessment(**{**_fields(partial), "grade": grade, "reasons": tuple(reasons)})


def _fields(assessment: Assessment) -> dict[str, Any]:
    return {name: getattr(assessment, name) for name in Assessment.__slots__}


def grade_of(a: Assessment) -> tuple[Grade, list[str]]:
    """The best grade every rule allows; each rule that lowers it says why."""
    caps: list[tuple[Grade, str]] = []
    reasons: list[str] = []
    capacity_soh = next((f for f in a.soh if f.method == "capacity-counting"), None)
    best = capacity_soh or a.best_soh
    if best is None:
        caps.append((Grade.RECYCLE, "no SOH could be determined"))
    else:
        reasons.append(f"SOH {best.value:g} % ({best.method}, ±{best.uncertainty:g})")
        if best.value < REPURPOSE_MIN_SOH_PCT:
            caps.append((Grade.RECYCLE, f"SOH below {REPURPOSE_MIN_SOH_PCT:g} %"))
        elif best.value < REUSE_MIN_SOH_PCT:
            caps.append((Grade.REPURPOSE, f"SOH below {REUSE_MIN_SOH_PCT:g} %"))
    if capacity_soh is None:
        caps.append((Grade.REUSE, "no capacity test: remanufacturing needs a counted capacity"))
    elif capacity_soh.value < REMANUFACTURE_MIN_CAPACITY_PCT:
        caps.append(
            (
                Grade.REUSE,
                f"capacity {capacity_soh.value:g} % of rated is below "
                f"{REMANUFACTURE_MIN_CAPACITY_PCT:g} % (remanufacturing)",
            )
        )
    if a.cell_soh_spread is None:
        caps.append((Grade.REUSE, "cell SoH spread not measured: remanufacturing needs it"))
    elif a.cell_soh_spread.value > REMANUFACTURE_MAX_CELL_SOH_SPREAD_PCT:
        caps.append(
            (
                Grade.REUSE,
                f"cell SoH spread {a.cell_soh_spread.value:g} % is above "
                f"{REMANUFACTURE_MAX_CELL_SOH_SPREAD_PCT:g} % (remanufacturing)",
            )
        )
    if a.cell_voltage_spread is not None:
        if a.cell_voltage_spread.value > REUSE_MAX_CELL_VOLTAGE_SPREAD_V:
            caps.append(
                (
                    Grade.REPURPOSE,
                    f"cell voltage spread {a.cell_voltage_spread.value * 1000:.0f} mV is above "
                    f"{REUSE_MAX_CELL_VOLTAGE_SPREAD_V * 1000:.0f} mV",
                )
            )
        else:
            reasons.append(f"cell voltage spread {a.cell_voltage_spread.value * 1000:.0f} mV")
    if a.resistance_increase is not None:
        value = a.resistance_increase.value
        if value > REPURPOSE_MAX_RESISTANCE_INCREASE_PCT:
            caps.append((Grade.RECYCLE, f"resistance increase {value:g} % is above 100 %"))
        elif value > REUSE_MAX_RESISTANCE_INCREASE_PCT:
            caps.append((Grade.REPURPOSE, f"resistance increase {value:g} % is above 50 %"))
        else:
            reasons.append(f"resistance increase {value:g} %")
    if a.isolation_ohm_per_v is None:
        caps.append((Grade.REPURPOSE, "isolation resistance not read"))
    elif a.isolation_ohm_per_v < ISOLATION_MIN_OHM_PER_V:
        caps.append(
            (Grade.RECYCLE, f"isolation {a.isolation_ohm_per_v:g} Ω/V is below 100 Ω/V (unsafe)")
        )
    elif a.isolation_ohm_per_v < ISOLATION_OK_OHM_PER_V:
        caps.append((Grade.REPURPOSE, f"isolation {a.isolation_ohm_per_v:g} Ω/V is below 500 Ω/V"))
    else:
        reasons.append(f"isolation {a.isolation_ohm_per_v:g} Ω/V")
    grade = Grade.REMANUFACTURE
    for cap, _ in caps:
        if _ORDER.index(cap) > _ORDER.index(grade):
            grade = cap
    # the reasons that set the grade first, then the supporting figures
    binding = [why for cap, why in caps if cap is grade]
    others = [why for cap, why in caps if cap is not grade]
    return grade, binding + others + reasons
