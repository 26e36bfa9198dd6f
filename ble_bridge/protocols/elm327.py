"""ELM327 over BLE: AT initialisation, prompt-framed reassembly, ISO-TP, UDS replies.

An ELM327 answers a command with text lines ended by ``\\r`` and then the ``>`` prompt. BLE
delivers that text in notifications of (typically) 20 bytes, so a line, and even the prompt's
preceding ``\\r\\r``, can straddle notifications: only the prompt ends a reply.

Output forms handled (ELM327 data sheet conventions):

* headers off (``ATH0``), single frame: the data bytes without the PCI (``62 01 01 ...``);
* headers off, multi-frame: a length line (``03E``) then ``0:`` + 6 bytes, ``1:``..``F:``
  (wrapping to ``0:``) + 7 bytes each, the last padded;
* headers on (``ATH1``, 11-bit ids): each line is the CAN id + 8 data bytes including the
  ISO-TP PCI (``7EC 10 3E ...`` first frame, ``7EC 21 ...`` consecutive frames, ``7EC 0L ...``
  single frame); with spaces (``ATS1``) or without (``ATS0``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from ble_bridge.errors import (
    AdapterError,
    BadFrameError,
    BadLengthError,
    BufferOverflowError,
    NegativeResponseError,
    NoDataError,
    ResponsePendingError,
)

PROMPT = b">"
_PROMPT_BYTE = PROMPT[0]
# A valid reply is at most 4095 bytes of ISO-TP payload (~ 12 KiB of text with line
# prefixes and spaces); anything longer without a prompt is garbage.
MAX_REPLY_TEXT = 16_384
NRC_RESPONSE_PENDING = 0x78


class ElmErrorText(StrEnum):
    """Error texts an ELM327 (or a clone) prints instead of data."""

    NO_DATA = "NO DATA"
    CAN_ERROR = "CAN ERROR"
    BUS_ERROR = "BUS ERROR"
    BUS_BUSY = "BUS BUSY"
    BUFFER_FULL = "BUFFER FULL"
    DATA_ERROR = "DATA ERROR"
    FB_ERROR = "FB ERROR"
    RX_ERROR = "<RX ERROR"
    STOPPED = "STOPPED"
    UNABLE_TO_CONNECT = "UNABLE TO CONNECT"
    UNKNOWN_COMMAND = "?"
    LV_RESET = "LV RESET"
    ACT_ALERT = "ACT ALERT"
    ERR = "ERR"  # ERR94 and friends: prefix match


_ADVICE: dict[ElmErrorText, str] = {
    ElmErrorText.CAN_ERROR: "check the protocol (ATSP6) and that the ignition is on",
    ElmErrorText.BUFFER_FULL: "the adapter's buffer overflowed: poll less, use ATCAF1 / filters",
    ElmErrorText.STOPPED: "a byte arrived while the adapter was busy: wait for '>' before sending",
    ElmErrorText.UNABLE_TO_CONNECT: "no vehicle bus: ignition off or wrong protocol",
    ElmErrorText.UNKNOWN_COMMAND: "the adapter does not know the command",
}

# Lines that carry no data: progress messages, echoes of AT commands, the "OK" of AT commands.
_NOISE = re.compile(r"SEARCHING\.\.\.|BUSINIT:?(\.\.\.)?(OK)?|OK")
_HEX = re.compile(r"[0-9A-F]+")


@dataclass(frozen=True, slots=True)
class AtCommand:
    """One initialisation command and whether its reply must be ``OK``."""

    text: str
    expect_ok: bool = True


def init_sequence(*, tx_id: int | None = None, rx_id: int | None = None) -> tuple[AtCommand, ...]:
    """The AT initialisation for a CAN (ISO 15765-4, 11-bit, 500 kbit/s) vehicle.

    Headers stay on so replies can be filtered by CAN id; spaces off halves the text over BLE.
    """
    cmds = [
        AtCommand("ATZ", expect_ok=False),  # prints the version banner, not OK
        AtCommand("ATE0"),  # no echo: the echo would double every reply over a slow link
        AtCommand("ATL0"),
        AtCommand("ATS0"),
        AtCommand("ATH1"),
        AtCommand("ATSP6"),
        AtCommand("ATAT1"),  # adaptive timing: faster on a responsive bus
        AtCommand("ATCAF1"),
    ]
    if tx_id is not None:
        cmds.append(AtCommand(f"ATSH{tx_id:03X}"))
    if rx_id is not None:
        cmds.append(AtCommand(f"ATCRA{rx_id:03X}"))
    return tuple(cmds)


class PromptReassembler:
    """Collects notification bytes until the ``>`` prompt; yields one reply text per prompt.

    Bytes after a prompt start the next reply (an unsolicited line before our command's reply
    ends up in that reply and is filtered by :func:`parse_uds_reply`).
    """

    def __init__(self, max_text: int = MAX_REPLY_TEXT) -> None:
        self._buf = bytearray()
        self._max = max_text

    def feed(self, data: bytes | bytearray) -> list[str]:
        """Add one notification; return the replies it completed (possibly none).

        Raises :class:`BufferOverflowError` (and drops the buffer) when no prompt comes in time.
        """
        buf = self._buf
        buf += data
        # An int operand: ``bytes in bytes`` first tries the operand as an int and raises and
        # clears a TypeError internally, which costs more than the whole search.
        if _PROMPT_BYTE in data:
            # Every prompt ends one reply; what follows the last one starts the next.
            *done, rest = buf.split(PROMPT)
            self._buf = buf = rest
            replies = [chunk.decode("ascii", errors="replace") for chunk in done]
        else:  # most notifications: no prompt, just collect
            replies = []
        if len(buf) > self._max:
            buf.clear()
            raise BufferOverflowError(f"no prompt after {self._max} bytes of adapter output")
        return replies

    def reset(self) -> None:
        """Forget a partial reply (after a timeout or reconnect)."""
        self._buf.clear()

    @property
    def pending(self) -> int:
        """Bytes waiting for a prompt."""
        return len(self._buf)


def reply_lines(text: str) -> list[str]:
    """Normalised non-empty lines of a reply: upper case; spaces, NULs and the prompt removed.

    Error texts are compared in this squashed form too (``NODATA``, ``CANERROR``).
    """
    # chained str.replace: each is a C scan, several times faster than str.translate here
    squashed = (
        text.upper()
        .replace(" ", "")
        .replace("\x00", "")
        .replace(">", "")
        .replace("\t", "")
        .replace("\n", "\r")
    )
    return [ln for ln in squashed.split("\r") if ln]


_ERRORS_SQUASHED = {e.value.replace(" ", ""): e for e in ElmErrorText}
_ERROR_PATTERN = re.compile(r"ERR\d+|BUSINIT:.*ERROR")


def _error_kind(line: str) -> ElmErrorText | None:
    kind = _ERRORS_SQUASHED.get(line)
    if kind is None and _ERROR_PATTERN.fullmatch(line):
        return ElmErrorText.ERR
    return kind


def check_at_reply(command: AtCommand, text: str) -> None:
    """Raise :class:`AdapterError` when an AT command did not answer ``OK``."""
    lines = [ln for ln in reply_lines(text) if ln != command.text]
    if "?" in lines:
        raise AdapterError("?", advice=f"adapter refused {command.text}")
    if command.expect_ok and "OK" not in lines:
        raise AdapterError(
            f"{command.text} answered {' / '.join(lines) or 'nothing'}",
            advice="not an ELM327-compatible adapter, or it is still busy",
        )


@dataclass(frozen=True, slots=True)
class UdsReply:
    """A positive UDS reply: the payload from the service id (``0x62``) on."""

    payload: bytes
    can_id: int | None  # None when the adapter printed no headers


def parse_uds_reply(text: str, request: bytes, *, rx_id: int | None = None) -> UdsReply:
    """Turn one prompt-framed reply into the positive response to ``request``.

    Other ECUs' replies (by CAN id when headers are on; by content when off) and
    ``7F <sid> 78`` response-pending lines are dropped. Raises :class:`NoDataError`,
    :class:`AdapterError`, :class:`NegativeResponseError`, :class:`ResponsePendingError`,
    :class:`BadFrameError` or :class:`BadLengthError`.
    """
    if not request:
        raise BadFrameError("empty request")
    payload = _common_reply(text, request)
    if payload is not None:
        return UdsReply(payload, None)
    return _parse_any_reply(text, request, rx_id)


def reply_payload(text: str, request: bytes, *, rx_id: int | None = None) -> bytes:
    """``parse_uds_reply(...).payload``, without building the reply object (hot path)."""
    if request:
        payload = _common_reply(text, request)
        if payload is not None:
            return payload
    return parse_uds_reply(text, request, rx_id=rx_id).payload


_HEX_DIGITS = frozenset("0123456789ABCDEFabcdef")
# "0:1:2:...F:0:..." — the line prefixes of a headers-off multi-frame reply, in order.
_INDEX_PREFIXES = "".join(f"{i % 16:X}:" for i in range(4096))


def _common_reply(text: str, request: bytes) -> bytes | None:
    """The positive payload of the two shapes most replies have, or ``None``.

    Shapes: headers off, one line of hex digits (single frame); headers off, a length line
    and indexed lines ``0:``, ``1:``... with nothing else (multi-frame). Anything else, and
    anything that is not the positive reply to ``request`` (errors, NRCs, other ECUs, echo,
    spaces, lower-case indices), returns ``None`` and takes the general parser, which gives
    the same result for these shapes; only the string handling differs (no per-line loop).
    """
    body = text.strip("\r")
    if ":" not in body:  # one line of hex digits
        try:
            payload = bytes.fromhex(body)
        except ValueError:  # odd length or not hex: the general parser says why
            return None
        if 2 * len(payload) != len(body):
            return None  # fromhex skipped whitespace: several lines, or spaces
    elif "\n" not in body:
        lines = body.split("\r")
        head = lines[0]
        if len(head) != 3 or not _HEX_DIGITS.issuperset(head):
            return None
        del lines[0]
        # Each prefix is at most 2 characters, so equal strings mean every line starts
        # with its own index and a colon.
        if "".join([ln[:2] for ln in lines]) != _INDEX_PREFIXES[: 2 * len(lines)]:
            return None
        try:
            data = bytes.fromhex("".join([ln[2:] for ln in lines]))
        except ValueError:
            return None
        total = int(head, 16)
        if len(data) < total:
            return None
        payload = data[:total]
    else:
        return None
    if payload and payload[0] == request[0] + 0x40 and payload[1 : len(request)] == request[1:]:
        return payload
    return None


def _parse_any_reply(text: str, request: bytes, rx_id: int | None) -> UdsReply:
    command_echo = request.hex().upper()
    lines: list[str] = []
    error: ElmErrorText | None = None
    error_line = ""
    for ln in reply_lines(text):
        if ln[1:2] == ":" or _HEX.fullmatch(ln):  # data (the common case) first
            if ln != command_echo:
                lines.append(ln)
            continue
        kind = _error_kind(ln)
        if kind is ElmErrorText.NO_DATA:
            raise NoDataError("NO DATA: no ECU answered")
        if kind is not None:
            if error is None:
                error, error_line = kind, ln
        elif not _NOISE.fullmatch(ln):
            lines.append(ln)
    if error is not None:
        text_ = error.value if error is not ElmErrorText.ERR else error_line
        raise AdapterError(text_, advice=_ADVICE.get(error))
    if not lines:
        raise NoDataError("empty reply")

    messages = _messages(lines, rx_id)
    expected_sid = request[0] + 0x40
    pending = False
    negative: NegativeResponseError | None = None
    for can_id, payload in messages:
        if payload[:1] == b"\x7f" and len(payload) >= 3 and payload[1] == request[0]:
            if payload[2] == NRC_RESPONSE_PENDING:
                pending = True
            elif negative is None:
                negative = NegativeResponseError(payload[1], payload[2], can_id=can_id)
            continue
        if payload and payload[0] == expected_sid and payload[1 : len(request)] == request[1:]:
            return UdsReply(payload, can_id)
    if negative is not None and (rx_id is not None or len(messages) == 1 or not pending):
        # With headers on only our ECU's lines are left; with headers off a single NRC is ours.
        raise negative
    if pending:
        raise ResponsePendingError("only response-pending (7F xx 78) before the prompt")
    if negative is not None:
        raise negative
    raise BadFrameError(f"no reply to {command_echo} among {len(messages)} message(s)")


def _messages(lines: list[str], rx_id: int | None) -> list[tuple[int | None, bytes]]:
    """Group reply lines into complete ISO-TP messages ``(can_id, payload)``."""
    if any(":" in ln for ln in lines):
        return _headers_off_multi(lines)
    for ln in lines:
        if not _HEX.fullmatch(ln):
            raise BadFrameError(f"unexpected adapter text: {ln[:40]!r}")
    # Headers on (11-bit): 3 hex digits of id + whole data bytes = odd number of digits.
    if all(len(ln) % 2 == 1 and len(ln) >= 5 for ln in lines):
        return _headers_on(lines, rx_id)
    return [(None, bytes.fromhex(ln)) for ln in lines if len(ln) % 2 == 0] or _bad(lines)


def _bad(lines: list[str]) -> list[tuple[int | None, bytes]]:
    raise BadFrameError(f"odd-length data line: {lines[0][:40]!r}")


def _headers_off_multi(lines: list[str]) -> list[tuple[int | None, bytes]]:
    messages: list[tuple[int | None, bytes]] = []
    i, n = 0, len(lines)
    while i < n:
        ln = lines[i]
        if ln[1:2] == ":":
            raise BadFrameError("indexed line without a length line")
        if len(ln) == 3 and _HEX.fullmatch(ln):
            total = int(ln, 16)
            j = i + 1
            while j < n and lines[j][1:2] == ":":
                j += 1
            block = lines[i + 1 : j]
            # Indices run 0,1,..,F,0,..: compare them all at once (this is the hot path).
            indices = "".join(b[0] for b in block)
            if indices != _INDEX_SEQUENCE[: len(block)]:
                raise BadFrameError(f"frame indices {indices[:20]!r} are not 0,1,2,...")
            try:
                data = bytes.fromhex("".join(b[2:] for b in block))
            except ValueError:
                raise BadFrameError("bad data in a multi-frame line") from None
            if len(data) < total:
                raise BadLengthError(f"multi-frame reply has {len(data)} of {total} bytes")
            messages.append((None, data[:total]))
            i = j
            continue
        if _HEX.fullmatch(ln) and len(ln) % 2 == 0:
            messages.append((None, bytes.fromhex(ln)))  # another ECU's single frame
            i += 1
            continue
        raise BadFrameError(f"unexpected line in multi-frame reply: {ln[:40]!r}")
    return messages


_INDEX_SEQUENCE = "0123456789ABCDEF" * 256


def _headers_on(lines: list[str], rx_id: int | None) -> list[tuple[int | None, bytes]]:
    messages: list[tuple[int | None, bytes]] = []
    partial: dict[int, tuple[int, bytearray, int]] = {}  # can id -> (length, data, next seq)
    for ln in lines:
        can_id = int(ln[:3], 16)
        frame = bytes.fromhex(ln[3:])
        if rx_id is not None and can_id != rx_id:
            continue
        pci = frame[0] >> 4
        if pci == 0:
            length = frame[0] & 0x0F
            if length == 0 or length > len(frame) - 1:
                raise BadLengthError(f"single frame length {length} in {len(frame)} bytes")
            messages.append((can_id, frame[1 : 1 + length]))
        elif pci == 1:
            if len(frame) < 2:
                raise BadLengthError("first frame too short")
            length = ((frame[0] & 0x0F) << 8) | frame[1]
            partial[can_id] = (length, bytearray(frame[2:]), 1)
        elif pci == 2:
            if can_id not in partial:
                raise BadFrameError(f"consecutive frame from 0x{can_id:03X} without a first frame")
            length, data, seq = partial[can_id]
            if frame[0] & 0x0F != seq:
                raise BadFrameError(f"sequence {frame[0] & 0x0F} where {seq} was expected")
            data += frame[1:]
            if len(data) >= length:
                messages.append((can_id, bytes(data[:length])))
                del partial[can_id]
            else:
                partial[can_id] = (length, data, (seq + 1) % 16)
        elif pci == 3:
            continue  # flow control from another tester: not a reply
        else:
            raise BadFrameError(f"unknown ISO-TP PCI 0x{frame[0]:02X}")
    if partial:
        can_id, (length, data, _) = next(iter(partial.items()))
        raise BadLengthError(f"0x{can_id:03X}: multi-frame reply has {len(data)} of {length} bytes")
    return messages


def headers_on_text(payload: bytes, can_id: int, *, spaces: bool = False) -> str:
    """Render a UDS payload the way an ELM327 with ``ATH1`` prints it (for simulators/tests)."""
    frames: list[bytes] = []
    if len(payload) <= 7:
        frames.append(bytes([len(payload)]) + payload + b"\xaa" * (7 - len(payload)))
    else:
        n = len(payload)
        frames.append(bytes([0x10 | (n >> 8), n & 0xFF]) + payload[:6])
        seq, rest = 1, payload[6:]
        while rest:
            chunk, rest = rest[:7], rest[7:]
            frames.append(bytes([0x20 | seq]) + chunk + b"\xaa" * (7 - len(chunk)))
            seq = (seq + 1) % 16
    sep = " " if spaces else ""
    lines = [f"{can_id:03X}{sep}" + sep.join(f"{b:02X}" for b in f) for f in frames]
    return "\r".join(lines) + "\r\r>"


def headers_off_text(payload: bytes) -> str:
    """Render a UDS payload the way an ELM327 with ``ATH0`` prints it."""
    if len(payload) <= 7:
        return payload.hex().upper() + "\r\r>"
    lines = [f"{len(payload):03X}", "0:" + payload[:6].hex().upper()]
    rest, index = payload[6:], 1
    while rest:
        chunk, rest = rest[:7], rest[7:]
        lines.append(f"{index:X}:" + (chunk + b"\xaa" * (7 - len(chunk))).hex().upper())
        index = (index + 1) % 16
    return "\r".join(lines) + "\r\r>"
