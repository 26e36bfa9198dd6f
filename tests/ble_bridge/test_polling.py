"""Polling policy: a parked car is left to sleep, a charging one is polled faster."""

from __future__ import annotations

from pathlib import Path

from ble_bridge.polling import DeviceState, PollingPolicy, PollingTracker
from ble_bridge.sample import ClockSource, Measurements, detect_clock_source

POLICY = PollingPolicy(idle_polls_before_parked=3)


def test_charging_polls_fastest_and_discharging_normally() -> None:
    t = PollingTracker().after_sample(Measurements(pack_current_a=12.0), POLICY)
    assert t.state is DeviceState.CHARGING
    assert POLICY.interval(t.state) == POLICY.charging_s
    t = t.after_sample(Measurements(pack_current_a=-30.0), POLICY)
    assert t.state is DeviceState.ACTIVE
    assert POLICY.charging_s < POLICY.active_s


def test_idle_pack_becomes_parked_and_slows_down() -> None:
    t = PollingTracker()
    states = []
    for _ in range(4):
        t = t.after_sample(Measurements(pack_current_a=0.2), POLICY)
        states.append(t.state)
    assert states == [DeviceState.IDLE, DeviceState.IDLE, DeviceState.PARKED, DeviceState.PARKED]
    assert POLICY.interval(DeviceState.PARKED) == POLICY.parked_s > POLICY.idle_s


def test_current_resumes_and_leaves_parked() -> None:
    t = PollingTracker(DeviceState.PARKED, 10)
    t = t.after_sample(Measurements(pack_current_a=5.0), POLICY)
    assert t.state is DeviceState.CHARGING
    assert t.idle_polls == 0


def test_charging_flag_counts_even_without_current() -> None:
    t = PollingTracker().after_sample(Measurements(charging=True), POLICY)
    assert t.state is DeviceState.CHARGING


def test_sleeping_car_is_polled_rarely_or_never() -> None:
    t = PollingTracker().after_no_data()
    assert t.state is DeviceState.ASLEEP
    assert POLICY.interval(t.state) == POLICY.asleep_s
    assert PollingPolicy(asleep_s=None).interval(DeviceState.ASLEEP) is None


def test_link_failure_is_unreachable() -> None:
    assert PollingTracker().after_link_failure().state is DeviceState.UNREACHABLE


def test_clock_source_follows_the_timesync_flag(tmp_path: Path) -> None:
    flag = tmp_path / "synchronized"
    assert detect_clock_source(flag) is ClockSource.SYSTEM
    flag.touch()
    assert detect_clock_source(flag) is ClockSource.NTP
