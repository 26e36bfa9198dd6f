"""What the passport derives from telemetry, as pure functions over one battery's state.

Histograms count samples (not time): SoC in ten 10 % buckets, temperature (the hottest sensor
of a sample) in 10 °C buckets from below -20 °C to 60 °C and above. Full cycles are the charge
throughput divided by the rated capacity; throughput comes from the battery's own cumulative
charged-Ah counter when it reports one (the difference between the highest and the first value
seen, robust to several gateways reading the same car), otherwise from integrating the charging
current between consecutive samples no more than `MAX_INTEGRATION_GAP_S` apart. Deep discharge
and overcharge are episodes: one event when a sample enters the condition, none again until a
sample has left it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

SOC_BUCKETS: Final = 10
# Temperature bucket edges (°C): bucket 0 is below the first edge, the last is at or above the
# last edge.
TEMPERATURE_EDGES: Final = (-20.0, -10.0, 0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0)
TEMPERATURE_BUCKETS: Final = len(TEMPERATURE_EDGES) + 1
MAX_INTEGRATION_GAP_S: Final = 300.0


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Cell-voltage limits of a chemistry, and the SoC limits that count even without cells."""

    deep_discharge_cell_v: float
    overcharge_cell_v: float
    deep_discharge_soc_pct: float = 2.0
    overcharge_soc_pct: float = 100.5


# LFP cells live between 2.5 and 3.65 V; nickel-based (NMC/NCA) between 2.5/3.0 and 4.2 V.
LFP: Final = Thresholds(deep_discharge_cell_v=2.5, overcharge_cell_v=3.75)
NICKEL: Final = Thresholds(deep_discharge_cell_v=2.8, overcharge_cell_v=4.3)


def thresholds_for(chemistry: str | None) -> Thresholds:
    return LFP if chemistry and "LFP" in chemistry.upper() else NICKEL


