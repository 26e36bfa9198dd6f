"""Daly BMS over BLE: the legacy ``A5`` protocol and the Modbus-style "smart BMS" protocol.

Legacy: 13-byte frames ``A5 <addr> <cmd> 08 <8 data bytes> <sum8>``; the host address is
``0x80`` over BLE (``0x40`` over UART), the BMS answers from ``0x01``.
Modbus (GATT FFF0/FFF1/FFF2): ``D2 03 <len> <registers…> <crc16 LE>``; reading 0x3E registers
from 0 gives cells (regs 0-31), temperatures (32-39, +40 offset), voltage, current, SOC...
Current on both is ``(raw − 30000) / 10`` A, positive when charging.
"""

from __future__ import annotations

import struct

from ble_bridge.errors import BadChecksumError, BadFrameError, BadLengthError, UnsupportedError
from ble_bridge.sample import Measurements, measured

LEGACY_START = 0xA5
LEGACY_LEN = 13
HOST_BLE = 0x80
MODBUS_ADDR = 0xD2
CMD_SOC, CMD_MOSFET, CMD_STATUS = 0x90, 0x93, 0x94
_CURRENT_ZERO = 30_000
_TEMP_OFFSET = 40


def sum8(data: bytes) -> int:
    """Legacy checksum: the low byte of the sum."""
    return sum(data) & 0xFF


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc16_modbus(data: bytes) -> int:
    """CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF), table-driven."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]
    return crc


def build_legacy_request(cmd: int, host: int = HOST_BLE) -> bytes:
    """``A5 80 <cmd> 08 00×8 <sum8>``."""
    body = bytes([LEGACY_START, host, cmd, 0x08]) + bytes(8)
    return body + bytes([sum8(body)])


def build_modbus_request(start: int = 0, count: int = 0x3E) -> bytes:
    """Read ``count`` holding registers from ``start`` (function 3)."""
    body = bytes([MODBUS_ADDR, 0x03]) + start.to_bytes(2, "big") + count.to_bytes(2, "big")
    return body + crc16_modbus(body).to_bytes(2, "little")


REQUEST_MODBUS_INFO = build_modbus_request()


def wrap_legacy(cmd: int, payload: bytes, addr: int = 0x01) -> bytes:
    """A legacy reply frame around an 8-byte payload (for payload-only captures and tests)."""
    if len(payload) != 8:
        raise BadLengthError(f"Daly legacy payload must be 8 bytes, got {len(payload)}")
    body = bytes([LEGACY_START, addr, cmd, 0x08]) + payload
    return body + bytes([sum8(body)])


class DalyAssembler:
    """Reassembles legacy and Modbus frames from notifications (resynchronising on garbage)."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes | bytearray) -> list[bytes]:
        """Add one notification; return complete frames (checksums not yet verified)."""
        self._buf += data
        frames: list[bytes] = []
        while self._buf:
            if self._buf[0] == LEGACY_START:
                if len(self._buf) < LEGACY_LEN:
                    break
                if self._buf[3] != 0x08:
                    del self._buf[:1]
                    continue
                frames.append(bytes(self._buf[:LEGACY_LEN]))
                del self._buf[:LEGACY_LEN]
            elif self._buf[0] == MODBUS_ADDR:
                if len(self._buf) < 3:
                    break
                if self._buf[1] == 0x03:
                    total = 3 + self._buf[2] + 2
                elif self._buf[1] in (0x83, 0x90):  # exception reply: code + CRC
                    total = 5
                else:
                    del self._buf[:1]
                    continue
                if len(self._buf) < total:
                    break
                frames.append(bytes(self._buf[:total]))
                del self._buf[:total]
            else:
                del self._buf[:1]
        return frames

    def reset(self) -> None:
        """Forget a partial frame."""
        self._buf.clear()


def decode_frame(frame: bytes) -> Measurements:
    """Decode a legacy (``A5``) or Modbus (``D2 03``) reply."""
    if not frame:
        raise BadLengthError("empty Daly frame")
    if frame[0] == LEGACY_START:
        return _legacy(frame)
    if frame[0] == MODBUS_ADDR:
        return _modbus(frame)
    raise BadFrameError(f"Daly frame starts with 0x{frame[0]:02X}")


def decode_legacy_payload(cmd: int, payload: bytes) -> Measurements:
    """Decode the 8 data bytes of a legacy reply to ``cmd``."""
    return _legacy(wrap_legacy(cmd, payload))


def _legacy(frame: bytes) -> Measurements:
    if len(frame) != LEGACY_LEN:
        raise BadLengthError(f"Daly legacy frame of {len(frame)} bytes, 13 expected")
    if frame[3] != 0x08:
        raise BadLengthError(f"Daly legacy length byte 0x{frame[3]:02X}")
    if sum8(frame[:12]) != frame[12]:
        raise BadChecksumError("Daly legacy checksum mismatch")
    cmd, d = frame[2], frame[4:12]

    def u16(o: int) -> int:
        return int.from_bytes(d[o : o + 2], "big")

    if cmd == CMD_SOC:
        current = u16(4) - _CURRENT_ZERO
        return measured(
            pack_voltage_v=u16(0) / 10,
            pack_current_a=current / 10 if current else 0.0,
            soc_pct=u16(6) / 10,
        )
    if cmd == CMD_MOSFET:
        mode = d[0]
        return measured(
            charging=mode == 1,
            charge_enabled=bool(d[1]),
            discharge_enabled=bool(d[2]),
            remaining_capacity_ah=int.from_bytes(d[4:8], "big") / 1000,
            status_flags=(("mode", mode), ("bms_life", d[3])),
        )
    if cmd == CMD_STATUS:
        return measured(
            cycles=u16(5),
            status_flags=(("cell_count", d[0]), ("ntc_count", d[1]), ("dio", d[4])),
        )
    raise UnsupportedError(f"Daly legacy command 0x{cmd:02X}")


def _modbus(frame: bytes) -> Measurements:
    if len(frame) < 5:
        raise BadLengthError(f"Daly Modbus frame of {len(frame)} bytes")
    if crc16_modbus(frame[:-2]) != int.from_bytes(frame[-2:], "little"):
        raise BadChecksumError("Daly Modbus CRC mismatch")
    if frame[1] != 0x03:
        raise BadFrameError(f"Daly Modbus exception/function 0x{frame[1]:02X}")
    length = frame[2]
    if len(frame) != length + 5:
        raise BadLengthError(f"Daly Modbus length byte {length}, frame carries {len(frame) - 5}")
    if length < 0x3E * 2:
        raise BadLengthError(f"Daly Modbus info needs 124 data bytes, got {length}")
    regs = struct.unpack_from(f">{length // 2}H", frame, 3)
    cell_count, ntc_count = regs[49], regs[50]
    if cell_count > 32 or ntc_count > 8:
        raise BadFrameError(f"Daly Modbus: {cell_count} cells / {ntc_count} sensors is impossible")
    current = regs[41] - _CURRENT_ZERO
    return measured(
        cell_voltages_v=tuple(regs[i] / 1000 for i in range(cell_count)) or None,
        temperatures_c=tuple(float(regs[32 + i] - _TEMP_OFFSET) for i in range(ntc_count)) or None,
        pack_voltage_v=regs[40] / 10,
        pack_current_a=current / 10 if current else 0.0,
        soc_pct=regs[42] / 10,
        remaining_capacity_ah=regs[48] / 10,
        cycles=regs[51],
        charge_enabled=bool(regs[53]),
        discharge_enabled=bool(regs[54]),
        cell_voltage_delta_v=regs[56] / 1000,
        status_flags=(("balancing", regs[52]),),
    )
