"""Derived data as pure functions: histograms, cycle count, episodes, last known state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from backend.telemetry import derived
from backend.telemetry.derived import BatteryState, Observation

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def obs(minutes: float, **m: object) -> Observation:
    return Observation(T0 + timedelta(minutes=minutes), "did:key:zX", int(minutes * 10), dict(m))


def test_histograms_count_samples_per_bucket() -> None:
    state = BatteryState.empty()
    samples = [
        obs(0, soc_pct=0.0, temperatures_c=[-25.0]),
        obs(1, soc_pct=9.99, temperatures_c=[12.0, 31.0]),
        obs(2, soc_pct=55.0, temperature_max_c=60.0),
        obs(3, soc_pct=100.0, temperatures_c=[19.9]),
        obs(4, soc_display_pct=42.0),
    ]
    derived.apply(state, samples, derived.NICKEL)
    assert state.soc_histogram == [2, 0, 0, 0, 1, 1, 0, 0, 0, 1]
    # buckets: <-20, -20..-10, -10..0, 0..10, 10..20, 20..30, 30..40, 40..50, 50..60, >=60
    assert state.temperature_histogram == [1, 0, 0, 0, 1, 0, 1, 0, 0, 1]
    assert state.samples == 5


def test_full_cycles_from_the_cumulative_counter_whatever_the_arrival_order() -> None:
    state = BatteryState.empty()
    derived.apply(state, [obs(10, cumulative_charged_ah=1250.0)], derived.NICKEL)
    derived.apply(
        state,
        [obs(30, cumulative_charged_ah=1450.0), obs(20, cumulative_charged_ah=1300.0)],
        derived.NICKEL,
    )
    assert state.charged_ah == 200.0
    assert derived.full_cycles(state.charged_ah, 100.0) == 2.0
    assert state.measurements == {"cumulative_charged_ah": 1450.0}


def test_without_a_counter_the_charging_current_is_integrated_across_short_gaps() -> None:
    state = BatteryState.empty()
    samples = [
        obs(0, pack_current_a=50.0),
        obs(60, pack_current_a=50.0),  # one hour at 50 A, but the gap is too long: ignored
        obs(61, pack_current_a=50.0),  # one minute at 50 A
        obs(62, pack_current_a=-80.0),  # discharging counts nothing (mean of max(I, 0))
        obs(63, pack_current_a=-80.0),
    ]
    derived.apply(state, samples, derived.NICKEL)
    expected = 50.0 / 60 + 25.0 / 60
    assert abs(state.charged_ah - expected) < 1e-9


def test_deep_discharge_and_overcharge_are_episodes() -> None:
    state = BatteryState.empty()
    episodes = derived.apply(
        state,
        [
            obs(0, cell_voltage_min_v=3.6, soc_pct=30.0),
            obs(1, cell_voltage_min_v=2.7, soc_pct=3.0),  # enters deep discharge (NMC < 2.8)
            obs(2, cell_voltage_min_v=2.6, soc_pct=1.0),  # same episode
            obs(3, cell_voltage_min_v=3.5, soc_pct=20.0),  # left it
            obs(4, soc_pct=1.5),  # a new episode, by SoC alone
            obs(5, cell_voltages_v=[4.1, 4.35, 4.2], soc_pct=98.0),  # overcharge (> 4.3 V)
        ],
        derived.NICKEL,
    )
    assert [(e.kind, e.value, e.detail) for e in episodes] == [
        ("deep_discharge", 2.7, "cell voltage below limit"),
        ("deep_discharge", 1.5, "state of charge at or below limit"),
        ("overcharge", 4.35, "cell voltage above limit"),
    ]
    assert (state.deep_discharge_events, state.overcharge_events) == (2, 1)
    assert state.in_overcharge
    assert not state.in_deep_discharge


def test_limits_depend_on_the_chemistry() -> None:
    lfp_cell = obs(0, cell_voltage_max_v=3.9, cell_voltage_min_v=2.6)
    assert derived.thresholds_for("LFP") is derived.LFP
    lfp = BatteryState.empty()
    assert [e.kind for e in derived.apply(lfp, [lfp_cell], derived.LFP)] == ["overcharge"]
    nmc = BatteryState.empty()
    assert [e.kind for e in derived.apply(nmc, [lfp_cell], derived.NICKEL)] == ["deep_discharge"]


def test_a_late_older_sample_does_not_replace_the_last_known_state() -> None:
    state = BatteryState.empty()
    derived.apply(state, [obs(10, soc_pct=80.0)], derived.NICKEL)
    derived.apply(state, [obs(5, soc_pct=70.0)], derived.NICKEL)
    assert state.measurements == {"soc_pct": 80.0}
    assert state.measured_at == T0 + timedelta(minutes=10)
