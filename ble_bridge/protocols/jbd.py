"""JBD / Xiaoxiang BMS (GATT FF00, notify FF01, write FF02).

Frame: ``DD <cmd> <status> <len> <data…> <chk_hi> <chk_lo> 77``; checksum = 0x10000 − Σ of
status, length and data bytes. Current is signed 10 mA, positive when
charging (already our convention).
"""

from __future__ import annotations

from ble_bridge.errors import BadChecksumError, BadFrameError, BadLengthError, UnsupportedError
from ble_bridge.sample import Measurements, measured

START, END = 0xDD, 0x77
CMD_BASIC, CMD_CELLS, CMD_HWINFO = 0x03, 0x04, 0x05
MAX_DATA = 255


def checksum(body: bytes) -> int:
    """JBD checksum over ``status, len, data`` (replies) or ``cmd, len, data`` (requests)."""
    return (0x10000 - sum(body)) & 0xFFFF


def build_request(cmd: int) -> bytes:
    """A read request ``DD A5 <cmd> 00 <chk> 77``."""
    body = bytes([cmd, 0x00])
    return bytes([START, 0xA5, *body]) + checksum(body).to_bytes(2, "big") + bytes([END])


REQUEST_BASIC = build_request(CMD_BASIC)
REQUEST_CELLS = build_request(CMD_CELLS)
REQUEST_HWINFO = build_request(CMD_HWINFO)


class JbdAssembler:
    """Reassembles frames from notifications; skips bytes before a ``DD`` start byte."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes | bytearray) -> list[bytes]:
        """Add one notification; return complete frames (checksum not yet verified)."""
        self._buf += data
        frames: list[bytes] = []
        while True:
            start = self._buf.find(START)
            if start < 0:
                self._buf.clear()
                break
            del self._buf[:start]
            if len(self._buf) < 4:
                break
            total = 4 + self._buf[3] + 3
            if len(self._buf) < total:
                break
            if self._buf[total - 1] != END:
                del self._buf[:1]  # a DD inside garbage: resynchronise on the next one
                continue
            frames.append(bytes(self._buf[:total]))
            del self._buf[:total]
        return frames

    def reset(self) -> None:
        """Forget a partial frame."""
        self._buf.clear()


def verify(frame: bytes) -> tuple[int, bytes]:
    """Check framing and checksum; return ``(cmd, data)``."""
    if len(frame) < 7:
        raise BadLengthError(f"JBD frame of {len(frame)} bytes")
    if frame[0] != START or frame[-1] != END:
        raise BadFrameError("JBD frame must start with DD and end with 77")
    length = frame[3]
    if len(frame) != length + 7:
        raise BadLengthError(f"JBD length byte says {length}, frame carries {len(frame) - 7}")
    if checksum(frame[2 : 4 + length]) != int.from_bytes(frame[-3:-1], "big"):
        raise BadChecksumError("JBD checksum mismatch")
    if frame[2] != 0x00:
        raise BadFrameError(f"JBD reply status 0x{frame[2]:02X} (command refused)")
    return frame[1], frame[4 : 4 + length]


def decode_frame(frame: bytes) -> Measurements:
    """Decode a basic-info (0x03), cell (0x04) or hardware-info (0x05) reply."""
    cmd, data = verify(frame)
    if cmd == CMD_BASIC:
        return _basic(data)
    if cmd == CMD_CELLS:
        if len(data) % 2:
            raise BadLengthError("JBD cell data must be whole 16-bit values")
        cells = tuple(int.from_bytes(data[i : i + 2], "big") / 1000 for i in range(0, len(data), 2))
        return measured(cell_voltages_v=cells)
    if cmd == CMD_HWINFO:
        return measured(hardware_version=data.decode("ascii", errors="replace"))
    raise UnsupportedError(f"JBD command 0x{cmd:02X}")


def _basic(data: bytes) -> Measurements:
    if len(data) < 23:
        raise BadLengthError(f"JBD basic info of {len(data)} bytes, at least 23 needed")
    ntc = data[22]
    if len(data) < 23 + 2 * ntc:
        raise BadLengthError(f"JBD basic info announces {ntc} NTCs but is {len(data)} bytes")

    def u16(o: int) -> int:
        return int.from_bytes(data[o : o + 2], "big")

    current = int.from_bytes(data[2:4], "big", signed=True)
    temps = tuple((u16(23 + 2 * i) - 2731) / 10 for i in range(ntc))
    fet = data[20]
    return measured(
        pack_voltage_v=u16(0) / 100,
        pack_current_a=current / 100 if current else 0.0,
        remaining_capacity_ah=u16(4) / 100,
        nominal_capacity_ah=u16(6) / 100,
        cycles=u16(8),
        soc_pct=float(data[19]),
        charge_enabled=bool(fet & 0x01),
        discharge_enabled=bool(fet & 0x02),
        temperatures_c=temps or None,
        status_flags=(
            ("balance_bits", u16(12) | (u16(14) << 16)),
            ("cell_count", data[21]),
            ("protection", u16(16)),
        ),
    )
