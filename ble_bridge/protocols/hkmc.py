"""Hyundai/Kia EV battery profile, as data: one :class:`VehicleModel` table per platform.

Offsets count from the ``0x62`` byte of the UDS payload (the layout documented in
``shared/vectors/README.md``). Current on this bus is positive when discharging: the tables flip
it (``sign=-1``) so that normalised current and power are positive when charging.
A new model is a new :class:`VehicleModel` in :data:`MODELS`, not new code.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ble_bridge.errors import BadFrameError, BadLengthError, UnsupportedError
from ble_bridge.sample import FIELD_NAMES, Measurements


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
    if len(candidates) == 1:
        return candidates[0]
    request = bytes([payload[0] - 0x40]) + payload[1:3] if payload else b""
    for model in candidates:
        sig = model.signatures.get(request)
        if sig:
            for off, val in sig:
                if len(payload) <= off or payload[off] != val:
                    break
            else:
                return model
    return candidates[0]


def decode_payload(payload: bytes, model: VehicleModel) -> Measurements:
    """Decode one positive reply with ``model``'s table.

    Raises :class:`BadFrameError` (not a ``62`` reply), :class:`UnsupportedError` (no table
    for the DID) or :class:`BadLengthError` (shorter than the table needs).
    """
    entry = _dispatch(model).get(payload[:3])  # b"\x62" + DID: one lookup in the common case
    if entry is None:
        if len(payload) < 3 or payload[0] != 0x62:
            raise BadFrameError("not a positive ReadDataByIdentifier (0x62) reply")
        raise UnsupportedError(f"{model.id} has no table for DID {payload[1:3].hex().upper()}")
    min_length, decode = entry
    if len(payload) < min_length:
        raise BadLengthError(
            f"22{payload[1:3].hex().upper()} reply has {len(payload)} bytes, {min_length} needed"
        )
    return decode(payload)


_Decoder = Callable[[bytes], Measurements]
_FORMATS = {(1, False): "B", (1, True): "b", (2, False): "H", (2, True): "h",
            (4, False): "I", (4, True): "i"}  # fmt: skip
# Compiled forms, keyed by identity (hashing a frozen table walks every field, and a model's
# ``tables`` mapping is not hashable); the key object is kept referenced so its id cannot be
# reused by another object.
_COMPILED: dict[int, tuple[PidTable, _Decoder]] = {}
_DISPATCH: dict[int, tuple[VehicleModel, dict[bytes, tuple[int, _Decoder]]]] = {}


def _dispatch(model: VehicleModel) -> dict[bytes, tuple[int, _Decoder]]:
    """``{b"\x62" + DID: (minimum length, decoder)}`` of the model's ``22 xx xx`` tables."""
    hit = _DISPATCH.get(id(model))
    if hit is not None and hit[0] is model:
        return hit[1]
    table = {
        b"\x62" + request[1:]: (t.min_length, _compile(t))
        for request, t in model.tables.items()
        if len(request) == 3 and request[0] == 0x22
    }
    _DISPATCH[id(model)] = (model, table)
    return table


def _struct(fields: list[Scalar]) -> struct.Struct:
    fmt, pos = ">", 0
    for sc in sorted(fields, key=lambda x: x.offset):
        if sc.offset < pos:
            raise ValueError(f"overlapping fields at offset {sc.offset}")
        fmt += "x" * (sc.offset - pos) + _FORMATS[(sc.size, sc.signed)]
        pos = sc.offset + sc.size
    return struct.Struct(fmt)


