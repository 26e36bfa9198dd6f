"""Hyundai/Kia EV battery profile, as data: one :class:`VehicleModel` table per platform.

Offsets count from the ``0x62`` byte of the UDS payload (the layout documented in
``shared/vectors/README.md``). Current on this bus is positive when discharging: the tables flip
it (``sign=-1``) so that normalised current and power are positive when charging.
A new model is a new :class:`VehicleModel` in :data:`MODELS`, not new code.
"""

from __future__ import annotations

import operator
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ble_bridge.errors import BadFrameError, BadLengthError, UnsupportedError
from ble_bridge.sample import Measurements


@dataclass(frozen=True, slots=True)
class Scalar:
    """One value: ``key`` of :class:`Measurements`, big-endian at ``offset``."""

    key: str
    offset: int
    size: int = 1
    signed: bool = False
    divisor: int = 1
    sign: int = 1
    integer: bool = False  # keep as int (cycles, seconds, cell numbers)


@dataclass(frozen=True, slots=True)
class Series:
    """``count`` consecutive values (cell voltages, module temperatures)."""

    key: str
    offset: int
    count: int
    size: int = 1
    signed: bool = False
    divisor: int = 1


@dataclass(frozen=True, slots=True)
class Flags:
    """A status byte kept as a named bit field."""

    name: str
    offset: int


@dataclass(frozen=True, slots=True)
class PidTable:
    """Layout of one positive reply (``62 01 01 ...``)."""

    request: bytes
    min_length: int
    scalars: tuple[Scalar, ...] = ()
    series: tuple[Series, ...] = ()
    flags: tuple[Flags, ...] = ()


@dataclass(frozen=True, slots=True)
class VehicleModel:
    """A platform's ECU addresses, reply layouts and the bytes that identify its replies."""

    id: str
    name: str
    ecu_tx: int
    ecu_rx: int
    cell_count: int
    tables: Mapping[bytes, PidTable]
    # Per request: (offset, byte) pairs that tell this platform's replies from others'
    # (the "supported data" bitmap right after the DID differs between platforms).
    signatures: Mapping[bytes, tuple[tuple[int, int], ...]]
    poll_order: tuple[bytes, ...]


def _cell_page(request: bytes) -> PidTable:
    return PidTable(request, 39, series=(Series("cell_voltages_v", 7, 32, divisor=50),))


_REQ_0101 = bytes.fromhex("220101")
_REQ_0105 = bytes.fromhex("220105")

_CORE_0101 = (
    Scalar("soc_pct", 7, divisor=2),
    Scalar("max_charge_power_kw", 8, 2, divisor=100),
    Scalar("max_discharge_power_kw", 10, 2, divisor=100),
    Scalar("pack_current_a", 13, 2, signed=True, divisor=10, sign=-1),
    Scalar("pack_voltage_v", 15, 2, divisor=10),
    Scalar("temperature_max_c", 17, signed=True),
    Scalar("temperature_min_c", 18, signed=True),
    Scalar("inlet_temperature_c", 25, signed=True),
    Scalar("cell_voltage_max_v", 26, divisor=50),
    Scalar("cell_voltage_max_no", 27, integer=True),
    Scalar("cell_voltage_min_v", 28, divisor=50),
    Scalar("cell_voltage_min_no", 29, integer=True),
    Scalar("aux_battery_v", 32, divisor=10),
    Scalar("cumulative_charged_ah", 33, 4, divisor=10),
    Scalar("cumulative_discharged_ah", 37, 4, divisor=10),
    Scalar("cumulative_charged_kwh", 41, 4, divisor=10),
    Scalar("cumulative_discharged_kwh", 45, 4, divisor=10),
    Scalar("operating_time_s", 49, 4, integer=True),
    Scalar("isolation_kohm", 60, 2),
    Scalar("extras.fan_status", 30, integer=True),
    Scalar("extras.fan_feedback_hz", 31, integer=True),
    Scalar("extras.inverter_capacitor_v", 54, 2, integer=True),
    Scalar("extras.motor_rpm_1", 56, 2, integer=True),
    Scalar("extras.motor_rpm_2", 58, 2, integer=True),
)
_CORE_0105 = (
    Scalar("heater_temperature_c", 26, signed=True),
    Scalar("soh_pct", 28, 2, divisor=10),
    Scalar("soc_display_pct", 34, divisor=2),
    Scalar("extras.max_deterioration_cell_no", 30, integer=True),
    Scalar("extras.min_deterioration_pct", 31, 2, divisor=10),
    Scalar("extras.min_deterioration_cell_no", 33, integer=True),
)
_FLAGS_0101 = (Flags("bms_status_1", 12), Flags("bms_status_2", 53))

