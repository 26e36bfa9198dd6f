"""JK (Jikong) BMS over BLE (GATT FFE0, notify/write FFE1).

Requests are 20 bytes ``AA 55 90 EB <cmd> <len> <value u32 LE> 00… <sum8>``; the BMS answers
with 300-byte ``55 AA EB 90 <type> <counter> …<sum8>`` frames, cell info (type 0x02) repeated
about once a second. The BLE module also prints ``AT\\r\\n`` text on its own: dropped here.

Two cell-info layouts exist: 24 cells (firmware < 11, "JK02_24S") and 32 cells (firmware ≥ 11,
"JK02_32S", every field after the cells moved by 32 bytes). The layout is chosen by firmware
version when known, otherwise by which layout's pack voltage equals the sum of its cells.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import StrEnum

from ble_bridge.errors import BadChecksumError, BadFrameError, BadLengthError, UnsupportedError
from ble_bridge.sample import Measurements, measured

HEADER = bytes.fromhex("55aaeb90")
FRAME_LEN = 300
STRAY_TEXT = b"AT\r\n"
TYPE_SETTINGS, TYPE_CELL_INFO, TYPE_DEVICE_INFO = 0x01, 0x02, 0x03
CMD_CELL_INFO, CMD_DEVICE_INFO = 0x96, 0x97


def sum8(data: bytes) -> int:
    """The frame checksum: low byte of the sum of all preceding bytes."""
    return sum(data) & 0xFF


def build_request(cmd: int, value: int = 0, length: int = 0) -> bytes:
    """A 20-byte command frame."""
    body = bytes([0xAA, 0x55, 0x90, 0xEB, cmd, length]) + value.to_bytes(4, "little")
    body += bytes(19 - len(body))
    return body + bytes([sum8(body)])


REQUEST_CELL_INFO = build_request(CMD_CELL_INFO)
REQUEST_DEVICE_INFO = build_request(CMD_DEVICE_INFO)


class JkLayout(StrEnum):
    """Cell-info frame layouts."""

    JK02_24S = "jk02-24s"
    JK02_32S = "jk02-32s"


@dataclass(frozen=True, slots=True)
class _Offsets:
    max_cells: int
    shift: int  # offset shift of every field after the cell block


_OFFSETS = {JkLayout.JK02_24S: _Offsets(24, 0), JkLayout.JK02_32S: _Offsets(32, 32)}


class JkAssembler:
    """Reassembles 300-byte frames; drops ``AT\\r\\n`` notifications and bytes before a header."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes | bytearray) -> list[bytes]:
        """Add one notification; return complete frames whose checksum matches.

        A header inside a frame whose checksum fails is taken as the start of the next frame
        (the previous one was cut short by a lost notification).
        """
        if bytes(data).replace(STRAY_TEXT, b"") == b"":
            return []
        self._buf += data
        frames: list[bytes] = []
        while True:
            start = self._buf.find(HEADER)
            if start < 0:
                # keep a possible partial header at the end
                del self._buf[: max(0, len(self._buf) - (len(HEADER) - 1))]
                break
            del self._buf[:start]
            if len(self._buf) < FRAME_LEN:
                break
            frame = bytes(self._buf[:FRAME_LEN])
            if sum8(frame[:-1]) == frame[-1]:
                frames.append(frame)
                del self._buf[:FRAME_LEN]
            else:
                del self._buf[:1]
        return frames

    def reset(self) -> None:
        """Forget a partial frame."""
        self._buf.clear()


def verify(frame: bytes) -> None:
    """Check header, length and sum8."""
    if len(frame) != FRAME_LEN:
        raise BadLengthError(f"JK frame of {len(frame)} bytes, {FRAME_LEN} expected")
    if frame[:4] != HEADER:
        raise BadFrameError("JK frame must start with 55 AA EB 90")
    if sum8(frame[:-1]) != frame[-1]:
        raise BadChecksumError("JK sum8 mismatch")


def layout_for_firmware(version: str) -> JkLayout:
    """Layout from the firmware version string (``"10.08"``, ``"11.48"``...)."""
    try:
        major = int(version.split(".", 1)[0])
    except ValueError as exc:
        raise UnsupportedError(f"JK firmware version {version!r}") from exc
    return JkLayout.JK02_32S if major >= 11 else JkLayout.JK02_24S


def decode_frame(frame: bytes, layout: JkLayout | None = None) -> Measurements:
    """Decode a cell-info frame (type 0x02) with ``layout`` or the auto-detected one."""
    verify(frame)
    if frame[4] != TYPE_CELL_INFO:
        raise UnsupportedError(f"JK frame type 0x{frame[4]:02X} carries no measurements")
    if layout is not None:
        return _cell_info(frame, _OFFSETS[layout])
    errors: list[str] = []
    for candidate in (JkLayout.JK02_32S, JkLayout.JK02_24S):
        m = _cell_info(frame, _OFFSETS[candidate])
        cells = m.cell_voltages_v or ()
        if (
            m.pack_voltage_v
            and cells
            and abs(sum(cells) - m.pack_voltage_v) <= max(0.5, 0.02 * m.pack_voltage_v)
        ):
            return m
        errors.append(candidate.value)
    raise UnsupportedError(f"JK cell-info frame fits no known layout (tried {', '.join(errors)})")


def _cell_info(frame: bytes, o: _Offsets) -> Measurements:
    def u16(off: int) -> int:
        return int.from_bytes(frame[off : off + 2], "little")

    def u32(off: int) -> int:
        return int.from_bytes(frame[off : off + 4], "little")

    def i16(off: int) -> int:
        return int.from_bytes(frame[off : off + 2], "little", signed=True)

    s = o.shift
    mask = u32(6 + 2 * o.max_cells)
    raw_cells = struct.unpack_from(f"<{o.max_cells}H", frame, 6)
    cells = tuple(v / 1000 for i, v in enumerate(raw_cells) if mask >> i & 1)
    current = int.from_bytes(frame[126 + s : 130 + s], "little", signed=True)
    temps = (i16(130 + s) / 10, i16(132 + s) / 10)
    mos_temp = i16(144) / 10 if s else i16(134) / 10
    soh = frame[158 + s]
    return measured(
        cell_voltages_v=cells or None,
        cell_voltage_delta_v=u16(12 + 2 * o.max_cells) / 1000,
        pack_voltage_v=u32(118 + s) / 1000,
        pack_current_a=current / 1000 if current else 0.0,
        temperatures_c=temps,
        mosfet_temperature_c=mos_temp,
        soc_pct=float(frame[141 + s]),
        remaining_capacity_ah=u32(142 + s) / 1000,
        nominal_capacity_ah=u32(146 + s) / 1000,
        cycles=u32(150 + s),
        soh_pct=float(soh) if 0 < soh <= 100 else None,
    )
