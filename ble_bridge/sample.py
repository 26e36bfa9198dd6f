"""The normalised measurement set and the sample the gateway stores and uploads.

Conventions (one for every adapter): SI units (V, A, Ah, kWh, kW, °C, kΩ for isolation as the
buses report it), and **current positive = charging**. Decoders flip each bus's own sign.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

# Lists that several requests contribute to (cell pages, module temperature groups): merging
# two partial measurement sets concatenates them in poll order instead of overwriting.
_CONCATENATED = ("cell_voltages_v", "temperatures_c")
# Fields stored as sorted (name, value) pairs and rendered as JSON objects.
_MAPPINGS = ("status_flags", "extras")


@dataclass(frozen=True)
class Measurements:
    """Decoded values of one or more frames; ``None`` where the frames carry no value.

    Field names are the JSON keys of ``bpp-bridge decode`` and of uploaded samples.
    Decoders build instances with :meth:`from_state` / :meth:`from_values` (the generated
    ``__init__`` of a frozen dataclass with ~40 fields costs more than the decoding itself on
    the hot path); those instances' ``__dict__`` holds only the fields that are set.
    """

    pack_voltage_v: float | None = None
    pack_current_a: float | None = None
    power_kw: float | None = None
    soc_pct: float | None = None
    soc_display_pct: float | None = None
    soh_pct: float | None = None
    cell_voltages_v: tuple[float, ...] | None = None
    cell_voltage_min_v: float | None = None
    cell_voltage_max_v: float | None = None
    cell_voltage_min_no: int | None = None
    cell_voltage_max_no: int | None = None
    cell_voltage_delta_v: float | None = None
    temperatures_c: tuple[float, ...] | None = None
    temperature_min_c: float | None = None
    temperature_max_c: float | None = None
    inlet_temperature_c: float | None = None
    heater_temperature_c: float | None = None
    mosfet_temperature_c: float | None = None
    cycles: int | None = None
    remaining_capacity_ah: float | None = None
    nominal_capacity_ah: float | None = None
    cumulative_charged_ah: float | None = None
    cumulative_discharged_ah: float | None = None
    cumulative_charged_kwh: float | None = None
    cumulative_discharged_kwh: float | None = None
    operating_time_s: int | None = None
    isolation_kohm: float | None = None
    aux_battery_v: float | None = None
    max_charge_power_kw: float | None = None
    max_discharge_power_kw: float | None = None
    charge_enabled: bool | None = None
    discharge_enabled: bool | None = None
    charging: bool | None = None
    status_flags: tuple[tuple[str, int], ...] | None = None
    hardware_version: str | None = None
    # Vehicle-specific values without a normalised meaning (fan, motor rpm...), name -> number.
    extras: tuple[tuple[str, float], ...] | None = None

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> Measurements:
        """Fast constructor from ``{field name: value}`` (names are trusted: decoders only)."""
        return cls.from_state(values.copy())

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Measurements:
        """Adopt ``state`` as the instance's ``__dict__``, without copying.

        ``state`` holds the fields that are set (a missing field reads as its class-level
        default, ``None``, like any dataclass default) and must not be changed afterwards: the
        hot decode path builds one small dict per frame and hands it over.
        """
        obj = object.__new__(cls)
        object.__setattr__(obj, "__dict__", state)
        return obj

    def values(self) -> dict[str, Any]:
        """``{field name: value}`` of the fields that are set."""
        return {k: v for k, v in self.__dict__.items() if v is not None}

    def to_json(self) -> dict[str, Any]:
        """JSON object with only the keys the frames carried (lists as lists)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if f.name in _MAPPINGS:
                out[f.name] = dict(value)
            elif isinstance(value, tuple):
                out[f.name] = list(value)
            else:
                out[f.name] = value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Measurements:
        """Inverse of :meth:`to_json` (unknown keys are refused with ``KeyError``)."""
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key not in names:
                raise KeyError(key)
            if key in _MAPPINGS:
                kwargs[key] = tuple(sorted(value.items()))
            elif isinstance(value, list):
                kwargs[key] = tuple(value)
            else:
                kwargs[key] = value
        return cls(**kwargs)

    def merged(self, later: Measurements) -> Measurements:
        """Combine two partial sets: ``later`` wins, cell/temperature lists concatenate."""
        return Measurements.from_values(merge_values([self.values(), later.values()]))