GEN1 = VehicleModel(
    id="hkmc-gen1",
    name="Hyundai Kona / Kia e-Niro / Hyundai Ioniq Electric (first generation)",
    ecu_tx=0x7E4,
    ecu_rx=0x7EC,
    cell_count=98,  # Kona/e-Niro 98; Ioniq Electric 88 (the pages carry what exists)
    tables={
        _REQ_0101: PidTable(
            _REQ_0101,
            62,
            _CORE_0101,
            (Series("temperatures_c", 19, 4, signed=True),),
            _FLAGS_0101,
        ),
        _REQ_0105: PidTable(
            _REQ_0105,
            46,
            (*_CORE_0105, Scalar("cell_voltage_delta_v", 23, divisor=50)),
        ),
        **{bytes.fromhex(r): _cell_page(bytes.fromhex(r)) for r in ("220102", "220103", "220104")},
    },
    signatures={_REQ_0101: ((3, 0xFF),), _REQ_0105: ((4, 0x3F),)},
    poll_order=tuple(bytes.fromhex(r) for r in ("220101", "220105", "220102", "220103", "220104")),
)

EGMP = VehicleModel(
    id="hkmc-egmp",
    name="Hyundai/Kia/Genesis E-GMP (Ioniq 5/6, EV6, EV9, GV60)",
    ecu_tx=0x7E4,
    ecu_rx=0x7EC,
    cell_count=192,  # 132-192 depending on the pack; the pages carry what exists
    tables={
        _REQ_0101: PidTable(
            _REQ_0101,
            62,
            _CORE_0101,
            (Series("temperatures_c", 19, 5, signed=True),),
            _FLAGS_0101,
        ),
        _REQ_0105: PidTable(
            _REQ_0105,
            46,
            _CORE_0105,
            # Module temperatures 6-12 and 13-16: concatenated after those of 22 01 01.
            (
                Series("temperatures_c", 12, 7, signed=True),
                Series("temperatures_c", 42, 4, signed=True),
            ),
        ),
        **{
            bytes.fromhex(r): _cell_page(bytes.fromhex(r))
            for r in ("220102", "220103", "220104", "22010A", "22010B", "22010C")
        },
    },
    signatures={_REQ_0101: ((3, 0xEF),), _REQ_0105: ((4, 0xFB), (5, 0x74))},
    poll_order=tuple(
        bytes.fromhex(r)
        for r in ("220101", "220105", "220102", "220103", "220104", "22010A", "22010B", "22010C")
    ),
)

MODELS: Mapping[str, VehicleModel] = {m.id: m for m in (GEN1, EGMP)}


def select_model(payload: bytes, candidates: tuple[VehicleModel, ...]) -> VehicleModel:
    """The first candidate whose signature for this reply matches, else the first candidate."""
    request = bytes([payload[0] - 0x40]) + payload[1:3] if payload else b""
    for model in candidates:
        sig = model.signatures.get(request)
        if sig and all(len(payload) > off and payload[off] == val for off, val in sig):
            return model
    return candidates[0]


def decode_payload(payload: bytes, model: VehicleModel) -> Measurements:
    """Decode one positive reply with ``model``'s table.

    Raises :class:`BadFrameError` (not a ``62`` reply), :class:`UnsupportedError` (no table
    for the DID) or :class:`BadLengthError` (shorter than the table needs).
    """
    if len(payload) < 3 or payload[0] != 0x62:
        raise BadFrameError("not a positive ReadDataByIdentifier (0x62) reply")
    request = b"\x22" + payload[1:3]
    table = model.tables.get(request)
    if table is None:
        raise UnsupportedError(f"{model.id} has no table for DID {payload[1:3].hex().upper()}")
    if len(payload) < table.min_length:
        raise BadLengthError(
            f"{request.hex().upper()} reply has {len(payload)} bytes, {table.min_length} needed"
        )
    return Measurements.from_values(_decode_values(payload, table))


