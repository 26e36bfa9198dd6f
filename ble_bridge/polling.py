"""Polling policy: how long to wait before the next poll of a device (pure, no clocks).

A parked car that is not charging must be left alone: every UDS request wakes its gateway and
BMS, and constant polling drains the 12 V battery. So: fast while charging, normal while
driving, slow once the pack has been idle for a while, and rare (or never) while the car does
not answer at all. BMS packs (always powered) use the same states without the sleep rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ble_bridge.sample import Measurements


class DeviceState(StrEnum):
    """What the last polls say about the battery."""

    CHARGING = "charging"
    ACTIVE = "active"  # discharging: driving, or a load on a pack
    IDLE = "idle"  # no current, still answering
    PARKED = "parked"  # idle for long enough: slow polling
    ASLEEP = "asleep"  # the car stopped answering (NO DATA)
    UNREACHABLE = "unreachable"  # no link


@dataclass(frozen=True, slots=True)
class PollingPolicy:
    """Intervals in seconds per state; ``None`` for ASLEEP means stop polling entirely."""

    charging_s: float = 5.0
    active_s: float = 10.0
    idle_s: float = 30.0
    parked_s: float = 600.0
    asleep_s: float | None = 1800.0
    unreachable_s: float = 60.0
    idle_current_a: float = 1.0  # below this |I| the pack counts as idle
    idle_polls_before_parked: int = 10

    def interval(self, state: DeviceState) -> float | None:
        """Seconds until the next poll in ``state`` (``None``: do not poll again)."""
        return {
            DeviceState.CHARGING: self.charging_s,
            DeviceState.ACTIVE: self.active_s,
            DeviceState.IDLE: self.idle_s,
            DeviceState.PARKED: self.parked_s,
            DeviceState.ASLEEP: self.asleep_s,
            DeviceState.UNREACHABLE: self.unreachable_s,
        }[state]


@dataclass(frozen=True, slots=True)
class PollingTracker:
    """Immutable state machine: feed each poll outcome, get the next state."""

    state: DeviceState = DeviceState.ACTIVE
    idle_polls: int = 0

    def after_sample(self, m: Measurements, policy: PollingPolicy) -> PollingTracker:
        """A successful poll."""
        current = m.pack_current_a
        if m.charging or (current is not None and current > policy.idle_current_a):
            return PollingTracker(DeviceState.CHARGING)
        if current is not None and current < -policy.idle_current_a:
            return PollingTracker(DeviceState.ACTIVE)
        idle = self.idle_polls + 1
        state = DeviceState.PARKED if idle >= policy.idle_polls_before_parked else DeviceState.IDLE
        return PollingTracker(state, idle)

    def after_no_data(self) -> PollingTracker:
        """The adapter answered but the car did not: it is asleep."""
        return PollingTracker(DeviceState.ASLEEP, self.idle_polls)

    def after_link_failure(self) -> PollingTracker:
        """No link to the adapter."""
        return PollingTracker(DeviceState.UNREACHABLE, self.idle_polls)