def merge_values(parts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Merge ``{field: value}`` dicts in poll order (later wins; lists concatenate)."""
    out: dict[str, Any] = {}
    for part in parts:
        for name, b in part.items():
            a = out.get(name)
            if a is None:
                out[name] = b
            elif name in _CONCATENATED:
                out[name] = tuple(a) + tuple(b)
            elif name in _MAPPINGS:
                out[name] = tuple(sorted({**dict(a), **dict(b)}.items()))
            else:
                out[name] = b
    return out


FIELD_NAMES = tuple(f.name for f in dataclasses.fields(Measurements))


def merge_all(parts: Iterable[Measurements]) -> Measurements:
    """Merge partial measurement sets in poll order, then fill derived values."""
    listed = parts if isinstance(parts, list) else list(parts)
    if len(listed) == 1:
        # The common case: a copy of the one part's state, adopted without a second copy
        # (None entries are harmless to derive_values).
        return Measurements.from_state(derive_values(listed[0].__dict__.copy()))
    return Measurements.from_values(derive_values(merge_values(p.values() for p in listed)))


def with_derived(m: Measurements) -> Measurements:
    """Fill values that follow from others (see :func:`derive_values`)."""
    return Measurements.from_values(derive_values(m.values()))


def derive_values(v: dict[str, Any]) -> dict[str, Any]:
    """Fill values that follow from others (power, cell min/max/delta, temperature range).

    Only empty fields are filled: a BMS's own min/max (which covers the whole pack) is never
    replaced by one computed from a partial cell list. Mutates and returns ``v``.
    """
    get = v.get
    voltage, current = get("pack_voltage_v"), get("pack_current_a")
    if get("power_kw") is None and voltage is not None and current is not None:
        v["power_kw"] = round(voltage * current / 1000, 3)
    cells = get("cell_voltages_v")
    lo, hi = get("cell_voltage_min_v"), get("cell_voltage_max_v")
    if cells:
        if lo is None:
            lo = v["cell_voltage_min_v"] = min(cells)
        if hi is None:
            hi = v["cell_voltage_max_v"] = max(cells)
    if get("cell_voltage_delta_v") is None and lo is not None and hi is not None:
        v["cell_voltage_delta_v"] = round(hi - lo, 4)
    temps = get("temperatures_c")
    if temps:
        if get("temperature_min_c") is None:
            v["temperature_min_c"] = min(temps)
        if get("temperature_max_c") is None:
            v["temperature_max_c"] = max(temps)
    return v


class ClockSource(StrEnum):
    """Where the wall-clock time of a sample comes from (the server trusts them differently)."""

    SYSTEM = "system"  # the gateway's own clock, possibly unsynchronised
    NTP = "ntp"  # the gateway's clock, known to be NTP-synchronised
    SIMULATED = "simulated"


@dataclass(frozen=True, slots=True)
class RawFrame:
    """One request/response exchange kept verbatim for audit."""

    request_hex: str
    response_hex: str


@dataclass(frozen=True, slots=True)
class BatterySample:
    """One normalised reading of one BLE device (a car's adapter or a BMS) by this gateway."""

    source_id: str  # the device's name in the gateway config ("car-1", "pack-7")
    source_address: str  # its BLE address
    adapter_id: str  # "elm327", "jbd", "daly", "jk"
    profile_id: str
    measurements: Measurements
    raw_frames: tuple[RawFrame, ...]
    monotonic_ns: int
    boot_id: str  # monotonic time restarts with the gateway: (boot_id, monotonic_ns) orders
    wall_time_ms: int
    clock_source: ClockSource
    errors: tuple[str, ...] = ()  # non-fatal problems of this poll ("220102: no_data")

    def to_json(self, device_id: str, sequence: int, source_sequence: int) -> dict[str, Any]:
        """The sample object of the upload protocol (docs/BRIDGE.md), numbered by the outbox."""
        return {
            "deviceId": device_id,
            "sequence": sequence,
            "sourceId": self.source_id,
            "sourceSequence": source_sequence,
            "sourceAddress": self.source_address,
            "adapterId": self.adapter_id,
            "profileId": self.profile_id,
            "measurements": self.measurements.to_json(),
            "rawFrames": [
                {"request": f.request_hex, "response": f.response_hex} for f in self.raw_frames
            ],
            "errors": list(self.errors),
            "monotonicNs": self.monotonic_ns,
            "bootId": self.boot_id,
            "wallTimeMs": self.wall_time_ms,
            "clockSource": str(self.clock_source),
        }


# systemd-timesyncd touches this file once the clock is synchronised (chrony/ntpd users can
# pass the clock source explicitly).
_TIMESYNC_FLAG = Path("/run/systemd/timesync/synchronized")


def detect_clock_source(flag: Path = _TIMESYNC_FLAG) -> ClockSource:
    """``ntp`` when the OS says the wall clock is synchronised, else ``system``."""
    return ClockSource.NTP if flag.exists() else ClockSource.SYSTEM


def now_stamps() -> tuple[int, int]:
    """``(monotonic_ns, wall_time_ms)`` taken together."""
    return time.monotonic_ns(), time.time_ns() // 1_000_000


def measured(**values: Any) -> Measurements:
    """Keyword form of :meth:`Measurements.from_values` for decoders."""
    return Measurements.from_values(values)
