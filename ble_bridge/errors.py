"""Typed errors of the bridge: every expected failure has a machine code and advice."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Machine codes for bridge errors (also printed by ``bpp-bridge decode``)."""

    BAD_HEX = "bad_hex"
    BAD_CHECKSUM = "bad_checksum"
    BAD_LENGTH = "bad_length"
    BAD_FRAME = "bad_frame"
    NEGATIVE_RESPONSE = "negative_response"
    RESPONSE_PENDING = "response_pending"
    NO_DATA = "no_data"
    ADAPTER_ERROR = "adapter_error"
    UNSUPPORTED = "unsupported"
    BUFFER_OVERFLOW = "buffer_overflow"
    TIMEOUT = "timeout"
    DEVICE_NOT_FOUND = "device_not_found"
    LINK_LOST = "link_lost"
    BLUETOOTH_UNAVAILABLE = "bluetooth_unavailable"
    CONFIG_INVALID = "config_invalid"


class BridgeError(Exception):
    """Base of all typed bridge errors.

    ``code`` is stable and machine-readable; ``advice`` tells an operator what usually helps.
    """

    code: ErrorCode = ErrorCode.BAD_FRAME
    default_advice: str = ""

    def __init__(self, message: str, *, advice: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.advice = advice if advice is not None else self.default_advice

    def to_json(self) -> dict[str, str]:
        """The ``{"code", "message"}`` object used in CLI output and logs."""
        return {"code": str(self.code), "message": self.message}


class FrameError(BridgeError):
    """A frame (or adapter text) could not be decoded."""


class BadHexError(FrameError):
    """Input that should be hexadecimal is not."""

    code = ErrorCode.BAD_HEX


class BadChecksumError(FrameError):
    """The frame's checksum or CRC does not match its content."""

    code = ErrorCode.BAD_CHECKSUM
    default_advice = "radio noise or a split frame; the next poll usually succeeds"


class BadLengthError(FrameError):
    """The frame is shorter or longer than its header or the profile table says."""

    code = ErrorCode.BAD_LENGTH


class BadFrameError(FrameError):
    """The bytes are not a frame of the expected protocol (wrong header, sequence gap, ...)."""

    code = ErrorCode.BAD_FRAME


class UnsupportedError(FrameError):
    """A well-formed frame this bridge has no table for (other command, other model)."""

    code = ErrorCode.UNSUPPORTED


class BufferOverflowError(FrameError):
    """An adapter sent more text than any valid reply can hold without a prompt."""

    code = ErrorCode.BUFFER_OVERFLOW
    default_advice = "the adapter is babbling; reset it (ATZ) or reconnect"


class NegativeResponseError(FrameError):
    """The ECU answered ``7F <service> <nrc>``."""

    code = ErrorCode.NEGATIVE_RESPONSE

    def __init__(self, service: int, nrc: int, *, can_id: int | None = None) -> None:
        where = f" from 0x{can_id:03X}" if can_id is not None else ""
        super().__init__(f"negative response{where}: service 0x{service:02X}, NRC 0x{nrc:02X}")
        self.service = service
        self.nrc = nrc
        self.can_id = can_id


class ResponsePendingError(FrameError):
    """Only ``7F xx 78`` (response pending) arrived before the adapter's prompt."""

    code = ErrorCode.RESPONSE_PENDING
    default_advice = "the ECU is busy: wait and ask again"


class NoDataError(FrameError):
    """The adapter saw no reply on the bus (car asleep, wrong header, wrong protocol)."""

    code = ErrorCode.NO_DATA
    default_advice = "the car is probably asleep: poll less often until it wakes"


class AdapterError(FrameError):
    """The ELM327 printed one of its error texts (``CAN ERROR``, ``?``, ``STOPPED``...)."""

    code = ErrorCode.ADAPTER_ERROR

    def __init__(self, text: str, *, advice: str | None = None) -> None:
        super().__init__(f"adapter error: {text}", advice=advice)
        self.text = text


class LinkError(BridgeError):
    """The BLE link failed (timeout, disconnect, device vanished)."""

    code = ErrorCode.LINK_LOST
    default_advice = "reconnect; re-scan if the device does not come back"


class LinkTimeoutError(LinkError):
    """No complete reply arrived within the request timeout."""

    code = ErrorCode.TIMEOUT


class DeviceNotFoundError(LinkError):
    """A scan did not find the device (out of range, powered off, renamed)."""

    code = ErrorCode.DEVICE_NOT_FOUND
    default_advice = "device disappeared, re-scan later"


class BluetoothUnavailableError(LinkError):
    """No Bluetooth stack to talk to (no adapter, BlueZ/D-Bus not running, no permission)."""

    code = ErrorCode.BLUETOOTH_UNAVAILABLE
    default_advice = "start bluetoothd / D-Bus, check the adapter (or use --simulate)"


class ConfigInvalidError(BridgeError):
    """The bridge configuration file is invalid."""

    code = ErrorCode.CONFIG_INVALID