def soc_bucket(soc: float) -> int:
    return min(SOC_BUCKETS - 1, max(0, int(soc // 10)))


def temperature_bucket(celsius: float) -> int:
    for index, edge in enumerate(TEMPERATURE_EDGES):
        if celsius < edge:
            return index
    return TEMPERATURE_BUCKETS - 1


def hottest(measurements: dict[str, Any]) -> float | None:
    """The highest temperature a sample reports (module sensors or the summary value)."""
    values = [
        float(v)
        for v in measurements.get("temperatures_c") or ()
        if isinstance(v, int | float) and not isinstance(v, bool)
    ]
    top = measurements.get("temperature_max_c")
    if isinstance(top, int | float) and not isinstance(top, bool):
        values.append(float(top))
    return max(values) if values else None


def _number(measurements: dict[str, Any], key: str) -> float | None:
    value = measurements.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _cell_extremes(measurements: dict[str, Any]) -> tuple[float | None, float | None]:
    low = _number(measurements, "cell_voltage_min_v")
    high = _number(measurements, "cell_voltage_max_v")
    cells = [
        float(v)
        for v in measurements.get("cell_voltages_v") or ()
        if isinstance(v, int | float) and not isinstance(v, bool)
    ]
    if cells:
        low = min(cells) if low is None else min(low, *cells)
        high = max(cells) if high is None else max(high, *cells)
    return low, high


@dataclass(slots=True)
class Observation:
    """One accepted sample of a bound battery, as the derivation needs it."""

    measured_at: datetime
    device_id: str
    sequence: int
    measurements: dict[str, Any]


@dataclass(slots=True)
class Episode:
    kind: str  # deep_discharge | overcharge
    occurred_at: datetime
    device_id: str
    sequence: int
    value: float
    detail: str


@dataclass(slots=True)
class BatteryState:
    """The mutable derived state of one battery (mirrors `TelemetryState`)."""

    measured_at: datetime | None
    device_id: str
    sequence: int
    measurements: dict[str, Any]
    samples: int
    soc_histogram: list[int]
    temperature_histogram: list[int]
    first_cumulative_charged_ah: float | None
    max_cumulative_charged_ah: float | None
    integrated_charged_ah: float
    deep_discharge_events: int
    overcharge_events: int
    in_deep_discharge: bool
    in_overcharge: bool

    @classmethod
    def empty(cls) -> BatteryState:
        return cls(
            measured_at=None,
            device_id="",
            sequence=0,
            measurements={},
            samples=0,
            soc_histogram=[0] * SOC_BUCKETS,
            temperature_histogram=[0] * TEMPERATURE_BUCKETS,
            first_cumulative_charged_ah=None,
            max_cumulative_charged_ah=None,
            integrated_charged_ah=0.0,
            deep_discharge_events=0,
            overcharge_events=0,
            in_deep_discharge=False,
            in_overcharge=False,
        )

    @property
    def charged_ah(self) -> float:
        if (
            self.first_cumulative_charged_ah is not None
            and self.max_cumulative_charged_ah is not None
        ):
            return self.max_cumulative_charged_ah - self.first_cumulative_charged_ah
        return self.integrated_charged_ah


def full_cycles(charged_ah: float, rated_capacity_ah: float) -> float:
    """Equivalent full cycles: charge throughput over rated capacity."""
    return charged_ah / rated_capacity_ah if rated_capacity_ah > 0 else 0.0


def apply(
    state: BatteryState, observations: list[Observation], thresholds: Thresholds
) -> list[Episode]:
    """Fold samples (any order; they are sorted by time here) into the state; new episodes."""
    episodes: list[Episode] = []
    for obs in sorted(observations, key=lambda o: (o.measured_at, o.sequence)):
        m = obs.measurements
        previous_at, previous = state.measured_at, state.measurements
        state.samples += 1
        soc = _number(m, "soc_pct")
        if soc is None:
            soc = _number(m, "soc_display_pct")
        if soc is not None:
            state.soc_histogram[soc_bucket(soc)] += 1
        top = hottest(m)
        if top is not None:
            state.temperature_histogram[temperature_bucket(top)] += 1
        counter = _number(m, "cumulative_charged_ah")
        if counter is not None:
            if state.first_cumulative_charged_ah is None:
                state.first_cumulative_charged_ah = counter
            state.max_cumulative_charged_ah = max(state.max_cumulative_charged_ah or 0.0, counter)
        current = _number(m, "pack_current_a")
        if previous_at is not None and current is not None and obs.measured_at >= previous_at:
            gap = (obs.measured_at - previous_at).total_seconds()
            before = _number(previous, "pack_current_a")
            if before is not None and 0 < gap <= MAX_INTEGRATION_GAP_S:
                mean = (max(before, 0.0) + max(current, 0.0)) / 2
                state.integrated_charged_ah += mean * gap / 3600.0
        low, high = _cell_extremes(m)
        deep = (low is not None and low < thresholds.deep_discharge_cell_v) or (
            soc is not None and soc <= thresholds.deep_discharge_soc_pct
        )
        over = (high is not None and high > thresholds.overcharge_cell_v) or (
            soc is not None and soc >= thresholds.overcharge_soc_pct
        )
        if deep and not state.in_deep_discharge:
            state.deep_discharge_events += 1
            value, detail = (
                (low, "cell voltage below limit")
                if low is not None and low < thresholds.deep_discharge_cell_v
                else (soc, "state of charge at or below limit")
            )
            episodes.append(
                Episode(
                    "deep_discharge",
                    obs.measured_at,
                    obs.device_id,
                    obs.sequence,
                    float(value or 0.0),
                    detail,
                )
            )
        if over and not state.in_overcharge:
            state.overcharge_events += 1
            value, detail = (
                (high, "cell voltage above limit")
                if high is not None and high > thresholds.overcharge_cell_v
                else (soc, "state of charge above limit")
            )
            episodes.append(
                Episode(
                    "overcharge",
                    obs.measured_at,
                    obs.device_id,
                    obs.sequence,
                    float(value or 0.0),
                    detail,
                )
            )
        state.in_deep_discharge = deep
        state.in_overcharge = over
        if state.measured_at is None or obs.measured_at >= state.measured_at:
            state.measured_at = obs.measured_at
            state.device_id = obs.device_id
            state.sequence = obs.sequence
            state.measurements = m
    return episodes