def _compile(table: PidTable) -> _Decoder:
    """The table as one generated function, compiled once per table.

    Like the ``__init__`` that :mod:`dataclasses` generates: the table's layout is turned
    into Python source — one ``struct`` unpack per group of fields into locals, then a single
    dict display of the fields the table fills (in field order), adopted by
    :meth:`Measurements.from_state`. No per-field loop, no per-field call at decode time.
    Signs are folded into the divisor (``r / -10 == -(r / 10)`` exactly) and ``or 0.0``
    turns a negated zero back into ``0.0``. :func:`decoder_source` shows the result.
    """
    hit = _COMPILED.get(id(table))
    if hit is not None and hit[0] is table:
        return hit[1]
    source, env = _generate(table)
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<hkmc table {table.request.hex()}>", "exec"), env, namespace)  # noqa: S102
    decode: _Decoder = namespace["decode"]
    _COMPILED[id(table)] = (table, decode)
    return decode


def decoder_source(table: PidTable) -> str:
    """The Python source :func:`_compile` generates for ``table`` (for reading and debugging)."""
    return _generate(table)[0]


def _generate(table: PidTable) -> tuple[str, dict[str, Any]]:
    env: dict[str, Any] = {"_from_state": Measurements.from_state}
    body: list[str] = []
    exprs: dict[str, str] = {}

    def unpack(name: str, fields: list[Scalar], prefix: str) -> list[str]:
        ordered = sorted(fields, key=lambda x: x.offset)
        if not ordered:
            return []
        env[name] = _struct(ordered).unpack_from
        names = [f"{prefix}{i}" for i in range(len(ordered))]
        body.append(f"    ({', '.join(names)},) = {name}(payload)")
        return names

    extras = [s for s in table.scalars if s.key.startswith("extras.")]
    plain = [s for s in table.scalars if not s.key.startswith("extras.")]
    scaled = sorted((s for s in plain if not s.integer), key=lambda x: x.offset)
    integers = sorted((s for s in plain if s.integer), key=lambda x: x.offset)
    for sc, var in zip(scaled, unpack("_scaled", scaled, "s"), strict=True):
        divisor = sc.divisor * sc.sign
        exprs[sc.key] = f"({var} / {divisor} or 0.0)" if divisor < 0 else f"{var} / {divisor}"
    for sc, var in zip(integers, unpack("_integers", integers, "n"), strict=True):
        exprs[sc.key] = var
    by_offset = sorted(extras, key=lambda x: x.offset)
    extra_vars = dict(
        zip((id(x) for x in by_offset), unpack("_extras", by_offset, "e"), strict=True)
    )
    if extras:
        items = []
        for sc in sorted(extras, key=lambda x: x.key):
            var = extra_vars[id(sc)]
            value = var if sc.divisor == 1 else f"{var} / {sc.divisor}"
            items.append(f"({sc.key.removeprefix('extras.')!r}, {value})")
        exprs["extras"] = f"({', '.join(items)},)"
    series: dict[str, list[str]] = {}
    for n, x in enumerate(table.series):
        env[f"_series{n}"] = struct.Struct(
            ">" + "x" * x.offset + _FORMATS[(x.size, x.signed)] * x.count
        ).unpack_from
        names = [f"t{n}_{i}" for i in range(x.count)]
        if names:
            body.append(f"    ({', '.join(names)},) = _series{n}(payload)")
        series.setdefault(x.key, []).extend(f"{v} / {x.divisor}" for v in names)
    for key, values in series.items():
        if key in exprs:
            raise ValueError(f"{key} is both a scalar and a series")
        exprs[key] = f"({', '.join(values)},)" if values else "()"
    if table.flags:
        flags = sorted((f.name, f.offset) for f in table.flags)
        exprs["status_flags"] = "(" + "".join(f"({n!r}, payload[{o}]), " for n, o in flags) + ")"
    unknown = set(exprs) - set(FIELD_NAMES)
    if unknown:
        raise ValueError(f"not measurement fields: {sorted(unknown)}")
    state = ", ".join(f"{k!r}: {exprs[k]}" for k in FIELD_NAMES if k in exprs)
    source = "def decode(payload):\n" + "\n".join(body) + f"\n    return _from_state({{{state}}})\n"
    return source, env
