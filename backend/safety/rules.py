"""The safety rules, as pure functions over readings (no database, no I/O).

A reading is one sample's measurements at a time (a gateway sample, a charger's meter values).
`evaluate` runs every rule over a battery's readings in time order, starting from what is
known of the reading before them (`Previous`), and answers per rule what the readings said:
when it first and last fired (with the evidence) and whether a later reading was healthy.

Two kinds of rule:
- *condition* rules (voltages, temperatures, spreads, isolation, charging temperature) fire
  while a reading is outside the limit and are healthy again on a reading inside it; their
  alert clears on a newer healthy reading.
- *latched* rules (deep discharge, overcharge, SOH drop, accident) record something that
  happened; a later reading does not undo it, so only an inspector clears their alert.
  Deep discharge and overcharge fire once per episode (entering the condition), like the
  episodes backend/telemetry/derived.py counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from backend.safety.thresholds import Thresholds


class Rule(StrEnum):
    CELL_OVERVOLTAGE = "cell_overvoltage"
    CELL_UNDERVOLTAGE = "cell_undervoltage"
    CELL_VOLTAGE_SPREAD = "cell_voltage_spread"
    PACK_OVERTEMPERATURE = "pack_overtemperature"
    MODULE_OVERTEMPERATURE = "module_overtemperature"
    TEMPERATURE_RISE_RATE = "temperature_rise_rate"
    TEMPERATURE_SPREAD = "temperature_spread"
    ISOLATION_LOW = "isolation_low"
    SOH_DROP = "soh_drop"
    CHARGING_TEMPERATURE = "charging_temperature"
    DEEP_DISCHARGE = "deep_discharge"
    OVERCHARGE = "overcharge"
    ACCIDENT = "accident"


class Severity(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"


SEVERITY_RANK: Final = {Severity.WARNING.value: 1, Severity.CRITICAL.value: 2}
LATCHED: Final = frozenset({Rule.DEEP_DISCHARGE, Rule.OVERCHARGE, Rule.SOH_DROP, Rule.ACCIDENT})
# Temperature rise is measured between readings this far apart (closer ones are noise,
# farther ones say nothing about a runaway).
RISE_MIN_GAP_S: Final = 10.0
RISE_MAX_GAP_S: Final = 900.0
# A pack current above this (A, positive = charging) counts as charging.
CHARGING_CURRENT_A: Final = 0.5


@dataclass(frozen=True, slots=True)
class Reading:
    at: datetime
    measurements: Mapping[str, Any]
    source: str  # "device:<did>#<sequence>", "charger:<id>/<transaction>"


@dataclass(frozen=True, slots=True)
class Previous:
    """What is known from before the readings: the last reading, the open episodes."""

    reading: Reading | None = None
    in_deep_discharge: bool = False
    in_overcharge: bool = False


@dataclass(frozen=True, slots=True)
class Finding:
    rule: Rule
    severity: Severity
    at: datetime
    message: str
    evidence: dict[str, Any]


@dataclass(slots=True)
class RuleOutcome:
    first: Finding | None = None
    last: Finding | None = None
    worst: Severity | None = None
    # The newest healthy reading after the last firing one (None if none came after it).
    healthy_at: datetime | None = None


@dataclass(slots=True)
class Evaluation:
    outcomes: dict[Rule, RuleOutcome] = field(default_factory=dict)

    def fired(self) -> dict[Rule, RuleOutcome]:
        return {rule: o for rule, o in self.outcomes.items() if o.first is not None}

    def healthy(self) -> dict[Rule, datetime]:
        return {
            rule: o.healthy_at
            for rule, o in self.outcomes.items()
            if o.healthy_at is not None and rule not in LATCHED
        }


def number(measurements: Mapping[str, Any], key: str) -> float | None:
    value = measurements.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


_NUMBER: Final = (int, float)


def extremes(values: Any) -> tuple[float | None, float | None]:
    """Lowest and highest of a list of numbers, in C (`min`/`max`), without a check per
    element: a list with anything but numbers in it counts as no data. Ingest has validated
    these lists already; this runs for every sample (docs/BENCHMARKS.md)."""
    if type(values) not in (list, tuple) or not values:
        return None, None
    try:
        low, high = min(values), max(values)
    except TypeError:
        return None, None
    if type(low) not in _NUMBER or type(high) not in _NUMBER:
        return None, None
    return float(low), float(high)


def _lowest(*values: float | None) -> float | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _highest(*values: float | None) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def cell_extremes(m: Mapping[str, Any]) -> tuple[float | None, float | None]:
    low, high = extremes(m.get("cell_voltages_v"))
    return (
        _lowest(low, number(m, "cell_voltage_min_v")),
        _highest(high, number(m, "cell_voltage_max_v")),
    )


def hottest(m: Mapping[str, Any]) -> float | None:
    return _highest(extremes(m.get("temperatures_c"))[1], number(m, "temperature_max_c"))


def coldest(m: Mapping[str, Any]) -> float | None:
    return _lowest(extremes(m.get("temperatures_c"))[0], number(m, "temperature_min_c"))


def soc_of(m: Mapping[str, Any]) -> float | None:
    soc = number(m, "soc_pct")
    return soc if soc is not None else number(m, "soc_display_pct")


def is_charging(m: Mapping[str, Any]) -> bool | None:
    flag = m.get("charging")
    if isinstance(flag, bool):
        return flag
    current = number(m, "pack_current_a")
    return None if current is None else current > CHARGING_CURRENT_A


def _evidence(reading: Reading, limit: float | None, **values: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "readings": [{"measuredAt": reading.at.isoformat(), "source": reading.source, **values}]
    }
    if limit is not None:
        out["limit"] = limit
    return out


# A verdict: a Finding (fired), True (healthy), None (the reading says nothing about it).
Verdict = Finding | bool | None


def _level(
    value: float, warning: float, critical: float, *, above: bool
) -> tuple[Severity, float] | None:
    if above:
        if value >= critical:
            return Severity.CRITICAL, critical
        if value >= warning:
            return Severity.WARNING, warning
        return None
    if value <= critical:
        return Severity.CRITICAL, critical
    if value <= warning:
        return Severity.WARNING, warning
    return None


class _Evaluator:
    def __init__(self, limits: Thresholds, previous: Previous) -> None:
        self.t = limits
        self.before = previous.reading
        self.before_top = hottest(previous.reading.measurements) if previous.reading else None
        self.top: float | None = None  # the hottest temperature of the reading just evaluated
        self.in_deep = previous.in_deep_discharge
        self.in_over = previous.in_overcharge
        self.soh_before: float | None = (
            number(previous.reading.measurements, "soh_pct") if previous.reading else None
        )

    def verdicts(self, r: Reading) -> Iterable[tuple[Rule, Verdict]]:
        t, m = self.t, r.measurements
        low, high = cell_extremes(m)
        if high is not None:
            yield (
                Rule.CELL_OVERVOLTAGE,
                Finding(
                    Rule.CELL_OVERVOLTAGE,
                    Severity.WARNING,
                    r.at,
                    f"highest cell at {high:.3f} V, above {t.cell_overvoltage_v} V",
                    _evidence(r, t.cell_overvoltage_v, cellVoltageMaxV=high),
                )
                if high > t.cell_overvoltage_v
                else True,
            )
        if low is not None:
            yield (
                Rule.CELL_UNDERVOLTAGE,
                Finding(
                    Rule.CELL_UNDERVOLTAGE,
                    Severity.WARNING,
                    r.at,
                    f"lowest cell at {low:.3f} V, below {t.cell_undervoltage_v} V",
                    _evidence(r, t.cell_undervoltage_v, cellVoltageMinV=low),
                )
                if low < t.cell_undervoltage_v
                else True,
            )
        spread = number(m, "cell_voltage_delta_v")
        if spread is None and low is not None and high is not None:
            spread = high - low
        if spread is not None:
            level = _level(spread, t.cell_spread_warning_v, t.cell_spread_critical_v, above=True)
            yield (
                Rule.CELL_VOLTAGE_SPREAD,
                Finding(
                    Rule.CELL_VOLTAGE_SPREAD,
                    level[0],
                    r.at,
                    f"cell voltage spread {spread * 1000:.0f} mV, limit {level[1] * 1000:.0f} mV",
                    _evidence(r, level[1], cellVoltageSpreadV=round(spread, 4)),
                )
                if level
                else True,
            )
        yield from self._temperatures(r)
        yield from self._isolation(r)
        soh = number(m, "soh_pct")
        if soh is not None:
            before, self.soh_before = self.soh_before, soh
            if before is not None and before - soh > t.soh_drop_pct:
                yield (
                    Rule.SOH_DROP,
                    Finding(
                        Rule.SOH_DROP,
                        Severity.WARNING,
                        r.at,
                        f"SOH fell from {before:.1f} % to {soh:.1f} % between readings",
                        _evidence(r, t.soh_drop_pct, sohPct=soh, previousSohPct=before),
                    ),
                )
        soc = soc_of(m)
        deep = (low is not None and low < t.deep_discharge_cell_v) or (
            soc is not None and soc <= t.deep_discharge_soc_pct
        )
        over = (high is not None and high > t.overcharge_cell_v) or (
            soc is not None and soc >= t.overcharge_soc_pct
        )
        if deep and not self.in_deep:
            yield (
                Rule.DEEP_DISCHARGE,
                Finding(
                    Rule.DEEP_DISCHARGE,
                    Severity.WARNING,
                    r.at,
                    "deep discharge: "
                    + (
                        f"lowest cell {low:.3f} V below {t.deep_discharge_cell_v} V"
                        if low is not None and low < t.deep_discharge_cell_v
                        else f"state of charge {soc} % at or below {t.deep_discharge_soc_pct} %"
                    ),
                    _evidence(r, t.deep_discharge_cell_v, cellVoltageMinV=low, socPct=soc),
                ),
            )
        if over and not self.in_over:
            yield (
                Rule.OVERCHARGE,
                Finding(
                    Rule.OVERCHARGE,
                    Severity.CRITICAL,
                    r.at,
                    "overcharge: "
                    + (
                        f"highest cell {high:.3f} V above {t.overcharge_cell_v} V"
                        if high is not None and high > t.overcharge_cell_v
                        else f"state of charge {soc} % at or above {t.overcharge_soc_pct} %"
                    ),
                    _evidence(r, t.overcharge_cell_v, cellVoltageMaxV=high, socPct=soc),
                ),
            )
        if low is not None or soc is not None:
            self.in_deep = deep
        if high is not None or soc is not None:
            self.in_over = over

    def _temperatures(self, r: Reading) -> Iterable[tuple[Rule, Verdict]]:
        t, m = self.t, r.measurements
        sensor_low, sensor_high = extremes(m.get("temperatures_c"))
        top = _highest(sensor_high, number(m, "temperature_max_c"))
        cold = _lowest(sensor_low, number(m, "temperature_min_c"))
        clear_margin = t.temperature_clear_margin_c
        if top is not None:
            level = _level(
                top, t.pack_temperature_warning_c, t.pack_temperature_critical_c, above=True
            )
            if level:
                yield (
                    Rule.PACK_OVERTEMPERATURE,
                    Finding(
                        Rule.PACK_OVERTEMPERATURE,
                        level[0],
                        r.at,
                        f"pack temperature {top:.1f} °C, limit {level[1]} °C",
                        _evidence(r, level[1], temperatureMaxC=top),
                    ),
                )
            elif top < t.pack_temperature_warning_c - clear_margin:
                yield Rule.PACK_OVERTEMPERATURE, True
        if sensor_high is not None and sensor_low is not None:
            hot = sensor_high
            level = _level(
                hot, t.module_temperature_warning_c, t.module_temperature_critical_c, above=True
            )
            if level:
                index = list(m["temperatures_c"]).index(hot) + 1
                yield (
                    Rule.MODULE_OVERTEMPERATURE,
                    Finding(
                        Rule.MODULE_OVERTEMPERATURE,
                        level[0],
                        r.at,
                        f"module sensor {index} at {hot:.1f} °C, limit {level[1]} °C",
                        _evidence(r, level[1], sensor=index, temperatureC=hot),
                    ),
                )
            elif hot < t.module_temperature_warning_c - clear_margin:
                yield Rule.MODULE_OVERTEMPERATURE, True
            if len(m["temperatures_c"]) >= 2:
                spread = sensor_high - sensor_low
                yield (
                    Rule.TEMPERATURE_SPREAD,
                    Finding(
                        Rule.TEMPERATURE_SPREAD,
                        Severity.WARNING,
                        r.at,
                        f"module temperatures {spread:.1f} °C apart, limit "
                        f"{t.temperature_spread_c} °C",
                        _evidence(
                            r, t.temperature_spread_c, temperaturesC=list(m["temperatures_c"])
                        ),
                    )
                    if spread > t.temperature_spread_c
                    else True,
                )
        if top is not None:
            before, top_before = self.before, self.before_top
            if before is not None and top_before is not None:
                gap = (r.at - before.at).total_seconds()
                if RISE_MIN_GAP_S <= gap <= RISE_MAX_GAP_S:
                    rate = (top - top_before) / (gap / 60.0)
                    yield (
                        Rule.TEMPERATURE_RISE_RATE,
                        Finding(
                            Rule.TEMPERATURE_RISE_RATE,
                            Severity.CRITICAL,
                            r.at,
                            f"temperature rose {rate:.1f} °C/min ({top_before:.1f} → "
                            f"{top:.1f} °C in {gap:.0f} s), limit "
                            f"{t.temperature_rise_c_per_min} °C/min",
                            {
                                "readings": [
                                    {
                                        "measuredAt": before.at.isoformat(),
                                        "source": before.source,
                                        "temperatureMaxC": top_before,
                                    },
                                    {
                                        "measuredAt": r.at.isoformat(),
                                        "source": r.source,
                                        "temperatureMaxC": top,
                                    },
                                ],
                                "limit": t.temperature_rise_c_per_min,
                                "rateCPerMin": round(rate, 3),
                            },
                        )
                        if rate > t.temperature_rise_c_per_min
                        else True,
                    )
        if top is not None:
            self.top = top
        charging = is_charging(m)
        if charging is not None and (top is not None or cold is not None):
            extreme = charging and (
                (top is not None and top > t.charge_max_c)
                or (cold is not None and cold < t.charge_min_c)
            )
            yield (
                Rule.CHARGING_TEMPERATURE,
                Finding(
                    Rule.CHARGING_TEMPERATURE,
                    Severity.WARNING,
                    r.at,
                    f"charging at {cold if cold is not None and cold < t.charge_min_c else top}"
                    f" °C, outside {t.charge_min_c} … {t.charge_max_c} °C",
                    _evidence(
                        r,
                        None,
                        temperatureMinC=cold,
                        temperatureMaxC=top,
                        packCurrentA=number(m, "pack_current_a"),
                    )
                    | {"window": [t.charge_min_c, t.charge_max_c]},
                )
                if extreme
                else True,
            )

    def _isolation(self, r: Reading) -> Iterable[tuple[Rule, Verdict]]:
        t, m = self.t, r.measurements
        kohm = number(m, "isolation_kohm")
        if kohm is None:
            return
        volts = number(m, "pack_voltage_v") or t.isolation_reference_voltage_v
        per_volt = kohm * 1000.0 / volts
        level = _level(
            per_volt, t.isolation_warning_ohm_per_v, t.isolation_critical_ohm_per_v, above=False
        )
        yield (
            Rule.ISOLATION_LOW,
            Finding(
                Rule.ISOLATION_LOW,
                level[0],
                r.at,
                f"isolation {per_volt:.0f} Ω/V ({kohm:g} kΩ at {volts:g} V), limit {level[1]} Ω/V",
                _evidence(r, level[1], isolationKohm=kohm, packVoltageV=volts),
            )
            if level
            else True,
        )


def evaluate(limits: Thresholds, readings: Iterable[Reading], previous: Previous) -> Evaluation:
    """Every rule over `readings` (any order; evaluated by time) after `previous`."""
    evaluation = Evaluation()
    outcomes = evaluation.outcomes
    evaluator = _Evaluator(limits, previous)
    for reading in sorted(readings, key=lambda r: r.at):
        for rule, verdict in evaluator.verdicts(reading):
            if verdict is None:
                continue
            outcome = outcomes.get(rule)
            if outcome is None:
                outcome = outcomes[rule] = RuleOutcome()
            if isinstance(verdict, Finding):
                if outcome.first is None:
                    outcome.first = verdict
                outcome.last = verdict
                if outcome.worst is None or (
                    SEVERITY_RANK[verdict.severity] > SEVERITY_RANK[outcome.worst]
                ):
                    outcome.worst = verdict.severity
                outcome.healthy_at = None
            else:
                outcome.healthy_at = reading.at
        if evaluator.top is not None:
            evaluator.before, evaluator.before_top = reading, evaluator.top
            evaluator.top = None
    return evaluation