_FORMATS = {(1, False): "B", (1, True): "b", (2, False): "H", (2, True): "h",
            (4, False): "I", (4, True): "i"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Compiled:
    # Three structs unpack the scalars of a table in three calls (measurements divided by
    # their divisor, plain integers, extras); list comprehensions apply the divisors. Signs
    # are folded into the divisor (r / -10 == -(r / 10) exactly).
    scaled: struct.Struct
    scaled_keys: tuple[str, ...]
    scaled_divisors: tuple[int, ...]
    negated_keys: tuple[str, ...]  # keys with a negative divisor: turn -0.0 into 0.0
    integers: struct.Struct
    integer_keys: tuple[str, ...]
    extras: struct.Struct
    extra_reorder: Callable[[tuple[int, ...]], tuple[int, ...]]  # offset order -> key order
    extra_keys: tuple[str, ...]  # sorted
    extra_scaled: tuple[tuple[int, int], ...]  # (index in key order, divisor) where divisor != 1
    series: tuple[tuple[str, struct.Struct, int], ...]  # key, unpacker, divisor
    flags: tuple[tuple[str, int], ...]  # sorted by name


_COMPILED: dict[int, tuple[PidTable, _Compiled]] = {}


def _reorder(order: tuple[int, ...]) -> Callable[[tuple[int, ...]], tuple[int, ...]]:
    if not order:
        return lambda values: ()
    if len(order) == 1:
        return lambda values: (values[order[0]],)
    getter: Callable[[tuple[int, ...]], tuple[int, ...]] = operator.itemgetter(*order)
    return getter


def _struct(fields: list[Scalar]) -> struct.Struct:
    fmt, pos = ">", 0
    for sc in sorted(fields, key=lambda x: x.offset):
        if sc.offset < pos:
            raise ValueError(f"overlapping fields at offset {sc.offset}")
        fmt += "x" * (sc.offset - pos) + _FORMATS[(sc.size, sc.signed)]
        pos = sc.offset + sc.size
    return struct.Struct(fmt)


def _compile(table: PidTable) -> _Compiled:
    # Keyed by identity (hashing a frozen table walks every field); the table is kept
    # referenced so its id cannot be reused.
    hit = _COMPILED.get(id(table))
    if hit is not None and hit[0] is table:
        return hit[1]
    extras = sorted(
        (s for s in table.scalars if s.key.startswith("extras.")), key=lambda x: x.offset
    )
    plain = [s for s in table.scalars if not s.key.startswith("extras.")]
    scaled = sorted((s for s in plain if not s.integer), key=lambda x: x.offset)
    integers = sorted((s for s in plain if s.integer), key=lambda x: x.offset)
    order = sorted(range(len(extras)), key=lambda i: extras[i].key)
    compiled = _Compiled(
        _struct(scaled),
        tuple(s.key for s in scaled),
        tuple(s.divisor * s.sign for s in scaled),
        tuple(s.key for s in scaled if s.sign < 0),
        _struct(integers),
        tuple(s.key for s in integers),
        _struct(extras),
        _reorder(tuple(order)),
        tuple(extras[i].key.removeprefix("extras.") for i in order),
        tuple((n, extras[i].divisor) for n, i in enumerate(order) if extras[i].divisor != 1),
        tuple(
            (
                x.key,
                struct.Struct(">" + "x" * x.offset + _FORMATS[(x.size, x.signed)] * x.count),
                x.divisor,
            )
            for x in table.series
        ),
        tuple(sorted((f.name, f.offset) for f in table.flags)),
    )
    _COMPILED[id(table)] = (table, compiled)
    return compiled


def _decode_values(payload: bytes, table: PidTable) -> dict[str, Any]:
    c = _compile(table)
    # strict=False: the structs and key tuples are built together by _compile.
    raw = c.scaled.unpack_from(payload)
    scaled = [r / d for r, d in zip(raw, c.scaled_divisors, strict=False)]
    values: dict[str, Any] = dict(zip(c.scaled_keys, scaled, strict=False))
    for key in c.negated_keys:
        if values[key] == 0:
            values[key] = 0.0  # no -0.0 from a negative divisor
    values.update(zip(c.integer_keys, c.integers.unpack_from(payload), strict=False))
    if c.extra_keys:
        extra: list[float] = list(c.extra_reorder(c.extras.unpack_from(payload)))
        for index, divisor in c.extra_scaled:
            extra[index] /= divisor
        values["extras"] = tuple(zip(c.extra_keys, extra, strict=False))
    for key, unpacker, divisor in c.series:
        items = tuple([v / divisor for v in unpacker.unpack_from(payload)])
        previous = values.get(key)
        values[key] = previous + items if previous else items
    if c.flags:
        values["status_flags"] = tuple([(name, payload[off]) for name, off in c.flags])
    return values
